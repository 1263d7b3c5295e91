//! Locking that outlives a panic elsewhere.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, ignoring poisoning: the client's shared state (pools,
/// gates, failure slots) is updated in single steps under its lock, so a
/// panic in some other holder leaves nothing half-written, and the client
/// keeps serving its other callers.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
