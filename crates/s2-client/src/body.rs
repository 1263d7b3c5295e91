//! Request bodies: a whole buffer for unary requests, a channel of frames
//! for sessions.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use futures_channel::mpsc;
use futures_core::Stream;
use http_body::{Body, Frame, SizeHint};

/// The body of an outgoing request.
pub(crate) enum RequestBody {
    /// A complete body, sent at once.
    Full(Option<Bytes>),
    /// Frames sent as the session produces them; the body ends when the
    /// sender is dropped, and is reset (RST_STREAM) when an error is sent.
    Channel(mpsc::UnboundedReceiver<Result<Bytes, std::io::Error>>),
}

impl RequestBody {
    pub(crate) fn full(bytes: Bytes) -> Self {
        if bytes.is_empty() {
            Self::Full(None)
        } else {
            Self::Full(Some(bytes))
        }
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
            Self::Channel(rx) => Pin::new(rx)
                .poll_next(cx)
                .map(|chunk| chunk.map(|b| b.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Self::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Channel(_) => SizeHint::default(),
        }
    }
}
