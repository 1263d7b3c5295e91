//! [`AppendSessionOptions`]: what one append session (or producer) sets
//! over the client's configuration.

use std::time::Duration;

use s2_core::{frame::Compression, session::append::AppendSessionConfig};

use crate::config::ClientConfig;

/// Settings of one append session (or producer) that override the
/// client's: its unacknowledged caps, ack timeout and frame compression.
/// What is not set comes from the [`ClientConfig`].
///
/// Setters take any value; a session (or producer) whose options cannot
/// work is refused when it opens, before anything is sent, with a
/// [`ValidationError::InvalidSetting`](crate::error::ValidationError::InvalidSetting)
/// naming the setting: the same check as the client's own
/// `max_unacked_bytes` and `ack_timeout` get when it is built.
///
/// ```
/// # use s2_client::config::{AppendSessionOptions, Compression};
/// # use std::time::Duration;
/// let options = AppendSessionOptions::new()
///     .with_max_unacked_bytes(8 * 1024 * 1024)
///     .with_max_unacked_batches(100)
///     .with_ack_timeout(Duration::from_secs(30))
///     .with_compression(Compression::Zstd);
/// assert_eq!(options.max_unacked_batches(), Some(100));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendSessionOptions {
    max_unacked_bytes: Option<u64>,
    max_unacked_batches: Option<usize>,
    ack_timeout: Option<Duration>,
    compression: Option<Compression>,
}

impl AppendSessionOptions {
    /// Options that take everything from the client's configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the most metered bytes the session keeps unacknowledged before
    /// submitting waits (more than zero; one batch is always let in, so a
    /// cap under a batch's size sends one batch at a time). Default:
    /// [`ClientConfig::max_unacked_bytes`] (5 MiB).
    pub fn with_max_unacked_bytes(mut self, bytes: u64) -> Self {
        self.max_unacked_bytes = Some(bytes);
        self
    }

    /// Sets the most batches the session keeps unacknowledged before
    /// submitting waits (more than zero). Default:
    /// [`DEFAULT_MAX_UNACKED_BATCHES`](crate::config::DEFAULT_MAX_UNACKED_BATCHES).
    pub fn with_max_unacked_batches(mut self, batches: usize) -> Self {
        self.max_unacked_batches = Some(batches);
        self
    }

    /// Sets how long a sent batch may wait for its ack before the
    /// connection is presumed broken (more than zero; longer than
    /// [`MAX_DURATION`](crate::config::MAX_DURATION) is cut to it). Default:
    /// [`ClientConfig::ack_timeout`] (10 s).
    pub fn with_ack_timeout(mut self, timeout: Duration) -> Self {
        self.ack_timeout = Some(timeout);
        self
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
    pub fn max_unacked_batches(&self) -> Option<usize> {
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
    /// Its [`validate`](AppendSessionConfig::validate) is the one check of
    /// these settings, at the client's level and the session's.
    pub(crate) fn resolve(&self, client: &ClientConfig) -> AppendSessionConfig {
        let defaults = AppendSessionConfig::default();
        defaults
            .with_max_unacked_bytes(self.max_unacked_bytes.unwrap_or(client.max_unacked_bytes()))
            .with_max_unacked_batches(
                self.max_unacked_batches
                    .unwrap_or(defaults.max_unacked_batches()),
            )
            .with_ack_timeout(
                self.ack_timeout
                    .map_or(client.ack_timeout(), s2_core::time::saturate),
            )
            .with_retry_policy(client.append_retry_policy())
            .with_backoff(client.retry())
            .with_compression(self.compression.unwrap_or(client.compression()))
    }
}
