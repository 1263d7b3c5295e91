//! s2-lite on local disk, which can crash and come back: what `s2 lite
//! --local-root DIR` runs, in-process.

use std::{
    io,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use bytesize::ByteSize;
use s2_lite::{backend::Backend, handlers};
use slatedb::object_store::{ObjectStore, local::LocalFileSystem};

/// How long a restart keeps trying to bind the port it had, in case the
/// operating system has not let go of it yet.
const REBIND_PATIENCE: Duration = Duration::from_secs(10);

/// An s2-lite server storing its data under a directory (slatedb over a
/// local-filesystem object store, fsynced, as `s2 lite --local-root`), on
/// `127.0.0.1` at a port that stays the same across restarts.
///
/// [`stop`](Self::stop) is a crash, not a shutdown: the server's runtime is
/// dropped with its connections and tasks, without draining requests or
/// closing the database; only what s2-lite made durable survives, as after
/// a killed process (slatedb's tasks, torn down mid-flight, may print a
/// panic as they go). [`restart`](Self::restart) opens the same directory
/// again on the same port. Dropping the handle stops the server (and
/// removes the directory when the server made it, see
/// [`start_temp`](Self::start_temp)).
///
/// ```no_run
/// # use s2_test_server::DiskServer;
/// let mut server = DiskServer::start_temp()?;
/// let endpoint = server.endpoint();
/// server.stop();
/// // Clients now get "connection refused" from `endpoint`.
/// server.restart()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct DiskServer {
    dir: PathBuf,
    /// Removed on drop: the directory is the server's own.
    owned_dir: bool,
    addr: SocketAddr,
    running: Option<Running>,
    requests: Arc<AtomicU64>,
}

/// The thread a run of the server lives on, and how to end it.
struct Running {
    crash: mpsc::Sender<()>,
    thread: thread::JoinHandle<()>,
}

impl DiskServer {
    /// Starts s2-lite on `127.0.0.1:0` with its data under `dir` (created
    /// if missing; data already there is served) and waits until it answers
    /// its health check.
    pub fn start(dir: impl AsRef<Path>) -> io::Result<Self> {
        Self::start_in(dir.as_ref().to_path_buf(), false)
    }

    /// [`start`](Self::start) in a fresh directory under the system's
    /// temporary directory, removed when the handle is dropped.
    pub fn start_temp() -> io::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "s2-disk-server-{}-{:016x}",
            std::process::id(),
            unique()
        ));
        Self::start_in(dir, true)
    }

    fn start_in(dir: PathBuf, owned_dir: bool) -> io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let requests = Arc::new(AtomicU64::new(0));
        let (running, addr) = run(&dir, SocketAddr::from(([127, 0, 0, 1], 0)), &requests)?;
        Ok(Self {
            dir,
            owned_dir,
            addr,
            running: Some(running),
            requests,
        })
    }

    /// The address the server listens on, the same across restarts.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint URL (`http://127.0.0.1:PORT`), usable as both the
    /// account and the basin endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The directory the data is stored under.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the server is running (not [stopped](Self::stop)).
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// S2 API requests (under `/v1`) the server has received, over all its
    /// runs: each attempt of a unary call and each connection of a session
    /// is one; an attempt refused at the closed port is none.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// Crashes the server: its runtime is dropped at once, which resets
    /// every connection and ends every task mid-flight, and the port is
    /// closed (connecting is refused). Returns once the runtime is gone.
    /// Nothing is drained or closed; a stopped server stays stopped.
    pub fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.crash.send(());
            let _ = running.thread.join();
        }
    }

    /// Starts the server again (stopping it first if it runs) on the same
    /// port and directory, and waits until it answers its health check.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        let deadline = Instant::now() + REBIND_PATIENCE;
        loop {
            match run(&self.dir, self.addr, &self.requests) {
                Ok((running, _)) => {
                    self.running = Some(running);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for DiskServer {
    fn drop(&mut self) {
        self.stop();
        if self.owned_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A number no other server of this process drew.
fn unique() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (NEXT.fetch_add(1, Ordering::Relaxed) << 48)
}

/// Runs the server over `dir` on `addr`, on a thread and runtime of its
/// own, until the returned handle's `crash` fires (or is dropped).
fn run(
    dir: &Path,
    addr: SocketAddr,
    requests: &Arc<AtomicU64>,
) -> io::Result<(Running, SocketAddr)> {
    let (ready_tx, ready_rx) = mpsc::channel::<io::Result<SocketAddr>>();
    let (crash_tx, crash_rx) = mpsc::channel::<()>();
    let (dir, requests) = (dir.to_path_buf(), requests.clone());
    let thread = thread::Builder::new()
        .name("s2-lite-disk".into())
        .spawn(move || {
            let runtime = match crate::server_runtime(2) {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            match runtime.block_on(serve(&dir, addr, requests)) {
                Ok(bound) => {
                    let _ = ready_tx.send(Ok(bound));
                    // Wait for the crash off the runtime's threads, which
                    // serve on meanwhile.
                    let _ = crash_rx.recv();
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            }
            // The crash: every task and connection is dropped where it
            // stands (blocking file writes under way finish, as a killed
            // process's system calls do).
            drop(runtime);
        })?;
    let bound = ready_rx
        .recv_timeout(Duration::from_secs(60))
        .map_err(|_| io::Error::other("s2-lite did not start within 60 s"))
        .and_then(|r| r);
    let running = Running {
        crash: crash_tx,
        thread,
    };
    let bound = match bound {
        Ok(bound) => bound,
        Err(e) => {
            let _ = running.crash.send(());
            let _ = running.thread.join();
            return Err(e);
        }
    };
    if let Err(e) = crate::wait_healthy(bound, Duration::from_secs(30)) {
        let _ = running.crash.send(());
        let _ = running.thread.join();
        return Err(e);
    }
    Ok((running, bound))
}

/// Opens the database under `dir`, binds `addr` and spawns the server on
/// the current runtime; returns the bound address.
async fn serve(dir: &Path, addr: SocketAddr, requests: Arc<AtomicU64>) -> io::Result<SocketAddr> {
    // As `s2 lite --local-root`: an acknowledged write must survive a
    // crash, so every file is fsynced.
    let object_store: Arc<dyn ObjectStore> = Arc::new(
        LocalFileSystem::new_with_prefix(dir)
            .map_err(io::Error::other)?
            .with_fsync(true),
    );
    let settings = slatedb::config::Settings {
        flush_interval: Some(Duration::from_millis(5)),
        ..Default::default()
    };
    let db = slatedb::Db::builder("s2-disk", object_store)
        .with_settings(settings)
        .build()
        .await
        .map_err(io::Error::other)?;
    let backend = Backend::new(db, ByteSize::mib(128));
    s2_lite::backend::bgtasks::spawn(&backend);
    let count = axum::middleware::map_request(move |request: axum::extract::Request| {
        // The S2 API's requests, not the health checks.
        if request.uri().path().starts_with("/v1/") {
            requests.fetch_add(1, Ordering::SeqCst);
        }
        std::future::ready(request)
    });
    let app = handlers::router().with_state(backend).layer(count);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(bound)
}
