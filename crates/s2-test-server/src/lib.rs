//! An embedded [s2-lite](https://crates.io/crates/s2-lite) server for tests and
//! examples.
//!
//! [`TestServer::start`] runs s2-lite in-process on `127.0.0.1` with a random
//! port and in-memory storage, on a runtime thread of its own, so callers on
//! any async runtime (or none) can use it. The server stops when the handle is
//! dropped.
//!
//! [`DiskServer`] runs s2-lite on local disk instead, and can be crashed and
//! restarted on the same port and data: for what must survive a server
//! restart.
//!
//! [`Target::from_env`] is what tests use: it points at the endpoint named by
//! `S2_ACCOUNT_ENDPOINT` (and `S2_BASIN_ENDPOINT`, `S2_ACCESS_TOKEN`) when that
//! is set, and otherwise starts an embedded server.

use std::{
    io,
    net::SocketAddr,
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

mod disk;
pub mod examples;
pub mod hostile;
mod proxy;
mod tls;

pub use disk::DiskServer;
pub use hostile::{AckFault, Cut, ErrorBody, HostileServer, Misbehaviour, Route};
pub use proxy::{CutHandle, FaultProxy};

use bytesize::ByteSize;
use s2_lite::{backend::Backend, handlers};
use slatedb::object_store::{ObjectStore, memory::InMemory};
use std::sync::Arc;

/// The runtime of a server on a thread of its own, with `workers` threads:
/// callers on any runtime (or none) can use the server.
pub(crate) fn server_runtime(workers: usize) -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
}

/// A running in-process s2-lite server. Dropping it shuts the server down.
pub struct TestServer {
    addr: SocketAddr,
    /// The self-signed certificate, in TLS mode.
    certificate: Option<rustls::pki_types::CertificateDer<'static>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl TestServer {
    /// Starts s2-lite on `127.0.0.1:0` with in-memory storage and waits until
    /// it answers its health check.
    pub fn start() -> io::Result<Self> {
        Self::start_with(None)
    }

    /// Starts s2-lite behind TLS (HTTP/2 over rustls) with a self-signed
    /// certificate for `localhost`; see [`certificate`](Self::certificate).
    pub fn start_tls() -> io::Result<Self> {
        Self::start_with(Some(tls::self_signed()?))
    }

