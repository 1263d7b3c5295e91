//! What both kinds of session share: the frames they send and the faults
//! around each (a stall before it, reconnect advice on it, a terminal
//! `server_draining` or `unavailable` instead of it).

use std::{future::poll_fn, io, sync::Arc};

use bytes::Bytes;
use h2::SendStream;
use s2_client::runtime::Runtime;
use s2_core::frame::WireMessage;

use super::{FaultKind, Shared, error::ServiceError, respond};

/// The response side of an open session.
pub(crate) struct Frames<R> {
    shared: Arc<Shared<R>>,
    stream: SendStream<Bytes>,
}

impl<R: Runtime> Frames<R> {
    pub(crate) fn new(shared: Arc<Shared<R>>, stream: SendStream<Bytes>) -> Self {
        Self { shared, stream }
    }

    /// The response stream, to watch for the client going away.
    pub(crate) fn stream(&mut self) -> &mut SendStream<Bytes> {
        &mut self.stream
    }

    /// A fault that ends the session before its next input is applied or
    /// its next batch sent, if one is drawn.
    pub(crate) fn ending_fault(&self) -> Option<ServiceError> {
        if self.shared.dice.roll(FaultKind::ServerDraining) {
            Some(ServiceError::server_draining())
        } else if self.shared.dice.roll(FaultKind::Unavailable) {
            Some(ServiceError::unavailable())
        } else {
            None
        }
    }

    /// Sends `message` in a frame, after a stall if one is drawn (or one a
    /// test asked for is under way), with reconnect advice if drawn.
    pub(crate) async fn message<M: WireMessage>(&mut self, message: &M) -> io::Result<()> {
        if self.shared.dice.roll(FaultKind::Stall) {
            self.shared.sleep(self.shared.dice.faults().stall()).await;
        }
        self.shared.silence().await;
        let advise = self.shared.dice.roll(FaultKind::ReconnectAdvice);
        respond::send_all(
            &mut self.stream,
            respond::message_frame(message, advise),
            false,
        )
        .await
    }

    /// Ends the session with `error` in a terminal frame.
    pub(crate) async fn terminal(mut self, error: &ServiceError) {
        self.shared.silence().await;
        // The client may be gone: nothing to do about it.
        let _ = respond::send_all(&mut self.stream, respond::terminal_frame(error), true).await;
    }

    /// Ends the session cleanly.
    pub(crate) fn finish(mut self) {
        let _ = respond::finish(&mut self.stream);
    }

    /// Waits until the session's stream is gone (reset by the client, or
    /// its connection dropped).
    pub(crate) async fn gone(mut self) {
        let _ = poll_fn(|cx| self.stream.poll_reset(cx)).await;
    }
}
