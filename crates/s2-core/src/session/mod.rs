//! Session state machines: append and read sessions over `s2s` frames,
//! with reconnection, retries and exactly-once resolution.
//!
//! Both machines follow one pattern. The driver feeds inputs with `handle_*`
//! methods (a connection opened, bytes arrived, the connection failed, the
//! clock advanced) and drains outputs with `poll_*` methods until they
//! return `None`, then waits for the next input or for the instant
//! `poll_timeout` returns. Every connection the machine asks for carries a
//! [`ConnectionId`]; inputs about an older connection are ignored, so a
//! driver never has to worry about late events from a connection it
//! already dropped.

pub mod append;
pub mod read;

/// Identifies one connection attempt of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

use std::time::{Duration, Instant};

/// How long without any frame before a session connection is presumed dead.
pub const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(20);

/// Least time between two reconnects on the server's advice (the official
/// Python SDK allows one a minute too). Advice that comes sooner is ignored:
/// a server advising on every frame must not make a session reconnect
/// without delay or limit.
pub const ADVISED_RECONNECT_INTERVAL: Duration = Duration::from_secs(60);

/// `now + wait`, saturated far in the future: a caller's absurd timeout
/// (`Duration::MAX`) means "never", not a panic.
fn deadline(now: Instant, wait: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    now.checked_add(wait.min(FAR))
        .or_else(|| now.checked_add(Duration::from_secs(u32::MAX.into())))
        .unwrap_or(now)
}

/// Rate limit of reconnects on the server's advice.
#[derive(Debug, Clone, Copy, Default)]
struct AdviceLimiter {
    /// When the last advised reconnect was granted.
    last: Option<Instant>,
}

impl AdviceLimiter {
    /// Whether a reconnect advised at `now` may be followed; if so, it counts.
    fn try_acquire(&mut self, now: Instant) -> bool {
        let recent = self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < ADVISED_RECONNECT_INTERVAL);
        if !recent {
            self.last = Some(now);
        }
        !recent
    }
}
