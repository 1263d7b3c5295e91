//! The append session state machine.
//!
//! Batches are pipelined on one `s2s` connection and acknowledged in order.
//! When the connection fails, the machine decides — from the error, the
//! retry policy and whether the batches are conditioned — to resend what is
//! unacknowledged, to find out what landed (exactly-once resolution), or to
//! stop with an error that says which inputs may have been applied.
//!
//! # Exactly-once resolution
//!
//! Batches conditioned with `match_seq_num` can only land at their expected
//! position, atomically and in order. After an unknown outcome the machine
//! asks for the tail `T` (or takes it from a `seq_num_mismatch`), reads back
//! `[m_k, min(T, end))` and compares it with the unacknowledged batches: the
//! ones found byte-identical are acknowledged from the read-back, the rest
//! are resent. Anything else means another writer got there first, and the
//! session stops with [`Error::WriterConflict`]: never a duplicate, never a
//! loss. A session advances `match_seq_num` itself once the first input
//! carries one.
//!
//! Only batches that may have landed (sent on a connection whose outcome
//! is unknown) are read back: one that never left the client, or whose
//! every attempt provably failed, cannot be on the stream, so records at
//! its place belong to another writer even when they are byte-identical.
//!
//! # What the server must not do
//!
//! An ack must cover its batch's records, at its `match_seq_num` when it
//! has one, with `start <= end <= tail`, and start at or after the end of
//! every earlier ack; anything else fails the session with a
//! [`ProtocolError`]. So does a tail (learnt from a tail check or a
//! `seq_num_mismatch`) before the end of an earlier ack: it proves nothing
//! about the inputs still unacknowledged, which the error leaves in
//! `maybe_applied` as far as they may have been sent. Reconnect advice is
//! followed at most once per
//! [`ADVISED_RECONNECT_INTERVAL`](super::ADVISED_RECONNECT_INTERVAL) and
//! costs no retry; the budget is renewed only by acks.
//!
//! # Methods
//!
//! - Getters: [`has_capacity`](AppendSession::has_capacity),
//!   [`unacked_len`](AppendSession::unacked_len),
//!   [`unacked_bytes`](AppendSession::unacked_bytes),
//!   [`is_finished`](AppendSession::is_finished).
//! - The user's inputs: [`try_submit`](AppendSession::try_submit) (while
//!   `has_capacity`) and [`close`](AppendSession::close).
//! - What happened: [`handle`](AppendSession::handle) with an [`Input`]:
//!   a [`ConnectionEvent`] on a connection, the answer to one of its unary
//!   calls ([`Input::Tail`], [`Input::ReadBack`]), or the clock
//!   ([`Input::Timeout`]).
//! - What to do, `poll_*`, in this order after every input above:
//!   [`poll_event`](AppendSession::poll_event) until `None`, then
//!   [`poll_transmit`](AppendSession::poll_transmit) until `None`, then
//!   [`poll_timeout`](AppendSession::poll_timeout).
//!
//! Events come first because a [`Connect`](AppendEvent::Connect) must
//! reach the driver before the frames for that connection, and a
//! [`Disconnect`](AppendEvent::Disconnect) before anything that replaces
//! it. The timeout comes last because writing a batch starts its ack
//! timer: asked before `poll_transmit`, it may miss that deadline.
//!
//! # Timers
//!
//! Each timer lives in the phase that runs it, so leaving a phase stops
//! its timer: the backoff before a reconnect or a resolution
//! (`Phase::Backoff`), and the ack deadline of the oldest batch in flight
//! (`Link::ack_deadline` of the open connection). `poll_timeout` reads the
//! phase; the read session keeps its timers the same way.

mod ack;
mod config;
mod failure;
mod resolve;

use std::{collections::VecDeque, ops::Range, time::Instant};

use bytes::{Bytes, BytesMut};

pub use self::config::{
    AppendRetryPolicy, AppendSessionConfig, DEFAULT_ACK_TIMEOUT, DEFAULT_MAX_UNACKED_BATCHES,
    DEFAULT_MAX_UNACKED_BYTES,
};
use self::failure::{Budget, Failure, Then};
use super::{AdviceLimiter, ConnectionEvent, ConnectionId, deadline};
use crate::{
    api::error_from_parts,
    backoff::Backoff,
    error::Sent,
    error::{Error, ProtocolError, ValidationError},
    frame::{Frame, FrameDecoder, FrameLimits, MAX_PAYLOAD_LEN, WireMessage, encode_message},
    proto,
    types::{AppendAck, AppendInput, ReadOutput, ReadRequest, StreamPosition},
};

