//! One end of a link, as an I/O object: hyper's traits for the client,
//! tokio's for the model server.

use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use super::{End, LinkId, pipe::Readable, pipe::Writable};
use crate::world::Shared;

/// One end of a simulated connection. Dropping it closes the end: the peer
/// reads the end of the stream once everything sent has arrived.
pub struct SimConn {
    shared: Arc<Shared>,
    link: LinkId,
    end: End,
}

impl SimConn {
    pub(crate) fn new(shared: Arc<Shared>, link: LinkId, end: End) -> Self {
        Self { shared, link, end }
    }

    /// The link this end belongs to (for faults aimed at it).
    pub fn link(&self) -> LinkId {
        self.link
    }

    /// Reads into `out` (up to `max` bytes): the bytes read (0 at the end of
    /// the stream), or pending.
    fn poll_read_into(
        &self,
        cx: &mut Context<'_>,
        max: usize,
        out: impl FnOnce(&[u8]),
    ) -> Poll<io::Result<usize>> {
        let mut state = self.shared.state();
        let now = state.now;
        let Some(link) = state.net.link(self.link) else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        let pipe = &mut link.pipes[self.end.inbound()];
        match pipe.read(now, max) {
            Readable::Data(data) => {
                pipe.armed = None;
                out(&data);
                let n = data.len();
                state.record(("read", self.link, n));
                Poll::Ready(Ok(n))
            }
            Readable::End => Poll::Ready(Ok(0)),
            Readable::Reset => Poll::Ready(Err(io::ErrorKind::ConnectionReset.into())),
            Readable::Nothing => {
                pipe.reader = Some(cx.waker().clone());
                Poll::Pending
            }
            Readable::At(arrival) => {
                pipe.reader = Some(cx.waker().clone());
                if pipe.armed != Some(arrival) {
                    pipe.armed = Some(arrival);
                    state.timers.insert(arrival, cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }

    fn poll_write_from(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let mut state = self.shared.state();
        let now = state.now;
        let Some(link) = state.net.link(self.link) else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        let arrival = now + link.latency;
        let pipe = &mut link.pipes[self.end.outbound()];
        match pipe.write(arrival, data) {
            Writable::Took(n) => {
                state.record(("write", self.link, n));
                Poll::Ready(Ok(n))
            }
            Writable::Reset => Poll::Ready(Err(io::ErrorKind::ConnectionReset.into())),
            Writable::Gone => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
            Writable::Full => {
                pipe.writer = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    fn shutdown_write(&self) {
        let mut state = self.shared.state();
        if let Some(link) = state.net.link(self.link) {
            link.pipes[self.end.outbound()].close_write();
        }
    }
}

impl Drop for SimConn {
    fn drop(&mut self) {
        let mut state = self.shared.state();
        state.net.close_end(self.link, self.end);
        state.record(("closed", self.link));
    }
}

impl hyper::rt::Read for SimConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let max = buf.remaining();
        self.poll_read_into(cx, max, |data| buf.put_slice(data))
            .map_ok(|_| ())
    }
}

impl hyper::rt::Write for SimConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_from(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shutdown_write();
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncRead for SimConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let max = buf.remaining();
        self.poll_read_into(cx, max, |data| buf.put_slice(data))
            .map_ok(|_| ())
    }
}

impl tokio::io::AsyncWrite for SimConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_from(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shutdown_write();
        Poll::Ready(Ok(()))
    }
}
