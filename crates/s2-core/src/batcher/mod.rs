//! Sans-IO append batching: records in, [`AppendInput`]s out.
//!
//! [`Batcher`] cuts a stream of [`AppendRecord`]s into batches that respect
//! the service's limits (and tighter ones of your choosing), closing a batch
//! when the next record would not fit, when it is full, when its linger time
//! is up, or when you [`flush`](Batcher::flush). It keeps no clock: every
//! time-dependent method takes `now`.

mod config;
#[cfg(test)]
mod tests;

use std::{collections::VecDeque, mem, time::Instant};

use crate::{
    error::ValidationError,
    types::{
        append::{
            AppendInput, MAX_BATCH_METERED_BYTES, MAX_RECORDS_ENCODED_LEN, RecordSizes,
            record_sizes,
        },
        record::AppendRecord,
    },
};

pub use self::config::{BatcherConfig, DEFAULT_LINGER};

/// Metered size of the smallest possible record (no headers, empty body).
const MIN_RECORD_METERED_BYTES: u64 = 8;

/// Groups records into [`AppendInput`] batches. Sans-IO: it neither sends
/// nor sleeps; the caller feeds records and time and takes batches out.
///
/// Rules:
///
/// * A batch holds at most [`max_records`](BatcherConfig::max_records)
///   records and [`max_bytes`](BatcherConfig::max_bytes) metered bytes. When
///   a record would break either limit, the open batch is closed first and
///   the record starts the next one. A batch that can take no more records
///   (it holds `max_records`, or fewer than 8 bytes of room are left) is
///   closed at once.
/// * With a [`linger`](BatcherConfig::linger), a batch's deadline is the
///   arrival of its first record plus the linger. Once `now` reaches it, the
///   batch closes on the next [`handle_timeout`](Self::handle_timeout) (or
///   [`handle_record`](Self::handle_record), before that record is added).
/// * Batch `i + 1` gets `match_seq_num` `m_i + len(batch i)`; every batch
///   carries the fencing token.
/// * A batch's records also fit one session frame once encoded (many tiny
///   headers cost more on the wire than they are metered): a record that
///   would take the batch over that closes it first.
/// * A record that can never be sent (metered size over `max_bytes`, too
///   large to encode in a frame, or broken header rules) is rejected with an
///   error, leaving the batcher unchanged.
///
/// Call order:
///
/// 1. [`handle_record`](Self::handle_record) for each record, then drain
///    [`poll_output`](Self::poll_output) until `None` and send the batches
///    in order.
/// 2. Arm a timer for [`poll_timeout`](Self::poll_timeout) (re-read it after
///    every call that changes the batcher); when it fires, call
///    [`handle_timeout`](Self::handle_timeout) and drain `poll_output`.
///    Early or repeated `handle_timeout` calls are harmless.
/// 3. At the end of input (or to send what is pending right away), call
///    [`flush`](Self::flush) and drain `poll_output`.
///
/// Records are moved, never copied: their bodies reach the batches as the
/// same [`Bytes`](bytes::Bytes).
#[derive(Debug)]
pub struct Batcher {
    config: BatcherConfig,
    /// Records of the open batch.
    pending: Vec<AppendRecord>,
    /// Metered size of `pending`.
    pending_bytes: u64,
    /// Encoded size of `pending`'s records: a batch must also fit a frame.
    pending_encoded: usize,
    /// Linger deadline of the open batch (`None` without linger, or when it
    /// lies too far in the future to be represented).
    deadline: Option<Instant>,
    /// Length of the last closed batch: capacity hint for the next one.
    last_batch_len: usize,
    /// `match_seq_num` of the next batch to close.
    next_match_seq_num: Option<u64>,
    /// Closed batches, oldest first.
    ready: VecDeque<AppendInput>,
}