/// Identifies a submitted input: they are numbered 0, 1, 2, … in submission
/// order.
pub type InputId = u64;

/// What a driver tells an append session: the one argument of
/// [`AppendSession::handle`].
#[derive(Debug)]
pub enum Input {
    /// Something happened on session connection `ConnectionId`. Events of
    /// a connection the session has since dropped are ignored.
    Connection(ConnectionId, ConnectionEvent),
    /// The answer to [`AppendEvent::CheckTail`].
    Tail(Result<StreamPosition, Error>),
    /// The answer to [`AppendEvent::Read`].
    ReadBack(Result<ReadOutput, Error>),
    /// The clock reached [`AppendSession::poll_timeout`]. Harmless when
    /// nothing is due.
    Timeout,
}

/// What an append session asks of its driver or tells its user.
#[derive(Debug, Clone)]
pub enum AppendEvent {
    /// Open a session connection (dropping any current one); frames for it
    /// come from [`AppendSession::poll_transmit`].
    Connect(ConnectionId),
    /// Abandon this connection at once (reset it): its outcome is being
    /// handled, and it must not go on delivering batches.
    Disconnect(ConnectionId),
    /// End the request body of the connection: nothing more will be sent.
    /// Comes once everything is acknowledged after [`AppendSession::close`].
    Closed,
    /// Fetch the stream's tail (unary `check_tail`) and hand the answer
    /// back as [`Input::Tail`].
    CheckTail,
    /// Perform this unary read and hand the answer back as
    /// [`Input::ReadBack`].
    Read(ReadRequest),
    /// Input `id` is durable.
    Ack {
        /// The input.
        id: InputId,
        /// Its acknowledgement.
        ack: AppendAck,
    },
    /// The server advised leaving this connection (it is about to go
    /// away): a driver sends no new request on its HTTP/2 connection. The
    /// session itself drains and moves on at most once a minute.
    Advised(ConnectionId),
    /// The session stopped ([`Error::AppendSession`] says what may have
    /// landed). No more events follow.
    Failed(Error),
}

/// Why an input was not accepted.
#[derive(Debug)]
pub enum SubmitError {
    /// The unacked caps are reached: wait for acks.
    Full(AppendInput),
    /// The session is closing or over.
    Closed(AppendInput),
    /// The input can never be sent in this session: its position
    /// (`match_seq_num` plus its records) would overflow, or it breaks the
    /// batch limits or does not fit one frame once encoded (an input
    /// decoded or defaulted, not built with [`AppendInput::new`]).
    Invalid(AppendInput, ValidationError),
}

struct Entry {
    id: InputId,
    input: AppendInput,
    /// Times the batch was handed to a connection.
    attempts: u32,
    /// Whether some attempt may have been applied: sent on a connection
    /// whose outcome is unknown. Only such a batch can be found on the
    /// stream by a read-back.
    maybe_landed: bool,
}

impl Entry {
    /// One past the position of the batch's last record, when conditioned.
    fn end(&self) -> Option<u64> {
        let m = self.input.match_seq_num()?;
        Some(
            m.checked_add(self.input.len() as u64)
                .expect("try_submit refuses batches whose end overflows"),
        )
    }
}

/// Where the session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No connection (nothing to send, or about to connect).
    Idle,
    /// A connection is open.
    Connected(Link),
    /// Waiting before the next attempt.
    Backoff { until: Instant, then: Then },
    /// Waiting for the tail.
    AwaitTail,
    /// Reading back: verified up to `cursor` (exclusive), up to `end`.
    AwaitRead {
        cursor: u64,
        end: u64,
        tail: StreamPosition,
    },
    /// Over.
    Done,
}

/// The open connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Link {
    id: ConnectionId,
    /// The first `sent` entries of `pending` went out on it.
    sent: usize,
    /// The server advised reconnecting: nothing more is sent on it, and a
    /// new connection follows once its acks are in.
    draining: bool,
    /// When the oldest batch in flight on it times out.
    ack_deadline: Option<Instant>,
}

impl Phase {
    /// The open connection, if one is.
    fn link(&self) -> Option<Link> {
        match self {
            Phase::Connected(link) => Some(*link),
            _ => None,
        }
    }

    /// The open connection, to update.
    fn link_mut(&mut self) -> Option<&mut Link> {
        match self {
            Phase::Connected(link) => Some(link),
            _ => None,
        }
    }
}

