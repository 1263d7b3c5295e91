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
//! [`ProtocolError`]. Reconnect advice is followed at most once per
//! [`ADVISED_RECONNECT_INTERVAL`](super::ADVISED_RECONNECT_INTERVAL) and
//! costs no retry; the budget is renewed only by acks.
//!
//! # Call order
//!
//! Submit with [`try_submit`](AppendSession::try_submit) while
//! [`has_capacity`](AppendSession::has_capacity). Drain
//! [`poll_event`](AppendSession::poll_event) and
//! [`poll_transmit`](AppendSession::poll_transmit) after every input. Feed
//! what happens with `handle_connected`, `handle_data`, `handle_end`,
//! `handle_error`, `handle_tail`, `handle_read` and `handle_timeout`; wait
//! until [`poll_timeout`](AppendSession::poll_timeout) otherwise.

use std::{
    collections::VecDeque,
    ops::Range,
    time::{Duration, Instant},
};

use bytes::{Bytes, BytesMut};

use super::{AdviceLimiter, ConnectionId, deadline};
use crate::{
    api::error_from_parts,
    backoff::{Backoff, BackoffConfig},
    error::{AppendConditionFailed, Error, ProtocolError, ValidationError},
    frame::{Compression, Frame, FrameDecoder, FrameLimits, encode_message},
    proto,
    types::{
        AppendAck, AppendInput, ReadLimit, ReadOutput, ReadRequest, ReadStart, SequencedRecord,
        StreamPosition,
    },
};

/// When a batch whose outcome is unknown may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AppendRetryPolicy {
    /// Resend whatever is unacknowledged: at-least-once, so an unconditioned
    /// batch may be duplicated. Conditioned batches are resolved instead.
    #[default]
    All,
    /// Resend only batches that provably did not land; stop otherwise.
    /// Conditioned batches are still resolved exactly-once.
    NoSideEffects,
}

/// Settings of an append session.
#[derive(Debug, Clone, Copy)]
pub struct AppendSessionConfig {
    /// Most metered bytes submitted but not yet acknowledged.
    pub max_unacked_bytes: u64,
    /// Most batches submitted but not yet acknowledged.
    pub max_unacked_batches: usize,
    /// How long a sent batch may wait for its ack before the connection is
    /// presumed broken.
    pub ack_timeout: Duration,
    /// When batches with an unknown outcome are resent.
    pub retry_policy: AppendRetryPolicy,
    /// Retry budget and delays; reset by every ack.
    pub backoff: BackoffConfig,
    /// Seed of the backoff jitter.
    pub seed: u64,
    /// Compression of outgoing frames (bodies under 1 KiB go uncompressed).
    pub compression: Compression,
}

impl Default for AppendSessionConfig {
    fn default() -> Self {
        Self {
            max_unacked_bytes: 5 * 1024 * 1024,
            max_unacked_batches: 1000,
            ack_timeout: Duration::from_secs(10),
            retry_policy: AppendRetryPolicy::All,
            backoff: BackoffConfig::default(),
            seed: 0,
            compression: Compression::None,
        }
    }
}

/// Identifies a submitted input: they are numbered 0, 1, 2, … in submission
/// order.
pub type InputId = u64;

/// What an append session asks of its driver or tells its user.
#[derive(Debug)]
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
    /// Fetch the stream's tail (unary `check_tail`) and pass it to
    /// [`AppendSession::handle_tail`].
    CheckTail,
    /// Perform this unary read and pass the result to
    /// [`AppendSession::handle_read`].
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
    /// (`match_seq_num` plus its records) would overflow.
    Invalid(AppendInput, ValidationError),
}

struct Entry {
    id: InputId,
    input: AppendInput,
    /// The encoded frame until it is first handed to a connection. Once
    /// written it is dropped (a resend encodes the input again), so an
    /// unacknowledged batch is held once, not twice.
    frame: Option<Bytes>,
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

/// What follows a backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    /// Connect again and resend what is unacknowledged.
    Reconnect,
    /// Find out what landed first (exactly-once resolution).
    Resolve,
}

/// How a connection failed, as far as the frames sent on it go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// It broke: what was sent may have been applied, if the error allows.
    Broken,
    /// The service refused the session: nothing sent on it was applied.
    Refused,
}

