//! The read session state machine.
//!
//! It tracks the next position and the remaining count/bytes budget, resumes
//! after any failure from the record after the last one delivered (no gap, no
//! duplicate), watches heartbeats, and reports when it has caught up with the
//! tail.
//!
//! A request's `wait` bounds the time between records (the service restarts
//! it on every record): a bounded session waits up to `wait` at the tail for
//! more, a tailing one ends after `wait` without a record. The machine keeps
//! the instant the wait runs out and sends what is left of it (whole seconds,
//! rounded down) on every reconnect, so a failure neither restarts the wait
//! nor loses it.
//!
//! # What the server must not do
//!
//! Sequence numbers only grow: a record at or before one already delivered
//! (or before the requested start), a record at `u64::MAX` (no position
//! follows it), or a tail before what was delivered fails the session with
//! a [`ProtocolError`]: a server that
//! contradicts itself cannot be read exactly-once. Within one connection
//! records are contiguous; a gap there is also a `ProtocolError`, but it
//! ends only the connection: a trim (or retention) may delete records ahead
//! of a lagging reader, so the session resumes from the record after the
//! last one delivered, and accepts a first record past it on the new
//! connection. A server that keeps skipping records spends the retry budget
//! and fails the session.
//!
//! # Methods
//!
//! - Getters: [`is_finished`](ReadSession::is_finished),
//!   [`is_caught_up`](ReadSession::is_caught_up),
//!   [`next_seq_num`](ReadSession::next_seq_num),
//!   [`remaining_request`](ReadSession::remaining_request).
//! - What happened: [`handle`](ReadSession::handle) with an [`Input`]: a
//!   [`ConnectionEvent`] on a connection, or the clock
//!   ([`Input::Timeout`]).
//! - What to do, `poll_*`, in this order after [`ReadSession::new`] and
//!   after every input above: [`poll_event`](ReadSession::poll_event) until
//!   `None`, then [`poll_timeout`](ReadSession::poll_timeout).
//!
//! Events come first because the first is a
//! [`Connect`](ReadEvent::Connect) and a driver must open that connection
//! (and drop the one it replaces) before anything else reaches it. The
//! timeout comes last because a connect starts its heartbeat timer and a
//! failure its backoff: asked before the events are drained, it may be
//! that of a phase already left.
//!
//! # Timers
//!
//! As in the append session, each timer lives in the phase that runs it:
//! the backoff before a reconnect (`Phase::Backoff`) and the heartbeat
//! watchdog of the open connection (`Link::heartbeat_deadline`), which
//! every frame pushes out. `poll_timeout` reads the phase. The request's
//! wait is no timer: the service keeps it, and the machine only carries
//! what is left of it to the next connection.

mod batch;
mod bounds;
mod retry;

use std::{
    collections::VecDeque,
    ops::ControlFlow,
    time::{Duration, Instant},
};

use bytes::Bytes;

use self::batch::Refusal;
use super::{AdviceLimiter, ConnectionEvent, ConnectionId, DEFAULT_HEARTBEAT_TIMEOUT, deadline};
use crate::{
    api::{SessionRejection, rejection_from_parts},
    backoff::{Backoff, BackoffConfig},
    error::Sent,
    error::{Error, ProtocolError, ValidationError, greater_than_zero},
    frame::{Frame, FrameDecoder, FrameLimits},
    types::{ReadBatch, ReadRequest, ReadStart, StreamPosition},
};

/// What a driver tells a read session: the one argument of
/// [`ReadSession::handle`].
#[derive(Debug)]
pub enum Input {
    /// Something happened on session connection `ConnectionId`. Events of
    /// a connection the session has since dropped are ignored.
    Connection(ConnectionId, ConnectionEvent),
    /// The clock reached [`ReadSession::poll_timeout`]. Harmless when
    /// nothing is due.
    Timeout,
}

/// Settings of a read session.
///
/// Setters take any value; [`validate`](Self::validate) refuses those that
/// cannot work, naming the setting.
///
/// ```
/// # use s2_core::session::read::ReadSessionConfig;
/// # use std::time::Duration;
/// let config = ReadSessionConfig::default().with_heartbeat_timeout(Duration::from_secs(30));
/// assert!(config.validate().is_ok());
/// assert!(config.with_heartbeat_timeout(Duration::ZERO).validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadSessionConfig {
    heartbeat_timeout: Duration,
    backoff: BackoffConfig,
    seed: u64,
}

impl Default for ReadSessionConfig {
    fn default() -> Self {
        Self {
            heartbeat_timeout: DEFAULT_HEARTBEAT_TIMEOUT,
            backoff: BackoffConfig::default(),
            seed: 0,
        }
    }
}

