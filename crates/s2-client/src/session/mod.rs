//! Drivers of the session state machines of `s2_core::session`: they move
//! bytes between the machines and HTTP/2 streams, and keep time.

pub(crate) mod append;
pub(crate) mod gate;
pub(crate) mod read;

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use bytes::Bytes;
use http_body::Body;
use hyper::body::Incoming;
use s2_core::{Error, api::HttpRequest, api::HttpResponse, session::ConnectionId};

use crate::{body::RequestBody, client::ClientInner, runtime::Runtime};

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A session connection being opened: resolves to the response body once
/// the service answered 200, or to the error it answered with.
pub(crate) struct Opening {
    pub(crate) connection: ConnectionId,
    future: BoxFuture<Result<Incoming, Error>>,
}

impl Opening {
    pub(crate) fn new<R: Runtime>(
        inner: Arc<ClientInner<R>>,
        connection: ConnectionId,
        request: HttpRequest,
        body: RequestBody,
    ) -> Self {
        let future = Box::pin(async move {
            let response = inner.transport.send_streaming(&request, body).await?;
            if response.status() == http::StatusCode::OK {
                return Ok(response.into_body());
            }
            let (parts, body) = response.into_parts();
            let body = crate::transport::collect_limited(body).await?;
            Err(inner.api.session_error(&HttpResponse {
                status: parts.status,
                headers: parts.headers,
                body,
            }))
        });
        Self { connection, future }
    }

    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<Incoming, Error>> {
        self.future.as_mut().poll(cx)
    }
}

/// The connection of a session: being opened, then open (its response
/// body being read).
#[derive(Default)]
pub(crate) struct SessionConnection {
    opening: Option<Opening>,
    body: Option<(ConnectionId, Incoming)>,
}

impl SessionConnection {
    /// Replaces the current connection (if any) with one being opened.
    pub(crate) fn open(&mut self, opening: Opening) {
        self.body = None;
        self.opening = Some(opening);
    }

    /// Drops the current connection.
    pub(crate) fn close(&mut self) {
        self.opening = None;
        self.body = None;
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
            self.opening = None;
            match result {
                Ok(body) => {
                    machine.handle_connected(connection, now());
                    self.body = Some((connection, body));
                }
                // The service answered with an error status: the session was
                // refused, not broken.
                Err(e @ Error::Service(_)) => machine.handle_rejected(connection, e, now()),
                Err(e) => machine.handle_error(connection, e, now()),
            }
            return Poll::Ready(());
        }
        let Some((connection, body)) = self.body.as_mut() else {
            return Poll::Pending;
        };
        let connection = *connection;
        loop {
            let event = match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(event) => event,
            };
            match event {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => machine.handle_data(connection, data, now()),
                    // Empty chunks and trailers carry nothing the protocol uses.
                    _ => continue,
                },
                None => {
                    self.body = None;
                    machine.handle_end(connection, now());
                }
                Some(Err(e)) => {
                    self.body = None;
                    machine.handle_error(connection, Error::transport(true, e), now());
                }
            }
            return Poll::Ready(());
        }
    }
}

/// What a session state machine hears about its connection.
pub(crate) trait ConnectionInputs {
    fn handle_connected(&mut self, connection: ConnectionId, now: Instant);
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
        connection_inputs!(@impl $machine,);
    };
    (@impl $machine:ty, $($extra:item)*) => {
        impl ConnectionInputs for $machine {
            fn handle_connected(&mut self, connection: ConnectionId, now: Instant) {
                <$machine>::handle_connected(self, connection, now)
            }
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
pub(crate) struct Deadline {
    at: Option<Instant>,
    sleep: Option<Pin<Box<dyn Future<Output = ()> + Send + Sync>>>,
}

impl Deadline {
    pub(crate) fn new() -> Self {
        Self {
            at: None,
            sleep: None,
        }
    }

    /// Fires (once) when `at` is reached; re-arms when `at` changes.
    pub(crate) fn poll<R: Runtime>(
        &mut self,
        runtime: &R,
        at: Option<Instant>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        if at != self.at {
            self.at = at;
            self.sleep = at.map(|at| runtime.sleep(at.saturating_duration_since(runtime.now())));
        }
        match self.sleep.as_mut() {
            Some(sleep) => match sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    // Forget the deadline: if it is still pending when next
                    // polled (a timer that fired early), it is re-armed.
                    self.sleep = None;
                    self.at = None;
                    Poll::Ready(())
                }
                Poll::Pending => Poll::Pending,
            },
            None => Poll::Pending,
        }
    }
}
