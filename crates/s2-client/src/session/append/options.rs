//! [`AppendSessionOptions`]: what one append session (or producer) sets
//! over the client's configuration.

use std::{num::NonZeroUsize, time::Duration};

use s2_core::{
    error::ValidationError, frame::Compression, session::append::AppendSessionConfig,
    types::MAX_BATCH_METERED_BYTES,
};

use crate::config::ClientConfig;

/// Settings of one append session (or producer) that override the
/// client's: its unacknowledged caps, ack timeout and frame compression.
/// What is not set comes from the [`ClientConfig`].
///
/// ```
/// # use s2_client::{AppendSessionOptions, Compression};
/// # use std::{num::NonZeroUsize, time::Duration};
/// let options = AppendSessionOptions::new()
///     .with_max_unacked_bytes(8 * 1024 * 1024)?
///     .with_max_unacked_batches(NonZeroUsize::new(100).expect("not zero"))
///     .with_ack_timeout(Duration::from_secs(30))?
///     .with_compression(Compression::Zstd);
/// # Ok::<(), s2_client::ValidationError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppendSessionOptions {
    max_unacked_bytes: Option<u64>,
    max_unacked_batches: Option<NonZeroUsize>,
    ack_timeout: Option<Duration>,
    compression: Option<Compression>,
}

/// Default of the most batches an append session keeps unacknowledged.
pub const DEFAULT_MAX_UNACKED_BATCHES: usize = 1000;

impl AppendSessionOptions {
    /// Options that take everything from the client's configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the most metered bytes the session keeps unacknowledged before
    /// submitting waits; at least 1 MiB (the largest batch), as in the
    /// official SDKs. Default: [`ClientConfig::max_unacked_bytes`] (5 MiB).
    pub fn with_max_unacked_bytes(mut self, bytes: u64) -> Result<Self, ValidationError> {
        if bytes < MAX_BATCH_METERED_BYTES {
            return Err(ValidationError::InvalidConfig {
                reason: format!(
                    "max_unacked_bytes must be at least {MAX_BATCH_METERED_BYTES} (one full \
                     batch), got {bytes}"
                )
                .into(),
            });
        }
        self.max_unacked_bytes = Some(bytes);
        Ok(self)
    }

    /// Sets the most batches the session keeps unacknowledged before
    /// submitting waits. Default: [`DEFAULT_MAX_UNACKED_BATCHES`].
    pub fn with_max_unacked_batches(mut self, batches: NonZeroUsize) -> Self {
        self.max_unacked_batches = Some(batches);
        self
    }

    /// Sets how long a sent batch may wait for its ack before the
    /// connection is presumed broken (more than zero; longer than
    /// [`MAX_DURATION`](crate::MAX_DURATION) is cut to it). Default:
    /// [`ClientConfig::ack_timeout`] (10 s).
    pub fn with_ack_timeout(mut self, timeout: Duration) -> Result<Self, ValidationError> {
        if timeout.is_zero() {
            return Err(ValidationError::InvalidConfig {
                reason: "the ack timeout must be more than zero".into(),
            });
        }
        self.ack_timeout = Some(timeout.min(crate::MAX_DURATION));
        Ok(self)
    }

    /// Sets the compression of the session's frames (those of 1 KiB or
    /// more). Default: [`ClientConfig::compression`].
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = Some(compression);
        self
    }

    /// The most unacknowledged metered bytes, if set here.
    pub fn max_unacked_bytes(&self) -> Option<u64> {
        self.max_unacked_bytes
    }

    /// The most unacknowledged batches, if set here.
    pub fn max_unacked_batches(&self) -> Option<NonZeroUsize> {
        self.max_unacked_batches
    }

    /// The ack timeout, if set here.
    pub fn ack_timeout(&self) -> Option<Duration> {
        self.ack_timeout
    }

    /// The frame compression, if set here.
    pub fn compression(&self) -> Option<Compression> {
        self.compression
    }

    /// The session machine's configuration: these options over `client`'s.
    pub(crate) fn resolve(&self, client: &ClientConfig) -> AppendSessionConfig {
        // Settings the core may add later keep their defaults.
        #[allow(clippy::needless_update)]
        AppendSessionConfig {
            max_unacked_bytes: self.max_unacked_bytes.unwrap_or(client.max_unacked_bytes),
            max_unacked_batches: self
                .max_unacked_batches
                .map_or(DEFAULT_MAX_UNACKED_BATCHES, NonZeroUsize::get),
            ack_timeout: self.ack_timeout.unwrap_or(client.ack_timeout),
            retry_policy: client.append_retry_policy,
            backoff: client.retry,
            seed: crate::random::u64(),
            compression: self.compression.unwrap_or(client.compression),
            ..AppendSessionConfig::default()
        }
    }
}