impl ReadSessionConfig {
    /// Sets the silence after which a connection is presumed dead and
    /// replaced (more than zero; default
    /// [`DEFAULT_HEARTBEAT_TIMEOUT`]).
    pub fn with_heartbeat_timeout(mut self, timeout: Duration) -> Self {
        self.heartbeat_timeout = timeout;
        self
    }

    /// Sets the retry budget (a count and a time window) and delays between
    /// reconnections; the budget is renewed by records delivered (and by a
    /// connection that lasted a minute), so the window counts from the
    /// first failure since then.
    pub fn with_backoff(mut self, backoff: BackoffConfig) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets the seed of the backoff jitter (default 0).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The silence after which a connection is presumed dead.
    pub fn heartbeat_timeout(&self) -> Duration {
        self.heartbeat_timeout
    }

    /// The retry budget and delays between reconnections.
    pub fn backoff(&self) -> BackoffConfig {
        self.backoff
    }

    /// The seed of the backoff jitter.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Refuses settings that cannot work, with
    /// [`ValidationError::InvalidSetting`]: a zero `heartbeat_timeout`
    /// (every connection would be presumed dead at once).
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.heartbeat_timeout.is_zero() {
            return Err(greater_than_zero("heartbeat_timeout"));
        }
        Ok(())
    }
}

/// What a read session asks of its driver or tells its user.
#[derive(Debug, Clone)]
pub enum ReadEvent {
    /// Open a session with this request (dropping any current connection).
    Connect {
        /// Identifies the connection in the [`Input`]s about it.
        connection: ConnectionId,
        /// The remaining read: start and budgets adjusted for what was
        /// delivered.
        request: ReadRequest,
    },
    /// Records, in order, never seen before.
    Batch(ReadBatch),
    /// The session reached the tail and is now following it live.
    CaughtUp(StreamPosition),
    /// The start was past the tail (and `clamp` was off), or at the tail of
    /// a bounded read: this is the tail. The session is over. Only for the
    /// caller's start: a resume refused at the tail is caught up instead
    /// (a bounded read [`Finished`](Self::Finished), a tailing one goes on).
    Tail(StreamPosition),
    /// Every bound (count, bytes, until) is met: the session is over.
    Finished,
    /// The server advised leaving `connection` (it is about to go away): a
    /// driver sends no new request on its HTTP/2 connection. The session
    /// itself moves on at most once a minute.
    Advised(ConnectionId),
    /// The session failed for good.
    Failed(Error),
}

/// Where the session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the backoff delay before reconnecting.
    Backoff { until: Instant },
    /// A connection is open or opening.
    Connected(Link),
    /// Over.
    Done,
}

/// The open (or opening) connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Link {
    id: ConnectionId,
    /// When it is presumed dead unless a frame arrives.
    heartbeat_deadline: Instant,
    /// When it was asked for.
    opened: Instant,
    /// Whether it delivered a valid message: from then on its records
    /// must follow the last one delivered without a gap.
    heard: bool,
}

impl Phase {
    /// The open connection, if one is.
    fn link(&self) -> Option<Link> {
        match self {
            Phase::Connected(link) => Some(*link),
            Phase::Backoff { .. } | Phase::Done => None,
        }
    }

    /// The open connection, to update.
    fn link_mut(&mut self) -> Option<&mut Link> {
        match self {
            Phase::Connected(link) => Some(link),
            Phase::Backoff { .. } | Phase::Done => None,
        }
    }
}

/// The state machine of one read session.
#[derive(Debug)]
pub struct ReadSession {
    config: ReadSessionConfig,
    request: ReadRequest,
    /// Sequence number after the last record delivered (or skipped as a
    /// command), once known.
    next_seq_num: Option<u64>,
    remaining_count: Option<u64>,
    remaining_bytes: Option<u64>,
    /// The highest tail the server reported.
    known_tail: Option<u64>,
    /// When the request's `wait` runs out: its start, or the last record,
    /// plus `wait`.
    wait_until: Option<Instant>,
    caught_up: bool,
    phase: Phase,
    decoder: FrameDecoder,
    backoff: Backoff,
    /// Rate limit of reconnects on the server's advice.
    advice: AdviceLimiter,
    next_connection: u64,
    events: VecDeque<ReadEvent>,
}

