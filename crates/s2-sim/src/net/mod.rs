//! The simulated network: listeners by host and port, and links between a
//! dialler and a listener, each a pair of one-way pipes with latency.
//!
//! Faults are applied through [`NetHandle`]: a link can be cut (both ends
//! see a reset), stalled (nothing delivered for a while), made half-open
//! (everything written is lost and neither end is told), and dials can be
//! refused, slowed or left hanging.

mod conn;
mod pipe;

use std::{
    collections::{BTreeMap, VecDeque},
    io,
    sync::Arc,
    task::Waker,
    time::Duration,
};

use rand::Rng;
use s2_client::runtime::{BoxIo, ConnectTarget};

pub use conn::SimConn;
use pipe::Pipe;

use crate::world::{Shared, Sleep};

/// Latencies of the network.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// One-way latency of a link, drawn per link within this range.
    pub latency: (Duration, Duration),
    /// Time a dial takes before it connects or is refused, drawn per dial.
    pub dial_latency: (Duration, Duration),
    /// Bytes a direction of a link holds in flight before writes wait.
    pub buffer: usize,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            latency: (Duration::from_micros(100), Duration::from_millis(2)),
            dial_latency: (Duration::from_micros(200), Duration::from_millis(3)),
            buffer: 1 << 20,
        }
    }
}

/// A link's id: links are numbered in the order they were made.
pub type LinkId = u64;

/// Which end of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum End {
    /// The end that dialled.
    Dialler,
    /// The end a listener accepted.
    Acceptor,
}

impl End {
    /// The pipe this end writes to (the other end reads it).
    fn outbound(self) -> usize {
        match self {
            End::Dialler => 0,
            End::Acceptor => 1,
        }
    }

    fn inbound(self) -> usize {
        1 - self.outbound()
    }
}

/// A connection between a dialler and a listener.
pub(crate) struct Link {
    pipes: [Pipe; 2],
    latency: Duration,
    /// Ends not yet dropped.
    open_ends: [bool; 2],
}

/// Where dials to one address go.
#[derive(Default)]
struct Listener {
    /// Accepted connections not yet taken.
    backlog: VecDeque<SimConn>,
    waker: Option<Waker>,
    /// Whether the listening end still exists.
    open: bool,
}

/// The world's network state.
pub(crate) struct Network {
    config: NetConfig,
    links: BTreeMap<LinkId, Link>,
    listeners: BTreeMap<(String, u16), Listener>,
    next_link: LinkId,
    /// Dials are refused until this time.
    refuse_until: Duration,
    /// Dials hang (no answer at all) until this time.
    black_hole_until: Duration,
    /// Added to every dial's latency.
    extra_dial_delay: Duration,
    /// Counts for reports.
    pub(crate) counts: NetCounts,
}

/// What the network did, for reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetCounts {
    /// Dials that connected.
    pub connected: u64,
    /// Dials refused.
    pub refused: u64,
    /// Links cut.
    pub cut: u64,
    /// Links stalled.
    pub stalled: u64,
    /// Links made half-open.
    pub half_open: u64,
}

impl Network {
    pub(crate) fn new(config: NetConfig) -> Self {
        Self {
            config,
            links: BTreeMap::new(),
            listeners: BTreeMap::new(),
            next_link: 0,
            refuse_until: Duration::ZERO,
            black_hole_until: Duration::ZERO,
            extra_dial_delay: Duration::ZERO,
            counts: NetCounts::default(),
        }
    }

    /// Forgets every link and listener; returns the connections never
    /// accepted, for the caller to drop outside the lock.
    pub(crate) fn clear(&mut self) -> Vec<SimConn> {
        self.links.clear();
        std::mem::take(&mut self.listeners)
            .into_values()
            .flat_map(|listener| listener.backlog)
            .collect()
    }

    pub(crate) fn link(&mut self, id: LinkId) -> Option<&mut Link> {
        self.links.get_mut(&id)
    }

    /// An end was dropped: the peer reads the end of the stream once what
    /// was sent arrives, and the link goes once both ends are gone.
    pub(crate) fn close_end(&mut self, id: LinkId, end: End) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        link.open_ends[end.outbound()] = false;
        link.pipes[end.outbound()].close_write();
        link.pipes[end.inbound()].close_read();
        if link.open_ends == [false, false] {
            self.links.remove(&id);
        }
    }
}

fn draw(rng: &mut impl Rng, (low, high): (Duration, Duration)) -> Duration {
    if high <= low {
        return low;
    }
    Duration::from_nanos(rng.random_range(low.as_nanos() as u64..=high.as_nanos() as u64))
}