    fn start_with(tls: Option<tls::SelfSigned>) -> io::Result<Self> {
        let certificate = tls.as_ref().map(|t| t.certificate.clone());
        let tls_config = tls.map(|t| t.server_config);
        let (ready_tx, ready_rx) = mpsc::channel::<io::Result<SocketAddr>>();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = thread::Builder::new()
            .name("s2-lite".into())
            .spawn(move || {
                let runtime = match crate::server_runtime(2) {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(serve(ready_tx, shutdown_rx, tls_config));
            })?;
        let addr = ready_rx
            .recv_timeout(Duration::from_secs(60))
            .map_err(|_| io::Error::other("s2-lite did not start within 60 s"))??;
        let server = Self {
            addr,
            certificate,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        };
        if server.certificate.is_none() {
            wait_healthy(server.addr, Duration::from_secs(30))?;
        }
        Ok(server)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint URL (`http://127.0.0.1:PORT`, or
    /// `https://localhost:PORT` in TLS mode), usable as both the account and
    /// the basin endpoint.
    pub fn endpoint(&self) -> String {
        match self.certificate {
            Some(_) => format!("https://localhost:{}", self.addr.port()),
            None => format!("http://{}", self.addr),
        }
    }

    /// The self-signed certificate (DER) the server presents in TLS mode.
    pub fn certificate(&self) -> Option<&rustls::pki_types::CertificateDer<'static>> {
        self.certificate.as_ref()
    }
}

/// Waits until the plain-http s2-lite at `addr` answers its health check.
fn wait_healthy(addr: SocketAddr, timeout: Duration) -> io::Result<()> {
    use std::io::{Read, Write};
    let deadline = Instant::now() + timeout;
    loop {
        let attempt = (|| -> io::Result<bool> {
            let mut conn = std::net::TcpStream::connect(addr)?;
            conn.set_read_timeout(Some(Duration::from_secs(2)))?;
            conn.write_all(
                b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            )?;
            let mut response = Vec::new();
            conn.read_to_end(&mut response)?;
            Ok(response.starts_with(b"HTTP/1.1 200"))
        })();
        if let Ok(true) = attempt {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(io::Error::other("s2-lite did not become healthy"));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    ready: mpsc::Sender<io::Result<SocketAddr>>,
    shutdown: tokio::sync::oneshot::Receiver<()>,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    let started = async {
        let object_store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let settings = slatedb::config::Settings {
            flush_interval: Some(Duration::from_millis(5)),
            ..Default::default()
        };
        let db = slatedb::Db::builder("s2-test", object_store)
            .with_settings(settings)
            .build()
            .await
            .map_err(io::Error::other)?;
        let backend = Backend::new(db, ByteSize::mib(128));
        s2_lite::backend::bgtasks::spawn(&backend);
        let app = handlers::router().with_state(backend);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        io::Result::Ok((listener, app, addr))
    }
    .await;
    let (listener, app, addr) = match started {
        Ok(parts) => parts,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(addr));
    if let Some(config) = tls {
        return tls::serve(listener, app, config, shutdown).await;
    }
    let _ = axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = shutdown.await;
        })
        .await;
}

/// Where tests and examples send their requests: a configured endpoint, or an
/// embedded server started for them.
pub struct Target {
    /// The account endpoint URL.
    pub account_endpoint: String,
    /// The basin endpoint URL.
    pub basin_endpoint: String,
    /// The access token to present.
    pub access_token: String,
    /// The embedded server, kept alive as long as the target.
    pub server: Option<TestServer>,
}

impl Target {
    /// Uses `S2_ACCOUNT_ENDPOINT` / `S2_BASIN_ENDPOINT` / `S2_ACCESS_TOKEN` when
    /// `S2_ACCOUNT_ENDPOINT` is set; otherwise starts an embedded s2-lite.
    pub fn from_env() -> io::Result<Self> {
        match std::env::var("S2_ACCOUNT_ENDPOINT") {
            Ok(account_endpoint) if !account_endpoint.is_empty() => {
                let basin_endpoint = std::env::var("S2_BASIN_ENDPOINT")
                    .ok()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| account_endpoint.clone());
                let access_token =
                    std::env::var("S2_ACCESS_TOKEN").unwrap_or_else(|_| "ignored".into());
                Ok(Self {
                    account_endpoint,
                    basin_endpoint,
                    access_token,
                    server: None,
                })
            }
            _ => Self::embedded(),
        }
    }

    /// A client configuration for this target.
    pub fn client_config(&self) -> s2_client::ClientConfig {
        let endpoints =
            s2_client::config::Endpoints::new(&self.account_endpoint, &self.basin_endpoint)
                .unwrap_or_else(|e| panic!("invalid S2 endpoint: {e}"));
        let config =
            s2_client::ClientConfig::new(self.access_token.clone()).with_endpoints(endpoints);
        // A remote plain-http target (an s2-lite on another host) needs the
        // same explicit opt-in as `ClientConfig::from_env`.
        let opt_in = std::env::var(s2_client::config::ENV_ALLOW_INSECURE_HTTP)
            .is_ok_and(|v| v.trim() == "1" || v.trim().eq_ignore_ascii_case("true"));
        if opt_in {
            config.with_insecure_http_to_remote_hosts()
        } else {
            config
        }
    }

    /// Always starts an embedded s2-lite.
    pub fn embedded() -> io::Result<Self> {
        let server = TestServer::start()?;
        Ok(Self {
            account_endpoint: server.endpoint(),
            basin_endpoint: server.endpoint(),
            access_token: "ignored".into(),
            server: Some(server),
        })
    }
}
