//! Session state machines: append and read sessions over `s2s` frames,
//! with reconnection, retries and exactly-once resolution.
//!
//! Both machines follow one pattern. The driver feeds each input to
//! `handle(input, now)`: what happened on a connection (a
//! [`ConnectionEvent`]: it opened, bytes arrived, it ended or failed), the
//! answer to a unary call the machine asked for, or the clock reaching the
//! machine's deadline. It drains outputs with `poll_*` methods until they
//! return `None`, then waits for the next input or for the instant
//! `poll_timeout` returns. Every connection the machine asks for carries a
//! [`ConnectionId`]; inputs about an older connection are ignored, so a
//! driver never has to worry about late events from a connection it
//! already dropped.
//!
//! # Polling order, and why
//!
//! After every input, drain in this order:
//!
//! 1. `poll_event` until `None`. A `Connect` must reach the driver before
//!    anything about that connection (the append session's frames, the
//!    read session's request), and a `Disconnect` before the connection
//!    that replaces it.
//! 2. `poll_transmit` until `None` (append only). Frames name their
//!    connection; frames for a dropped one never appear.
//! 3. `poll_timeout`, last: a connect or a failure replaces the timer, and
//!    a written batch starts its ack timer, so asked earlier it may name a
//!    deadline that no longer holds.
//!
//! Every `poll_*` is `#[must_use]`, and its docs say after which calls it
//! must be polled again. Each machine keeps its timers in its phase: a
//! backoff while waiting to reconnect, and a deadline on the open
//! connection (the append session's ack timer, the read session's
//! heartbeat watchdog); `poll_timeout` reads them.
//!
//! # A driver loop
//!
//! A read session driven by hand over a toy network: the first connection
//! delivers one record and is cut, so the machine backs off (a timer) and
//! resumes where it stopped. A real driver sleeps until `poll_timeout`
//! where this one jumps its clock; the crate docs drive an append session
//! the same way.
//!
//! ```
//! use std::{collections::VecDeque, time::Instant};
//!
//! use bytes::{Bytes, BytesMut};
//! use s2_core::{
//!     Error,
//!     error::Sent,
//!     frame::{Compression, encode_message},
//!     session::{
//!         ConnectionEvent,
//!         read::{Input, ReadEvent, ReadSession, ReadSessionConfig},
//!     },
//!     types::{ReadBatch, ReadLimit, ReadRequest, ReadStart, SequencedRecord, StreamPosition},
//! };
//!
//! const STREAM: [&str; 3] = ["a", "b", "c"];
//! /// The frame the toy server sends for record `n`.
//! fn frame(n: u64) -> Bytes {
//!     let record = SequencedRecord::new(StreamPosition::new(n, n), STREAM[n as usize]);
//!     let tail = Some(StreamPosition::new(3, 3));
//!     let mut out = BytesMut::new();
//!     let batch = ReadBatch { records: vec![record], tail };
//!     encode_message(&mut out, &batch, Compression::None).expect("a small frame");
//!     out.freeze()
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut now = Instant::now(); // The driver's clock, handed to the machine.
//! let request = ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(3));
//! let mut session = ReadSession::new(request, ReadSessionConfig::default(), now);
//! let (mut wire, mut connects, mut read) = (VecDeque::new(), 0, Vec::new());
//! loop {
//!     // 1. Events first: a `Connect` comes before anything on its connection.
//!     while let Some(event) = session.poll_event() {
//!         match event {
//!             ReadEvent::Connect { connection, .. } => {
//!                 connects += 1;
//!                 let from = session.next_seq_num().unwrap_or(0);
//!                 let to = if connects == 1 { from + 1 } else { 3 };
//!                 wire.extend((from..to).map(|n| (connection, Ok(frame(n)))));
//!                 if connects == 1 {
//!                     wire.push_back((connection, Err(Error::transport(Sent::Maybe, "cut"))));
//!                 }
//!             }
//!             ReadEvent::Batch(batch) => {
//!                 read.extend(batch.records.into_iter().map(SequencedRecord::into_body))
//!             }
//!             ReadEvent::Failed(error) => return Err(error.into()),
//!             // Caught up, finished, advised: nothing for this driver to do.
//!             _ => {}
//!         }
//!     }
//!     if session.is_finished() {
//!         break;
//!     }
//!     // 2. What the network delivered.
//!     if let Some((connection, delivered)) = wire.pop_front() {
//!         let event = match delivered {
//!             Ok(bytes) => ConnectionEvent::Data(bytes),
//!             Err(error) => ConnectionEvent::Failed(error),
//!         };
//!         session.handle(Input::Connection(connection, event), now);
//!         continue;
//!     }
//!     // 3. Nothing happened: wait for the machine's next deadline.
//!     let Some(deadline) = session.poll_timeout() else { break };
//!     now = now.max(deadline);
//!     session.handle(Input::Timeout, now);
//! }
//! assert_eq!(read, STREAM);
//! assert_eq!(connects, 2);
//! # Ok(()) }
//! ```

pub mod append;
pub mod read;

/// Identifies one connection attempt of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::{Error, api::SessionRejection};

/// What happened on a session connection, as a driver reports it to either
/// machine (in [`append::Input::Connection`] or
/// [`read::Input::Connection`]).
#[derive(Debug)]
pub enum ConnectionEvent {
    /// The service answered 200: the session is open, and its response body
    /// is being read.
    Connected,
    /// Bytes of the response body.
    Data(Bytes),
    /// The response body ended without error.
    End,
    /// The connection failed, could not be opened, or its body could not be
    /// read.
    Failed(Error),
    /// The service refused to open the session: its error status, as
    /// [`Api::session_rejection`](crate::api::Api::session_rejection) parsed
    /// it.
    Rejected(SessionRejection),
}

/// How long without any frame before a session connection is presumed dead.
pub const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(20);

/// Least time between two reconnects on the server's advice (the official
/// Python SDK allows one a minute too). Advice that comes sooner is ignored:
/// a server advising on every frame must not make a session reconnect
/// without delay or limit.
pub const ADVISED_RECONNECT_INTERVAL: Duration = Duration::from_secs(60);

/// `now + wait`, saturated far in the future: a caller's absurd timeout
/// (`Duration::MAX`) means "never", not a panic.
use crate::time::deadline;

/// Rate limit of reconnects on the server's advice.
#[derive(Debug, Clone, Copy, Default)]
struct AdviceLimiter {
    /// When the last advised reconnect was granted.
    last: Option<Instant>,
}

impl AdviceLimiter {
    /// Whether a reconnect advised at `now` may be followed; if so, it counts.
    fn try_acquire(&mut self, now: Instant) -> bool {
        let recent = self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < ADVISED_RECONNECT_INTERVAL);
        if !recent {
            self.last = Some(now);
        }
        !recent
    }
}
