//! A loopback TCP proxy that injects faults: it cuts every open connection
//! on demand, or stalls them (holding bytes back) for a while. Built on std
//! threads, so it serves tests on any async runtime.

use std::{
    io::{self, Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

#[derive(Default)]
struct State {
    /// Both sockets of every proxied connection, for cutting.
    sockets: Mutex<Vec<TcpStream>>,
    stalled_until: Mutex<Option<Instant>>,
    responses_stalled_until: Mutex<Option<Instant>>,
    stopping: AtomicBool,
    cuts: AtomicU64,
    connections: AtomicU64,
}

impl State {
    fn wait_while_stalled(&self, response: bool) {
        self.wait_until(&self.stalled_until);
        if response {
            self.wait_until(&self.responses_stalled_until);
        }
    }

    fn wait_until(&self, deadline: &Mutex<Option<Instant>>) {
        loop {
            let until = *deadline.lock().unwrap_or_else(|p| p.into_inner());
            match until {
                Some(until) if Instant::now() < until => {
                    thread::sleep(Duration::from_millis(5).min(until - Instant::now()))
                }
                _ => return,
            }
        }
    }
}

/// A handle that can cut a [`FaultProxy`]'s connections from another
/// thread.
#[derive(Clone)]
pub struct CutHandle(Arc<State>);

impl CutHandle {
    /// Cuts every open connection.
    pub fn cut(&self) {
        cut(&self.0);
    }
}

fn cut(state: &State) {
    let sockets = std::mem::take(&mut *state.sockets.lock().unwrap_or_else(|p| p.into_inner()));
    for socket in &sockets {
        let _ = socket.shutdown(Shutdown::Both);
    }
    state.cuts.fetch_add(1, Ordering::SeqCst);
}

/// A fault-injecting proxy in front of one upstream address.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<State>,
    accept: Option<thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts proxying `127.0.0.1:<random port>` to `upstream`.
    pub fn start(upstream: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State::default());
        let accept_state = state.clone();
        let accept = thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || accept_loop(listener, upstream, accept_state))?;
        Ok(Self {
            addr,
            state,
            accept: Some(accept),
        })
    }

    /// The proxy's endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Cuts every open connection (both directions, at once).
    pub fn cut(&self) {
        cut(&self.state);
    }

    /// A handle for cutting from another thread.
    pub fn handle(&self) -> CutHandle {
        CutHandle(self.state.clone())
    }

    /// Holds every byte back for `duration`; connections stay open.
    pub fn stall(&self, duration: Duration) {
        *self
            .state
            .stalled_until
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + duration);
    }

    /// Holds back only what the server sends, for `duration`: requests
    /// still reach the server, their responses arrive late.
    pub fn stall_responses(&self, duration: Duration) {
        *self
            .state
            .responses_stalled_until
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + duration);
    }

    /// How many times [`cut`](Self::cut) was called.
    pub fn cuts(&self) -> u64 {
        self.state.cuts.load(Ordering::SeqCst)
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.state.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
        self.cut();
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn accept_loop(listener: TcpListener, upstream: SocketAddr, state: Arc<State>) {
    for client in listener.incoming() {
        if state.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let Ok(server) = TcpStream::connect(upstream) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        state.connections.fetch_add(1, Ordering::SeqCst);
        let pumps = (|| -> io::Result<()> {
            state
                .sockets
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend([client.try_clone()?, server.try_clone()?]);
            spawn_pump(
                client.try_clone()?,
                server.try_clone()?,
                false,
                state.clone(),
            )?;
            spawn_pump(server, client, true, state.clone())?;
            Ok(())
        })();
        if pumps.is_err() {
            continue;
        }
    }
}

/// Copies bytes from `from` to `to`; `response` tells the server-to-client
/// direction.
fn spawn_pump(
    mut from: TcpStream,
    mut to: TcpStream,
    response: bool,
    state: Arc<State>,
) -> io::Result<()> {
    thread::Builder::new()
        .name("fault-proxy-pump".into())
        .spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                state.wait_while_stalled(response);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        })?;
    Ok(())
}
