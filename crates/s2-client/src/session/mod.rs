//! Drivers of the session state machines of `s2_core::session`: they move
//! bytes between the machines and HTTP/2 streams, and keep time.

pub(crate) mod append;
pub(crate) mod gate;
pub(crate) mod read;

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body::Body;
use hyper::body::Incoming;
use s2_core::{
    Error,
    api::HttpRequest,
    api::HttpResponse,
    frame::{FLAG_RECONNECT_ADVISED, HEADER_LEN, PREFIX_LEN},
    session::ConnectionId,
};

use crate::{
    body::RequestBody,
    client::ClientInner,
    runtime::Runtime,
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
        let future = Box::pin(async move {
            let checkout = inner.transport.checkout(&request.uri).await?;
            let _ = chosen.set(checkout.connection());
            let (response, lease) = checkout.send(&request, body).await?;
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
    advice: AdviceScan,
}

/// The connection of a session: being opened, then open (its response
/// body being read).
#[derive(Default)]
pub(crate) struct SessionConnection {
    opening: Option<Opening>,
    open: Option<Open>,
    /// When the current connection was asked for or last delivered bytes.
    heard: Option<Instant>,
}

impl SessionConnection {
    /// Replaces the current connection (if any) with one being opened.
    pub(crate) fn open(&mut self, opening: Opening) {
        self.open = None;
        self.heard = Some(opening.asked);
        self.opening = Some(opening);
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

    /// Evicts the HTTP/2 connection of the current session connection if
    /// nothing came on it for `silence` (nor since it was asked for): a
    /// connection that cannot deliver a heartbeat must take no new
    /// requests, or the reconnect would go out on it again.
    pub(crate) fn evict_if_silent(&self, silence: Duration, now: Instant) {
        let silent = self
            .heard
            .is_some_and(|heard| now.saturating_duration_since(heard) >= silence);
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
            self.opening = None;
            let now = now();
            match result {
                Ok((body, lease)) => {
                    self.heard = Some(now);
                    machine.handle_connected(connection, now);
                    self.open = Some(Open {
                        connection,
                        body,
                        lease,
                        advice: AdviceScan::default(),
                    });
                }
                // The service answered with an error status: the session was
                // refused, not broken.
                Err(e @ Error::Service(_)) => machine.handle_rejected(connection, e, now),
                Err(e) => machine.handle_error(connection, e, now),
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
                        if open.advice.scan(&data) {
                            // The server is about to go away: nothing new
                            // goes out on this connection; what is in flight
                            // on it (this session included) finishes there.
                            open.lease.connection().evict();
                        }
                        machine.handle_data(connection, data, now);
                    }
                    // Empty chunks and trailers carry nothing the protocol uses.
                    _ => continue,
                },
                None => {
                    self.open = None;
                    machine.handle_end(connection, now());
                }
                Some(Err(e)) => {
                    self.open = None;
                    machine.handle_error(connection, Error::transport(true, e), now());
                }
            }
            return Poll::Ready(());
        }
    }
}

/// Watches the frame headers of a session response for the
/// reconnect-advised flag, without decoding the frames (the state machine
/// does that): a 3-byte length, then the flag byte, then the rest of the
/// frame, skipped.
#[derive(Debug, Default)]
struct AdviceScan {
    header: [u8; HEADER_LEN],
    /// Bytes of `header` filled so far.
    filled: usize,
    /// Bytes of the current frame's body still to skip.
    skip: usize,
}

impl AdviceScan {
    /// Scans the next chunk of the body; true if a frame header in it
    /// advises reconnecting.
    fn scan(&mut self, mut data: &[u8]) -> bool {
        let mut advised = false;
        while !data.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
                continue;
            }
            let n = (HEADER_LEN - self.filled).min(data.len());
            self.header[self.filled..self.filled + n].copy_from_slice(&data[..n]);
            self.filled += n;
            data = &data[n..];
            if self.filled == HEADER_LEN {
                let [a, b, c, flag] = self.header;
                let len = u32::from_be_bytes([0, a, b, c]) as usize;
                advised |= flag & FLAG_RECONNECT_ADVISED != 0;
                // The length counts the flag byte. A zero length is invalid;
                // the state machine reports it.
                self.skip = len.saturating_sub(HEADER_LEN - PREFIX_LEN);
                self.filled = 0;
            }
        }
        advised
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

#[cfg(test)]
mod tests {
    use s2_core::frame::FLAG_TERMINAL;

    use super::*;

    /// A frame of `body_len` bytes with `flag`.
    fn frame(flag: u8, body_len: usize) -> Vec<u8> {
        let len = (body_len as u32 + 1).to_be_bytes();
        let mut frame = vec![len[1], len[2], len[3], flag];
        frame.extend(std::iter::repeat_n(0xAA, body_len));
        frame
    }

    /// Scans `bytes` cut into chunks of `chunk` bytes; which chunks advised.
    fn scan_in_chunks(bytes: &[u8], chunk: usize) -> Vec<bool> {
        let mut scan = AdviceScan::default();
        bytes.chunks(chunk).map(|c| scan.scan(c)).collect()
    }

    #[test]
    fn advice_is_found_however_the_body_is_cut() {
        let plain = frame(0, 20);
        // Body bytes that look like the flag must not count.
        let tricky = {
            let mut f = frame(0, 8);
            f[HEADER_LEN..].fill(FLAG_RECONNECT_ADVISED);
            f
        };
        let advised = frame(FLAG_RECONNECT_ADVISED, 5);
        let body: Vec<u8> = [
            plain.clone(),
            tricky.clone(),
            advised.clone(),
            plain.clone(),
        ]
        .concat();
        let advised_at = plain.len() + tricky.len() + PREFIX_LEN;
        for chunk in 1..=body.len() {
            let found = scan_in_chunks(&body, chunk);
            let expected: Vec<bool> = (0..found.len()).map(|i| i == advised_at / chunk).collect();
            assert_eq!(found, expected, "chunks of {chunk}");
        }
        let quiet: Vec<u8> = [plain, tricky, frame(FLAG_TERMINAL, 3)].concat();
        for chunk in 1..=quiet.len() {
            assert!(
                !scan_in_chunks(&quiet, chunk).contains(&true),
                "chunks of {chunk}"
            );
        }
    }

    #[test]
    fn hostile_lengths_never_panic() {
        let mut scan = AdviceScan::default();
        // A zero length (invalid: no flag byte), then the largest length.
        assert!(!scan.scan(&[0, 0, 0, 0]));
        assert!(scan.scan(&[0xFF, 0xFF, 0xFF, FLAG_RECONNECT_ADVISED]));
        assert_eq!(scan.skip, 0xFF_FFFF - 1);
        assert!(!scan.scan(&[FLAG_RECONNECT_ADVISED; 64]));
    }
}
