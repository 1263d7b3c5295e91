//! The unary retry loop: send, parse, and retry with backoff only when it is
//! safe.

use s2_core::{
    AccessToken, Error,
    api::{Call, HttpResponse},
    backoff::Backoff,
    retry::may_retry,
};

use std::time::Instant;

use tracing::Instrument;

use crate::{auth, inner::ClientInner, runtime::Runtime};

/// Runs `call` until it succeeds, fails for good, or the retry budget is
/// spent: the count, or the retry window, which covers the whole call.
pub(crate) async fn execute<R: Runtime, T>(
    inner: &ClientInner<R>,
    call: Call<T>,
) -> Result<T, Error> {
    execute_tracking(inner, call).await.result
}

/// [`execute`] within a retry window that opened at `opened` (when it is
/// open): a session's resolution retries within the session's window, so
/// a session never retries for longer than one window.
pub(crate) async fn execute_within<R: Runtime, T>(
    inner: &ClientInner<R>,
    call: Call<T>,
    opened: Option<Instant>,
) -> Result<T, Error> {
    let span = crate::trace::call_span(&call.request);
    let mut attempts = 0;
    run_attempts(inner, call, &mut attempts, opened)
        .instrument(span)
        .await
        .result
}

/// The result of a call, and what an earlier attempt left unknown.
pub(crate) struct Tracked<T> {
    pub(crate) result: Result<T, Error>,
    /// The first failure of an attempt that may have been applied, when a
    /// later attempt ran.
    pub(crate) unknown_outcome: Option<Error>,
    /// The last attempt's error, when `result` carries the earlier unknown
    /// outcome in its place.
    pub(crate) hidden_last_error: Option<Error>,
}

/// [`execute`], also saying whether an earlier attempt may have been
/// applied. When it may have, a final error that proves only that the *last*
/// attempt had no effect is replaced by that earlier error, so the caller
/// is never told "nothing happened" when something might have.
pub(crate) async fn execute_tracking<R: Runtime, T>(
    inner: &ClientInner<R>,
    call: Call<T>,
) -> Tracked<T> {
    let span = crate::trace::call_span(&call.request);
    let mut attempts = 0;
    let tracked = run_attempts(inner, call, &mut attempts, None)
        .instrument(span.clone())
        .await;
    let outcome = match &tracked.result {
        Ok(_) => "ok",
        Err(e) if e.may_have_side_effect() => "unknown",
        Err(_) => "failed",
    };
    span.record("attempts", attempts);
    span.record("outcome", outcome);
    tracked
}

/// Runs a delete for which "not found" (`code` with its 404) means done:
/// also when it answers a retry that followed an attempt whose answer was
/// lost, which may itself have been the delete.
pub(crate) async fn execute_unless_not_found<R: Runtime>(
    inner: &ClientInner<R>,
    call: Call<()>,
    code: &str,
) -> Result<(), Error> {
    let not_found = |e: &Error| matches!(e, Error::Service(s) if s.status == 404 && s.code == code);
    let tracked = execute_tracking(inner, call).await;
    match tracked.result {
        Err(e) if !not_found(&e) && !tracked.hidden_last_error.as_ref().is_some_and(not_found) => {
            Err(e)
        }
        _ => Ok(()),
    }
}