/// Whether a retry spends the retry budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Budget {
    /// A failure: wait, and count it.
    Spend,
    /// The server announced it (advice, draining): go at once, uncounted.
    /// Rate-limited by [`AdviceLimiter`].
    Free,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No connection (nothing to send, or about to connect).
    Idle,
    /// A connection is open; `sent` entries of `pending` went out on it.
    /// `draining`: the server advised reconnecting, so nothing more is sent
    /// on it and a new connection follows once its acks are in.
    Connected {
        connection: ConnectionId,
        sent: usize,
        draining: bool,
    },
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

/// The state machine of one append session.
pub struct AppendSession {
    config: AppendSessionConfig,
    pending: VecDeque<Entry>,
    pending_bytes: u64,
    next_id: InputId,
    next_match: Option<u64>,
    phase: Phase,
    /// Ack deadline of the oldest in-flight batch.
    ack_deadline: Option<Instant>,
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
            ack_deadline: None,
            acked_end: None,
            advice: AdviceLimiter::default(),
            decoder: FrameDecoder::new(FrameLimits::PROTOCOL),
            backoff: Backoff::new(config.backoff, config.seed),
            next_connection: 0,
            closing: false,
            events: VecDeque::new(),
            encode_buf: BytesMut::new(),
            read_back_start_timestamp: 0,
        }
    }

    /// Whether an input of `metered_bytes` would be accepted now.
    pub fn has_capacity(&self, metered_bytes: u64) -> bool {
        if self.closing || self.phase == Phase::Done {
            return false;
        }
        self.pending.is_empty()
            || (self.pending.len() < self.config.max_unacked_batches
                && self.pending_bytes.saturating_add(metered_bytes)
                    <= self.config.max_unacked_bytes)
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

    /// Queues an input for sending. Once one input carries `match_seq_num`,
    /// later inputs without one get the next expected position; an input
    /// whose position would overflow is refused
    /// ([`ValidationError::MatchSeqNumOverflow`]).
    pub fn try_submit(
        &mut self,
        mut input: AppendInput,
        now: Instant,
    ) -> Result<InputId, SubmitError> {
        if self.closing || self.phase == Phase::Done {
            return Err(SubmitError::Closed(input));
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
        self.encode_buf.clear();
        if let Err(e) = encode_message(&mut self.encode_buf, &input, self.config.compression) {
            // Unreachable for a validated input (<= 1 MiB metered); refuse it
            // rather than poison the session.
            let _ = e;
            return Err(SubmitError::Closed(input));
        }
        let frame = self.encode_buf.split().freeze();
        self.next_match = next_match;
        let id = self.next_id;
        self.next_id += 1;
        self.pending_bytes += input.metered_bytes();
        self.pending.push_back(Entry {
            id,
            input,
            frame: Some(frame),
            attempts: 0,
            maybe_landed: false,
        });
        if self.phase == Phase::Idle {
            self.connect(now);
        }
        Ok(id)
    }

    /// No more inputs: once everything is acknowledged the session emits
    /// [`AppendEvent::Closed`].
    pub fn close(&mut self) {
        self.closing = true;
        self.finish_if_drained();
    }

    /// The next frame to write on a connection. Every frame goes to the
    /// connection it names; frames for an older connection never appear.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<(ConnectionId, Bytes)> {
        let Phase::Connected {
            connection,
            sent,
            draining: false,
        } = &mut self.phase
        else {
            return None;
        };
        let entry = self.pending.get_mut(*sent)?;
        *sent += 1;
        entry.attempts += 1;
        if self.ack_deadline.is_none() {
            self.ack_deadline = Some(deadline(now, self.config.ack_timeout));
        }
        let frame = entry.frame.take().unwrap_or_else(|| {
            self.encode_buf.clear();
            encode_message(&mut self.encode_buf, &entry.input, self.config.compression)
                .expect("the input was encoded at submit, and encoding is deterministic");
            self.encode_buf.split().freeze()
        });
        Some((*connection, frame))
    }

    /// The next event for the driver or the user.
    pub fn poll_event(&mut self) -> Option<AppendEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Backoff { until, .. } => Some(until),
            Phase::Connected { .. } => self.ack_deadline,
            _ => None,
        }
    }

    /// The connection returned a 200.
    pub fn handle_connected(&mut self, connection: ConnectionId, _now: Instant) {
        // Frames may already be in flight; nothing changes until acks come.
        let _ = self.is_current(connection);
    }

    /// Bytes of `connection`'s response body arrived.
    pub fn handle_data(&mut self, connection: ConnectionId, data: Bytes, now: Instant) {
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
                            ProtocolError::Protobuf(e).into(),
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
    pub fn handle_end(&mut self, connection: ConnectionId, now: Instant) {
        if !self.is_current(connection) {
            return;
        }
        if self.pending.is_empty() && self.decoder.finish().is_ok() {
            self.phase = Phase::Idle;
            self.finish_if_drained();
        } else {
            self.handle_failure(
                Error::transport(true, "session ended with batches unacked"),
                now,
                Failure::Broken,
            );
        }
    }

    /// `connection` failed (no 200, or a transport error).
    pub fn handle_error(&mut self, connection: ConnectionId, error: Error, now: Instant) {
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
    pub fn handle_rejected(&mut self, connection: ConnectionId, error: Error, now: Instant) {
        if self.is_current(connection) {
            let failure = if error.may_have_side_effect() {
                Failure::Broken
            } else {
                Failure::Refused
            };
            self.handle_failure(error, now, failure);
        }
    }

    /// The clock reached `now`. Harmless when nothing is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::Backoff { until, then } if now >= until => match then {
                Then::Resolve => {
                    self.phase = Phase::AwaitTail;
                    self.events.push_back(AppendEvent::CheckTail);
                }
                Then::Reconnect => self.connect(now),
            },
            Phase::Connected { .. } if self.ack_deadline.is_some_and(|d| now >= d) => {
                self.handle_failure(
                    Error::Timeout(self.config.ack_timeout),
                    now,
                    Failure::Broken,
                );
            }
            _ => {}
        }
    }

    /// The answer to [`AppendEvent::CheckTail`].
    pub fn handle_tail(&mut self, tail: Result<StreamPosition, Error>, now: Instant) {
        if self.phase != Phase::AwaitTail {
            return;
        }
        match tail {
            Ok(tail) => self.resolve(tail, now),
            Err(e) => self.retry_or_fail(e, Then::Resolve, Budget::Spend, now),
        }
    }

    /// The answer to [`AppendEvent::Read`].
    pub fn handle_read(&mut self, output: Result<ReadOutput, Error>, now: Instant) {
        let Phase::AwaitRead { cursor, end, tail } = self.phase else {
            return;
        };
        let records = match output {
            Ok(ReadOutput::Batch(batch)) => batch.records,
            // Records this session may have written cannot be read back
            // (trimmed, say): their outcome stays unknown.
            Ok(ReadOutput::Tail(t)) => {
                let reason = format!("the tail is at {}, before the read-back", t.seq_num);
                return self.fail(Error::Protocol(ProtocolError::Inconsistent(reason.into())));
            }
            Err(e) => return self.retry_or_fail(e, Then::Resolve, Budget::Spend, now),
        };
        if records.first().is_none_or(|r| r.seq_num != cursor) {
            return self.fail(Error::Protocol(ProtocolError::Inconsistent(
                format!("records from {cursor} could not be read back").into(),
            )));
        }
        let mut cursor = cursor;
        for record in &records {
            if record.seq_num != cursor {
                return self.conflict(cursor, "records missing where this session wrote", now);
            }
            if let Err(reason) = self.verify(record) {
                return self.conflict(cursor, reason, now);
            }
            if self
                .pending
                .front()
                .is_some_and(|e| e.input.match_seq_num() == Some(cursor))
            {
                self.read_back_start_timestamp = record.timestamp;
            }
            cursor += 1;
            self.ack_verified_prefix(cursor, tail, record.timestamp);
            if cursor == end {
                break;
            }
        }
        if cursor < end {
            self.phase = Phase::AwaitRead { cursor, end, tail };
            self.events
                .push_back(AppendEvent::Read(read_back(cursor, end)));
        } else {
            // What lies wholly before the tail is verified; decide the rest.
            self.resolve(tail, now);
        }
    }

    fn is_current(&self, connection: ConnectionId) -> bool {
        matches!(self.phase, Phase::Connected { connection: c, .. } if c == connection)
    }

    fn connect(&mut self, _now: Instant) {
        let connection = ConnectionId(self.next_connection);
        self.next_connection += 1;
        self.decoder = FrameDecoder::new(FrameLimits::PROTOCOL);
        self.ack_deadline = None;
        self.phase = Phase::Connected {
            connection,
            sent: 0,
            draining: false,
        };
        self.events.push_back(AppendEvent::Connect(connection));
    }

    fn handle_ack(&mut self, ack: proto::AppendAck, now: Instant) {
        let Phase::Connected { sent, .. } = self.phase else {
            return;
        };
        if sent == 0 {
            // The server's view of the session is not ours: none of its acks
            // can be trusted, so stop rather than reconnect to it quietly.
            let reason = "an ack arrived for a batch never sent";
            return self.fail(ProtocolError::Inconsistent(reason.into()).into());
        }
        let ack = match AppendAck::try_from(ack) {
            Ok(ack) => ack,
            Err(e) => return self.handle_failure(e.into(), now, Failure::Broken),
        };
        if let Err(reason) = self.check_ack(&ack) {
            return self.handle_failure(
                ProtocolError::Inconsistent(reason.into()).into(),
                now,
                Failure::Broken,
            );
        }
        self.acked_end = Some(ack.end.seq_num);
        if let Phase::Connected { sent, .. } = &mut self.phase {
            *sent -= 1;
        }
        self.complete_front(ack);
        self.ack_deadline = (sent > 1).then(|| deadline(now, self.config.ack_timeout));
        self.backoff.reset();
        self.finish_if_drained();
        if let Phase::Connected {
            connection,
            sent: 0,
            draining: true,
        } = self.phase
        {
            self.events.push_back(AppendEvent::Disconnect(connection));
            self.phase = Phase::Idle;
            if !self.pending.is_empty() {
                self.connect(now);
            }
        }
    }

    /// Whether `ack` fits the oldest batch and the acks before it (`start
    /// <= end <= tail` is checked on decoding): it covers the batch's
    /// records, at its `match_seq_num` if it has one, and starts at or after
    /// the end of every earlier ack of the session (batches apply in order,
    /// on a log that only grows). Anything else is a server acknowledging
    /// what it was not sent, and no ack of it can be trusted.
    ///
    /// Unconditioned acks need not be contiguous, even on one connection:
    /// the service admits each batch of a session on its own, so other
    /// writers' appends may land between two of them. Conditioned ones are,
    /// through their `match_seq_num`.
    fn check_ack(&self, ack: &AppendAck) -> Result<(), String> {
        let entry = &self.pending[0];
        let start = ack.start.seq_num;
        let misfit = ack
            .misfit(entry.input.len(), entry.input.match_seq_num())
            .or_else(|| {
                self.acked_end
                    .is_some_and(|e| start < e)
                    .then_some("it starts before the previous ack ended")
            });
        match misfit {
            Some(what) => Err(format!(
                "ack {start}..{} does not fit batch {} of {} records: {what}",
                ack.end.seq_num,
                entry.id,
                entry.input.len()
            )),
            None => Ok(()),
        }
    }

    /// The server advised reconnecting on `connection`: follow the advice
    /// unless an advised reconnect happened recently (then the connection
    /// stays until it fails).
    fn handle_advice(&mut self, connection: ConnectionId, now: Instant) {
        let draining = matches!(
            self.phase,
            Phase::Connected { connection: c, draining: true, .. } if c == connection
        );
        if self.is_current(connection) && !draining && self.advice.try_acquire(now) {
            self.start_draining(connection, now);
        }
    }

    /// Send nothing more on `connection`, and move to a new one once what is
    /// in flight is acknowledged. Free of the retry budget: nothing failed.
    fn start_draining(&mut self, connection: ConnectionId, now: Instant) {
        if let Phase::Connected {
            connection: c,
            sent,
            draining,
        } = &mut self.phase
            && *c == connection
        {
            *draining = true;
            if *sent == 0 {
                self.events.push_back(AppendEvent::Disconnect(connection));
                self.phase = Phase::Idle;
                if !self.pending.is_empty() {
                    self.connect(now);
                }
            }
        }
    }

    /// Pops the oldest entry and reports its ack.
    fn complete_front(&mut self, ack: AppendAck) {
        if let Some(entry) = self.pending.pop_front() {
            self.pending_bytes -= entry.input.metered_bytes();
            self.events
                .push_back(AppendEvent::Ack { id: entry.id, ack });
        }
    }

    fn finish_if_drained(&mut self) {
        if self.closing && self.pending.is_empty() && self.phase != Phase::Done {
            self.phase = Phase::Done;
            self.events.push_back(AppendEvent::Closed);
        }
    }

    /// The current connection failed with `error`.
    fn handle_failure(&mut self, error: Error, now: Instant, failure: Failure) {
        let (sent, advised) = match self.phase {
            Phase::Connected {
                sent,
                connection,
                draining,
            } => {
                self.events.push_back(AppendEvent::Disconnect(connection));
                (sent, draining)
            }
            _ => (0, false),
        };
        self.phase = Phase::Idle;
        self.ack_deadline = None;
        if self.pending.is_empty() {
            // Nothing at stake: reconnect on the next submit.
            self.finish_if_drained();
            return;
        }
        if let Error::AppendCondition(AppendConditionFailed::SeqNumMismatch { expected }) = error {
            let front = &self.pending[0];
            if front.attempts > 1 || self.pending.iter().any(|e| e.maybe_landed) {
                // An earlier attempt may have landed: find out (after a
                // backoff, so a server repeating itself cannot spin us).
                let cause = format!("the tail is at {expected}: resolving an unknown outcome");
                let error = Error::transport(true, cause);
                return self.retry_or_fail(error, Then::Resolve, Budget::Spend, now);
            }
            // A first attempt, and nothing of the session's may be on the
            // stream: another writer got there first, and none of the
            // unacknowledged inputs was applied.
            return self.conflict(
                expected,
                "the stream's tail is not where this session's next batch was to go",
                now,
            );
        }
        if error.may_have_side_effect() && failure == Failure::Broken {
            for entry in self.pending.iter_mut().take(sent) {
                entry.maybe_landed = true;
            }
        }
        let unknown = self.pending.iter().any(|e| e.maybe_landed);
        let conditioned = self.pending[0].input.match_seq_num().is_some();
        if !error.is_retryable() {
            return self.fail(error);
        }
        // A connection the server said it would drop (advice, or a
        // draining server) going away is no failure of ours.
        let budget = if advised
            || (error.code() == Some("server_draining") && self.advice.try_acquire(now))
        {
            Budget::Free
        } else {
            Budget::Spend
        };
        if unknown && conditioned {
            return self.retry_or_fail(error, Then::Resolve, budget, now);
        }
        if unknown && self.config.retry_policy == AppendRetryPolicy::NoSideEffects {
            return self.fail(error);
        }
        self.retry_or_fail(error, Then::Reconnect, budget, now)
    }

    /// Backs off, then resolves or reconnects; fails when the budget is
    /// spent.
    fn retry_or_fail(&mut self, error: Error, then: Then, budget: Budget, now: Instant) {
        if !error.is_retryable() {
            return self.fail(error);
        }
        let delay = match budget {
            Budget::Free => Some(Duration::ZERO),
            Budget::Spend => self.backoff.next_delay(error.retry_after()),
        };
        match delay {
            Some(delay) => {
                self.phase = Phase::Backoff {
                    until: deadline(now, delay),
                    then,
                }
            }
            None => self.fail(error),
        }
    }

    /// Starts exactly-once resolution with the stream's tail.
    fn resolve(&mut self, tail: StreamPosition, now: Instant) {
        let Some(first) = self.pending.front().and_then(|e| e.input.match_seq_num()) else {
            return self.after_resolution(now);
        };
        if tail.seq_num < first {
            return self.conflict(
                tail.seq_num,
                "the tail is before this session's batches",
                now,
            );
        }
        // Read back the batches that may have landed and lie wholly before
        // the tail; the ones after them are decided once those are verified.
        // A batch that never left the client, or whose every attempt
        // provably failed, cannot be on the stream: whatever is at its place
        // belongs to another writer, even if it is byte-identical.
        let mut end = first;
        for entry in &self.pending {
            let (Some(m), Some(batch_end)) = (entry.input.match_seq_num(), entry.end()) else {
                break;
            };
            if m != end || !entry.maybe_landed || batch_end > tail.seq_num {
                break;
            }
            end = batch_end;
        }
        if end > first {
            self.phase = Phase::AwaitRead {
                cursor: first,
                end,
                tail,
            };
            self.events
                .push_back(AppendEvent::Read(read_back(first, end)));
        } else if tail.seq_num == first {
            self.after_resolution(now);
        } else if !self.pending[0].maybe_landed {
            self.conflict(
                first,
                "records of another writer are where a batch was to go that was never applied",
                now,
            );
        } else {
            // Batches land whole: a tail inside this one means another
            // writer's records are where it was to go.
            self.conflict(tail.seq_num, "the tail lies inside a batch", now);
        }
    }

    /// Compares a read-back record with the one this session sent there.
    fn verify(&self, record: &SequencedRecord) -> Result<(), &'static str> {
        for entry in &self.pending {
            let Some(m) = entry.input.match_seq_num() else {
                break;
            };
            let Some(offset) = record.seq_num.checked_sub(m) else {
                continue;
            };
            if let Some(sent) = usize::try_from(offset)
                .ok()
                .and_then(|i| entry.input.records().get(i))
            {
                return if record.has_contents_of(sent) {
                    Ok(())
                } else {
                    Err("a record differs from what this session sent")
                };
            }
        }
        Err("a record lies outside this session's batches")
    }

    /// Acknowledges every pending batch that ends at or before `cursor`,
    /// from the read-back: `last_timestamp` is that of record `cursor - 1`.
    fn ack_verified_prefix(&mut self, cursor: u64, tail: StreamPosition, last_timestamp: u64) {
        while let Some(entry) = self.pending.front() {
            let (Some(m), Some(end)) = (entry.input.match_seq_num(), entry.end()) else {
                return;
            };
            if end > cursor {
                return;
            }
            let ack = AppendAck {
                start: StreamPosition {
                    seq_num: m,
                    timestamp: self.read_back_start_timestamp,
                },
                end: StreamPosition {
                    seq_num: end,
                    timestamp: last_timestamp,
                },
                tail,
            };
            self.acked_end = Some(end);
            self.complete_front(ack);
            self.backoff.reset();
        }
    }

    /// Resolution done: what is left is not on the stream; send it again.
    /// (`maybe_landed` stays: an abandoned connection may still deliver a
    /// stale attempt, which its condition then keeps from landing twice.)
    fn after_resolution(&mut self, now: Instant) {
        if self.pending.is_empty() {
            self.phase = Phase::Idle;
            self.finish_if_drained();
        } else {
            self.connect(now);
        }
    }

    fn conflict(
        &mut self,
        seq_num: u64,
        reason: impl Into<std::borrow::Cow<'static, str>>,
        _now: Instant,
    ) {
        for entry in &mut self.pending {
            entry.maybe_landed = false;
        }
        self.fail(Error::WriterConflict {
            seq_num,
            reason: reason.into(),
        });
    }

    /// Stops the session, reporting which unacked inputs may have landed.
    fn fail(&mut self, cause: Error) {
        let first = self.pending.front().map_or(self.next_id, |e| e.id);
        let maybe_end = self
            .pending
            .iter()
            .rposition(|e| e.maybe_landed)
            .map_or(first, |i| self.pending[i].id + 1);
        self.events
            .push_back(AppendEvent::Failed(Error::AppendSession {
                cause: Box::new(cause),
                maybe_applied: first..maybe_end,
                not_applied: maybe_end..self.next_id,
            }));
        self.pending.clear();
        self.pending_bytes = 0;
        self.phase = Phase::Done;
    }
}

/// A unary read of `[from, to)`, at most one request's worth.
fn read_back(from: u64, to: u64) -> ReadRequest {
    ReadRequest::new(ReadStart::SeqNum(from)).with_limit(ReadLimit::count((to - from).min(1000)))
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
