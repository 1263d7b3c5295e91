//! The read session state machine.
//!
//! It tracks the next position and the remaining count/bytes budget, resumes
//! after any failure from the record after the last one delivered (no gap, no
//! duplicate), watches heartbeats, and reports when it has caught up with the
//! tail.
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

use super::{ConnectionId, DEFAULT_HEARTBEAT_TIMEOUT};
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
    /// The start was past the tail (and `clamp` was off): this is the tail.
    /// The session is over.
    Tail(StreamPosition),
    /// Every bound (count, bytes, until) is met: the session is over.
    Finished,
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
    caught_up: bool,
    phase: Phase,
    decoder: FrameDecoderBox,
    backoff: Backoff,
    next_connection: u64,
    events: VecDeque<ReadEvent>,
}

/// A frame decoder that is debug-printable.
struct FrameDecoderBox(FrameDecoder);

impl std::fmt::Debug for FrameDecoderBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FrameDecoder")
    }
}

impl FrameDecoderBox {
    fn fresh() -> Self {
        Self(FrameDecoder::new(FrameLimits::PROTOCOL))
    }
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
            caught_up: false,
            phase: Phase::Done,
            decoder: FrameDecoderBox::fresh(),
            backoff: Backoff::new(config.backoff, config.seed),
            next_connection: 0,
            events: VecDeque::new(),
        };
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

    /// The read that remains: where to resume and what budget is left.
    pub fn remaining_request(&self) -> ReadRequest {
        let mut request = self.request.clone();
        if let Some(next) = self.next_seq_num {
            request.start = ReadStart::SeqNum(next);
        }
        request.limit.count = self.remaining_count;
        request.limit.bytes = self.remaining_bytes;
        request.wait_secs = None;
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
        self.decoder.0.handle_data(data);
        loop {
            match self.decoder.0.poll_frame() {
                Ok(Some(frame)) => {
                    if !self.handle_frame(frame, now) {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    let error = ProtocolError::Frame(e.to_string()).into();
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
        if let Err(e) = self.decoder.0.finish() {
            self.handle_failure(ProtocolError::Frame(e.to_string()).into(), now);
            return;
        }
        if self.request.limit.is_bounded() || self.request.until.is_some() {
            // A bounded session ends when the service has nothing more that
            // satisfies the bounds.
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
                deadline,
            } if *c == connection => {
                *deadline = now + self.config.heartbeat_timeout;
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
                let batch = match <proto::ReadBatch as prost::Message>::decode(payload) {
                    Ok(batch) => batch,
                    Err(e) => {
                        self.fail(ProtocolError::Protobuf(e).into());
                        return false;
                    }
                };
                if let Err(error) = self.accept_batch(batch) {
                    self.fail(error.into());
                    return false;
                }
                if self.is_finished() {
                    return false;
                }
                if reconnect_advised {
                    // The server is about to go away: move before it does.
                    self.reconnect_after(Duration::ZERO, now);
                    return false;
                }
                true
            }
        }
    }

    fn accept_batch(&mut self, batch: proto::ReadBatch) -> Result<(), ProtocolError> {
        let proto::ReadBatch { mut records, tail } = batch;
        check_read_batch_order(&records, None)?;
        // A healthy message: the connection works, so failures start over.
        self.backoff.reset();
        // Records before what was delivered would be duplicates: drop them.
        if let Some(next) = self.next_seq_num {
            let repeated = records.partition_point(|r| r.seq_num < next);
            records.drain(..repeated);
        }
        let count = records.len() as u64;
        let bytes = records.metered_bytes();
        if self.remaining_count.is_some_and(|c| count > c)
            || self.remaining_bytes.is_some_and(|b| bytes > b)
        {
            return Err(ProtocolError::Inconsistent(
                "read batch exceeds the requested limit".into(),
            ));
        }
        if let Some(until) = self.request.until
            && records.iter().any(|r| r.timestamp >= until)
        {
            return Err(ProtocolError::Inconsistent(
                "read batch has records at or after `until`".into(),
            ));
        }
        if let Some(last) = records.last() {
            self.next_seq_num = Some(last.seq_num + 1);
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
            self.finish(ReadEvent::Tail(tail));
            return;
        }
        if !error.is_retryable() {
            self.fail(error);
            return;
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
            self.phase = Phase::Backoff { until: now + delay };
        }
    }

    fn connect(&mut self, now: Instant) {
        let connection = ConnectionId(self.next_connection);
        self.next_connection += 1;
        self.decoder = FrameDecoderBox::fresh();
        self.phase = Phase::Connected {
            connection,
            deadline: now + self.config.heartbeat_timeout,
        };
        self.events.push_back(ReadEvent::Connect {
            connection,
            request: self.remaining_request(),
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

#[cfg(test)]
mod tests;
