//! One HTTP/2 connection: the handshake, the loop that accepts requests
//! (and, by being polled, answers PINGs and moves every stream's bytes),
//! the faults decided per connection and per request, and the commands
//! that cut a connection or send it GOAWAY.

use std::{future::poll_fn, pin::Pin, sync::Arc, task::Poll};

use bytes::Bytes;
use futures_channel::mpsc;
use futures_util::StreamExt;
use h2::{RecvStream, server::SendResponse};
use http::Request;
use s2_client::runtime::Runtime;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{FaultKind, Shared, handle};

/// What a handler or a test may ask of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Control {
    /// Drop the connection now: nothing more is written, whatever is
    /// queued or in flight.
    Cut,
    /// Send GOAWAY (gracefully: two GOAWAYs around a PING, as h2 does),
    /// serve what was accepted, then close.
    GoAway,
}

/// A way to control one connection from its handlers and from tests.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionHandle {
    tx: mpsc::UnboundedSender<Control>,
}

impl ConnectionHandle {
    pub(crate) fn send(&self, control: Control) {
        // A connection already gone needs no more cutting.
        let _ = self.tx.unbounded_send(control);
    }
}

/// What the accept loop saw.
enum Event {
    /// Boxed: an event is mostly a request, but the others are tiny.
    Request(Box<(Request<RecvStream>, SendResponse<Bytes>)>),
    Cut,
    Closed,
}

/// Serves one connection until it closes or is cut.
pub(crate) async fn serve<R, T>(shared: Arc<Shared<R>>, io: T)
where
    R: Runtime,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if shared.refusing_connections() {
        shared.dice.count(FaultKind::RefusedConnection);
        return;
    }
    if shared.dice.roll(FaultKind::RefusedConnection) {
        return;
    }
    shared.connection_accepted();
    // hyper's server defaults (s2-lite serves with hyper): 1 MiB windows,
    // 200 concurrent streams.
    let handshake = h2::server::Builder::new()
        .initial_window_size(1024 * 1024)
        .initial_connection_window_size(1024 * 1024)
        .max_concurrent_streams(200)
        .handshake::<_, Bytes>(io)
        .await;
    let Ok(mut connection) = handshake else {
        return;
    };
    let (tx, mut rx) = mpsc::unbounded();
    let handle = ConnectionHandle { tx };
    let id = shared.register(handle.clone());
    loop {
        let event = poll_fn(|cx| {
            // Commands first: a cut must win over writing what is queued.
            while let Poll::Ready(Some(control)) = rx.poll_next_unpin(cx) {
                match control {
                    Control::Cut => return Poll::Ready(Event::Cut),
                    Control::GoAway => connection.graceful_shutdown(),
                }
            }
            Pin::new(&mut connection)
                .poll_accept(cx)
                .map(|accepted| match accepted {
                    Some(Ok(accepted)) => Event::Request(Box::new(accepted)),
                    Some(Err(_)) | None => Event::Closed,
                })
        })
        .await;
        match event {
            Event::Request(accepted) => {
                let (request, mut respond) = *accepted;
                shared.request_received();
                if shared.refusing_streams() {
                    shared.dice.count(FaultKind::RefusedStream);
                    respond.send_reset(h2::Reason::REFUSED_STREAM);
                    continue;
                }
                if shared.dice.roll(FaultKind::RefusedStream) {
                    respond.send_reset(h2::Reason::REFUSED_STREAM);
                    continue;
                }
                if shared.dice.roll(FaultKind::Cut) {
                    break;
                }
                if shared.dice.roll(FaultKind::AbruptGoAway) {
                    // h2 names this request as the last one processed,
                    // fails every open stream and closes once the GOAWAY
                    // is written; this request is never served.
                    connection.abrupt_shutdown(h2::Reason::NO_ERROR);
                    drop(respond);
                    continue;
                }
                if shared.dice.roll(FaultKind::GoAway) {
                    connection.graceful_shutdown();
                }
                let task = handle::request(shared.clone(), handle.clone(), request, respond);
                shared.runtime.spawn(Box::pin(task));
            }
            Event::Cut | Event::Closed => break,
        }
    }
    shared.unregister(id);
    // Dropping the connection drops the transport: the peer sees it close
    // with nothing more written.
    drop(connection);
}
