//! Drivers of the session state machines of `s2_core::session`: they move
//! bytes between the machines and HTTP/2 streams, and keep time.

pub(crate) mod append;
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

/// What happened on an open session's response body.
pub(crate) enum BodyEvent {
    Data(Bytes),
    End,
    Error(Error),
}

/// Polls a response body for its next chunk.
pub(crate) fn poll_body(body: &mut Incoming, cx: &mut Context<'_>) -> Poll<BodyEvent> {
    loop {
        return match Pin::new(&mut *body).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => Poll::Ready(BodyEvent::End),
            Poll::Ready(Some(Err(e))) => Poll::Ready(BodyEvent::Error(Error::transport(true, e))),
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) if data.is_empty() => continue,
                Ok(data) => Poll::Ready(BodyEvent::Data(data)),
                // Trailers: nothing the protocol uses.
                Err(_) => continue,
            },
        };
    }
}

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
