//! The unary retry loop: send, parse, and retry with backoff only when it is
//! safe.

use s2_core::{
    Error,
    api::{Call, Idempotency},
    backoff::Backoff,
};

use crate::{client::ClientInner, config::AppendRetryPolicy, runtime::Runtime};

/// Whether a failed attempt of a call of this kind may be repeated.
pub(crate) fn may_retry(
    error: &Error,
    idempotency: Idempotency,
    policy: AppendRetryPolicy,
) -> bool {
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

/// Runs `call` until it succeeds, fails for good, or the retry budget is
/// spent.
pub(crate) async fn execute<R: Runtime, T>(
    inner: &ClientInner<R>,
    call: Call<T>,
) -> Result<T, Error> {
    let mut backoff = Backoff::new(inner.config.retry, rand::random());
    loop {
        let result = match inner.transport.send(&call.request).await {
            Ok(response) => call.parse(response),
            Err(e) => Err(e),
        };
        let error = match result {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        if !may_retry(&error, call.idempotency(), inner.config.append_retry_policy) {
            return Err(error);
        }
        match backoff.next_delay(error.retry_after()) {
            Some(delay) => {
                tracing::debug!(%error, ?delay, "retrying");
                inner.transport.runtime().sleep(delay).await;
            }
            None => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s2_core::error::ServiceError;

    fn unavailable() -> Error {
        Error::Service(ServiceError {
            status: 503,
            code: "unavailable".into(),
            message: String::new(),
            retry_after: None,
        })
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
        let unsent = Error::transport(false, "refused");
        assert!(may_retry(
            &unsent,
            Idempotency::Append,
            AppendRetryPolicy::NoSideEffects
        ));
    }
}
