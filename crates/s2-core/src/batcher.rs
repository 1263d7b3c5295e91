//! Sans-IO append batching: records in, [`AppendInput`]s out.
//!
//! [`Batcher`] cuts a stream of [`AppendRecord`]s into batches that respect
//! the service's limits (and tighter ones of your choosing), closing a batch
//! when the next record would not fit, when it is full, when its linger time
//! is up, or when you [`flush`](Batcher::flush). It keeps no clock: every
//! time-dependent method takes `now`.

use std::{
    collections::VecDeque,
    mem,
    time::{Duration, Instant},
};

use crate::{
    error::ValidationError,
    names::FencingToken,
    types::{
        append::{
            AppendInput, MAX_BATCH_METERED_BYTES, MAX_BATCH_RECORDS, MAX_RECORDS_ENCODED_LEN,
            encoded_record_len,
        },
        record::{AppendRecord, MeteredBytes},
    },
};

/// Metered size of the smallest possible record (no headers, empty body).
const MIN_RECORD_METERED_BYTES: u64 = 8;

/// Limits and append conditions of the batches a [`Batcher`] produces.
///
/// The [`Default`] is what the official SDKs and CLI use: at most 1000
/// records and 1 MiB metered per batch, a linger of
/// [`DEFAULT_LINGER`] (5 ms), no `match_seq_num` and no fencing token.
///
/// ```
/// # use s2_core::batcher::BatcherConfig;
/// # use std::time::Duration;
/// let config = BatcherConfig::default()
///     .with_max_records(100)
///     .with_linger(Some(Duration::from_millis(2)))
///     .with_match_seq_num(Some(0));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatcherConfig {
    /// Most records per batch, `1..=1000`.
    pub max_records: usize,
    /// Most metered bytes per batch, `8..=1048576` (8 is the size of the
    /// smallest record).
    pub max_bytes: u64,
    /// How long a batch may stay open after its first record arrived.
    /// `None`: until it is full or flushed.
    pub linger: Option<Duration>,
    /// `match_seq_num` of the first batch; each later batch gets the
    /// previous one's plus its record count. `None`: no condition.
    pub match_seq_num: Option<u64>,
    /// Fencing token put on every batch.
    pub fencing_token: Option<FencingToken>,
}

impl Default for BatcherConfig {
    fn default() -> Self {
        Self {
            max_records: MAX_BATCH_RECORDS,
            max_bytes: MAX_BATCH_METERED_BYTES,
            linger: Some(DEFAULT_LINGER),
            match_seq_num: None,
            fencing_token: None,
        }
    }
}

/// How long a batch stays open for more records by default, as in the
/// official SDKs and CLI.
pub const DEFAULT_LINGER: Duration = Duration::from_millis(5);

impl BatcherConfig {
    /// Sets the most records per batch (`1..=1000`, checked by
    /// [`validate`](Self::validate)).
    pub fn with_max_records(mut self, max_records: usize) -> Self {
        self.max_records = max_records;
        self
    }

    /// Sets the most metered bytes per batch (`8..=1048576`, checked by
    /// [`validate`](Self::validate)).
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Sets how long a batch may stay open after its first record
    /// (`None`: until full or flushed).
    pub fn with_linger(mut self, linger: Option<Duration>) -> Self {
        self.linger = linger;
        self
    }

    /// Sets the `match_seq_num` of the first batch (`None`: no condition).
    pub fn with_match_seq_num(mut self, match_seq_num: Option<u64>) -> Self {
        self.match_seq_num = match_seq_num;
        self
    }

    /// Sets the fencing token put on every batch.
    pub fn with_fencing_token(mut self, fencing_token: Option<FencingToken>) -> Self {
        self.fencing_token = fencing_token;
        self
    }

