//! Settings of an append session, their defaults, and the one check of
//! each.

use std::time::Duration;

use crate::{
    backoff::BackoffConfig,
    error::{ValidationError, greater_than_zero},
    frame::Compression,
};

/// When a batch whose outcome is unknown may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AppendRetryPolicy {
    /// Resend whatever is unacknowledged: at-least-once, so an unconditioned
    /// batch may be duplicated. Conditioned batches are resolved instead.
    #[default]
    All,
    /// Resend only batches that provably did not land; stop otherwise.
    /// Conditioned batches are still resolved exactly-once.
    NoSideEffects,
}

/// Default of [`AppendSessionConfig::max_unacked_bytes`]: 5 MiB.
pub const DEFAULT_MAX_UNACKED_BYTES: u64 = 5 * 1024 * 1024;
/// Default of [`AppendSessionConfig::max_unacked_batches`].
pub const DEFAULT_MAX_UNACKED_BATCHES: usize = 1000;
/// Default of [`AppendSessionConfig::ack_timeout`].
pub const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of an append session.
///
/// Setters take any value; [`validate`](Self::validate) refuses those that
/// cannot work, naming the setting. A machine made with a configuration
/// that fails it still runs: a zero cap admits one batch at a time, a zero
/// ack timeout gives up on every batch at once.
///
/// ```
/// # use s2_core::session::append::{AppendRetryPolicy, AppendSessionConfig};
/// # use std::time::Duration;
/// let config = AppendSessionConfig::default()
///     .with_ack_timeout(Duration::from_secs(30))
///     .with_retry_policy(AppendRetryPolicy::NoSideEffects);
/// assert!(config.validate().is_ok());
/// assert!(config.with_ack_timeout(Duration::ZERO).validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendSessionConfig {
    max_unacked_bytes: u64,
    max_unacked_batches: usize,
    ack_timeout: Duration,
    retry_policy: AppendRetryPolicy,
    backoff: BackoffConfig,
    seed: u64,
    compression: Compression,
}

impl Default for AppendSessionConfig {
    fn default() -> Self {
        Self {
            max_unacked_bytes: DEFAULT_MAX_UNACKED_BYTES,
            max_unacked_batches: DEFAULT_MAX_UNACKED_BATCHES,
            ack_timeout: DEFAULT_ACK_TIMEOUT,
            retry_policy: AppendRetryPolicy::All,
            backoff: BackoffConfig::default(),
            seed: 0,
            compression: Compression::None,
        }
    }
}

impl AppendSessionConfig {
    /// Sets the most metered bytes submitted but not yet acknowledged
    /// (more than zero; default [`DEFAULT_MAX_UNACKED_BYTES`]). One batch
    /// is always let in, whatever its size, so a cap under a batch's size
    /// sends one batch at a time.
    pub fn with_max_unacked_bytes(mut self, bytes: u64) -> Self {
        self.max_unacked_bytes = bytes;
        self
    }

    /// Sets the most batches submitted but not yet acknowledged (more than
    /// zero; default [`DEFAULT_MAX_UNACKED_BATCHES`]).
    pub fn with_max_unacked_batches(mut self, batches: usize) -> Self {
        self.max_unacked_batches = batches;
        self
    }

    /// Sets how long a sent batch may wait for its ack before the
    /// connection is presumed broken (more than zero; default
    /// [`DEFAULT_ACK_TIMEOUT`]).
    pub fn with_ack_timeout(mut self, timeout: Duration) -> Self {
        self.ack_timeout = timeout;
        self
    }

    /// Sets when batches with an unknown outcome are resent (default
    /// [`AppendRetryPolicy::All`]).
    pub fn with_retry_policy(mut self, policy: AppendRetryPolicy) -> Self {
        self.retry_policy = policy;
        self
    }

    /// Sets the retry budget (a count and a time window) and delays; the
    /// budget is renewed by every ack, so the window counts from the first
    /// failure since the last one.
    pub fn with_backoff(mut self, backoff: BackoffConfig) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets the seed of the backoff jitter (default 0).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the compression of outgoing frames; bodies under 1 KiB go
    /// uncompressed (default none).
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Most metered bytes submitted but not yet acknowledged.
    pub fn max_unacked_bytes(&self) -> u64 {
        self.max_unacked_bytes
    }

    /// Most batches submitted but not yet acknowledged.
    pub fn max_unacked_batches(&self) -> usize {
        self.max_unacked_batches
    }

    /// How long a sent batch may wait for its ack.
    pub fn ack_timeout(&self) -> Duration {
        self.ack_timeout
    }

    /// When batches with an unknown outcome are resent.
    pub fn retry_policy(&self) -> AppendRetryPolicy {
        self.retry_policy
    }

    /// The retry budget and delays.
    pub fn backoff(&self) -> BackoffConfig {
        self.backoff
    }

    /// The seed of the backoff jitter.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The compression of outgoing frames.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Refuses settings that cannot work, with
    /// [`ValidationError::InvalidSetting`] naming the first one found: a
    /// zero cap (`max_unacked_bytes`, `max_unacked_batches`), a zero
    /// `ack_timeout`, or a `compression` whose codec this build left out
    /// (cargo features `zstd`, `gzip`).
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.max_unacked_bytes == 0 {
            return Err(greater_than_zero("max_unacked_bytes"));
        }
        if self.max_unacked_batches == 0 {
            return Err(greater_than_zero("max_unacked_batches"));
        }
        if self.ack_timeout.is_zero() {
            return Err(greater_than_zero("ack_timeout"));
        }
        if !self.compression.is_available() {
            return Err(ValidationError::InvalidSetting {
                setting: "compression",
                reason: format!(
                    "{:?} is not compiled in: enable the cargo feature `{}`",
                    self.compression,
                    self.compression.feature().unwrap_or_default()
                )
                .into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_that_cannot_work_are_named() {
        let refused = |config: AppendSessionConfig| match config.validate() {
            Err(ValidationError::InvalidSetting { setting, .. }) => setting,
            other => panic!("expected a refusal: {other:?}"),
        };
        let base = AppendSessionConfig::default();
        assert_eq!(base.validate(), Ok(()));
        assert_eq!(refused(base.with_max_unacked_bytes(0)), "max_unacked_bytes");
        assert_eq!(
            refused(base.with_max_unacked_batches(0)),
            "max_unacked_batches"
        );
        assert_eq!(
            refused(base.with_ack_timeout(Duration::ZERO)),
            "ack_timeout"
        );
        // The smallest values that work.
        let smallest = base
            .with_max_unacked_bytes(1)
            .with_max_unacked_batches(1)
            .with_ack_timeout(Duration::from_nanos(1));
        assert_eq!(smallest.validate(), Ok(()));
    }
}
