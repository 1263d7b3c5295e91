//! Request bodies: a whole buffer for unary requests, a channel of frames
//! for sessions.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
};

use bytes::Bytes;
use futures_channel::{mpsc, oneshot};
use futures_core::Stream;
use futures_util::task::AtomicWaker;
use http_body::{Body, Frame, SizeHint};

/// Bytes of frames a session's body holds before its sender waits: small
/// frames flow without a wakeup each.
const QUEUE_BUDGET: usize = 64 * 1024;

/// Largest piece a frame goes into the body in. The pieces share the
/// frame's buffer, which is freed once HTTP/2 has written them all; pieces
/// rather than the whole frame keep the next frame from being encoded, and
/// held, while most of this one still waits to be written.
const PIECE: usize = 256 * 1024;

/// The body of an outgoing request.
pub(crate) enum RequestBody {
    /// A complete body, sent at once.
    Full(Option<Bytes>),
    /// Frames sent through a [`FrameSender`] as HTTP/2 takes them.
    Frames(FrameReceiver),
}

/// Sends a session's frames into its request body while less than
/// [`QUEUE_BUDGET`] waits there: beyond it, a frame (or the rest of one)
/// waits with its sender until HTTP/2 has taken enough, rather than piling
/// up in a queue beside HTTP/2's own send buffer.
///
/// Dropping the sender ends the body once its frames are taken (or resets
/// it, if part of the last one never went in); [`abort`] resets it
/// (RST_STREAM) at once.
///
/// [`abort`]: Self::abort
pub(crate) struct FrameSender {
    frames: mpsc::UnboundedSender<Bytes>,
    /// What is left of the last frame sent, to go into the body.
    rest: Bytes,
    queued: Arc<Queued>,
    /// `None` once used.
    abort: Option<oneshot::Sender<()>>,
}

/// The body's end of a [`FrameSender`].
pub(crate) struct FrameReceiver {
    frames: mpsc::UnboundedReceiver<Bytes>,
    queued: Arc<Queued>,
    /// Fires on [`FrameSender::abort`]; `None` once it has fired, or once
    /// the sender is gone without aborting.
    abort: Option<oneshot::Receiver<()>>,
}

/// What a [`FrameSender`] and its body share.
#[derive(Default)]
struct Queued {
    /// Bytes sent and not yet taken by HTTP/2.
    bytes: AtomicUsize,
    /// The sender waiting for room.
    sender: AtomicWaker,
}

impl FrameSender {
    /// Ready when the body can take a frame: the last one has gone into it
    /// whole, and it holds less than [`QUEUE_BUDGET`]. A closed body is
    /// never ready.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ()>> {
        loop {
            std::task::ready!(self.poll_room(cx))?;
            if self.rest.is_empty() {
                return Poll::Ready(Ok(()));
            }
            let piece = self.rest.split_to(self.rest.len().min(PIECE));
            self.queued.bytes.fetch_add(piece.len(), Ordering::AcqRel);
            // A closed body means the connection is failing; the session
            // hears about it from the response side.
            let _ = self.frames.unbounded_send(piece);
        }
    }

    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ()>> {
        if let Poll::Ready(ready) = self.room() {
            return Poll::Ready(ready);
        }
        self.queued.sender.register(cx.waker());
        // Room may have been made before the registration.
        self.room()
    }

    fn room(&self) -> Poll<Result<(), ()>> {
        if self.frames.is_closed() {
            Poll::Ready(Err(()))
        } else if self.queued.bytes.load(Ordering::Acquire) < QUEUE_BUDGET {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    /// Sends `frame`; call only once [`poll_ready`](Self::poll_ready) said
    /// there is room. It goes into the body in pieces, as
    /// [`poll_ready`](Self::poll_ready) finds room for them.
    pub(crate) fn send(&mut self, frame: Bytes) {
        debug_assert!(self.rest.is_empty(), "a frame is sent after the last");
        self.rest = frame;
    }

    /// Resets the body: the server takes nothing more from it.
    pub(crate) fn abort(mut self) {
        self.reset();
    }

    fn reset(&mut self) {
        if let Some(abort) = self.abort.take() {
            let _ = abort.send(());
        }
    }
}

impl Drop for FrameSender {
    fn drop(&mut self) {
        // Ending cleanly would hand the server half a frame as the body's
        // last bytes.
        if !self.rest.is_empty() {
            self.reset();
        }
    }
}

impl FrameReceiver {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        if let Some(signal) = &mut self.abort {
            match Pin::new(signal).poll(cx) {
                Poll::Ready(Ok(())) => {
                    self.abort = None;
                    let reset = std::io::Error::other("connection abandoned");
                    return Poll::Ready(Some(Err(reset)));
                }
                // Dropped without aborting: the body ends cleanly.
                Poll::Ready(Err(oneshot::Canceled)) => self.abort = None,
                Poll::Pending => {}
            }
        }
        let frame = std::task::ready!(Pin::new(&mut self.frames).poll_next(cx));
        if let Some(frame) = &frame {
            let before = self.queued.bytes.fetch_sub(frame.len(), Ordering::AcqRel);
            // Wake the sender only when this makes room: not once per frame.
            if before >= QUEUE_BUDGET && before - frame.len() < QUEUE_BUDGET {
                self.queued.sender.wake();
            }
        }
        Poll::Ready(frame.map(Ok))
    }
}