    /// Checks that the limits are within what the service accepts, failing
    /// with [`ValidationError::InvalidConfig`] otherwise.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if !(1..=MAX_BATCH_RECORDS).contains(&self.max_records) {
            return Err(ValidationError::InvalidConfig {
                reason: format!(
                    "batcher max_records must be between 1 and {MAX_BATCH_RECORDS}, got {}",
                    self.max_records
                )
                .into(),
            });
        }
        if !(MIN_RECORD_METERED_BYTES..=MAX_BATCH_METERED_BYTES).contains(&self.max_bytes) {
            return Err(ValidationError::InvalidConfig {
                reason: format!(
                    "batcher max_bytes must be between {MIN_RECORD_METERED_BYTES} and \
                     {MAX_BATCH_METERED_BYTES}, got {}",
                    self.max_bytes
                )
                .into(),
            });
        }
        Ok(())
    }
}

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
    /// [`ValidationError::InvalidConfig`] if `config` is out of range.
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
    /// * [`ValidationError::InvalidConfig`] when it is within 1 MiB but over
    ///   the configured `max_bytes`;
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
        let size = record.metered_bytes();
        if size > self.config.max_bytes {
            return Err(self.too_large(size));
        }
        let encoded = encoded_record_len(&record);
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
        record.validate(index)?;
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
            ValidationError::InvalidConfig {
                reason: format!(
                    "record of {size} metered bytes exceeds the batcher's max_bytes of {}",
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

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use proptest::prelude::*;

    use super::*;
    use crate::types::record::{CommandRecord, Header};

    fn batcher(config: BatcherConfig) -> Batcher {
        Batcher::new(config).unwrap()
    }

    /// A record of exactly `size` (>= 8) metered bytes.
    fn sized(size: u64) -> AppendRecord {
        AppendRecord::new(vec![0u8; (size - 8) as usize])
    }

    fn drain(b: &mut Batcher) -> Vec<AppendInput> {
        std::iter::from_fn(|| b.poll_output()).collect()
    }

    fn lens(batches: &[AppendInput]) -> Vec<usize> {
        batches.iter().map(AppendInput::len).collect()
    }

    #[test]
    fn default_config_matches_reference() {
        let config = BatcherConfig::default();
        assert_eq!(config.max_records, 1000);
        assert_eq!(config.max_bytes, 1024 * 1024);
        assert_eq!(config.linger, Some(Duration::from_millis(5)));
        assert_eq!(config.match_seq_num, None);
        assert_eq!(config.fencing_token, None);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn config_validation() {
        let bad = [
            BatcherConfig {
                max_records: 0,
                ..Default::default()
            },
            BatcherConfig {
                max_records: 1001,
                ..Default::default()
            },
            BatcherConfig {
                max_bytes: 7,
                ..Default::default()
            },
            BatcherConfig {
                max_bytes: 1024 * 1024 + 1,
                ..Default::default()
            },
        ];
        for config in bad {
            assert!(
                matches!(
                    config.validate(),
                    Err(ValidationError::InvalidConfig { .. })
                ),
                "{config:?}"
            );
            assert!(matches!(
                Batcher::new(config),
                Err(ValidationError::InvalidConfig { .. })
            ));
        }
        for (max_records, max_bytes) in [(1, 8), (1000, 1024 * 1024)] {
            let config = BatcherConfig {
                max_records,
                max_bytes,
                ..Default::default()
            };
            assert!(config.validate().is_ok());
        }
    }

    #[test]
    fn batch_reaching_max_records_closes_at_once() {
        let now = Instant::now();
        let mut b = batcher(BatcherConfig {
            max_records: 3,
            ..Default::default()
        });
        for _ in 0..2 {
            b.handle_record(AppendRecord::new("x"), now).unwrap();
        }
        assert!(b.poll_output().is_none());
        assert_eq!(b.pending_records(), 2);
        b.handle_record(AppendRecord::new("x"), now).unwrap();
        assert_eq!(b.pending_records(), 0);
        assert_eq!(b.pending_bytes(), 0);
        assert_eq!(lens(&drain(&mut b)), [3]);
        assert!(b.is_empty());
    }

    #[test]
    fn record_over_the_byte_limit_closes_the_batch_first() {
        let now = Instant::now();
        let mut b = batcher(BatcherConfig {
            max_bytes: 100,
            ..Default::default()
        });
        b.handle_record(sized(60), now).unwrap();
        b.handle_record(sized(40), now).unwrap(); // exactly 100: full, closed
        assert_eq!(lens(&drain(&mut b)), [2]);
        b.handle_record(sized(60), now).unwrap();
        b.handle_record(sized(41), now).unwrap(); // 101: closes [60] first
        let out = drain(&mut b);
        assert_eq!(lens(&out), [1]);
        assert_eq!(out[0].metered_bytes(), 60);
        assert_eq!(b.pending_records(), 1);
        assert_eq!(b.pending_bytes(), 41);
    }

    #[test]
    fn batch_with_no_room_for_any_record_closes_at_once() {
        let now = Instant::now();
        let mut b = batcher(BatcherConfig {
            max_bytes: 100,
            ..Default::default()
        });
        b.handle_record(sized(92), now).unwrap(); // 8 bytes of room left
        assert_eq!(b.pending_records(), 1);
        b.handle_record(sized(8), now).unwrap(); // none left
        assert_eq!(lens(&drain(&mut b)), [2]);
        b.handle_record(sized(93), now).unwrap(); // 7 bytes left: no record fits
        assert_eq!(lens(&drain(&mut b)), [1]);
    }

    #[test]
    fn record_that_can_never_fit_is_rejected_and_changes_nothing() {
        let now = Instant::now();
        let mut b = batcher(BatcherConfig {
            max_bytes: 100,
            linger: Some(Duration::from_millis(5)),
            match_seq_num: Some(7),
            ..Default::default()
        });
        b.handle_record(sized(50), now).unwrap();
        let deadline = b.poll_timeout();
        let later = now + Duration::from_secs(1); // past the deadline
        let err = b.handle_record(sized(101), later).unwrap_err();
        assert!(
            matches!(err, ValidationError::InvalidConfig { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("max_bytes of 100"), "{err}");
        assert_eq!(b.pending_records(), 1);
        assert_eq!(b.pending_bytes(), 50);
        assert_eq!(b.poll_timeout(), deadline);
        assert!(b.poll_output().is_none());
        assert_eq!(b.next_match_seq_num(), Some(7));

        let mut b = batcher(BatcherConfig::default());
        let huge = sized(MAX_BATCH_METERED_BYTES + 1);
        assert_eq!(
            b.handle_record(huge, now),
            Err(ValidationError::BatchTooLarge {
                metered_bytes: MAX_BATCH_METERED_BYTES + 1
            })
        );
        assert!(b.is_empty());
        // Exactly the limit is fine, and fills a batch.
        b.handle_record(sized(MAX_BATCH_METERED_BYTES), now)
            .unwrap();
        assert_eq!(lens(&drain(&mut b)), [1]);
    }

    /// A record of `n` `("a", "b")` headers: 4 metered bytes each, but 8 on
    /// the wire.
    fn header_heavy(n: usize) -> AppendRecord {
        (0..n).fold(AppendRecord::new(""), |r, _| r.with_header("a", "b"))
    }

    #[test]
    fn record_too_large_to_encode_is_rejected_and_changes_nothing() {
        let now = Instant::now();
        let mut b = batcher(BatcherConfig::default());
        b.handle_record(AppendRecord::new("a"), now).unwrap();
        // 1,048,568 metered bytes (within 1 MiB), about 2 MiB encoded.
        let record = header_heavy(262_140);
        assert_eq!(record.metered_bytes(), 1_048_568);
        assert!(matches!(
            b.handle_record(record, now),
            Err(ValidationError::EncodedBatchTooLarge { .. })
        ));
        assert_eq!(b.pending_records(), 1);
        b.flush();
        assert_eq!(lens(&drain(&mut b)), [1]);
    }

    #[test]
    fn positions_past_the_last_seq_num_are_refused() {
        let now = Instant::now();
        let mut b = batcher(BatcherConfig {
            max_records: 2,
            match_seq_num: Some(u64::MAX - 3),
            ..Default::default()
        });
        for _ in 0..3 {
            b.handle_record(AppendRecord::new("x"), now).unwrap();
        }
        assert!(matches!(
            b.handle_record(AppendRecord::new("x"), now),
            Err(ValidationError::MatchSeqNumOverflow { .. })
        ));
        b.flush();
        let batches = drain(&mut b);
        assert_eq!(lens(&batches), [2, 1]);
        assert_eq!(batches[1].match_seq_num(), Some(u64::MAX - 1));
        assert_eq!(b.next_match_seq_num(), Some(u64::MAX));
    }

    #[test]
    fn batches_are_split_at_the_encoded_limit() {
        let now = Instant::now();
        let mut b = batcher(BatcherConfig::default());
        // Together exactly 1 MiB metered, but over 2 MiB encoded.
        for _ in 0..2 {
            b.handle_record(header_heavy(131_070), now).unwrap();
        }
        b.flush();
        assert_eq!(lens(&drain(&mut b)), [1, 1]);
    }

    #[test]
    fn records_breaking_header_rules_are_rejected_and_change_nothing() {
        let now = Instant::now();
        let mut b = batcher(BatcherConfig::default());
        b.handle_record(AppendRecord::new("a"), now).unwrap();
        b.handle_record(AppendRecord::new("b"), now).unwrap();
        let two = AppendRecord::new("x")
            .with_header("", "fence")
            .with_header("k", "v");
        assert_eq!(
            b.handle_record(two, now),
            Err(ValidationError::EmptyHeaderName { index: 2 })
        );
        let unknown = AppendRecord::new("").with_header("", "explode");
        assert!(matches!(
            b.handle_record(unknown, now),
            Err(ValidationError::InvalidCommandRecord { index: 2, .. })
        ));
        assert_eq!(b.pending_records(), 2);
        assert_eq!(b.pending_bytes(), 18);
        // Well-formed command records are accepted.
        b.handle_record(CommandRecord::trim(5), now).unwrap();
        b.flush();
        assert_eq!(lens(&drain(&mut b)), [3]);
    }

    #[test]
    fn linger_deadline_starts_with_the_first_record() {
        let t0 = Instant::now();
        let linger = Duration::from_millis(10);
        let mut b = batcher(BatcherConfig {
            linger: Some(linger),
            ..Default::default()
        });
        assert_eq!(b.poll_timeout(), None);
        b.handle_record(AppendRecord::new("a"), t0).unwrap();
        assert_eq!(b.poll_timeout(), Some(t0 + linger));
        b.handle_record(AppendRecord::new("b"), t0 + Duration::from_millis(6))
            .unwrap();
        assert_eq!(b.poll_timeout(), Some(t0 + linger));

        b.handle_timeout(t0 + Duration::from_millis(9)); // early: nothing
        assert!(b.poll_output().is_none());
        assert_eq!(b.pending_records(), 2);

        b.handle_timeout(t0 + linger);
        assert_eq!(lens(&drain(&mut b)), [2]);
        assert_eq!(b.poll_timeout(), None);
        b.handle_timeout(t0 + linger); // spurious: nothing
        assert!(b.is_empty());

        // The next batch's deadline starts with its own first record.
        let t1 = t0 + Duration::from_millis(50);
        b.handle_record(AppendRecord::new("c"), t1).unwrap();
        assert_eq!(b.poll_timeout(), Some(t1 + linger));
    }

    #[test]
    fn record_after_the_deadline_starts_a_new_batch() {
        let t0 = Instant::now();
        let linger = Duration::from_millis(10);
        let mut b = batcher(BatcherConfig {
            linger: Some(linger),
            ..Default::default()
        });
        b.handle_record(AppendRecord::new("a"), t0).unwrap();
        // The caller was late to call handle_timeout.
        b.handle_record(AppendRecord::new("b"), t0 + linger)
            .unwrap();
        let out = drain(&mut b);
        assert_eq!(lens(&out), [1]);
        assert_eq!(&out[0].records()[0].body[..], b"a");
        assert_eq!(b.pending_records(), 1);
        assert_eq!(b.poll_timeout(), Some(t0 + linger + linger));
    }

    #[test]
    fn zero_linger_closes_on_the_next_timeout() {
        let t0 = Instant::now();
        let mut b = batcher(BatcherConfig {
            linger: Some(Duration::ZERO),
            ..Default::default()
        });
        b.handle_record(AppendRecord::new("a"), t0).unwrap();
        assert_eq!(b.poll_timeout(), Some(t0));
        b.handle_timeout(t0);
        assert_eq!(lens(&drain(&mut b)), [1]);
    }

    #[test]
    fn without_linger_batches_wait_for_flush() {
        let t0 = Instant::now();
        let mut b = batcher(BatcherConfig {
            linger: None,
            ..BatcherConfig::default()
        });
        b.handle_timeout(t0); // spurious on an empty batcher
        for i in 0..10 {
            b.handle_record(AppendRecord::new("x"), t0 + Duration::from_secs(i))
                .unwrap();
        }
        assert_eq!(b.poll_timeout(), None);
        b.handle_timeout(t0 + Duration::from_secs(3600));
        assert!(b.poll_output().is_none());
        b.flush();
        assert_eq!(lens(&drain(&mut b)), [10]);
        b.flush(); // nothing pending: no empty batch
        assert!(b.poll_output().is_none());
        assert!(b.is_empty());
    }

    #[test]
    fn batches_come_out_in_order() {
        let now = Instant::now();
        let mut b = batcher(BatcherConfig {
            max_records: 2,
            ..Default::default()
        });
        for i in 0..7u64 {
            b.handle_record(AppendRecord::new("x").with_timestamp(i), now)
                .unwrap();
        }
        b.flush();
        assert_eq!(b.ready_batches(), 4);
        assert!(!b.is_empty());
        let out = drain(&mut b);
        assert_eq!(lens(&out), [2, 2, 2, 1]);
        let stamps: Vec<_> = out
            .iter()
            .flat_map(|batch| batch.records().iter().map(|r| r.timestamp.unwrap()))
            .collect();
        assert_eq!(stamps, (0..7).collect::<Vec<_>>());
    }

    #[test]
    fn match_seq_num_advances_and_fencing_token_is_on_every_batch() {
        let now = Instant::now();
        let token = FencingToken::new("tok").unwrap();
        let mut b = batcher(BatcherConfig {
            max_records: 3,
            match_seq_num: Some(10),
            fencing_token: Some(token.clone()),
            ..Default::default()
        });
        for _ in 0..7 {
            b.handle_record(AppendRecord::new("x"), now).unwrap();
        }
        b.flush();
        let out = drain(&mut b);
        let seq: Vec<_> = out.iter().map(AppendInput::match_seq_num).collect();
        assert_eq!(seq, [Some(10), Some(13), Some(16)]);
        assert!(
            out.iter()
                .all(|batch| batch.fencing_token() == Some(&token))
        );
        assert_eq!(b.next_match_seq_num(), Some(17));

        let mut b = batcher(BatcherConfig::default());
        b.handle_record(AppendRecord::new("x"), now).unwrap();
        b.flush();
        let out = b.poll_output().unwrap();
        assert_eq!(out.match_seq_num(), None);
        assert_eq!(out.fencing_token(), None);
    }

    #[test]
    fn bodies_are_moved_not_copied() {
        let now = Instant::now();
        let body = Bytes::from(vec![1u8; 4096]);
        let ptr = body.as_ptr();
        let mut b = batcher(BatcherConfig::default());
        b.handle_record(AppendRecord::new(body), now).unwrap();
        b.flush();
        assert_eq!(b.poll_output().unwrap().records()[0].body.as_ptr(), ptr);
    }

    #[test]
    fn capacity_is_reserved_once_for_uniform_records() {
        let now = Instant::now();
        let mut b = batcher(BatcherConfig::default());
        b.handle_record(sized(1032), now).unwrap();
        // 1048576 / 1032 = 1016 fit by bytes, bounded by max_records.
        assert_eq!(b.pending.capacity(), 1000);
        let mut b = batcher(BatcherConfig::default());
        b.handle_record(sized(65544), now).unwrap();
        assert_eq!(b.pending.capacity(), 15);
        for _ in 1..15 {
            b.handle_record(sized(65544), now).unwrap();
        }
        assert_eq!(b.pending.capacity(), 15);
        b.handle_record(sized(65544), now).unwrap();
        assert_eq!(lens(&drain(&mut b)), [15]);
    }

    // ---------------------------------------------------------------------
    // Properties under virtual time
    // ---------------------------------------------------------------------

    static ZEROS: [u8; 70_000] = [0; 70_000];

    #[derive(Debug, Clone)]
    struct RecordSpec {
        body_len: usize,
        headers: Vec<(String, String)>,
        /// Breaks the header rules (two headers, one with an empty name).
        invalid: bool,
    }

    impl RecordSpec {
        /// The record, made unique by its timestamp.
        fn build(&self, id: u64) -> AppendRecord {
            let mut record = AppendRecord::new(Bytes::from_static(&ZEROS[..self.body_len]))
                .with_timestamp(id)
                .with_headers(
                    self.headers
                        .iter()
                        .map(|(n, v)| Header::new(n.clone(), v.clone())),
                );
            if self.invalid {
                record = record.with_header("", "fence").with_header("k", "v");
            }
            record
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Record(RecordSpec),
        /// Advance virtual time by this many milliseconds, then call
        /// `handle_timeout` (possibly spuriously).
        Timeout(u64),
        /// Advance virtual time without telling the batcher.
        Advance(u64),
        Flush,
    }

    fn record_spec() -> impl Strategy<Value = RecordSpec> {
        (
            prop_oneof![0..=200usize, 0..=70_000usize],
            prop::collection::vec(("[a-z]{1,8}", "[a-z]{0,16}"), 0..3),
            prop::bool::weighted(0.03),
        )
            .prop_map(|(body_len, headers, invalid)| RecordSpec {
                body_len,
                headers,
                invalid,
            })
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => record_spec().prop_map(Op::Record),
            2 => (0..30u64).prop_map(Op::Timeout),
            1 => (0..30u64).prop_map(Op::Advance),
            1 => Just(Op::Flush),
        ]
    }

    fn config() -> impl Strategy<Value = BatcherConfig> {
        (
            prop_oneof![1..=4usize, 1..=1000usize, Just(1000usize)],
            prop_oneof![
                8..=300u64,
                8..=200_000u64,
                8..=MAX_BATCH_METERED_BYTES,
                Just(MAX_BATCH_METERED_BYTES)
            ],
            prop::option::of(0..40u64),
            prop::option::of(0..=u64::MAX / 2),
            prop::option::of("[a-z0-9]{0,36}"),
        )
            .prop_map(
                |(max_records, max_bytes, linger_ms, match_seq_num, token)| BatcherConfig {
                    max_records,
                    max_bytes,
                    linger: linger_ms.map(Duration::from_millis),
                    match_seq_num,
                    fencing_token: token.map(|t| FencingToken::new(t).unwrap()),
                },
            )
    }

    /// Checks every batch as it comes out, and what is expected of it.
    struct Checker {
        config: BatcherConfig,
        /// Arrival time of every accepted record, by id (its timestamp).
        arrivals: Vec<Instant>,
        /// Accepted records in order.
        expected: Vec<AppendRecord>,
        /// Records seen in batches so far, in order.
        seen: Vec<AppendRecord>,
        next_match_seq_num: Option<u64>,
    }

    impl Checker {
        fn deadline(&self, batch: &AppendInput) -> Option<Instant> {
            let first = batch.records()[0].timestamp.unwrap() as usize;
            self.config
                .linger
                .map(|linger| self.arrivals[first] + linger)
        }

        /// Takes the batches out and checks the rules every batch obeys.
        fn take(&mut self, b: &mut Batcher) -> Result<Vec<AppendInput>, TestCaseError> {
            let out = drain(b);
            for batch in &out {
                prop_assert!(!batch.is_empty());
                prop_assert!(batch.len() <= self.config.max_records);
                prop_assert!(batch.metered_bytes() <= self.config.max_bytes);
                prop_assert_eq!(batch.metered_bytes(), batch.records().metered_bytes());
                prop_assert_eq!(batch.match_seq_num(), self.next_match_seq_num);
                self.next_match_seq_num = self.next_match_seq_num.map(|m| m + batch.len() as u64);
                prop_assert_eq!(batch.fencing_token(), self.config.fencing_token.as_ref());
                self.seen.extend_from_slice(batch.records());
            }
            Ok(out)
        }

        /// Whether nothing more could have joined `batch`.
        fn is_full(&self, batch: &AppendInput) -> bool {
            batch.len() == self.config.max_records
                || self.config.max_bytes - batch.metered_bytes() < MIN_RECORD_METERED_BYTES
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn batches_respect_limits_order_linger_and_conditions(
            config in config(),
            ops in prop::collection::vec(op(), 0..120),
        ) {
            let base = Instant::now();
            let mut now = base;
            let mut b = Batcher::new(config.clone()).unwrap();
            let mut checker = Checker {
                next_match_seq_num: config.match_seq_num,
                config,
                arrivals: Vec::new(),
                expected: Vec::new(),
                seen: Vec::new(),
            };

            for op in ops {
                match op {
                    Op::Record(spec) => {
                        let id = checker.arrivals.len() as u64;
                        let record = spec.build(id);
                        let size = record.metered_bytes();
                        let before = (b.pending_records(), b.pending_bytes(), b.poll_timeout());
                        match b.handle_record(record.clone(), now) {
                            Ok(()) => {
                                prop_assert!(!spec.invalid);
                                prop_assert!(size <= checker.config.max_bytes);
                                checker.arrivals.push(now);
                                checker.expected.push(record);
                            }
                            Err(err) => {
                                prop_assert!(
                                    spec.invalid || size > checker.config.max_bytes,
                                    "unexpected rejection: {}", err
                                );
                                prop_assert_eq!(
                                    (b.pending_records(), b.pending_bytes(), b.poll_timeout()),
                                    before
                                );
                                prop_assert_eq!(b.ready_batches(), 0);
                                continue;
                            }
                        }
                        for batch in checker.take(&mut b)? {
                            let holds_new = batch.records().last().unwrap().timestamp == Some(id);
                            let expired = checker.deadline(&batch).is_some_and(|d| d <= now);
                            let no_room_for_new =
                                batch.metered_bytes() + size > checker.config.max_bytes;
                            // Closed early only for a reason: full, expired,
                            // or the new record did not fit.
                            prop_assert!(
                                checker.is_full(&batch)
                                    || (!holds_new && (expired || no_room_for_new)),
                                "batch of {} records / {} bytes closed early",
                                batch.len(), batch.metered_bytes()
                            );
                        }
                    }
                    Op::Timeout(ms) => {
                        now += Duration::from_millis(ms);
                        b.handle_timeout(now);
                        for batch in checker.take(&mut b)? {
                            // Never closed by a timeout before its deadline.
                            let deadline = checker.deadline(&batch);
                            prop_assert!(deadline.is_some_and(|d| d <= now));
                        }
                        // Nothing stays open past its deadline.
                        prop_assert!(b.poll_timeout().is_none_or(|d| d > now));
                    }
                    Op::Advance(ms) => now += Duration::from_millis(ms),
                    Op::Flush => {
                        b.flush();
                        checker.take(&mut b)?;
                        prop_assert!(b.is_empty());
                        prop_assert_eq!(b.poll_timeout(), None);
                    }
                }

                // The open batch: its size and deadline are as expected.
                let pending = &checker.expected[checker.seen.len()..];
                prop_assert_eq!(b.pending_records(), pending.len());
                prop_assert_eq!(b.pending_bytes(), pending.metered_bytes());
                let expected_timeout = match (pending.first(), checker.config.linger) {
                    (Some(first), Some(linger)) => {
                        Some(checker.arrivals[first.timestamp.unwrap() as usize] + linger)
                    }
                    _ => None,
                };
                prop_assert_eq!(b.poll_timeout(), expected_timeout);
                if let Some(deadline) = expected_timeout {
                    // No record joined the open batch at or after its deadline.
                    for record in &pending[1..] {
                        let arrival = checker.arrivals[record.timestamp.unwrap() as usize];
                        prop_assert!(arrival < deadline);
                    }
                }
                // A full batch never stays open.
                if !pending.is_empty() {
                    prop_assert!(pending.len() < checker.config.max_records);
                    prop_assert!(
                        checker.config.max_bytes - b.pending_bytes() >= MIN_RECORD_METERED_BYTES
                    );
                }
            }

            b.flush();
            checker.take(&mut b)?;
            prop_assert!(b.is_empty());
            // Nothing lost, duplicated or reordered.
            prop_assert_eq!(&checker.seen, &checker.expected);
            prop_assert_eq!(b.next_match_seq_num(), checker.next_match_seq_num);
        }
    }
}
