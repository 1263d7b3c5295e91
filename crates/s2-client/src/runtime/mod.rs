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

mod deadline;
mod prompt_acks;

pub(crate) use deadline::Deadline;
pub use prompt_acks::{PromptAcks, PromptAcksIo};

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

    /// Completes at `deadline`, an instant of [`now`](Self::now)'s clock
    /// (at once if it has passed).
    ///
    /// The default sleeps for the time left until `deadline`, read from
    /// [`now`](Self::now). Override it when the runtime's timers take a
    /// deadline themselves (tokio's `sleep_until`, async-io's `Timer::at`):
    /// that saves a read of the clock.
    fn sleep_until(&self, deadline: Instant) -> SleepFuture {
        self.sleep(deadline.saturating_duration_since(self.now()))
    }

    /// Moves `sleep` to complete at `deadline` instead, whether or not it
    /// has completed already. The client calls this when a deadline it
    /// waits for moves, instead of dropping the timer and making another.
    ///
    /// The default replaces `sleep` with a fresh
    /// [`sleep_until`](Self::sleep_until)`(deadline)`, which is always
    /// right. Override it when the runtime can move a timer in place (as
    /// tokio's `Sleep::reset` or async-io's `Timer::set_at` do) and can
    /// tell its own timers apart behind the `dyn Future`; `sleep` need not
    /// be one this runtime made, and one it cannot move must still be
    /// replaced.
    fn reset_sleep(&self, sleep: &mut SleepFuture, deadline: Instant) {
        *sleep = self.sleep_until(deadline);
    }

    /// The current instant of the runtime's clock.
    fn now(&self) -> Instant;

    /// Opens a TCP connection (with `TCP_NODELAY`), wrapped in TLS when the
    /// target asks for it, and in [`PromptAcks`] so that a server using
    /// Nagle's algorithm does not hold acks back.
    fn connect(&self, target: ConnectTarget) -> ConnectFuture;

    /// A random number for what the client draws by itself: backoff jitter
    /// seeds and request tokens.
    ///
    /// The default draws from the standard library's `RandomState`, hashed
    /// with a counter, the process id and the wall clock, which is what a
    /// real runtime wants. A simulated runtime returns numbers from its
    /// seed, so that a run can be repeated exactly.
    ///
    /// Draws must differ between calls and between processes sharing an
    /// account: request tokens made from them make a retried create
    /// idempotent, and two creates with one token are taken for one.
    fn random_u64(&self) -> u64 {
        crate::random::u64()
    }
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
        let sleep =
            bounded_sleep(&self.0, duration).unwrap_or_else(|| Box::pin(std::future::pending()));
        Box::pin(HyperSleep(sleep))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let now = self.0.now();
        self.sleep(deadline.saturating_duration_since(now))
    }

    /// Moves the runtime's timer inside a sleep of ours, so a runtime that
    /// can move timers in place ([`Runtime::reset_sleep`]) does; anything
    /// else (or a deadline too far to be one) is replaced, as hyper's
    /// default does.
    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        let now = self.0.now();
        let wait = new_deadline.saturating_duration_since(now);
        match sleep.as_mut().downcast_mut_pin::<HyperSleep>() {
            Some(ours) if s2_core::time::checked_deadline(now, wait).is_some() => {
                self.0.reset_sleep(&mut ours.get_mut().0, new_deadline)
            }
            _ => *sleep = self.sleep(wait),
        }
    }

    /// hyper's deadlines (keepalive pings, their timeouts) must be read on
    /// the clock its sleeps run on. Left to its default, `Instant::now`,
    /// they were not: on a runtime whose clock runs apart from the system's
    /// (tokio with paused time, a simulation) a keepalive timed out at once
    /// or never.
    fn now(&self) -> Instant {
        self.0.now()
    }
}

/// A timer for `duration`, or `None` when the duration is too long to be a
/// deadline ([`checked_deadline`](s2_core::time::checked_deadline): past
/// [`MAX_DURATION`](crate::config::MAX_DURATION), or past what the
/// runtime's clock can represent). `None` means "never fires"; no runtime
/// is ever asked to add such a duration to an instant.
pub(crate) fn bounded_sleep<R: Runtime>(runtime: &R, duration: Duration) -> Option<SleepFuture> {
    s2_core::time::checked_deadline(runtime.now(), duration).map(|_| runtime.sleep(duration))
}