/// The state machine of one append session.
pub struct AppendSession {
    config: AppendSessionConfig,
    pending: VecDeque<Entry>,
    pending_bytes: u64,
    next_id: InputId,
    next_match: Option<u64>,
    phase: Phase,
    /// End of the last ack of the session: no later ack starts before it.
    acked_end: Option<u64>,
    /// Rate limit of reconnects on the server's advice.
    advice: AdviceLimiter,
    decoder: FrameDecoder,
    backoff: Backoff,
    next_connection: u64,
    closing: bool,
    events: VecDeque<AppendEvent>,
    encode_buf: BytesMut,
    /// Timestamp of the first read-back record of the oldest pending batch.
    read_back_start_timestamp: u64,
}

impl std::fmt::Debug for AppendSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppendSession")
            .field("pending", &self.pending.len())
            .field("pending_bytes", &self.pending_bytes)
            .field("next_id", &self.next_id)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl AppendSession {
    /// A session with nothing submitted yet; it connects on the first
    /// submit.
    pub fn new(config: AppendSessionConfig) -> Self {
        Self {
            config,
            pending: VecDeque::new(),
            pending_bytes: 0,
            next_id: 0,
            next_match: None,
            phase: Phase::Idle,
            acked_end: None,
            advice: AdviceLimiter::default(),
            decoder: FrameDecoder::new(FrameLimits::PROTOCOL),
            backoff: Backoff::new(config.backoff(), config.seed()),
            next_connection: 0,
            closing: false,
            events: VecDeque::new(),
            encode_buf: BytesMut::new(),
            read_back_start_timestamp: 0,
        }
    }

    // Getters.

    /// Whether an input of `metered_bytes` would be accepted now.
    pub fn has_capacity(&self, metered_bytes: u64) -> bool {
        if self.closing || self.phase == Phase::Done {
            return false;
        }
        self.pending.is_empty()
            || (self.pending.len() < self.config.max_unacked_batches()
                && self.pending_bytes.saturating_add(metered_bytes)
                    <= self.config.max_unacked_bytes())
    }

    /// Inputs submitted and not yet acknowledged.
    pub fn unacked_len(&self) -> usize {
        self.pending.len()
    }

    /// Metered bytes submitted and not yet acknowledged.
    pub fn unacked_bytes(&self) -> u64 {
        self.pending_bytes
    }

    /// Whether the session is over (closed or failed).
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Done
    }

    // The user's inputs.

    /// Queues an input for sending. Once one input carries `match_seq_num`,
    /// later inputs without one get the next expected position; an input
    /// whose position would overflow is refused
    /// ([`ValidationError::MatchSeqNumOverflow`]).
    pub fn try_submit(&mut self, mut input: AppendInput) -> Result<InputId, SubmitError> {
        if self.closing || self.phase == Phase::Done {
            return Err(SubmitError::Closed(input));
        }
        if let Err(error) = input.check_limits() {
            return Err(SubmitError::Invalid(input, error));
        }
        if !self.has_capacity(input.metered_bytes()) {
            return Err(SubmitError::Full(input));
        }
        let next_match = match input.match_seq_num().or(self.next_match) {
            Some(m) => {
                let Some(end) = m.checked_add(input.len() as u64) else {
                    let error = ValidationError::MatchSeqNumOverflow {
                        match_seq_num: m,
                        records: input.len(),
                    };
                    return Err(SubmitError::Invalid(input, error));
                };
                input.set_match_seq_num(Some(m));
                Some(end)
            }
            None => None,
        };
        // `AppendInput::new` keeps an input within one frame, but a decoded
        // one (`WireMessage::decode`) is not checked. The frame itself is
        // encoded when a connection can take it.
        let encoded_bytes = input.encoded_len();
        if encoded_bytes > MAX_PAYLOAD_LEN {
            let error = ValidationError::EncodedBatchTooLarge { encoded_bytes };
            return Err(SubmitError::Invalid(input, error));
        }
        self.next_match = next_match;
        let id = self.next_id;
        self.next_id += 1;
        self.pending_bytes += input.metered_bytes();
        self.pending.push_back(Entry {
            id,
            input,
            attempts: 0,
            maybe_landed: false,
        });
        if self.phase == Phase::Idle {
            self.connect();
        }
        Ok(id)
    }

    /// No more inputs: once everything is acknowledged the session emits
    /// [`AppendEvent::Closed`].
    pub fn close(&mut self) {
        self.closing = true;
        self.finish_if_drained();
    }

    // What happened.

    /// Takes what happened (see [`Input`]) at `now`; then poll the
    /// session's events, frames and timeout again.
    pub fn handle(&mut self, input: Input, now: Instant) {
        match input {
            Input::Connection(connection, event) => match event {
                // An append session learns it is connected from its first
                // ack: a 200 proves nothing about the frames sent.
                ConnectionEvent::Connected => {}
                ConnectionEvent::Data(data) => self.on_data(connection, data, now),
                ConnectionEvent::End => self.on_end(connection, now),
                ConnectionEvent::Failed(error) => self.on_error(connection, error, now),
                ConnectionEvent::Rejected(rejection) => {
                    self.on_rejected(connection, rejection.into_error(), now)
                }
            },
            Input::Tail(tail) => self.on_tail(tail, now),
            Input::ReadBack(output) => self.on_read(output, now),
            Input::Timeout => self.on_timeout(now),
        }
    }

    /// Bytes of `connection`'s response body arrived.
    fn on_data(&mut self, connection: ConnectionId, data: Bytes, now: Instant) {
        if !self.is_current(connection) {
            return;
        }
        self.decoder.handle_data(data);
        while self.is_current(connection) {
            match self.decoder.poll_frame() {
                Ok(Some(Frame::Message {
                    payload,
                    reconnect_advised,
                })) => {
                    if reconnect_advised {
                        self.events.push_back(AppendEvent::Advised(connection));
                    }
                    match <proto::AppendAck as prost::Message>::decode(payload) {
                        Ok(ack) => self.handle_ack(ack, now),
                        Err(e) => self.handle_failure(
                            ProtocolError::protobuf(e).into(),
                            now,
                            Failure::Broken,
                        ),
                    }
                    if reconnect_advised {
                        self.handle_advice(connection, now);
                    }
                }
                Ok(Some(Frame::Terminal { status, body })) => {
                    let error = error_from_parts(status, &body, None);
                    self.handle_failure(error, now, Failure::Broken);
                }
                Ok(None) => break,
                Err(e) => self.handle_failure(ProtocolError::Frame(e).into(), now, Failure::Broken),
            }
        }
    }

    /// `connection`'s response body ended.
    fn on_end(&mut self, connection: ConnectionId, now: Instant) {
        if !self.is_current(connection) {
            return;
        }
        if self.pending.is_empty() && self.decoder.finish().is_ok() {
            self.phase = Phase::Idle;
            self.finish_if_drained();
        } else {
            self.handle_failure(
                Error::transport(Sent::Maybe, "session ended with batches unacked"),
                now,
                Failure::Broken,
            );
        }
    }

    /// `connection` failed (no 200, or a transport error).
    fn on_error(&mut self, connection: ConnectionId, error: Error, now: Instant) {
        if self.is_current(connection) {
            self.handle_failure(error, now, Failure::Broken);
        }
    }

    /// `connection` was refused: its request was answered with an error
    /// status instead of opening the session. Only a status that proves no
    /// effect (a client error, `rate_limited`, ...) proves that none of the
    /// frames sent on it were applied; a gateway's 502/504 may come after
    /// the frames reached the service, so those count as a broken
    /// connection.
    fn on_rejected(&mut self, connection: ConnectionId, error: Error, now: Instant) {
        if self.is_current(connection) {
            let failure = if error.may_have_side_effect() {
                Failure::Broken
            } else {
                Failure::Refused
            };
            self.handle_failure(error, now, failure);
        }
    }

    /// The answer to [`AppendEvent::CheckTail`].
    fn on_tail(&mut self, tail: Result<StreamPosition, Error>, now: Instant) {
        if self.phase != Phase::AwaitTail {
            return;
        }
        match tail {
            Ok(tail) => self.resolve(tail),
            Err(e) => self.retry_or_fail(e, Then::Resolve, Budget::Spend, now),
        }
    }

    /// The answer to [`AppendEvent::Read`].
    fn on_read(&mut self, output: Result<ReadOutput, Error>, now: Instant) {
        let Phase::AwaitRead { cursor, end, tail } = self.phase else {
            return;
        };
        match output {
            Ok(ReadOutput::Batch(batch)) => {
                self.read_back_records(&batch.records, cursor, end, tail)
            }
            // Records this session may have written cannot be read back
            // (trimmed, say): their outcome stays unknown.
            Ok(ReadOutput::Tail(t)) => {
                let reason = format!("the tail is at {}, before the read-back", t.seq_num);
                self.fail(Error::Protocol(ProtocolError::Inconsistent(reason.into())))
            }
            Err(e) => self.retry_or_fail(e, Then::Resolve, Budget::Spend, now),
        }
    }

    /// The clock reached `now`. Harmless when nothing is due.
    fn on_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::Backoff { until, then } if now >= until => match then {
                Then::Resolve => {
                    self.phase = Phase::AwaitTail;
                    self.events.push_back(AppendEvent::CheckTail);
                }
                Then::Reconnect => self.connect(),
            },
            Phase::Connected(Link {
                ack_deadline: Some(due),
                ..
            }) if now >= due => {
                let error = Error::Timeout(self.config.ack_timeout());
                self.handle_failure(error, now, Failure::Broken);
            }
            _ => {}
        }
    }

    // What to do.

    /// The next event for the driver or the user. Poll again, until `None`,
    /// after every [`handle`](Self::handle), [`try_submit`](Self::try_submit) and
    /// [`close`](Self::close).
    #[must_use]
    pub fn poll_event(&mut self) -> Option<AppendEvent> {
        self.events.pop_front()
    }

    /// The next frame to write on a connection. Every frame goes to the
    /// connection it names; frames for an older connection never appear.
    /// Poll after [`poll_event`](Self::poll_event) is drained (a
    /// [`Connect`](AppendEvent::Connect) precedes its frames), until `None`
    /// or until the connection has no room: a frame is encoded when taken,
    /// and one not taken yet waits here, costing no memory beyond its
    /// input. Taking the first frame since the last ack starts the ack
    /// timer.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<(ConnectionId, Bytes)> {
        let Phase::Connected(link) = &mut self.phase else {
            return None;
        };
        if link.draining {
            return None;
        }
        let entry = self.pending.get_mut(link.sent)?;
        link.sent += 1;
        entry.attempts += 1;
        if link.ack_deadline.is_none() {
            link.ack_deadline = Some(deadline(now, self.config.ack_timeout()));
        }
        // Encoded only now, and again for a resend: a batch waiting for a
        // connection, or for its ack, is held once, not twice.
        self.encode_buf.clear();
        encode_message(
            &mut self.encode_buf,
            &entry.input,
            self.config.compression(),
        )
        .expect("the input's encoded length was checked at submit");
        Some((link.id, self.encode_buf.split().freeze()))
    }

    /// When [`Input::Timeout`] is next due. Poll again
    /// after [`poll_transmit`](Self::poll_transmit) is drained: writing a
    /// batch starts its ack timer.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Backoff { until, .. } => Some(until),
            Phase::Connected(link) => link.ack_deadline,
            Phase::Idle | Phase::AwaitTail | Phase::AwaitRead { .. } | Phase::Done => None,
        }
    }

    /// When the session's retry window opened (its first failure since its
    /// last progress), if it is open: the calls of a resolution retry
    /// within it rather than in windows of their own.
    #[must_use]
    pub fn retry_window_start(&self) -> Option<Instant> {
        self.backoff.window_start()
    }

    /// Whether [`Input::Timeout`] at `now` would fail
    /// the connection for an ack not received in time (rather than end a
    /// backoff): a driver asks before handing the timeout over, to tell an
    /// ack timeout from the end of a wait, which may be zero.
    #[must_use]
    pub fn is_ack_overdue(&self, now: Instant) -> bool {
        matches!(
            self.phase,
            Phase::Connected(Link {
                ack_deadline: Some(due),
                ..
            }) if now >= due
        )
    }

    fn is_current(&self, connection: ConnectionId) -> bool {
        self.phase.link().is_some_and(|link| link.id == connection)
    }

    /// Asks for a new connection, on which everything pending is sent.
    fn connect(&mut self) {
        let id = ConnectionId(self.next_connection);
        self.next_connection += 1;
        self.decoder = FrameDecoder::new(FrameLimits::PROTOCOL);
        self.phase = Phase::Connected(Link {
            id,
            sent: 0,
            draining: false,
            ack_deadline: None,
        });
        self.events.push_back(AppendEvent::Connect(id));
    }

    /// Ends a closing session once everything is acknowledged.
    fn finish_if_drained(&mut self) {
        if self.closing && self.pending.is_empty() && self.phase != Phase::Done {
            self.phase = Phase::Done;
            self.events.push_back(AppendEvent::Closed);
        }
    }
}

/// Inputs whose outcome a failed session leaves unknown, and those certainly
/// not applied.
pub fn failure_ranges(error: &Error) -> Option<(Range<InputId>, Range<InputId>)> {
    match error {
        Error::AppendSession {
            maybe_applied,
            not_applied,
            ..
        } => Some((maybe_applied.clone(), not_applied.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
