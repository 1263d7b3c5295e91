//! What a failed connection leads to: a resend, exactly-once resolution,
//! or the end of the session.

use std::{borrow::Cow, time::Instant};

use super::{AppendEvent, AppendRetryPolicy, AppendSession, Phase};
use crate::{
    error::Sent,
    error::{AppendConditionFailed, Error, ProtocolError},
    session::deadline,
};

/// What follows a backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Then {
    /// Connect again and resend what is unacknowledged.
    Reconnect,
    /// Find out what landed first (exactly-once resolution).
    Resolve,
}

/// How a connection failed, as far as the frames sent on it go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    /// It broke: what was sent may have been applied, if the error allows.
    Broken,
    /// The service refused the session: nothing sent on it was applied.
    Refused,
}

/// Whether a retry spends the retry budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Budget {
    /// A failure: wait, and count it.
    Spend,
    /// The server announced it (advice, draining): go at once, uncounted.
    /// Rate-limited by [`AdviceLimiter`](crate::session::AdviceLimiter).
    Free,
}

impl AppendSession {
    /// The current connection failed with `error`.
    pub(super) fn handle_failure(&mut self, error: Error, now: Instant, failure: Failure) {
        let link = self
            .phase
            .link()
            .expect("only the current connection fails, and it is open");
        self.events.push_back(AppendEvent::Disconnect(link.id));
        self.phase = Phase::Idle;
        if self.pending.is_empty() {
            // Nothing at stake: reconnect on the next submit.
            self.finish_if_drained();
            return;
        }
        if let Error::AppendCondition(AppendConditionFailed::SeqNumMismatch { expected }) = error {
            if self.acked_end.is_some_and(|end| expected < end) {
                // A refusal that contradicts the server's own acks proves
                // nothing: what went out on the connection may have landed.
                for entry in self.pending.iter_mut().take(link.sent) {
                    entry.maybe_landed = true;
                }
                return self.fail_behind_acks(expected);
            }
            let front = &self.pending[0];
            if front.attempts > 1 || self.pending.iter().any(|e| e.maybe_landed) {
                // An earlier attempt may have landed: find out (after a
                // backoff, so a server repeating itself cannot spin us).
                let cause = format!("the tail is at {expected}: resolving an unknown outcome");
                let error = Error::transport(Sent::Maybe, cause);
                return self.retry_or_fail(error, Then::Resolve, Budget::Spend, now);
            }
            // A first attempt, and nothing of the session's may be on the
            // stream: another writer got there first, and none of the
            // unacknowledged inputs was applied.
            return self.conflict(
                expected,
                "the stream's tail is not where this session's next batch was to go",
            );
        }
        if error.may_have_side_effect() && failure == Failure::Broken {
            for entry in self.pending.iter_mut().take(link.sent) {
                entry.maybe_landed = true;
            }
        }
        let unknown = self.pending.iter().any(|e| e.maybe_landed);
        let conditioned = self.pending[0].input.match_seq_num().is_some();
        if !error.is_retryable() {
            return self.fail(error);
        }
        // A connection the server said it would drop (advice, or a
        // draining server) going away is no failure of ours.
        let budget = if link.draining
            || (error.code() == Some("server_draining") && self.advice.try_acquire(now))
        {
            Budget::Free
        } else {
            Budget::Spend
        };
        if unknown && conditioned {
            return self.retry_or_fail(error, Then::Resolve, budget, now);
        }
        if unknown && self.config.retry_policy() == AppendRetryPolicy::NoSideEffects {
            return self.fail(error);
        }
        self.retry_or_fail(error, Then::Reconnect, budget, now)
    }

    /// Backs off, then resolves or reconnects; fails when the budget is
    /// spent.
    pub(super) fn retry_or_fail(&mut self, error: Error, then: Then, budget: Budget, now: Instant) {
        if !error.is_retryable() {
            return self.fail(error);
        }
        let delay = match budget {
            Budget::Free => Some(std::time::Duration::ZERO),
            Budget::Spend => self.backoff.next_delay(now, error.retry_after()),
        };
        match delay {
            Some(delay) => {
                self.phase = Phase::Backoff {
                    until: deadline(now, delay),
                    then,
                }
            }
            None => self.fail(error),
        }
    }

    /// The server says the stream ends at `tail`, before the end of a batch
    /// it acknowledged: it contradicts itself, so nothing it says about the
    /// unacknowledged inputs can be trusted, and their outcome stays
    /// unknown (a protocol error, not a conflict that would claim them not
    /// applied).
    pub(super) fn fail_behind_acks(&mut self, tail: u64) {
        let end = self.acked_end.unwrap_or(tail);
        let reason =
            format!("the tail is at {tail}, before the end of an acknowledged batch ({end})");
        self.fail(Error::Protocol(ProtocolError::Inconsistent(reason.into())));
    }

    /// Another writer's records are where this session's were to go: none
    /// of the unacknowledged inputs was applied.
    pub(super) fn conflict(&mut self, seq_num: u64, reason: impl Into<Cow<'static, str>>) {
        for entry in &mut self.pending {
            entry.maybe_landed = false;
        }
        self.fail(Error::WriterConflict {
            seq_num,
            reason: reason.into(),
        });
    }

    /// Stops the session, reporting which unacked inputs may have landed.
    pub(super) fn fail(&mut self, cause: Error) {
        let first = self.pending.front().map_or(self.next_id, |e| e.id);
        let maybe_end = self
            .pending
            .iter()
            .rposition(|e| e.maybe_landed)
            .map_or(first, |i| self.pending[i].id + 1);
        self.events
            .push_back(AppendEvent::Failed(Error::AppendSession {
                cause: Box::new(cause),
                maybe_applied: first..maybe_end,
                not_applied: maybe_end..self.next_id,
            }));
        self.pending.clear();
        self.pending_bytes = 0;
        self.phase = Phase::Done;
    }
}