impl ReadSession {
    /// A session reading `request`; it asks to connect at once.
    pub fn new(request: ReadRequest, config: ReadSessionConfig, now: Instant) -> Self {
        let mut session = Self {
            config,
            remaining_count: request.limit.count,
            remaining_bytes: request.limit.bytes,
            request,
            next_seq_num: None,
            known_tail: None,
            wait_until: None,
            caught_up: false,
            phase: Phase::Done,
            decoder: FrameDecoder::new(FrameLimits::PROTOCOL),
            backoff: Backoff::new(config.backoff(), config.seed()),
            advice: AdviceLimiter::default(),
            next_connection: 0,
            events: VecDeque::new(),
        };
        session.restart_wait(now);
        if session.budget_exhausted() {
            session.finish(ReadEvent::Finished);
        } else {
            session.connect(now);
        }
        session
    }

    // Getters.

    /// Whether the session is over.
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    /// The sequence number the session resumes from after a failure.
    pub fn next_seq_num(&self) -> Option<u64> {
        self.next_seq_num
    }

    /// Whether the session has caught up with the tail.
    pub fn is_caught_up(&self) -> bool {
        self.caught_up
    }

    /// The read that remains at `now`: where to resume, what budget is
    /// left, and what is left of the wait.
    ///
    /// A resume is clamped: its position is at most the tail (everything
    /// before it was delivered), so the clamp never moves it; it keeps a
    /// server that has nothing past it yet following instead of refusing.
    pub fn remaining_request(&self, now: Instant) -> ReadRequest {
        let mut request = self.request.clone();
        if let Some(next) = self.next_seq_num {
            request.start = ReadStart::SeqNum(next);
            request.clamp = true;
        }
        request.limit.count = self.remaining_count;
        request.limit.bytes = self.remaining_bytes;
        request.wait_secs = self.remaining_wait(now).map(|left| {
            // Rounded down: the session waits up to its wait, never past it.
            u32::try_from(left.as_secs()).unwrap_or(u32::MAX)
        });
        request
    }

    // What happened.

    /// Takes what happened (see [`Input`]) at `now`; then poll the
    /// session's events and timeout again.
    pub fn handle(&mut self, input: Input, now: Instant) {
        match input {
            Input::Connection(connection, event) => match event {
                ConnectionEvent::Connected => self.on_connected(connection, now),
                ConnectionEvent::Data(data) => self.on_data(connection, data, now),
                ConnectionEvent::End => self.on_end(connection, now),
                ConnectionEvent::Failed(error) => self.on_error(connection, error, now),
                ConnectionEvent::Rejected(rejection) => {
                    self.on_rejected(connection, rejection, now)
                }
            },
            Input::Timeout => self.on_timeout(now),
        }
    }

    /// The connection with this id returned a 200: the session is open.
    fn on_connected(&mut self, connection: ConnectionId, now: Instant) {
        self.touch(connection, now);
    }

