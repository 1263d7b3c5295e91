//! Drivers of the session state machines of `s2_core::session`: they move
//! bytes between the machines and HTTP/2 streams, and keep time.

pub(crate) mod append;
pub(crate) mod gate;
pub(crate) mod read;

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body::Body;
use hyper::body::Incoming;
use s2_core::{Error, api::HttpRequest, api::HttpResponse, session::ConnectionId};

use crate::{
    body::RequestBody,
    client::ClientInner,
    runtime::{Runtime, SleepFuture},
    transport::{ConnectionHandle, Lease},
};

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A session connection being opened: resolves to the response body (and
/// the lease on its HTTP/2 connection) once the service answered 200, or to
/// the error it answered with.
pub(crate) struct Opening {
    pub(crate) connection: ConnectionId,
    /// When the session asked for it.
    asked: Instant,
    /// The HTTP/2 connection the request goes out on, once chosen: known
    /// before any answer, so a connection that never answers can be
    /// evicted.
    on: Arc<OnceLock<ConnectionHandle>>,
    /// Set when the provider's token was refused with a 401 and the request
    /// could not be sent again here (an append session's body was handed
    /// over): the session may reconnect once with a fresh token.
    token_refused: Arc<AtomicBool>,
    future: BoxFuture<Result<(Incoming, Lease), Error>>,
}

impl Opening {
    pub(crate) fn new<R: Runtime>(
        inner: Arc<ClientInner<R>>,
        connection: ConnectionId,
        request: HttpRequest,
        body: RequestBody,
    ) -> Self {
        let asked = inner.transport.runtime().now();
        let on = Arc::new(OnceLock::new());
        let chosen = on.clone();
        let token_refused = Arc::new(AtomicBool::new(false));
        let refused = token_refused.clone();
        let future = Box::pin(async move {
            let mut request = request;
            let mut body = Some(body);
            let mut retried = false;
            let (response, lease) = loop {
                let token = crate::auth::authorize(&inner.config, &mut request).await?;
                let checkout = inner.transport.checkout(&request.uri).await?;
                let _ = chosen.set(checkout.connection());
                let sent = body
                    .take()
                    .unwrap_or_else(|| RequestBody::full(Bytes::new()));
                let (response, lease) = checkout.send(&request, sent).await?;
                match token.filter(|_| crate::auth::is_unauthorized(response.status())) {
                    Some(token) => {
                        crate::auth::invalidate(&inner.config, &token);
                        // A read session's request has no body: it is sent
                        // again, once, with a fresh token. An append
                        // session's body was handed over; the session
                        // reconnects once, asking for a fresh token.
                        if body.is_none() && request.method == http::Method::GET && !retried {
                            retried = true;
                            continue;
                        }
                        if !retried {
                            refused.store(true, Ordering::Relaxed);
                        }
                        break (response, lease);
                    }
                    None => break (response, lease),
                }
            };
            if response.status() == http::StatusCode::OK {
                return Ok((response.into_body(), lease));
            }
            let (parts, body) = response.into_parts();
            let body = crate::transport::collect_limited(body).await?;
            Err(inner.api.session_error(&HttpResponse {
                status: parts.status,
                headers: parts.headers,
                body,
            }))
        });
        Self {
            connection,
            asked,
            on,
            token_refused,
            future,
        }
    }

    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<(Incoming, Lease), Error>> {
        self.future.as_mut().poll(cx)
    }
}

/// An open session connection: its response body, read as it comes.
struct Open {
    connection: ConnectionId,
    body: Incoming,
    /// Holds the session's place on its HTTP/2 connection while it lives.
    lease: Lease,
}

/// The connection of a session: being opened, then open (its response
/// body being read).
#[derive(Default)]
pub(crate) struct SessionConnection {
    opening: Option<Opening>,
    open: Option<Open>,
    /// When the current connection was asked for or last delivered bytes.
    heard: Option<Instant>,
    /// Why and when the last connection failed: reported with the
    /// reconnect that follows.
    /// `Ok`: a failure; `Err`: the server's advice (not a retry).
    failure: Option<(Instant, Result<String, &'static str>)>,
    /// A refused token already earned a reconnect since the last accepted
    /// connection.
    token_refreshed: bool,
}

impl SessionConnection {
    /// Replaces the current connection (if any) with one being opened.
    pub(crate) fn open(&mut self, opening: Opening) {
        self.open = None;
        self.heard = Some(opening.asked);
        self.opening = Some(opening);
    }

    /// Remembers why the connection failed, for the reconnect's log line.
    pub(crate) fn note_failure(&mut self, cause: impl std::fmt::Display, now: Instant) {
        tracing::debug!(%cause, "session connection failed");
        self.failure = Some((now, Ok(cause.to_string())));
    }

    /// The server advised leaving `connection`: logged, remembered as the
    /// cause of the reconnect that follows, and its HTTP/2 connection
    /// takes nothing new.
    pub(crate) fn advised(&mut self, connection: ConnectionId, now: Instant) {
        tracing::debug!(connection = connection.0, "the server advised reconnecting");
        self.failure = Some((now, Err("reconnect advised by the server")));
        self.evict_advised(connection);
    }

    /// Logs the opening of session connection `connection`: after the
    /// first, a reconnect, with the failure that led to it and how long
    /// after it.
    pub(crate) fn log_connect(
        &mut self,
        connection: ConnectionId,
        session: crate::metrics::Session,
        now: Instant,
    ) {
        if connection.0 == 0 {
            tracing::debug!(connection = connection.0, "opening session connection");
            return;
        }
        let (cause, delay) = match self.failure.take() {
            Some((at, cause)) => (cause, now.saturating_duration_since(at)),
            // Nothing broke on the driver's side: the session decided on
            // an error frame it read.
            None => (
                Ok("an error frame from the server".to_owned()),
                Duration::ZERO,
            ),
        };
        crate::metrics::reconnect(session);
        match cause {
            Ok(cause) => {
                tracing::debug!(connection = connection.0, %cause, ?delay, "reconnecting");
                crate::metrics::retry(crate::metrics::Retry::Session(session));
            }
            Err(advice) => {
                tracing::debug!(
                    connection = connection.0,
                    cause = advice,
                    ?delay,
                    "reconnecting"
                )
            }
        }
    }

    /// Drops the current connection.
    pub(crate) fn close(&mut self) {
        self.opening = None;
        self.open = None;
        self.heard = None;
    }

    /// The HTTP/2 connection the current session connection is on, once
    /// chosen.
    pub(crate) fn http_connection(&self) -> Option<ConnectionHandle> {
        match (&self.open, &self.opening) {
            (Some(open), _) => Some(open.lease.connection()),
            (None, Some(opening)) => opening.on.get().cloned(),
            (None, None) => None,
        }
    }

    /// The server advised leaving `connection` (it is about to go away):
    /// nothing new goes out on its HTTP/2 connection; what is in flight on
    /// it (this session included) finishes there.
    pub(crate) fn evict_advised(&self, connection: ConnectionId) {
        if let Some(open) = self.open.as_ref().filter(|o| o.connection == connection) {
            open.lease.connection().evict();
        }
    }

    /// Evicts the HTTP/2 connection of the current session connection if
    /// nothing came on it for `silence` (nor since it was asked for): a
    /// connection that cannot deliver a heartbeat must take no new
    /// requests, or the reconnect would go out on it again.
    pub(crate) fn evict_if_silent(&mut self, silence: Duration, now: Instant) {
        let silent = self
            .heard
            .is_some_and(|heard| now.saturating_duration_since(heard) >= silence)
            && (self.open.is_some() || self.opening.is_some());
        if silent {
            tracing::warn!(?silence, "no heartbeat within the heartbeat timeout");
            self.failure = Some((now, Ok("heartbeat timeout".to_owned())));
        }
        if silent && let Some(connection) = self.http_connection() {
            connection.evict();
        }
    }

    /// Waits for the next thing that happens on the connection and hands it
    /// to `machine`.
    pub(crate) fn poll_into(
        &mut self,
        machine: &mut impl ConnectionInputs,
        now: impl FnOnce() -> Instant,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        if let Some(opening) = self.opening.as_mut()
            && let Poll::Ready(result) = opening.poll(cx)
        {
            let connection = opening.connection;
            let token_refused = opening.token_refused.load(Ordering::Relaxed);
            self.opening = None;
            let now = now();
            match result {
                Ok((body, lease)) => {
                    self.token_refreshed = false;
                    self.heard = Some(now);
                    machine.handle_connected(connection, now);
                    self.open = Some(Open {
                        connection,
                        body,
                        lease,
                    });
                }
                // The service answered with an error status: the session was
                // refused, not broken.
                Err(e @ Error::Service(_)) => {
                    self.note_failure(&e, now);
                    // A refused token proves nothing was applied; the
                    // provider was told, so one reconnect asks for a fresh
                    // token. A second refusal in a row ends the session.
                    let e = if token_refused && !self.token_refreshed {
                        self.token_refreshed = true;
                        Error::transport(
                            false,
                            format!("{e}; reconnecting once with a fresh access token"),
                        )
                    } else {
                        e
                    };
                    machine.handle_rejected(connection, e, now)
                }
                Err(e) => {
                    self.note_failure(&e, now);
                    machine.handle_error(connection, e, now)
                }
            }
            return Poll::Ready(());
        }
        let Some(open) = self.open.as_mut() else {
            return Poll::Pending;
        };
        let connection = open.connection;
        loop {
            let event = match Pin::new(&mut open.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(event) => event,
            };
            match event {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => {
                        let now = now();
                        self.heard = Some(now);
                        machine.handle_data(connection, data, now);
                    }
                    // Empty chunks and trailers carry nothing the protocol uses.
                    _ => continue,
                },
                None => {
                    self.open = None;
                    let now = now();
                    // Normal at the end of a bounded read; a failure otherwise.
                    tracing::debug!("the server ended the session connection");
                    self.failure = Some((now, Ok("the server ended the session".to_owned())));
                    machine.handle_end(connection, now);
                }
                Some(Err(e)) => {
                    self.open = None;
                    let now = now();
                    let error = Error::transport(true, e);
                    self.note_failure(&error, now);
                    machine.handle_error(connection, error, now);
                }
            }
            return Poll::Ready(());
        }
    }
}

/// What a session state machine hears about its connection.
pub(crate) trait ConnectionInputs {
    /// The session opened (a 200); an append session needs no word of it.
    fn handle_connected(&mut self, _connection: ConnectionId, _now: Instant) {}
    fn handle_data(&mut self, connection: ConnectionId, data: Bytes, now: Instant);
    fn handle_end(&mut self, connection: ConnectionId, now: Instant);
    fn handle_error(&mut self, connection: ConnectionId, error: Error, now: Instant);
    /// The service refused to open the session (an error status).
    fn handle_rejected(&mut self, connection: ConnectionId, error: Error, now: Instant) {
        self.handle_error(connection, error, now)
    }
}

macro_rules! connection_inputs {
    ($machine:ty, rejected) => {
        connection_inputs!(@impl $machine,
            fn handle_rejected(&mut self, connection: ConnectionId, error: Error, now: Instant) {
                <$machine>::handle_rejected(self, connection, error, now)
            }
        );
    };
    ($machine:ty) => {
        connection_inputs!(@impl $machine,
            fn handle_connected(&mut self, connection: ConnectionId, now: Instant) {
                <$machine>::handle_connected(self, connection, now)
            }
        );
    };
    (@impl $machine:ty, $($extra:item)*) => {
        impl ConnectionInputs for $machine {
            fn handle_data(&mut self, connection: ConnectionId, data: Bytes, now: Instant) {
                <$machine>::handle_data(self, connection, data, now)
            }
            fn handle_end(&mut self, connection: ConnectionId, now: Instant) {
                <$machine>::handle_end(self, connection, now)
            }
            fn handle_error(&mut self, connection: ConnectionId, error: Error, now: Instant) {
                <$machine>::handle_error(self, connection, error, now)
            }
            $($extra)*
        }
    };
}

connection_inputs!(s2_core::session::read::ReadSession);
connection_inputs!(s2_core::session::append::AppendSession, rejected);

/// A timer that fires at the state machine's next deadline.
///
/// Deadlines mostly move later (every ack or heartbeat pushes the machine's
/// deadline out), so the timer is re-armed lazily: a later deadline keeps the
/// armed timer, which, when it fires early, is armed again for the remaining
/// time. Only an earlier deadline replaces it at once. That keeps timer
/// registrations to about one per timeout period instead of one per frame.
pub(crate) struct Deadline {
    /// When the armed timer fires, and the timer.
    armed: Option<(Instant, SleepFuture)>,
}

impl Deadline {
    pub(crate) fn new() -> Self {
        Self { armed: None }
    }

    /// Fires (once) when `at` is reached; follows `at` as it moves.
    pub(crate) fn poll<R: Runtime>(
        &mut self,
        runtime: &R,
        at: Option<Instant>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let Some(at) = at else {
            // Keep an armed timer: a deadline usually comes back soon, and
            // one spurious wakeup costs less than a registration.
            if let Some((_, sleep)) = self.armed.as_mut()
                && sleep.as_mut().poll(cx).is_ready()
            {
                self.armed = None;
            }
            return Poll::Pending;
        };
        loop {
            let sleep = match &mut self.armed {
                Some((armed_at, sleep)) if *armed_at <= at => sleep,
                armed => {
                    let duration = at.saturating_duration_since(runtime.now());
                    &mut armed.insert((at, runtime.sleep(duration))).1
                }
            };
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.armed = None;
            if runtime.now() >= at {
                return Poll::Ready(());
            }
            // Fired for an earlier deadline than the current one: re-arm.
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{
            Arc, Mutex,
            atomic::{AtomicUsize, Ordering},
        },
        task::Waker,
    };

    use super::*;
    use crate::runtime::{ConnectFuture, ConnectTarget, Task};

    /// A runtime on a virtual clock that counts the timers it arms.
    #[derive(Clone)]
    struct VirtualClock {
        start: Instant,
        elapsed: Arc<Mutex<Duration>>,
        timers: Arc<AtomicUsize>,
    }

    impl VirtualClock {
        fn new() -> Self {
            Self {
                start: Instant::now(),
                elapsed: Arc::default(),
                timers: Arc::default(),
            }
        }

        fn advance_to(&self, at: Instant) {
            *self.elapsed.lock().unwrap() = at - self.start;
        }
    }

    impl Runtime for VirtualClock {
        fn spawn(&self, _task: Task) {}
        fn sleep(&self, duration: Duration) -> SleepFuture {
            self.timers.fetch_add(1, Ordering::Relaxed);
            let (clock, until) = (self.clone(), self.now() + duration);
            Box::pin(std::future::poll_fn(move |_| {
                if clock.now() >= until {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }))
        }
        fn now(&self) -> Instant {
            self.start + *self.elapsed.lock().unwrap()
        }
        fn connect(&self, _target: ConnectTarget) -> ConnectFuture {
            Box::pin(async { Err(std::io::Error::other("no network")) })
        }
    }

    #[test]
    fn a_deadline_pushed_later_keeps_its_timer_and_fires_at_the_last_one() {
        let clock = VirtualClock::new();
        let mut cx = Context::from_waker(Waker::noop());
        let mut deadline = Deadline::new();
        let ms = Duration::from_millis;
        let start = clock.now();
        // A heartbeat deadline pushed out by every frame.
        for i in 0..1000 {
            clock.advance_to(start + ms(i));
            let at = Some(clock.now() + ms(20_000));
            assert!(deadline.poll(&clock, at, &mut cx).is_pending());
        }
        assert_eq!(clock.timers.load(Ordering::Relaxed), 1);
        let last = start + ms(999 + 20_000);
        // The first timer fires at its own deadline: not yet the current one.
        clock.advance_to(start + ms(20_000));
        assert!(deadline.poll(&clock, Some(last), &mut cx).is_pending());
        assert_eq!(clock.timers.load(Ordering::Relaxed), 2);
        clock.advance_to(last);
        assert!(deadline.poll(&clock, Some(last), &mut cx).is_ready());
    }

    #[test]
    fn an_earlier_deadline_rearms_at_once_and_none_never_fires() {
        let clock = VirtualClock::new();
        let mut cx = Context::from_waker(Waker::noop());
        let mut deadline = Deadline::new();
        let start = clock.now();
        let (late, early) = (
            start + Duration::from_secs(10),
            start + Duration::from_secs(1),
        );
        assert!(deadline.poll(&clock, Some(late), &mut cx).is_pending());
        assert!(deadline.poll(&clock, Some(early), &mut cx).is_pending());
        clock.advance_to(early);
        assert!(deadline.poll(&clock, Some(early), &mut cx).is_ready());
        // Once fired it stays quiet until polled with a deadline again.
        assert!(deadline.poll(&clock, None, &mut cx).is_pending());
        clock.advance_to(late);
        assert!(deadline.poll(&clock, None, &mut cx).is_pending());
        assert!(deadline.poll(&clock, Some(late), &mut cx).is_ready());
    }
}
