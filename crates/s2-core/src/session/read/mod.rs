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
//! a [`ProtocolError`]: a server that contradicts itself cannot be read
//! exactly-once. Within one connection records are contiguous; a gap there
//! is also a [`ProtocolError`], but it ends only the connection: a trim (or
//! retention) may delete records ahead of a lagging reader, so the session
//! resumes from the record after the last one delivered, and accepts a
//! first record past it on the new connection. A server that keeps
//! skipping records spends the retry budget and fails the session.
//!
//! Call order: after [`ReadSession::new`], drain
//! [`poll_event`](ReadSession::poll_event) (the first event is a
//! [`ReadEvent::Connect`]). Then, as things happen, call
//! [`handle_connected`](ReadSession::handle_connected),
//! [`handle_data`](ReadSession::handle_data),
//! [`handle_end`](ReadSession::handle_end),
//! [`handle_error`](ReadSession::handle_error) or
//! [`handle_timeout`](ReadSession::handle_timeout), and after each drain
//! `poll_event` again. Wait until [`poll_timeout`](ReadSession::poll_timeout)
//! if nothing else happens.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use bytes::Bytes;

use super::{AdviceLimiter, ConnectionId, DEFAULT_HEARTBEAT_TIMEOUT, deadline};
use crate::{
    api::error_from_parts,
    backoff::{Backoff, BackoffConfig},
    error::{Error, ProtocolError},
    frame::{Frame, FrameDecoder, FrameLimits},
    proto,
    types::{
        MeteredBytes, ReadBatch, ReadRequest, ReadStart, StreamPosition, check_read_batch_order,
    },
};

/// How long a connection that delivered frames must have lasted for its
/// failure to count as a new one, with a fresh retry budget: a session on a
/// quiet stream whose connections are cut now and then (load balancers) must
/// not use up its budget over its lifetime, while a server that answers and
/// then fails at once must not reset it.
const STABLE_CONNECTION: Duration = Duration::from_secs(60);