impl Batcher {
    /// A batcher producing batches per `config`, or
    /// [`ValidationError::InvalidSetting`] if `config` is out of range
    /// ([`BatcherConfig::validate`]).
    pub fn new(config: BatcherConfig) -> Result<Self, ValidationError> {
        config.validate()?;
        Ok(Self {
            next_match_seq_num: config.match_seq_num,
            last_batch_len: config.max_records,
            config,
            pending: Vec::new(),
            pending_bytes: 0,
            pending_encoded: 0,
            deadline: None,
            ready: VecDeque::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &BatcherConfig {
        &self.config
    }

    /// `true` when the batcher holds no record: no open batch and no closed
    /// batch waiting in [`poll_output`](Self::poll_output).
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty() && self.ready.is_empty()
    }

    /// Records in the open batch.
    pub fn pending_records(&self) -> usize {
        self.pending.len()
    }

    /// Metered bytes of the open batch.
    pub fn pending_bytes(&self) -> u64 {
        self.pending_bytes
    }

    /// Closed batches waiting in [`poll_output`](Self::poll_output).
    pub fn ready_batches(&self) -> usize {
        self.ready.len()
    }

    /// The `match_seq_num` the next batch to close will carry.
    pub fn next_match_seq_num(&self) -> Option<u64> {
        self.next_match_seq_num
    }

    /// Adds a record arriving at `now`.
    ///
    /// If the open batch's linger deadline is at or before `now`, or the
    /// record would take it over `max_records` or `max_bytes`, that batch is
    /// closed first and the record starts a new one.
    ///
    /// # Errors
    ///
    /// The record is rejected, and the batcher left unchanged, when it can
    /// never be sent:
    ///
    /// * [`ValidationError::BatchTooLarge`] when its metered size is over
    ///   1 MiB;
    /// * [`ValidationError::InvalidSetting`] naming `max_bytes` when it is
    ///   within 1 MiB but over the configured `max_bytes`;
    /// * [`ValidationError::EncodedBatchTooLarge`] when, alone, it would not
    ///   fit a 2 MiB frame once encoded;
    /// * [`ValidationError::MatchSeqNumOverflow`] when batches are
    ///   conditioned and its position would be the last sequence number (no
    ///   position follows it);
    /// * [`ValidationError::EmptyHeaderName`] or
    ///   [`ValidationError::InvalidCommandRecord`] when it breaks the header
    ///   rules (with `index` its position in the batch it would have joined).
    pub fn handle_record(
        &mut self,
        record: AppendRecord,
        now: Instant,
    ) -> Result<(), ValidationError> {
        let RecordSizes {
            metered: size,
            encoded,
            command,
        } = record_sizes(&record);
        if size > self.config.max_bytes {
            return Err(self.too_large(size));
        }
        if encoded > MAX_RECORDS_ENCODED_LEN {
            // Within 1 MiB metered, but its batch could never be framed.
            return Err(ValidationError::EncodedBatchTooLarge {
                encoded_bytes: encoded,
            });
        }
        let expired = self.deadline.is_some_and(|deadline| deadline <= now);
        // Full batches are closed at once, so only the byte limit can be
        // hit here; the record-count check is kept for robustness.
        let starts_batch = self.pending.is_empty()
            || expired
            || self.pending.len() >= self.config.max_records
            || self.pending_bytes + size > self.config.max_bytes
            || self.pending_encoded + encoded > MAX_RECORDS_ENCODED_LEN;
        let index = if starts_batch { 0 } else { self.pending.len() };
        if command {
            record.validate(index)?;
        }
        if let Some(m) = self.next_match_seq_num {
            // The record's position, whether it joins the open batch or the
            // open batch closes first: one must follow it.
            let position = m.checked_add(self.pending.len() as u64);
            if position.is_none_or(|p| p == u64::MAX) {
                return Err(ValidationError::MatchSeqNumOverflow {
                    match_seq_num: m,
                    records: self.pending.len() + 1,
                });
            }
        }

        if starts_batch {
            self.close();
            self.pending.reserve_exact(self.capacity_for(size));
            self.deadline = self
                .config
                .linger
                .and_then(|linger| now.checked_add(linger));
        }
        self.pending.push(record);
        self.pending_bytes += size;
        self.pending_encoded += encoded;
        if self.pending.len() >= self.config.max_records
            || self.config.max_bytes - self.pending_bytes < MIN_RECORD_METERED_BYTES
        {
            self.close();
        }
        Ok(())
    }

    /// The next closed batch, oldest first.
    pub fn poll_output(&mut self) -> Option<AppendInput> {
        self.ready.pop_front()
    }

    /// When the open batch's linger runs out: the time to call
    /// [`handle_timeout`](Self::handle_timeout) at. `None` without an open
    /// batch or without linger.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// Closes the open batch if its linger deadline is at or before `now`.
    /// Does nothing otherwise, so early or repeated calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_some_and(|deadline| deadline <= now) {
            self.close();
        }
    }

    /// Closes the open batch, if any, whatever its size and deadline: at
    /// the end of input, or to send what is pending right away.
    pub fn flush(&mut self) {
        self.close();
    }

    fn too_large(&self, size: u64) -> ValidationError {
        if size > MAX_BATCH_METERED_BYTES {
            ValidationError::BatchTooLarge {
                metered_bytes: size,
            }
        } else {
            ValidationError::InvalidSetting {
                setting: "max_bytes",
                reason: format!(
                    "{} is under the record's {size} metered bytes",
                    self.config.max_bytes
                )
                .into(),
            }
        }
    }

    /// Capacity to reserve for a batch starting with a record of `size`
    /// metered bytes: as many such records as fit, bounded by `max_records`
    /// and by the previous batch's length (so that lingering, small batches
    /// do not each reserve room for a full one).
    fn capacity_for(&self, size: u64) -> usize {
        let by_bytes = self.config.max_bytes / size.max(MIN_RECORD_METERED_BYTES);
        let by_bytes = usize::try_from(by_bytes).unwrap_or(usize::MAX);
        by_bytes
            .min(self.config.max_records)
            .min(self.last_batch_len)
            .max(1)
    }

    /// Moves the open batch, if any, to the ready queue.
    fn close(&mut self) {
        self.deadline = None;
        if self.pending.is_empty() {
            return;
        }
        let records = mem::take(&mut self.pending);
        self.last_batch_len = records.len();
        let len = records.len() as u64;
        // Every record was checked on entry and the batch kept within limits
        // that `BatcherConfig::validate` bounded by the service's, and within
        // the encoded limit `AppendInput::new` applies.
        let mut input = AppendInput::checked(
            records,
            mem::take(&mut self.pending_bytes),
            mem::take(&mut self.pending_encoded),
        );
        if let Some(seq_num) = self.next_match_seq_num {
            input.set_match_seq_num(Some(seq_num));
            self.next_match_seq_num = Some(
                seq_num
                    .checked_add(len)
                    .expect("handle_record refuses records past the last position"),
            );
        }
        if let Some(token) = &self.config.fencing_token {
            input = input.with_fencing_token(token.clone());
        }
        self.ready.push_back(input);
    }
}
