//! Settings of an append session.

use std::time::Duration;

use crate::{backoff::BackoffConfig, frame::Compression};

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
