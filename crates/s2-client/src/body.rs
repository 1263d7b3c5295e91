//! Request bodies: a whole buffer for unary requests, a channel of frames
//! for sessions.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use futures_channel::{mpsc, oneshot};
use futures_core::Stream;
use http_body::{Body, Frame, SizeHint};

/// The body of an outgoing request.
pub(crate) enum RequestBody {
    /// A complete body, sent at once.
    Full(Option<Bytes>),
    /// Frames sent through a [`FrameSender`] as HTTP/2 takes them.
    Frames {
        frames: mpsc::Receiver<Bytes>,
        /// Fires on [`FrameSender::abort`]; `None` once the sender is gone
        /// without aborting.
        abort: Option<oneshot::Receiver<()>>,
    },
}

/// Sends a session's frames into its request body, one at a time: a frame
/// waits with its sender until HTTP/2 has taken the one before, rather than
/// piling up in a queue beside HTTP/2's own send buffer.
///
/// Dropping the sender ends the body once its frame is taken; [`abort`]
/// resets it (RST_STREAM) at once.
///
/// [`abort`]: Self::abort
pub(crate) struct FrameSender {
    frames: mpsc::Sender<Bytes>,
    abort: oneshot::Sender<()>,
}

impl FrameSender {
    /// Ready when the body can take a frame; a closed body is never ready.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ()>> {
        self.frames.poll_ready(cx).map_err(|_| ())
    }

    /// Sends `frame`; call only once [`poll_ready`](Self::poll_ready) said
    /// there is room.
    pub(crate) fn send(&mut self, frame: Bytes) {
        // A closed body means the connection is failing; the session hears
        // about it from the response side.
        let _ = self.frames.start_send(frame);
    }

    /// Resets the body: the server takes nothing more from it.
    pub(crate) fn abort(self) {
        let _ = self.abort.send(());
    }
}

impl RequestBody {
    pub(crate) fn full(bytes: Bytes) -> Self {
        if bytes.is_empty() {
            Self::Full(None)
        } else {
            Self::Full(Some(bytes))
        }
    }

    /// A body of frames, and the sender that feeds it.
    pub(crate) fn frames() -> (FrameSender, Self) {
        // No buffer: the sender's own slot holds the one frame in waiting.
        let (frames, frames_rx) = mpsc::channel(0);
        let (abort, abort_rx) = oneshot::channel();
        let body = Self::Frames {
            frames: frames_rx,
            abort: Some(abort_rx),
        };
        (FrameSender { frames, abort }, body)
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            Self::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::Frames { frames, abort } => {
                if let Some(signal) = abort {
                    match Pin::new(signal).poll(cx) {
                        Poll::Ready(Ok(())) => {
                            *abort = None;
                            let reset = std::io::Error::other("connection abandoned");
                            return Poll::Ready(Some(Err(reset)));
                        }
                        // Dropped without aborting: the body ends cleanly.
                        Poll::Ready(Err(oneshot::Canceled)) => *abort = None,
                        Poll::Pending => {}
                    }
                }
                Pin::new(frames)
                    .poll_next(cx)
                    .map(|frame| frame.map(|b| Ok(Frame::data(b))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Self::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Frames { .. } => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use http_body::Body;

    use super::*;

    fn poll_body(body: &mut RequestBody) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        let mut cx = Context::from_waker(Waker::noop());
        Pin::new(body)
            .poll_frame(&mut cx)
            .map(|frame| frame.map(|f| f.map(|f| f.into_data().expect("a data frame"))))
    }

    fn ready(sender: &mut FrameSender) -> Poll<Result<(), ()>> {
        sender.poll_ready(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn one_frame_waits_until_the_body_takes_it() {
        let (mut sender, mut body) = RequestBody::frames();
        assert_eq!(ready(&mut sender), Poll::Ready(Ok(())));
        sender.send(Bytes::from_static(b"one"));
        // No second frame until the first is taken.
        assert!(ready(&mut sender).is_pending());
        assert!(ready(&mut sender).is_pending());
        match poll_body(&mut body) {
            Poll::Ready(Some(Ok(frame))) => assert_eq!(frame, "one"),
            other => panic!("expected the frame, got {other:?}"),
        }
        assert!(poll_body(&mut body).is_pending());
        assert_eq!(ready(&mut sender), Poll::Ready(Ok(())));
    }

    #[test]
    fn dropping_the_sender_ends_the_body_after_its_frame() {
        let (mut sender, mut body) = RequestBody::frames();
        assert!(ready(&mut sender).is_ready());
        sender.send(Bytes::from_static(b"last"));
        drop(sender);
        assert!(matches!(poll_body(&mut body), Poll::Ready(Some(Ok(f))) if f == "last"));
        assert!(matches!(poll_body(&mut body), Poll::Ready(None)));
    }

    #[test]
    fn abort_resets_at_once_even_with_a_frame_waiting() {
        let (mut sender, mut body) = RequestBody::frames();
        assert!(ready(&mut sender).is_ready());
        sender.send(Bytes::from_static(b"never"));
        sender.abort();
        assert!(matches!(poll_body(&mut body), Poll::Ready(Some(Err(_)))));
    }

    #[test]
    fn a_dropped_body_is_never_ready() {
        let (mut sender, body) = RequestBody::frames();
        drop(body);
        assert_eq!(ready(&mut sender), Poll::Ready(Err(())));
        // Sending into it is harmless.
        sender.send(Bytes::from_static(b"lost"));
    }
}
