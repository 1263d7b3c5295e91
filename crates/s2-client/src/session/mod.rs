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
    session::{ConnectionEvent, ConnectionId},
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
    /// Sends `request` with `body` through `inner`'s transport, with a
    /// token from the client's provider, and waits for the answer.
    pub(crate) fn new<R: Runtime>(
        inner: Arc<ClientInner<R>>,
        connection: ConnectionId,
        request: HttpRequest,
        body: RequestBody,
    ) -> Self {
        let asked = inner.transport.runtime().now();
        let on = Arc::new(OnceLock::new());
        let token_refused = Arc::new(AtomicBool::new(false));
        let future = Box::pin(open(
            inner,
            request,
            body,
            on.clone(),
            token_refused.clone(),
        ));
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

/// The work of an [`Opening`]: the request sent (again, once, after a
/// refused token when it has no body), then its answer read.
async fn open<R: Runtime>(
    inner: Arc<ClientInner<R>>,
    mut request: HttpRequest,
    body: RequestBody,
    chosen: Arc<OnceLock<ConnectionHandle>>,
    token_refused: Arc<AtomicBool>,
) -> Result<(Incoming, Lease), NotOpened> {
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
        let Some(token) = token.filter(|_| crate::auth::is_unauthorized(response.status())) else {
            break (response, lease);
        };
        crate::auth::invalidate(&inner.config, &token);
        // A read session's request has no body: it is sent again, once,
        // with a fresh token. An append session's body was handed over; the
        // session reconnects once, asking for a fresh token.
        if body.is_none() && request.method == http::Method::GET && !retried {
            retried = true;
            continue;
        }
        if !retried {
            token_refused.store(true, Ordering::Relaxed);
        }
        break (response, lease);
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
}

/// An open session connection: its response body, read as it comes.
struct Open {
    connection: ConnectionId,
    body: Incoming,
    /// Holds the session's place on its HTTP/2 connection while it lives.
    lease: Lease,
}

/// Why and when a session connection went away.
struct Left {
    at: Instant,
    why: Why,
}

/// Why a session connection went away.
enum Why {
    /// It failed: the reconnect is a retry.
    Failed(String),
    /// The server advised leaving it: the reconnect is no retry.
    Advised,
}

/// The connection of a session: being opened, then open (its response
/// body being read).
#[derive(Default)]
pub(crate) struct SessionConnection {
    opening: Option<Opening>,
    open: Option<Open>,
    /// When the current connection was asked for or last delivered bytes.
    heard: Option<Instant>,
    /// Why the last connection went away: reported with the reconnect that
    /// follows.
    left: Option<Left>,
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
        self.left = Some(Left {
            at: now,
            why: Why::Failed(cause.to_string()),
        });
    }

    /// The server advised leaving `connection`: logged, remembered as the
    /// cause of the reconnect that follows, and its HTTP/2 connection
    /// takes nothing new.
    pub(crate) fn advised(&mut self, connection: ConnectionId, now: Instant) {
        tracing::debug!(connection = connection.0, "the server advised reconnecting");
        self.left = Some(Left {
            at: now,
            why: Why::Advised,
        });
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
        let (why, delay) = match self.left.take() {
            Some(Left { at, why }) => (why, now.saturating_duration_since(at)),
            // Nothing broke on the driver's side: the session decided on
            // an error frame it read.
            None => (
                Why::Failed("an error frame from the server".to_owned()),
                Duration::ZERO,
            ),
        };
        crate::metrics::reconnect(session);
        match why {
            Why::Failed(cause) => {
                tracing::debug!(connection = connection.0, %cause, ?delay, "reconnecting");
                crate::metrics::retry(crate::metrics::Retry::Session(session));
            }
            Why::Advised => tracing::debug!(
                connection = connection.0,
                cause = "reconnect advised by the server",
                ?delay,
                "reconnecting"
            ),
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
            self.left = Some(Left {
                at: now,
                why: Why::Failed("heartbeat timeout".to_owned()),
            });
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
            let event = self.opened(connection, result, token_refused, now);
            return Poll::Ready((connection, event, now));
        }
        let Some(open) = self.open.as_mut() else {
            return Poll::Pending;
        };
        let connection = open.connection;
        let event = std::task::ready!(poll_data(&mut open.body, cx));
        let now = now();
        Poll::Ready((connection, self.received(event, now), now))
    }

    /// The event of session connection `connection` having been opened, or
    /// not, at `now`.
    fn opened(
        &mut self,
        connection: ConnectionId,
        result: Result<(Incoming, Lease), NotOpened>,
        token_refused: bool,
        now: Instant,
    ) -> ConnectionEvent {
        match result {
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
                // A refused token proves nothing was applied; the provider
                // was told, so one reconnect asks for a fresh token. A
                // second refusal in a row ends the session.
                if token_refused && !self.token_refreshed {
                    self.token_refreshed = true;
                    ConnectionEvent::Failed(Error::transport(
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
                ConnectionEvent::Failed(e)
            }
        }
    }

    /// The event of what the open connection's body gave at `now`: bytes,
    /// its end (`None`) or its failure.
    fn received(
        &mut self,
        data: Option<Result<Bytes, hyper::Error>>,
        now: Instant,
    ) -> ConnectionEvent {
        match data {
            Some(Ok(data)) => {
                self.heard = Some(now);
                ConnectionEvent::Data(data)
            }
            None => {
                self.open = None;
                // Normal at the end of a bounded read; a failure otherwise.
                tracing::debug!("the server ended the session connection");
                self.left = Some(Left {
                    at: now,
                    why: Why::Failed("the server ended the session".to_owned()),
                });
                ConnectionEvent::End
            }
            Some(Err(e)) => {
                self.open = None;
                let error = Error::transport(Sent::Maybe, e);
                self.note_failure(Chain(&error), now);
                ConnectionEvent::Failed(error)
            }
        }
    }
}

/// The next non-empty chunk of a response body, its end (`None`) or its
/// failure. Empty chunks and trailers carry nothing the protocol uses.
fn poll_data(
    body: &mut Incoming,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Bytes, hyper::Error>>> {
    loop {
        match std::task::ready!(Pin::new(&mut *body).poll_frame(cx)) {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) if !data.is_empty() => return Poll::Ready(Some(Ok(data))),
                _ => continue,
            },
            None => return Poll::Ready(None),
            Some(Err(e)) => return Poll::Ready(Some(Err(e))),
        }
    }
}
