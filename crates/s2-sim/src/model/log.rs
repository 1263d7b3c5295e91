//! One stream's log: its records, tail, fencing token and trim point, and
//! the appends and reads on it, with s2-lite's rules (conditions checked
//! before anything is applied, timestamps never going backwards, command
//! records taking effect as they are sequenced).

use std::task::Waker;

use s2_core::types::{
    AppendAck, AppendInput, Command, MeteredBytes, SequencedRecord, StreamConfig, StreamPosition,
    TimestampingMode,
};

use super::error::ServiceError;

/// Most records in one batch read from storage (s2-lite's
/// `RECORD_BATCH_MAX`).
pub(crate) const BATCH_MAX_RECORDS: usize = 1000;
/// Most metered bytes in one batch read from storage.
pub(crate) const BATCH_MAX_BYTES: u64 = 1024 * 1024;
/// Longest fencing token.
const MAX_FENCING_TOKEN_BYTES: usize = 36;

/// Where a read starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    SeqNum(u64),
    Timestamp(u64),
    TailOffset(u64),
}

/// What a read may still deliver: s2-lite's `ReadLimit` and `ReadUntil`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Budget {
    /// Records left, if bounded.
    pub(crate) count: Option<u64>,
    /// Metered bytes left, if bounded.
    pub(crate) bytes: Option<u64>,
    /// Records at or past this timestamp end the read.
    pub(crate) until: Option<u64>,
}

impl Budget {
    /// Nothing more may be read (a limit of zero, or spent).
    pub(crate) fn exhausted(&self) -> bool {
        self.count == Some(0) || self.bytes == Some(0)
    }

    /// Unbounded in count, bytes and time: a read that follows the tail
    /// unless told to wait otherwise.
    pub(crate) fn unbounded(&self) -> bool {
        self.count.is_none() && self.bytes.is_none() && self.until.is_none()
    }

    fn allows(&self, count: u64, bytes: u64) -> bool {
        self.count.is_none_or(|c| count <= c) && self.bytes.is_none_or(|b| bytes <= b)
    }

    /// Takes `records` out of the budget.
    pub(crate) fn spend(&mut self, records: &[SequencedRecord]) {
        let bytes: u64 = records.iter().map(MeteredBytes::metered_bytes).sum();
        self.count = self.count.map(|c| c.saturating_sub(records.len() as u64));
        self.bytes = self.bytes.map(|b| b.saturating_sub(bytes));
    }
}

/// A batch read from the log.
#[derive(Debug, Default)]
pub(crate) struct Chunk {
    pub(crate) records: Vec<SequencedRecord>,
    /// The budget (or `until`) stopped the read: nothing more will be
    /// delivered after these records.
    pub(crate) ended: bool,
}

/// A stream's log and settings.
#[derive(Debug, Default)]
pub(crate) struct Log {
    pub(crate) config: StreamConfig,
    /// Every record ever appended; index = sequence number.
    records: Vec<SequencedRecord>,
    fencing_token: String,
    /// Records below this sequence number are trimmed.
    trim_point: u64,
    /// Readers waiting for the tail to move.
    waiters: Vec<Waker>,
}

