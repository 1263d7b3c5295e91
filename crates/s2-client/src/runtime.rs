//! The runtime trait: what the client needs from an async runtime, and the
//! glue that lets hyper run on it.
//!
//! Implement [`Runtime`] to embed the client in any executor: spawn a task,
//! sleep, tell the time, and open a TCP (optionally TLS) connection.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

/// A connection the client can speak HTTP/2 over.
pub trait Io: hyper::rt::Read + hyper::rt::Write + Send + Unpin + 'static {}

impl<T: hyper::rt::Read + hyper::rt::Write + Send + Unpin + 'static> Io for T {}

/// A boxed connection.
pub type BoxIo = Box<dyn Io>;
/// A connection being opened.
pub type ConnectFuture = Pin<Box<dyn Future<Output = io::Result<BoxIo>> + Send>>;
/// A timer.
pub type SleepFuture = Pin<Box<dyn Future<Output = ()> + Send + Sync>>;
/// A background task.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Where to connect.
#[derive(Debug, Clone)]
pub struct ConnectTarget {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// TLS configuration (ALPN `h2` already set) when the endpoint is https.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl ConnectTarget {
    /// The TLS server name of the host.
    pub fn server_name(&self) -> io::Result<rustls::pki_types::ServerName<'static>> {
        rustls::pki_types::ServerName::try_from(self.host.clone())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
    }
}

/// An async runtime the client runs on.
///
/// ```
/// # use std::{future::Future, io, pin::Pin, time::{Duration, Instant}};
/// # use s2_client::runtime::{ConnectTarget, Runtime, Io};
/// // A runtime whose timers never fire and which cannot connect: enough to
/// // show the shape of an implementation.
/// #[derive(Clone, Default)]
/// struct Inert;
///
/// impl Runtime for Inert {
///     fn spawn(&self, _task: Pin<Box<dyn Future<Output = ()> + Send>>) {}
///     fn sleep(&self, _d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
///         Box::pin(std::future::pending())
///     }
///     fn now(&self) -> Instant {
///         Instant::now()
///     }
///     fn connect(
///         &self,
///         _target: ConnectTarget,
///     ) -> Pin<Box<dyn Future<Output = io::Result<Box<dyn Io>>> + Send>> {
///         Box::pin(async { Err(io::Error::other("no network")) })
///     }
/// }
/// ```
pub trait Runtime: Send + Sync + Clone + Unpin + 'static {
    /// Runs `task` in the background.
    fn spawn(&self, task: Task);

    /// Completes after `duration`.
    fn sleep(&self, duration: Duration) -> SleepFuture;

    /// The current instant of the runtime's clock.
    fn now(&self) -> Instant;

    /// Opens a TCP connection (with `TCP_NODELAY`), wrapped in TLS when the
    /// target asks for it.
    fn connect(&self, target: ConnectTarget) -> ConnectFuture;
}

/// hyper's executor on top of a [`Runtime`].
#[derive(Clone)]
pub(crate) struct HyperExecutor<R>(pub(crate) R);

impl<R: Runtime, F: Future<Output = ()> + Send + 'static> hyper::rt::Executor<F>
    for HyperExecutor<R>
{
    fn execute(&self, future: F) {
        self.0.spawn(Box::pin(future));
    }
}

/// hyper's timer on top of a [`Runtime`].
#[derive(Clone)]
pub(crate) struct HyperTimer<R>(pub(crate) R);

struct HyperSleep(SleepFuture);

impl Future for HyperSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for HyperSleep {}

impl<R: Runtime> hyper::rt::Timer for HyperTimer<R> {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep(self.0.sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let now = self.0.now();
        self.sleep(deadline.saturating_duration_since(now))
    }
}

/// Runs `future` with a deadline: `None` if the runtime's timer fires first.
pub(crate) async fn timeout<R: Runtime, F: Future>(
    runtime: &R,
    duration: Duration,
    future: F,
) -> Option<F::Output> {
    use futures_util::future::{Either, select};
    let future = std::pin::pin!(future);
    match select(future, runtime.sleep(duration)).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(((), _)) => None,
    }
}