/// Opens a connection to `target` in the world of `shared`.
pub(crate) async fn dial(shared: Arc<Shared>, target: ConnectTarget) -> io::Result<BoxIo> {
    if target.tls.is_some() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the simulated network has no TLS",
        ));
    }
    let arrive = {
        let mut state = shared.state();
        let range = state.net.config.dial_latency;
        let latency = draw(&mut state.rng, range);
        let arrive = state.now + latency + state.net.extra_dial_delay;
        state.record(("dial", target.host.as_str(), target.port));
        arrive
    };
    Sleep::until(shared.clone(), arrive).await;
    let hang_until = shared.state().net.black_hole_until;
    if hang_until > shared.state().now {
        // No answer at all: only the dialler's own timeout ends this.
        std::future::pending::<()>().await;
    }
    let mut state = shared.state();
    let now = state.now;
    let key = (target.host.clone(), target.port);
    let listening = state.net.listeners.get(&key).is_some_and(|l| l.open);
    if !listening || state.net.refuse_until > now {
        state.net.counts.refused += 1;
        state.record(("refused", target.port));
        return Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "connection refused (simulated)",
        ));
    }
    let id = state.net.next_link;
    state.net.next_link += 1;
    let range = state.net.config.latency;
    let latency = draw(&mut state.rng, range);
    let buffer = state.net.config.buffer;
    state.net.links.insert(
        id,
        Link {
            pipes: [Pipe::new(buffer), Pipe::new(buffer)],
            latency,
            open_ends: [true, true],
        },
    );
    state.net.counts.connected += 1;
    state.record(("connected", id));
    let acceptor = SimConn::new(shared.clone(), id, End::Acceptor);
    let listener = state.net.listeners.get_mut(&key).expect("checked above");
    listener.backlog.push_back(acceptor);
    if let Some(waker) = listener.waker.take() {
        waker.wake();
    }
    drop(state);
    Ok(Box::new(SimConn::new(shared, id, End::Dialler)))
}

/// The network of a world, for setting up listeners and injecting faults.
#[derive(Clone)]
pub struct NetHandle {
    shared: Arc<Shared>,
}

impl NetHandle {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Listens on `host:port`: dials there connect, and their other ends
    /// come out of the returned listener.
    pub fn listen(&self, host: &str, port: u16) -> SimListener {
        let key = (host.to_owned(), port);
        let mut state = self.shared.state();
        let listener = state.net.listeners.entry(key.clone()).or_default();
        listener.open = true;
        SimListener {
            shared: self.shared.clone(),
            key,
        }
    }

    /// Links with both ends open, oldest first.
    pub fn links(&self) -> Vec<LinkId> {
        let state = self.shared.state();
        state
            .net
            .links
            .iter()
            .filter(|(_, link)| link.open_ends == [true, true])
            .map(|(id, _)| *id)
            .collect()
    }

    /// Links whose dialling end (the client's) is still open.
    pub fn open_dialled(&self) -> usize {
        let state = self.shared.state();
        state.net.links.values().filter(|l| l.open_ends[0]).count()
    }

    /// Cuts `link`: both ends read and write errors from now on.
    pub fn cut(&self, link: LinkId) {
        let mut state = self.shared.state();
        if let Some(l) = state.net.link(link) {
            for pipe in &mut l.pipes {
                pipe.reset();
            }
            state.net.counts.cut += 1;
            state.record(("cut", link));
        }
    }

    /// Cuts every link.
    pub fn cut_all(&self) {
        for link in self.links() {
            self.cut(link);
        }
    }

    /// Delivers nothing on `link`, either way, for `duration`.
    pub fn stall(&self, link: LinkId, duration: Duration) {
        let mut state = self.shared.state();
        let until = state.now + duration;
        if let Some(l) = state.net.link(link) {
            for pipe in &mut l.pipes {
                pipe.stall_until(until);
            }
            state.net.counts.stalled += 1;
            state.record(("stall", link));
        }
    }

    /// Makes `link` half-open: whatever either end writes is lost, and
    /// neither end is told.
    pub fn half_open(&self, link: LinkId) {
        let mut state = self.shared.state();
        if let Some(l) = state.net.link(link) {
            for pipe in &mut l.pipes {
                pipe.black_hole();
            }
            state.net.counts.half_open += 1;
            state.record(("half-open", link));
        }
    }

    /// Refuses every dial for `duration` (a server down or restarting).
    pub fn refuse_dials_for(&self, duration: Duration) {
        let mut state = self.shared.state();
        state.net.refuse_until = state.now + duration;
        state.record(("refuse", duration));
    }

    /// Leaves every dial unanswered for `duration`.
    pub fn black_hole_dials_for(&self, duration: Duration) {
        let mut state = self.shared.state();
        state.net.black_hole_until = state.now + duration;
        state.record(("black hole", duration));
    }

    /// Adds `delay` to every later dial.
    pub fn slow_dials(&self, delay: Duration) {
        let mut state = self.shared.state();
        state.net.extra_dial_delay = delay;
        state.record(("slow dials", delay));
    }

    /// What the network did so far.
    pub fn counts(&self) -> NetCounts {
        self.shared.state().net.counts.clone()
    }
}

/// Connections dialled to one address, as the listening end sees them.
pub struct SimListener {
    shared: Arc<Shared>,
    key: (String, u16),
}

impl SimListener {
    /// The next connection dialled to this address.
    pub async fn accept(&self) -> SimConn {
        std::future::poll_fn(|cx| {
            let mut state = self.shared.state();
            let listener = state.net.listeners.entry(self.key.clone()).or_default();
            match listener.backlog.pop_front() {
                Some(conn) => std::task::Poll::Ready(conn),
                None => {
                    listener.waker = Some(cx.waker().clone());
                    std::task::Poll::Pending
                }
            }
        })
        .await
    }
}

impl Drop for SimListener {
    fn drop(&mut self) {
        let backlog = {
            let mut state = self.shared.state();
            match state.net.listeners.remove(&self.key) {
                Some(listener) => listener.backlog,
                None => VecDeque::new(),
            }
        };
        // Connections never accepted are dropped (closed) outside the lock.
        drop(backlog);
    }
}