impl Log {
    pub(crate) fn new(config: StreamConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// The next sequence number and the last record's timestamp.
    pub(crate) fn tail(&self) -> StreamPosition {
        StreamPosition::new(
            self.records.len() as u64,
            self.records.last().map_or(0, SequencedRecord::timestamp),
        )
    }

    /// Every record ever appended, trimmed ones included.
    pub(crate) fn records(&self) -> &[SequencedRecord] {
        &self.records
    }

    /// Forgets every record from `len` on, as a server that failed over to
    /// a replica missing the latest records would (a contract S2 does not
    /// break; the simulation checks what the client makes of it).
    pub(crate) fn truncate(&mut self, len: u64) {
        self.records.truncate(len as usize);
    }

    pub(crate) fn fencing_token(&self) -> &str {
        &self.fencing_token
    }

    pub(crate) fn trim_point(&self) -> u64 {
        self.trim_point
    }

    /// Appends `input` at `now_ms` if its conditions hold.
    pub(crate) fn append(
        &mut self,
        input: &AppendInput,
        now_ms: u64,
    ) -> Result<AppendAck, ServiceError> {
        if let Some(token) = input.fencing_token()
            && token.as_str() != self.fencing_token
        {
            return Err(ServiceError::FencingTokenMismatch(
                self.fencing_token.clone(),
            ));
        }
        let start = self.tail();
        if let Some(expected) = input.match_seq_num()
            && expected != start.seq_num
        {
            return Err(ServiceError::SeqNumMismatch(start.seq_num));
        }
        let timestamps = self.timestamps(input, start.timestamp, now_ms)?;
        for (i, (record, timestamp)) in input.records().iter().zip(timestamps).enumerate() {
            let seq_num = start.seq_num + i as u64;
            match record.command() {
                Some(Command::Fence(token)) => self.fencing_token = token,
                Some(Command::Trim(point)) => {
                    // A trim reaches at most past itself.
                    self.trim_point = self.trim_point.max(point.min(seq_num + 1));
                }
                _ => {}
            }
            let position = StreamPosition::new(seq_num, timestamp);
            self.records.push(
                SequencedRecord::new(position, record.body().clone())
                    .with_headers(record.headers().iter().cloned()),
            );
        }
        let end = self.tail();
        for waiter in self.waiters.drain(..) {
            waiter.wake();
        }
        Ok(AppendAck {
            start: StreamPosition::new(
                start.seq_num,
                self.records[start.seq_num as usize].timestamp(),
            ),
            end,
            tail: end,
        })
    }

    /// The timestamps `input`'s records get, as s2-lite assigns them: the
    /// client's or the arrival time by the stream's mode, capped at the
    /// arrival time unless uncapped, never below the previous record's.
    fn timestamps(
        &self,
        input: &AppendInput,
        mut max: u64,
        now_ms: u64,
    ) -> Result<Vec<u64>, ServiceError> {
        let timestamping = self.config.timestamping.unwrap_or_default();
        let mode = timestamping.mode.unwrap_or(TimestampingMode::ClientPrefer);
        let uncapped = timestamping.uncapped.unwrap_or(false);
        let mut out = Vec::with_capacity(input.len());
        for record in input.records() {
            let mut timestamp = match mode {
                TimestampingMode::ClientRequire => record.timestamp().ok_or_else(|| {
                    ServiceError::invalid("record timestamp was required but was missing")
                })?,
                TimestampingMode::Arrival => now_ms,
                _ => record.timestamp().unwrap_or(now_ms),
            };
            if !uncapped && timestamp > now_ms {
                timestamp = now_ms;
            }
            if timestamp < max {
                timestamp = max;
            } else {
                max = timestamp;
            }
            out.push(timestamp);
        }
        Ok(out)
    }

    /// Where a read from `start` begins, or the error s2-lite answers: a
    /// start past the tail (unless clamped), or at the tail of a read that
    /// may not wait there.
    pub(crate) fn resolve_start(
        &self,
        start: Start,
        clamp: bool,
        may_follow: bool,
    ) -> Result<u64, ServiceError> {
        let tail = self.tail();
        let past = match start {
            Start::SeqNum(n) => n > tail.seq_num,
            Start::Timestamp(t) => t > tail.timestamp,
            Start::TailOffset(_) => false,
        };
        let seq_num = if past {
            if !clamp {
                return Err(ServiceError::Unwritten(tail));
            }
            tail.seq_num
        } else {
            match start {
                Start::SeqNum(n) => n,
                Start::TailOffset(offset) => tail.seq_num.saturating_sub(offset),
                Start::Timestamp(t) => self
                    .readable(0)
                    .iter()
                    .find(|r| r.timestamp() >= t)
                    .map_or(tail.seq_num, SequencedRecord::seq_num),
            }
        };
        if seq_num == tail.seq_num && !may_follow {
            return Err(ServiceError::Unwritten(tail));
        }
        Ok(seq_num)
    }

    /// The records from `from` that are not trimmed.
    fn readable(&self, from: u64) -> &[SequencedRecord] {
        let from = from.max(self.trim_point).min(self.records.len() as u64);
        &self.records[from as usize..]
    }

    /// One batch from `from` within `budget`, as s2-lite reads storage: at
    /// most [`BATCH_MAX_RECORDS`] records and [`BATCH_MAX_BYTES`] metered
    /// bytes; a record the budget or `until` refuses ends the read.
    pub(crate) fn chunk(&self, from: u64, budget: &Budget) -> Chunk {
        let mut chunk = Chunk::default();
        let mut bytes = 0;
        for record in self.readable(from) {
            let size = record.metered_bytes();
            let count = chunk.records.len() as u64 + 1;
            if budget.until.is_some_and(|u| record.timestamp() >= u)
                || !budget.allows(count, bytes + size)
            {
                chunk.ended = true;
                break;
            }
            if chunk.records.len() == BATCH_MAX_RECORDS || bytes + size > BATCH_MAX_BYTES {
                break;
            }
            bytes += size;
            chunk.records.push(record.clone());
        }
        chunk
    }

    /// Wakes `waker` at the next append (or when the stream goes away).
    pub(crate) fn wait(&mut self, waker: &Waker) {
        if !self.waiters.iter().any(|w| w.will_wake(waker)) {
            self.waiters.push(waker.clone());
        }
    }

    /// Wakes every waiting reader: the stream is going away.
    pub(crate) fn wake_all(&mut self) {
        for waiter in self.waiters.drain(..) {
            waiter.wake();
        }
    }

    /// Checks what s2-lite checks of an input before it reaches the
    /// stream: 1..=1000 records, at most 1 MiB metered, a fencing token of
    /// at most 36 bytes, well-formed command records.
    pub(crate) fn validate(input: &AppendInput) -> Result<(), ServiceError> {
        if input.is_empty() || input.len() > BATCH_MAX_RECORDS {
            return Err(ServiceError::invalid(format!(
                "batch must have 1 to {BATCH_MAX_RECORDS} records, not {}",
                input.len()
            )));
        }
        if input.metered_bytes() > BATCH_MAX_BYTES {
            return Err(ServiceError::invalid(format!(
                "batch of {} metered bytes exceeds {BATCH_MAX_BYTES}",
                input.metered_bytes()
            )));
        }
        if input
            .fencing_token()
            .is_some_and(|t| t.len() > MAX_FENCING_TOKEN_BYTES)
        {
            return Err(ServiceError::invalid(format!(
                "fencing token exceeds {MAX_FENCING_TOKEN_BYTES} bytes"
            )));
        }
        for record in input.records() {
            match record.command() {
                Some(Command::Fence(token)) if token.len() > MAX_FENCING_TOKEN_BYTES => {
                    return Err(ServiceError::invalid(format!(
                        "fencing token exceeds {MAX_FENCING_TOKEN_BYTES} bytes"
                    )));
                }
                Some(Command::Unknown { .. }) => {
                    return Err(ServiceError::invalid("invalid command record"));
                }
                Some(_) | None => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
