//! [`PromptAcks`]: a connection whose TCP socket acknowledges what it
//! receives at once.
//!
//! A server that leaves Nagle's algorithm on (s2-lite does: it never sets
//! `TCP_NODELAY`) holds back a small write, such as an append's ack, while
//! an earlier segment it sent is unacknowledged. Linux delays our TCP
//! acknowledgement until we send something or its delayed-ACK timer runs
//! out (up to 40 ms). So the ack of a batch waited for the next batch: on
//! s2-lite a session appending a record every 20 ms saw each ack 25 ms
//! after the append instead of 10 ms, and at saturation a session waiting
//! for acks (its unacknowledged cap reached) stalled until the timer ran
//! out. `TCP_QUICKACK`, set again after every read (the kernel leaves
//! quick-ACK mode on its own), acknowledges at once.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

/// The TCP socket of a connection, to acknowledge what it receives at once.
///
/// Where the system has no `TCP_QUICKACK` (it is Linux's), it does nothing.
pub struct PromptAcks {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    socket: socket2::Socket,
}

impl PromptAcks {
    /// For the TCP stream `tcp`, before it is wrapped (in TLS, or in the
    /// runtime's IO adapter): keeps a duplicate of its socket handle.
    #[cfg(unix)]
    pub fn of<S: std::os::fd::AsFd>(tcp: &S) -> io::Result<Self> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            Ok(Self {
                socket: socket2::SockRef::from(tcp).try_clone()?,
            })
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let _ = tcp;
            Ok(Self {})
        }
    }

    /// For the TCP stream `tcp`: nothing to do on this system.
    #[cfg(not(unix))]
    pub fn of<S>(_tcp: &S) -> io::Result<Self> {
        Ok(Self {})
    }

    /// `io`, the connection over this socket, acknowledging at once what
    /// it receives from now on.
    pub fn wrap<T>(self, io: T) -> PromptAcksIo<T> {
        PromptAcksIo { io, acks: self }
    }

    fn ack_now(&self) {
        // Best effort: a socket that refuses it only acknowledges later.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let _ = self.socket.set_tcp_quickack(true);
    }
}

/// A connection whose TCP socket acknowledges at once what it receives:
/// see [`PromptAcks`].
pub struct PromptAcksIo<T> {
    io: T,
    acks: PromptAcks,
}

impl<T: hyper::rt::Read + Unpin> hyper::rt::Read for PromptAcksIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let read = Pin::new(&mut self.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = read {
            self.acks.ack_now();
        }
        read
    }
}

impl<T: hyper::rt::Write + Unpin> hyper::rt::Write for PromptAcksIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
