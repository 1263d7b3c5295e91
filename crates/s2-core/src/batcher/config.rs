//! [`BatcherConfig`]: the limits and append conditions of a
//! [`Batcher`](super::Batcher)'s batches, and their validation.

use std::time::Duration;

use super::MIN_RECORD_METERED_BYTES;
use crate::{
    error::ValidationError,
    names::FencingToken,
    types::append::{MAX_BATCH_METERED_BYTES, MAX_BATCH_RECORDS},
};

/// Limits and append conditions of the batches a [`Batcher`](super::Batcher)
/// produces.
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
pub struct BatcherConfig {
    /// Most records per batch.
    pub(super) max_records: usize,
    /// Most metered bytes per batch.
    pub(super) max_bytes: u64,
    /// How long a batch may stay open after its first record.
    pub(super) linger: Option<Duration>,
    /// `match_seq_num` of the first batch.
    pub(super) match_seq_num: Option<u64>,
    /// Fencing token put on every batch.
    pub(super) fencing_token: Option<FencingToken>,
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
    /// Sets the most records per batch, `1..=1000` (default 1000).
    pub fn with_max_records(mut self, max_records: usize) -> Self {
        self.max_records = max_records;
        self
    }

    /// Sets the most metered bytes per batch, `8..=1048576` (default
    /// 1048576; 8 is the size of the smallest record).
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Sets how long a batch may stay open after its first record arrived
    /// (`None`: until it is full or flushed; default [`DEFAULT_LINGER`]).
    pub fn with_linger(mut self, linger: Option<Duration>) -> Self {
        self.linger = linger;
        self
    }

    /// Sets the `match_seq_num` of the first batch; each later batch gets
    /// the previous one's plus its record count (`None`, the default: no
    /// condition).
    pub fn with_match_seq_num(mut self, match_seq_num: Option<u64>) -> Self {
        self.match_seq_num = match_seq_num;
        self
    }

    /// Sets the fencing token put on every batch (default none).
    pub fn with_fencing_token(mut self, fencing_token: Option<FencingToken>) -> Self {
        self.fencing_token = fencing_token;
        self
    }

    /// Most records per batch.
    pub fn max_records(&self) -> usize {
        self.max_records
    }

    /// Most metered bytes per batch.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// How long a batch may stay open after its first record arrived.
    pub fn linger(&self) -> Option<Duration> {
        self.linger
    }

    /// `match_seq_num` of the first batch.
    pub fn match_seq_num(&self) -> Option<u64> {
        self.match_seq_num
    }

    /// Fencing token put on every batch.
    pub fn fencing_token(&self) -> Option<&FencingToken> {
        self.fencing_token.as_ref()
    }

    /// Refuses limits the service cannot take, with
    /// [`ValidationError::InvalidSetting`] naming `max_records` or
    /// `max_bytes`. [`Batcher::new`](super::Batcher::new) calls it.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if !(1..=MAX_BATCH_RECORDS).contains(&self.max_records) {
            return Err(ValidationError::InvalidSetting {
                setting: "max_records",
                reason: format!(
                    "must be between 1 and {MAX_BATCH_RECORDS}, got {}",
                    self.max_records
                )
                .into(),
            });
        }
        if !(MIN_RECORD_METERED_BYTES..=MAX_BATCH_METERED_BYTES).contains(&self.max_bytes) {
            return Err(ValidationError::InvalidSetting {
                setting: "max_bytes",
                reason: format!(
                    "must be between {MIN_RECORD_METERED_BYTES} and {MAX_BATCH_METERED_BYTES}, \
                     got {}",
                    self.max_bytes
                )
                .into(),
            });
        }
        Ok(())
    }
}
