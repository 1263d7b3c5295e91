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

/// How long without any frame before a session connection is presumed dead.
pub const DEFAULT_HEARTBEAT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);
