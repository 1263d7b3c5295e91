//! Retry decisions, without a clock: whether a failed call may be repeated,
//! and how a read session's retry policy shapes its backoff.
//!
//! The delays themselves come from [`backoff`](crate::backoff); these are
//! the questions asked before a delay is. The append policy
//! ([`AppendRetryPolicy`]) is an append session's setting, and lives with
//! the others; the read policy ([`ReadRetryPolicy`]) is a client's, and
//! lives here.

use std::time::Duration;

use crate::{Error, api::Idempotency, backoff::BackoffConfig, session::append::AppendRetryPolicy};

/// Whether a failed attempt of a call of this kind may be repeated: never
/// after a failure that is not retryable; always when the attempt provably
/// had no effect; otherwise only when repeating it is safe, which for an
/// append is the caller's `policy` to say.
///
/// ```
/// # use s2_core::{Error, api::Idempotency, error::Sent, retry::may_retry};
/// # use s2_core::session::append::AppendRetryPolicy;
/// let cut = Error::transport(Sent::Maybe, "connection reset");
/// assert!(may_retry(&cut, Idempotency::Append, AppendRetryPolicy::All));
/// assert!(!may_retry(&cut, Idempotency::Append, AppendRetryPolicy::NoSideEffects));
/// ```
pub fn may_retry(error: &Error, idempotency: Idempotency, policy: AppendRetryPolicy) -> bool {
    if !error.is_retryable() {
        return false;
    }
    if !error.may_have_side_effect() {
        return true;
    }
    match idempotency {
        Idempotency::Idempotent => true,
        Idempotency::NotIdempotent => false,
        Idempotency::Append => policy == AppendRetryPolicy::All,
    }
}

/// How a read session treats retryable failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ReadRetryPolicy {
    /// Give up once the retry budget (a count and a window, by default a
    /// minute of retries; see [`BackoffConfig`]) is spent without progress.
    #[default]
    Budgeted,
    /// Never give up on a retryable failure: for tailers that must outlive
    /// any outage. The backoff delays still grow to their maximum; a
    /// non-retryable failure (or a service asking to wait longer than a
    /// minute) still ends the session.
    Indefinite,
}

/// The backoff a read session runs with under `policy`, from the
/// configured one: unchanged when budgeted; with no window and no count
/// that any process outlives when indefinite (the delays are kept).
///
/// ```
/// # use s2_core::{backoff::BackoffConfig, retry::{ReadRetryPolicy, read_session_backoff}};
/// # use std::time::Duration;
/// let configured = BackoffConfig::default();
/// assert_eq!(read_session_backoff(ReadRetryPolicy::Budgeted, configured), configured);
/// let endless = read_session_backoff(ReadRetryPolicy::Indefinite, configured);
/// assert_eq!(endless.retry_window(), Duration::MAX);
/// assert_eq!(endless.base_delay(), configured.base_delay());
/// ```
pub fn read_session_backoff(policy: ReadRetryPolicy, configured: BackoffConfig) -> BackoffConfig {
    match policy {
        ReadRetryPolicy::Budgeted => configured,
        // At the longest delay, more retries than any process lives, and
        // no window.
        ReadRetryPolicy::Indefinite => configured
            .with_max_retries(u32::MAX)
            .with_retry_window(Duration::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Sent, ServiceError};

    fn unavailable() -> Error {
        Error::Service(ServiceError::from_server(503, "unavailable", "", None))
    }

    #[test]
    fn append_retries_follow_policy() {
        let e = unavailable();
        assert!(may_retry(&e, Idempotency::Append, AppendRetryPolicy::All));
        assert!(!may_retry(
            &e,
            Idempotency::Append,
            AppendRetryPolicy::NoSideEffects
        ));
        assert!(may_retry(
            &e,
            Idempotency::Idempotent,
            AppendRetryPolicy::NoSideEffects
        ));
        assert!(!may_retry(
            &e,
            Idempotency::NotIdempotent,
            AppendRetryPolicy::All
        ));
        let unsent = Error::transport(Sent::No, "refused");
        assert!(may_retry(
            &unsent,
            Idempotency::Append,
            AppendRetryPolicy::NoSideEffects
        ));
    }

    #[test]
    fn what_is_not_retryable_is_never_retried() {
        let refused = Error::Service(ServiceError::from_server(400, "invalid", "", None));
        assert!(!refused.is_retryable());
        for idempotency in [
            Idempotency::Idempotent,
            Idempotency::NotIdempotent,
            Idempotency::Append,
        ] {
            assert!(!may_retry(&refused, idempotency, AppendRetryPolicy::All));
        }
    }

    #[test]
    fn an_indefinite_read_policy_lifts_only_the_budget() {
        let configured = BackoffConfig::default()
            .with_base_delay(Duration::from_millis(7))
            .with_max_delay(Duration::from_secs(3))
            .with_max_retries(4)
            .with_retry_window(Duration::from_secs(9));
        assert_eq!(
            read_session_backoff(ReadRetryPolicy::Budgeted, configured),
            configured
        );
        let endless = read_session_backoff(ReadRetryPolicy::Indefinite, configured);
        assert_eq!(endless.max_retries(), u32::MAX);
        assert_eq!(endless.retry_window(), Duration::MAX);
        assert_eq!(endless.base_delay(), configured.base_delay());
        assert_eq!(endless.max_delay(), configured.max_delay());
    }
}