    /// Bytes of the response body of `connection` arrived.
    fn on_data(&mut self, connection: ConnectionId, data: Bytes, now: Instant) {
        if !self.touch(connection, now) {
            return;
        }
        self.decoder.handle_data(data);
        loop {
            match self.decoder.poll_frame() {
                Ok(Some(frame)) => {
                    if self.handle_frame(frame, now).is_break() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => return self.fail(ProtocolError::Frame(e).into()),
            }
        }
    }

    /// The response body of `connection` ended without error.
    fn on_end(&mut self, connection: ConnectionId, now: Instant) {
        if !self.is_current(connection) {
            return;
        }
        if let Err(e) = self.decoder.finish() {
            return self.handle_failure(ProtocolError::Frame(e).into(), now);
        }
        if self.ended_short() {
            // Records the server itself reported are missing, and only a
            // count bounds the read: it did not end, it was cut. Resume.
            let cause = "the server ended a read before its count or the tail it reported";
            self.handle_failure(Error::transport(Sent::Maybe, cause), now);
        } else if self.stops_at_tail() || self.wait_ran_out(now) {
            // A bounded session ends when the service has nothing more that
            // satisfies the bounds; any session, once its wait ran out.
            self.finish(ReadEvent::Finished);
        } else {
            // An unbounded session never ends by itself: the server went
            // away. Reconnect through the backoff, so a server that keeps
            // ending sessions cannot make us spin.
            self.handle_failure(
                Error::transport(Sent::Maybe, "the server ended the session"),
                now,
            );
        }
    }

    /// `connection` failed: a transport error, or an unreadable body.
    fn on_error(&mut self, connection: ConnectionId, error: Error, now: Instant) {
        if self.is_current(connection) {
            self.handle_failure(error, now);
        }
    }

    /// `connection` was refused: its request was answered with an error
    /// status instead of opening the session, which
    /// [`Api::session_rejection`](crate::api::Api::session_rejection) parsed.
    /// A start past the tail ends the read with [`ReadEvent::Tail`] (or,
    /// on a resume, is the tail caught up with); any other refusal is a
    /// failure like [`ConnectionEvent::Failed`].
    fn on_rejected(&mut self, connection: ConnectionId, rejection: SessionRejection, now: Instant) {
        if self.is_current(connection) {
            self.handle_rejection(rejection, now);
        }
    }

    /// The clock reached `now`. Harmless when nothing is due.
    fn on_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::Backoff { until } if now >= until => self.connect(now),
            Phase::Connected(link) if now >= link.heartbeat_deadline => {
                let silence = self.config.heartbeat_timeout();
                self.handle_failure(
                    Error::transport(Sent::Maybe, format!("no heartbeat for {silence:?}")),
                    now,
                );
            }
            _ => {}
        }
    }

    // What to do.

    /// The next event for the driver or the user. Poll again, until `None`,
    /// after [`new`](Self::new) and every [`handle`](Self::handle).
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ReadEvent> {
        self.events.pop_front()
    }

    /// When [`Input::Timeout`] is next due. Poll again
    /// after [`poll_event`](Self::poll_event) is drained: a connect or a
    /// failure replaces the timer.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Backoff { until } => Some(until),
            Phase::Connected(link) => Some(link.heartbeat_deadline),
            Phase::Done => None,
        }
    }

    fn is_current(&self, connection: ConnectionId) -> bool {
        self.phase.link().is_some_and(|link| link.id == connection)
    }

    /// Records activity on `connection`; false if it is not the current one.
    fn touch(&mut self, connection: ConnectionId, now: Instant) -> bool {
        let heartbeat_timeout = self.config.heartbeat_timeout();
        match self.phase.link_mut() {
            Some(link) if link.id == connection => {
                link.heartbeat_deadline = deadline(now, heartbeat_timeout);
                true
            }
            _ => false,
        }
    }

    /// Handles one frame of the current connection; breaks when the session
    /// stopped reading it.
    fn handle_frame(&mut self, frame: Frame, now: Instant) -> ControlFlow<()> {
        let (payload, reconnect_advised) = match frame {
            Frame::Terminal { status, body } => {
                self.handle_rejection(rejection_from_parts(status, &body, None), now);
                return ControlFlow::Break(());
            }
            Frame::Message {
                payload,
                reconnect_advised,
            } => (payload, reconnect_advised),
        };
        if reconnect_advised {
            let link = self
                .phase
                .link()
                .expect("frames are read from the current connection only");
            self.events.push_back(ReadEvent::Advised(link.id));
        }
        let batch = match crate::api::decode_read_batch(payload) {
            Ok(batch) => batch,
            Err(e) => {
                self.fail(e.into());
                return ControlFlow::Break(());
            }
        };
        match self.accept_batch(batch, now) {
            Ok(()) => {}
            Err(Refusal::Fatal(error)) => {
                self.fail(error.into());
                return ControlFlow::Break(());
            }
            Err(Refusal::Gap(error)) => {
                self.retry(error.into(), now);
                return ControlFlow::Break(());
            }
        }
        // The batch may have ended the session (its budget is met).
        let Some(link) = self.phase.link_mut() else {
            return ControlFlow::Break(());
        };
        link.heard = true;
        if reconnect_advised && self.advice.try_acquire(now) {
            // The server is about to go away: move before it does.
            // Not a failure, so free of the retry budget; rate
            // limited, so advice on every frame cannot make us spin.
            self.reconnect_after(Duration::ZERO, now);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    /// Asks for a new connection, with what remains of the read.
    fn connect(&mut self, now: Instant) {
        let id = ConnectionId(self.next_connection);
        self.next_connection += 1;
        self.decoder = FrameDecoder::new(FrameLimits::PROTOCOL);
        self.phase = Phase::Connected(Link {
            id,
            heartbeat_deadline: deadline(now, self.config.heartbeat_timeout()),
            opened: now,
            heard: false,
        });
        self.events.push_back(ReadEvent::Connect {
            connection: id,
            request: self.remaining_request(now),
        });
    }

    /// Ends the session with `event`.
    fn finish(&mut self, event: ReadEvent) {
        self.phase = Phase::Done;
        self.events.push_back(event);
    }

    /// Ends the session with `error`.
    fn fail(&mut self, error: Error) {
        self.finish(ReadEvent::Failed(error));
    }
}

#[cfg(test)]
mod tests;
