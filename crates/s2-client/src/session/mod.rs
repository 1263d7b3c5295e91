//! Sessions: an [`AppendSession`] pipelines batches on one connection,
//! a [`ReadSession`] follows a stream live, a [`Producer`] takes single
//! records and acknowledges each; [`append_inputs`] batches a stream of
//! records for them.
//!
//! All three reconnect by themselves, without losing or repeating
//! records (see [`docs::guarantees`](crate::docs::guarantees)); they are
//! opened from an [`S2Stream`](crate::S2Stream), and their options live in
//! [`config`](crate::config).

// Drivers of the session state machines of `s2_core::session`: they move
// bytes between the machines and HTTP/2 streams, and keep time.

pub(crate) mod append;
pub(crate) mod gate;
pub(crate) mod read;

pub use self::{
    append::{AckFuture, AppendPermit, AppendSession},
    read::{CaughtUp, ReadItem, ReadSession},
};
pub use crate::{
    batching::{AppendInputs, append_inputs},
    producer::{Producer, RecordAck, RecordAckFuture, RecordPermit},
};

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
use s2_core::{
    Error,
    api::{HttpRequest, HttpResponse, SessionRejection},
    error::Sent,
    session::ConnectionId,
};

use crate::{
    body::RequestBody,
    inner::ClientInner,
    runtime::Runtime,
    trace::Chain,
    transport::{ConnectionHandle, Lease},
};

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A session connection being opened: resolves to the response body (and
/// the lease on its HTTP/2 connection) once the service answered 200, or to
/// why it did not open.
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
    future: BoxFuture<Result<(Incoming, Lease), NotOpened>>,
}

/// Why a session connection did not open.
pub(crate) enum NotOpened {
    /// The service answered with an error status.
    Rejected(SessionRejection),
    /// No answer: the connection could not be made, or failed.
    Failed(Error),
}

impl From<Error> for NotOpened {
    fn from(error: Error) -> Self {
        NotOpened::Failed(error)
    }
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
            Err(NotOpened::Rejected(inner.api.session_rejection(
                &HttpResponse {
                    status: parts.status,
                    headers: parts.headers,
                    body,
                },
            )))
        });
        Self {
            connection,
            asked,
            on,
            token_refused,
            future,
        }
    }

    pub(crate) fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(Incoming, Lease), NotOpened>> {
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

    /// Waits for the next thing that happens on the connection: which
    /// session connection it happened on, what, and when (`now` is read only
    /// once something happened). Poll again after each event and after
    /// [`open`](Self::open); events of a connection since replaced are the
    /// machine's to ignore (it knows its `ConnectionId`s).
    pub(crate) fn poll_event(
        &mut self,
        now: impl FnOnce() -> Instant,
        cx: &mut Context<'_>,
    ) -> Poll<(ConnectionId, ConnectionEvent, Instant)> {
        if let Some(opening) = self.opening.as_mut()
            && let Poll::Ready(result) = opening.poll(cx)
        {
            let connection = opening.connection;
            let token_refused = opening.token_refused.load(Ordering::Relaxed);
            self.opening = None;
            let now = now();
            let event = match result {
                Ok((body, lease)) => {
                    self.token_refreshed = false;
                    self.heard = Some(now);
                    self.open = Some(Open {
                        connection,
                        body,
                        lease,
                    });
                    ConnectionEvent::Connected
                }
                // The service answered with an error status: the session was
                // refused, not broken.
                Err(NotOpened::Rejected(rejection)) => {
                    self.note_failure(Chain(rejection.error()), now);
                    // A refused token proves nothing was applied; the
                    // provider was told, so one reconnect asks for a fresh
                    // token. A second refusal in a row ends the session.
                    if token_refused && !self.token_refreshed {
                        self.token_refreshed = true;
                        ConnectionEvent::Error(Error::transport(
                            Sent::No,
                            format!(
                                "{}; reconnecting once with a fresh access token",
                                Chain(rejection.error())
                            ),
                        ))
                    } else {
                        ConnectionEvent::Rejected(rejection)
                    }
                }
                Err(NotOpened::Failed(e)) => {
                    self.note_failure(Chain(&e), now);
                    ConnectionEvent::Error(e)
                }
            };
            return Poll::Ready((connection, event, now));
        }
        let Some(open) = self.open.as_mut() else {
            return Poll::Pending;
        };
        let connection = open.connection;
        let event = loop {
            match std::task::ready!(Pin::new(&mut open.body).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => break Some(Ok(data)),
                    // Empty chunks and trailers carry nothing the protocol uses.
                    _ => continue,
                },
                None => break None,
                Some(Err(e)) => break Some(Err(e)),
            }
        };
        let now = now();
        let event = match event {
            Some(Ok(data)) => {
                self.heard = Some(now);
                ConnectionEvent::Data(data)
            }
            None => {
                self.open = None;
                // Normal at the end of a bounded read; a failure otherwise.
                tracing::debug!("the server ended the session connection");
                self.failure = Some((now, Ok("the server ended the session".to_owned())));
                ConnectionEvent::End
            }
            Some(Err(e)) => {
                self.open = None;
                let error = Error::transport(Sent::Maybe, e);
                self.note_failure(Chain(&error), now);
                ConnectionEvent::Error(error)
            }
        };
        Poll::Ready((connection, event, now))
    }
}

/// What happened on a session connection, for its state machine's
/// `handle_*` method of the same name.
pub(crate) enum ConnectionEvent {
    /// The service accepted the session: its response body is being read.
    Connected,
    /// Response bytes (never empty).
    Data(Bytes),
    /// The server ended the response body.
    End,
    /// The connection failed, or could not be opened.
    Error(Error),
    /// The service refused to open the session (an error status).
    Rejected(SessionRejection),
}