impl Drop for FrameReceiver {
    fn drop(&mut self) {
        // A sender waiting for room learns that there will be none: closed
        // first, so the sender it wakes cannot find the body still open and
        // wait again (the channel would close only after this, with no wake).
        self.frames.close();
        self.queued.sender.wake();
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
        let (frames, frames_rx) = mpsc::unbounded();
        let (abort, abort_rx) = oneshot::channel();
        let queued = Arc::new(Queued::default());
        let body = Self::Frames(FrameReceiver {
            frames: frames_rx,
            queued: queued.clone(),
            abort: Some(abort_rx),
        });
        let sender = FrameSender {
            frames,
            rest: Bytes::new(),
            queued,
            abort: Some(abort),
        };
        (sender, body)
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
            Self::Frames(frames) => frames
                .poll_frame(cx)
                .map(|frame| frame.map(|f| f.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Self::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Frames(_) => SizeHint::default(),
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
    fn frames_wait_once_the_budget_is_queued() {
        let (mut sender, mut body) = RequestBody::frames();
        // Small frames flow until the budget is reached.
        let small = Bytes::from(vec![1; QUEUE_BUDGET / 4]);
        for _ in 0..4 {
            assert_eq!(ready(&mut sender), Poll::Ready(Ok(())));
            sender.send(small.clone());
        }
        assert!(ready(&mut sender).is_pending());
        assert!(matches!(poll_body(&mut body), Poll::Ready(Some(Ok(f))) if f == small));
        assert_eq!(ready(&mut sender), Poll::Ready(Ok(())));
        // A large frame waits alone.
        let (mut sender, mut body) = RequestBody::frames();
        let large = Bytes::from(vec![2; 4 * QUEUE_BUDGET]);
        sender.send(large.clone());
        assert!(ready(&mut sender).is_pending());
        assert!(matches!(poll_body(&mut body), Poll::Ready(Some(Ok(f))) if f == large));
        assert!(poll_body(&mut body).is_pending());
        assert_eq!(ready(&mut sender), Poll::Ready(Ok(())));
    }

    /// A sender waiting for room is woken when the body makes some, and
    /// when the body is dropped; not for every frame taken.
    #[test]
    fn a_waiting_sender_is_woken_when_room_is_made() {
        let (mut sender, mut body) = RequestBody::frames();
        let frame = Bytes::from(vec![3; QUEUE_BUDGET * 2 / 5]);
        let wakes = Arc::new(WakeCount::default());
        let waker = Waker::from(wakes.clone());
        let ready = |sender: &mut FrameSender| sender.poll_ready(&mut Context::from_waker(&waker));
        // Three frames of 0.4 budgets: the third goes past the budget.
        for _ in 0..2 {
            assert!(ready(&mut sender).is_ready());
            sender.send(frame.clone());
        }
        assert!(ready(&mut sender).is_ready());
        sender.send(frame.clone());
        assert!(ready(&mut sender).is_pending());
        // 1.2 budgets queued: taking one frame makes room, the next not again.
        assert!(poll_body(&mut body).is_ready());
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        assert!(poll_body(&mut body).is_ready());
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        assert_eq!(ready(&mut sender), Poll::Ready(Ok(())));

        sender.send(Bytes::from(vec![4; QUEUE_BUDGET]));
        assert!(ready(&mut sender).is_pending());
        drop(body);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 2);
        assert_eq!(ready(&mut sender), Poll::Ready(Err(())));
    }

    /// The sender woken by a dropped body must find it closed: woken before
    /// the channel closes, on another thread, it would see no room, wait
    /// again, and never be woken.
    #[test]
    fn a_dropped_body_is_closed_when_it_wakes_the_sender() {
        let (mut sender, body) = RequestBody::frames();
        let probe = Arc::new(ClosedOnWake {
            frames: sender.frames.clone(),
            closed: Default::default(),
        });
        let waker = Waker::from(probe.clone());
        sender.send(Bytes::from(vec![5; QUEUE_BUDGET]));
        assert!(
            sender
                .poll_ready(&mut Context::from_waker(&waker))
                .is_pending()
        );
        drop(body);
        assert_eq!(
            probe.closed.lock().expect("not poisoned").as_slice(),
            [true]
        );
    }

    /// Records, on each wake, whether the body looked closed to a sender.
    struct ClosedOnWake {
        frames: mpsc::UnboundedSender<Bytes>,
        closed: std::sync::Mutex<Vec<bool>>,
    }

    impl std::task::Wake for ClosedOnWake {
        fn wake(self: Arc<Self>) {
            let closed = self.frames.is_closed();
            self.closed.lock().expect("not poisoned").push(closed);
        }
    }

    #[derive(Default)]
    struct WakeCount(AtomicUsize);

    impl std::task::Wake for WakeCount {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn dropping_the_sender_ends_the_body_after_its_frames() {
        let (mut sender, mut body) = RequestBody::frames();
        assert!(ready(&mut sender).is_ready());
        sender.send(Bytes::from_static(b"one"));
        assert!(ready(&mut sender).is_ready());
        sender.send(Bytes::from_static(b"last"));
        assert!(ready(&mut sender).is_ready());
        drop(sender);
        assert!(matches!(poll_body(&mut body), Poll::Ready(Some(Ok(f))) if f == "one"));
        assert!(matches!(poll_body(&mut body), Poll::Ready(Some(Ok(f))) if f == "last"));
        assert!(matches!(poll_body(&mut body), Poll::Ready(None)));
    }

    /// A sender dropped with part of its last frame not yet in the body
    /// resets it: the body never ends cleanly after half a frame.
    #[test]
    fn dropping_the_sender_mid_frame_resets_the_body() {
        let (mut sender, mut body) = RequestBody::frames();
        sender.send(Bytes::from(vec![6; 2 * PIECE]));
        assert!(ready(&mut sender).is_pending());
        drop(sender);
        assert!(matches!(poll_body(&mut body), Poll::Ready(Some(Err(_)))));
    }

    #[test]
    fn abort_resets_at_once_even_with_frames_waiting() {
        let (mut sender, mut body) = RequestBody::frames();
        assert!(ready(&mut sender).is_ready());
        sender.send(Bytes::from_static(b"never"));
        assert!(ready(&mut sender).is_ready());
        sender.send(Bytes::from_static(b"nor this"));
        assert!(ready(&mut sender).is_ready());
        sender.abort();
        assert!(matches!(poll_body(&mut body), Poll::Ready(Some(Err(_)))));
    }

    /// A frame larger than a piece goes into the body piece by piece, as
    /// room is made, and the sender takes no other frame until the last
    /// piece is in.
    #[test]
    fn a_large_frame_goes_in_pieces() {
        let (mut sender, mut body) = RequestBody::frames();
        let frame = Bytes::from((0..2 * PIECE + 100).map(|i| i as u8).collect::<Vec<_>>());
        sender.send(frame.clone());
        let mut received = Vec::new();
        loop {
            let ready = ready(&mut sender);
            let mut taken = 0;
            while let Poll::Ready(Some(Ok(piece))) = poll_body(&mut body) {
                assert!(piece.len() <= PIECE);
                received.extend_from_slice(&piece);
                taken += 1;
            }
            if ready.is_ready() {
                break;
            }
            assert_eq!(taken, 1, "one piece at a time while waiting for room");
        }
        assert_eq!(received, frame);
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
