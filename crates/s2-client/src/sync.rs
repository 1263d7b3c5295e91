//! Locking that outlives a panic elsewhere.

use std::sync::{MutexGuard, PoisonError};

/// A mutex whose lock ignores poisoning: the client's shared state (pools,
/// gates, failure slots) is updated in single steps under its lock, so a
/// panic in some other holder leaves nothing half-written, and the client
/// keeps serving its other callers. Every lock of the crate is one of these.
#[derive(Default)]
pub(crate) struct Mutex<T>(std::sync::Mutex<T>);

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(std::sync::Mutex::new(value))
    }

    /// Locks, whether or not an earlier holder panicked.
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