/// Runs `future` with a deadline: `None` if the runtime's timer fires first.
/// A duration too long to be a deadline (see [`bounded_sleep`]) means none.
pub(crate) async fn timeout<R: Runtime, F: Future>(
    runtime: &R,
    duration: Duration,
    future: F,
) -> Option<F::Output> {
    use futures_util::future::{Either, select};
    let future = std::pin::pin!(future);
    let Some(sleep) = bounded_sleep(runtime, duration) else {
        return Some(future.await);
    };
    match select(future, sleep).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(((), _)) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runtime whose timers compute their deadline the naive way, as a
    /// third-party runtime may: `now + duration` panics on overflow.
    #[derive(Clone)]
    struct NaiveClock;

    impl Runtime for NaiveClock {
        fn spawn(&self, _task: Task) {}
        fn sleep(&self, duration: Duration) -> SleepFuture {
            let _deadline = Instant::now() + duration;
            Box::pin(std::future::pending())
        }
        fn now(&self) -> Instant {
            Instant::now()
        }
        fn connect(&self, _target: ConnectTarget) -> ConnectFuture {
            Box::pin(async { Err(io::Error::other("no network")) })
        }
    }

    fn poll_once<F: Future>(future: F) -> Poll<F::Output> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        std::pin::pin!(future).poll(&mut cx)
    }

    #[test]
    fn timeout_of_duration_max_is_no_deadline() {
        let outcome = poll_once(timeout(&NaiveClock, Duration::MAX, async { 7 }));
        assert_eq!(outcome, Poll::Ready(Some(7)));
        let pending = poll_once(timeout(
            &NaiveClock,
            Duration::MAX,
            std::future::pending::<()>(),
        ));
        assert_eq!(pending, Poll::Pending);
    }

    #[test]
    fn hyper_timer_sleeps_saturate() {
        use hyper::rt::Timer;
        let timer = HyperTimer(NaiveClock);
        assert_eq!(poll_once(timer.sleep(Duration::MAX)), Poll::Pending);
        let far = Instant::now() + crate::config::MAX_DURATION;
        assert_eq!(poll_once(timer.sleep_until(far)), Poll::Pending);
    }

    /// A runtime whose timers of zero fire at once and others never, and
    /// which counts the timers it is asked to move.
    #[derive(Clone, Default)]
    struct CountedResets(Arc<std::sync::atomic::AtomicUsize>);

    impl Runtime for CountedResets {
        fn spawn(&self, _task: Task) {}
        fn sleep(&self, duration: Duration) -> SleepFuture {
            match duration.is_zero() {
                true => Box::pin(std::future::ready(())),
                false => Box::pin(std::future::pending()),
            }
        }
        fn now(&self) -> Instant {
            Instant::now()
        }
        fn connect(&self, _target: ConnectTarget) -> ConnectFuture {
            Box::pin(async { Err(io::Error::other("no network")) })
        }
        fn reset_sleep(&self, sleep: &mut SleepFuture, deadline: Instant) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            *sleep = self.sleep_until(deadline);
        }
    }

    #[test]
    fn hyper_timer_resets_go_through_the_runtime_and_saturate() {
        use hyper::rt::Timer;
        let runtime = CountedResets::default();
        let resets = || runtime.0.load(std::sync::atomic::Ordering::Relaxed);
        let timer = HyperTimer(runtime.clone());
        let mut sleep = timer.sleep(Duration::from_secs(60));
        assert_eq!(poll_once(sleep.as_mut()), Poll::Pending);
        // Moved to a deadline that has passed: the runtime's timer, moved.
        timer.reset(&mut sleep, Instant::now() - Duration::from_secs(1));
        assert_eq!(resets(), 1);
        assert_eq!(poll_once(sleep.as_mut()), Poll::Ready(()));
        // Moved past the longest deadline: never fires, and the runtime is
        // not asked.
        let far = Instant::now() + crate::config::MAX_DURATION + Duration::from_secs(60);
        timer.reset(&mut sleep, far);
        assert_eq!(resets(), 1);
        assert_eq!(poll_once(sleep.as_mut()), Poll::Pending);
    }
}