/// Settings of a read session.
#[derive(Debug, Clone, Copy)]
pub struct ReadSessionConfig {
    /// Silence after which a connection is presumed dead and replaced.
    pub heartbeat_timeout: Duration,
    /// Retry budget and delays between reconnections.
    pub backoff: BackoffConfig,
    /// Seed of the backoff jitter.
    pub seed: u64,
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

/// What a read session asks of its driver or tells its user.
#[derive(Debug)]
pub enum ReadEvent {
    /// Open a session with this request (dropping any current connection).
    Connect {
        /// Identifies the connection in later `handle_*` calls.
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

#[derive(Debug)]
enum Phase {
    /// Waiting for the backoff delay before reconnecting.
    Backoff { until: Instant },
    /// A connection is open or opening; `deadline` is the heartbeat watchdog.
    Connected {
        connection: ConnectionId,
        deadline: Instant,
        /// When it was asked for.
        opened: Instant,
        /// Whether it delivered a valid message: from then on its records
        /// must follow the last one delivered without a gap.
        heard: bool,
    },
    /// Over.
    Done,
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

/// Why a read message was refused.
enum Refusal {
    /// The server contradicts what it said before: the session fails.
    Fatal(ProtocolError),
    /// Records are missing within a connection: resume from the next one.
    Gap(ProtocolError),
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
            backoff: Backoff::new(config.backoff, config.seed),
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

    /// The connection with this id returned a 200: the session is open.
    pub fn handle_connected(&mut self, connection: ConnectionId, now: Instant) {
        self.touch(connection, now);
    }

    /// Bytes of the response body of `connection` arrived.
    pub fn handle_data(&mut self, connection: ConnectionId, data: Bytes, now: Instant) {
        if !self.touch(connection, now) {
            return;
        }
        self.decoder.handle_data(data);
        loop {
            match self.decoder.poll_frame() {
                Ok(Some(frame)) => {
                    if !self.handle_frame(frame, now) {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    let error = ProtocolError::Frame(e).into();
                    self.fail(error);
                    return;
                }
            }
        }
    }

    /// The response body of `connection` ended without error.
    pub fn handle_end(&mut self, connection: ConnectionId, now: Instant) {
        if !self.is_current(connection) {
            return;
        }
        if let Err(e) = self.decoder.finish() {
            self.handle_failure(ProtocolError::Frame(e).into(), now);
            return;
        }
        if self.ended_short() {
            // Records the server itself reported are missing, and only a
            // count bounds the read: it did not end, it was cut. Resume.
            let cause = "the server ended a read before its count or the tail it reported";
            self.handle_failure(Error::transport(true, cause), now);
        } else if self.stops_at_tail() || self.wait_ran_out(now) {
            // A bounded session ends when the service has nothing more that
            // satisfies the bounds; any session, once its wait ran out.
            self.finish(ReadEvent::Finished);
        } else {
            // An unbounded session never ends by itself: the server went
            // away. Reconnect through the backoff, so a server that keeps
            // ending sessions cannot make us spin.
            self.handle_failure(Error::transport(true, "the server ended the session"), now);
        }
    }

    /// `connection` failed: no 200, a transport error, or an unreadable
    /// body.
    pub fn handle_error(&mut self, connection: ConnectionId, error: Error, now: Instant) {
        if self.is_current(connection) {
            self.handle_failure(error, now);
        }
    }

    /// The clock reached `now`. Harmless when nothing is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::Backoff { until } if now >= until => self.connect(now),
            Phase::Connected { deadline, .. } if now >= deadline => {
                let silence = self.config.heartbeat_timeout;
                self.handle_failure(
                    Error::transport(true, format!("no heartbeat for {silence:?}")),
                    now,
                );
            }
            _ => {}
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Backoff { until } => Some(until),
            Phase::Connected { deadline, .. } => Some(deadline),
            Phase::Done => None,
        }
    }

    /// The next event for the driver or the user.
    pub fn poll_event(&mut self) -> Option<ReadEvent> {
        self.events.pop_front()
    }

    fn is_current(&self, connection: ConnectionId) -> bool {
        matches!(self.phase, Phase::Connected { connection: c, .. } if c == connection)
    }

    /// Records activity on `connection`; false if it is not the current one.
    fn touch(&mut self, connection: ConnectionId, now: Instant) -> bool {
        match &mut self.phase {
            Phase::Connected {
                connection: c,
                deadline: watchdog,
                ..
            } if *c == connection => {
                *watchdog = deadline(now, self.config.heartbeat_timeout);
                true
            }
            _ => false,
        }
    }

    /// Handles one frame; false when the session stopped reading this
    /// connection.
    fn handle_frame(&mut self, frame: Frame, now: Instant) -> bool {
        match frame {
            Frame::Terminal { status, body } => {
                let error = error_from_parts(status, &body, None);
                self.handle_failure(error, now);
                false
            }
            Frame::Message {
                payload,
                reconnect_advised,
            } => {
                if reconnect_advised && let Phase::Connected { connection, .. } = self.phase {
                    self.events.push_back(ReadEvent::Advised(connection));
                }
                let batch = match crate::api::decode_read_batch(payload) {
                    Ok(batch) => batch,
                    Err(e) => {
                        self.fail(e.into());
                        return false;
                    }
                };
                match self.accept_batch(batch, now) {
                    Ok(()) => {}
                    Err(Refusal::Fatal(error)) => {
                        self.fail(error.into());
                        return false;
                    }
                    Err(Refusal::Gap(error)) => {
                        self.retry(error.into(), now);
                        return false;
                    }
                }
                if let Phase::Connected { heard, .. } = &mut self.phase {
                    *heard = true;
                }
                if self.is_finished() {
                    return false;
                }
                if reconnect_advised && self.advice.try_acquire(now) {
                    // The server is about to go away: move before it does.
                    // Not a failure, so free of the retry budget; rate
                    // limited, so advice on every frame cannot make us spin.
                    self.reconnect_after(Duration::ZERO, now);
                    return false;
                }
                true
            }
        }
    }

    fn accept_batch(&mut self, batch: proto::ReadBatch, now: Instant) -> Result<(), Refusal> {
        let proto::ReadBatch { mut records, tail } = batch;
        check_read_batch_order(&records, None).map_err(Refusal::Fatal)?;
        let next = self.check_positions(&records)?;
        if let (Some(tail), Some(next)) = (tail, next)
            && tail.seq_num < next
        {
            return Err(Refusal::Fatal(inconsistent(format!(
                "the tail {} is before {next}, up to which records were delivered",
                tail.seq_num
            ))));
        }
        if let Some(tail) = tail {
            self.known_tail = Some(
                self.known_tail
                    .map_or(tail.seq_num, |k| k.max(tail.seq_num)),
            );
        }
        if !records.is_empty() {
            // Real progress: failures start over. (Not on any message: a
            // server that answers and fails at once must not reset it.)
            self.backoff.reset();
            // The service measures the wait between records, commands too.
            self.restart_wait(now);
        }
        let count = records.len() as u64;
        let bytes = records.metered_bytes();
        if self.remaining_count.is_some_and(|c| count > c)
            || self.remaining_bytes.is_some_and(|b| bytes > b)
        {
            return Err(Refusal::Fatal(inconsistent(
                "read batch exceeds the requested limit",
            )));
        }
        if let Some(until) = self.request.until
            && records.iter().any(|r| r.timestamp >= until)
        {
            return Err(Refusal::Fatal(inconsistent(
                "read batch has records at or after `until`",
            )));
        }
        if !records.is_empty() {
            self.next_seq_num = next;
        } else if self.next_seq_num.is_none()
            && let Some(tail) = tail
            && self.adopts_tail(tail)
        {
            // A heartbeat before any record: resume from the tail it reports,
            // so a reconnect does not re-resolve a timestamp or offset.
            self.next_seq_num = Some(tail.seq_num);
        }
        self.remaining_count = self.remaining_count.map(|c| c - count);
        self.remaining_bytes = self.remaining_bytes.map(|b| b - bytes);

        if self.request.ignore_command_records {
            records.retain(|r| !r.is_command());
        }
        let at_tail = match (tail, self.next_seq_num) {
            (Some(tail), Some(next)) => next >= tail.seq_num,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if !records.is_empty() {
            self.events
                .push_back(ReadEvent::Batch(ReadBatch { records, tail }));
        }
        match (at_tail, tail) {
            (true, Some(tail)) if !self.caught_up => {
                self.caught_up = true;
                self.events.push_back(ReadEvent::CaughtUp(tail));
            }
            (false, _) if count > 0 => self.caught_up = false,
            _ => {}
        }
        if self.budget_exhausted() {
            self.finish(ReadEvent::Finished);
        }
        Ok(())
    }

    /// Checks where `records` lie against what was delivered and requested;
    /// returns the position after them (the current one if there are none).
    /// `records` are strictly increasing.
    fn check_positions(&self, records: &[proto::SequencedRecord]) -> Result<Option<u64>, Refusal> {
        let Some(first) = records.first() else {
            return Ok(self.next_seq_num);
        };
        // A clamped start past the tail reads from the tail, before it.
        let floor = self.next_seq_num.or(match self.request.start {
            ReadStart::SeqNum(start) if !self.request.clamp => Some(start),
            ReadStart::SeqNum(_) | ReadStart::Timestamp(_) | ReadStart::TailOffset(_) => None,
        });
        if let Some(floor) = floor
            && first.seq_num < floor
        {
            return Err(Refusal::Fatal(inconsistent(format!(
                "record {} is before {floor}, where the read stands",
                first.seq_num
            ))));
        }
        let heard = matches!(self.phase, Phase::Connected { heard: true, .. });
        // The first record of a connection may lie past the position (what
        // was between is trimmed); after it, nothing may be missing.
        let mut expected = if heard { self.next_seq_num } else { None };
        for record in records {
            if expected.is_some_and(|e| e != record.seq_num) {
                return Err(Refusal::Gap(inconsistent(format!(
                    "record {} follows {} on one connection",
                    record.seq_num,
                    expected.map_or(0, |e| e.saturating_sub(1))
                ))));
            }
            let Some(after) = record.seq_num.checked_add(1) else {
                return Err(Refusal::Fatal(inconsistent(
                    "a record at the last sequence number: no position follows it",
                )));
            };
            expected = Some(after);
        }
        Ok(expected)
    }

    /// Starts the request's wait over at `now`.
    fn restart_wait(&mut self, now: Instant) {
        self.wait_until = self
            .request
            .wait_secs
            .map(|secs| deadline(now, Duration::from_secs(secs.into())));
    }

    /// What is left at `now` of the request's wait, if it has one.
    fn remaining_wait(&self, now: Instant) -> Option<Duration> {
        self.wait_until
            .map(|until| until.saturating_duration_since(now))
    }

    /// Whether the session had a wait and less than a second of it is left:
    /// the service ends a session whose wait ran out, and a reconnect could
    /// only ask for none.
    fn wait_ran_out(&self, now: Instant) -> bool {
        self.remaining_wait(now)
            .is_some_and(|left| left < Duration::from_secs(1))
    }

    /// Whether the session ends once it reaches the tail (it is bounded),
    /// instead of following it.
    fn stops_at_tail(&self) -> bool {
        self.request.limit.is_bounded() || self.request.until.is_some()
    }

    /// Whether a clean end of a count-bounded read came before both its
    /// count and the tail the server reported. A byte limit or `until` can
    /// end a read early for reasons this side cannot see (the next record
    /// does not fit, or is too late), so only a count alone is judged.
    fn ended_short(&self) -> bool {
        let count_only = self.request.limit.bytes.is_none() && self.request.until.is_none();
        count_only
            && self.remaining_count.is_some_and(|c| c > 0)
            && matches!((self.known_tail, self.next_seq_num), (Some(t), Some(n)) if t > n)
    }

    /// Whether a heartbeat's tail, before any record, is where this read
    /// resumes: yes for starts relative to time or the tail, and for a
    /// clamped start past the tail; an explicit earlier start stays.
    fn adopts_tail(&self, tail: StreamPosition) -> bool {
        match self.request.start {
            ReadStart::Timestamp(_) | ReadStart::TailOffset(_) => true,
            ReadStart::SeqNum(start) => start >= tail.seq_num,
        }
    }

    fn budget_exhausted(&self) -> bool {
        self.remaining_count == Some(0) || self.remaining_bytes == Some(0)
    }

    fn handle_failure(&mut self, error: Error, now: Instant) {
        if let Error::ReadPastTail { tail } = error {
            return self.handle_past_tail(tail, now);
        }
        if !error.is_retryable() {
            return self.fail(error);
        }
        if error.code() == Some("server_draining") && self.advice.try_acquire(now) {
            // The server is going away, as if it had advised reconnecting:
            // no failure of ours, so free of the retry budget.
            return self.reconnect_after(Duration::ZERO, now);
        }
        self.retry(error, now);
    }

    /// The service refused the read with a 416: the start is past (or, for
    /// a read that does not wait, at) the tail.
    fn handle_past_tail(&mut self, tail: StreamPosition, now: Instant) {
        // No position of our own yet: the caller's start is past the tail.
        let Some(next) = self.next_seq_num else {
            return self.finish(ReadEvent::Tail(tail));
        };
        // A resume: everything before `next` was delivered, so the tail is
        // at least `next`, and the resume is refused only at the tail.
        if tail.seq_num != next {
            return self.fail(
                inconsistent(format!(
                    "a resume from {next} was refused with the tail at {}",
                    tail.seq_num
                ))
                .into(),
            );
        }
        if self.stops_at_tail() {
            // Caught up: a bounded read has nothing more to deliver.
            return self.finish(ReadEvent::Finished);
        }
        if !self.caught_up {
            self.caught_up = true;
            self.events.push_back(ReadEvent::CaughtUp(tail));
        }
        // A tailing read keeps following (the resume is clamped), through
        // the backoff: a server that keeps refusing must not spin us.
        self.retry(Error::ReadPastTail { tail }, now);
    }

    /// Reconnects after a backoff, or fails with `error` once the budget is
    /// spent. A connection that lasted counts as progress.
    fn retry(&mut self, error: Error, now: Instant) {
        if let Phase::Connected {
            opened,
            heard: true,
            ..
        } = self.phase
            && now.saturating_duration_since(opened) >= STABLE_CONNECTION
        {
            self.backoff.reset();
        }
        match self.backoff.next_delay(error.retry_after()) {
            Some(delay) => self.reconnect_after(delay, now),
            None => self.fail(error),
        }
    }

    fn reconnect_after(&mut self, delay: Duration, now: Instant) {
        if delay.is_zero() {
            self.connect(now);
        } else {
            self.phase = Phase::Backoff {
                until: deadline(now, delay),
            };
        }
    }

    fn connect(&mut self, now: Instant) {
        let connection = ConnectionId(self.next_connection);
        self.next_connection += 1;
        self.decoder = FrameDecoder::new(FrameLimits::PROTOCOL);
        self.phase = Phase::Connected {
            connection,
            deadline: deadline(now, self.config.heartbeat_timeout),
            opened: now,
            heard: false,
        };
        self.events.push_back(ReadEvent::Connect {
            connection,
            request: self.remaining_request(now),
        });
    }

    fn finish(&mut self, event: ReadEvent) {
        self.phase = Phase::Done;
        self.events.push_back(event);
    }

    fn fail(&mut self, error: Error) {
        self.finish(ReadEvent::Failed(error));
    }
}

fn inconsistent(reason: impl Into<std::borrow::Cow<'static, str>>) -> ProtocolError {
    ProtocolError::Inconsistent(reason.into())
}

#[cfg(test)]
mod tests;