/// The attempts of [`execute_tracking`], counted in `attempts`.
async fn run_attempts<R: Runtime, T>(
    inner: &ClientInner<R>,
    call: Call<T>,
    attempts: &mut u32,
    opened: Option<Instant>,
) -> Tracked<T> {
    let runtime = inner.transport.runtime();
    let mut backoff = Backoff::new(inner.config.retry(), runtime.random_u64());
    // The window covers the whole call (or the session it serves), so a
    // call never outlives it by more than its last attempt.
    backoff.open_window(opened.unwrap_or_else(|| runtime.now()));
    let mut unknown_outcome: Option<Error> = None;
    // A token refused with a 401 earns one retry with a fresh token.
    let mut refreshed = false;
    loop {
        *attempts += 1;
        let error = match attempt_parsed(inner, &call, &mut refreshed).await {
            Outcome::Parsed(Ok(value)) => {
                return Tracked {
                    result: Ok(value),
                    unknown_outcome,
                    hidden_last_error: None,
                };
            }
            Outcome::Parsed(Err(error)) => error,
            Outcome::RefreshToken => continue,
        };
        let retry = may_retry(
            &error,
            call.idempotency(),
            inner.config.append_retry_policy(),
        )
        .then(|| backoff.next_delay(runtime.now(), error.retry_after()))
        .flatten();
        let Some(delay) = retry else {
            return give_up(error, unknown_outcome);
        };
        if error.may_have_side_effect() && unknown_outcome.is_none() {
            unknown_outcome = Some(error.clone());
        }
        tracing::debug!(
            cause = %crate::trace::Chain(&error),
            ?delay,
            attempt = *attempts,
            may_have_side_effect = error.may_have_side_effect(),
            "retrying"
        );
        crate::metrics::retry(crate::metrics::Retry::Call);
        runtime.sleep(delay).await;
    }
}

/// What one attempt of a call came to.
enum Outcome<T> {
    /// The call's result, parsed from the response (or the attempt's
    /// error).
    Parsed(Result<T, Error>),
    /// The provider's token was refused, for the first time in this call:
    /// it is dropped, and the call is tried again at once with a fresh one.
    RefreshToken,
}

/// One attempt of `call`, parsed; `refreshed` says whether the call has
/// already had its retry with a fresh token (and is set when this attempt
/// earns it).
async fn attempt_parsed<R: Runtime, T>(
    inner: &ClientInner<R>,
    call: &Call<T>,
    refreshed: &mut bool,
) -> Outcome<T> {
    match attempt(inner, call).await {
        Ok(Answer {
            response,
            token: Some(token),
        }) if auth::is_unauthorized(response.status) => {
            auth::invalidate(&inner.config, &token);
            if !*refreshed {
                *refreshed = true;
                return Outcome::RefreshToken;
            }
            Outcome::Parsed(call.parse(response))
        }
        Ok(Answer { response, .. }) => Outcome::Parsed(call.parse(response)),
        Err(e) => Outcome::Parsed(Err(e)),
    }
}

/// The result of a call that ends with `error`, no retry following.
///
/// An append condition is left to the caller, which must resolve it or
/// return `unknown_outcome` (see `Stream::append`); anything else proving
/// only that the last attempt had no effect hides the earlier unknown
/// outcome.
fn give_up<T>(error: Error, unknown_outcome: Option<Error>) -> Tracked<T> {
    let (result, hidden_last_error) = match &unknown_outcome {
        Some(earlier)
            if !error.may_have_side_effect() && !matches!(error, Error::AppendCondition(_)) =>
        {
            (Err(earlier.clone()), Some(error))
        }
        _ => (Err(error), None),
    };
    Tracked {
        result,
        unknown_outcome,
        hidden_last_error,
    }
}

/// A response to one attempt, and the provider's token it carried, if any.
struct Answer {
    response: HttpResponse,
    token: Option<AccessToken>,
}

/// One attempt of `call`, with the provider's token when there is one.
async fn attempt<R: Runtime, T>(inner: &ClientInner<R>, call: &Call<T>) -> Result<Answer, Error> {
    if inner.config.access_token_provider().is_none() {
        let response = inner
            .transport
            .send(&call.request, call.timeout_allowance())
            .await?;
        return Ok(Answer {
            response,
            token: None,
        });
    }
    let mut request = call.request.clone();
    let token = auth::authorize(&inner.config, &mut request).await?;
    let response = inner
        .transport
        .send(&request, call.timeout_allowance())
        .await?;
    Ok(Answer { response, token })
}
