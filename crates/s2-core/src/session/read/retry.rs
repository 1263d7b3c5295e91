//! What a failed connection leads to: a reconnect, through the backoff
//! unless the server announced it, or the end of the session.

use std::time::{Duration, Instant};

use super::{Phase, ReadEvent, ReadSession, batch::inconsistent};
use crate::{api::SessionRejection, error::Error, session::deadline, types::StreamPosition};

/// How long a connection that delivered frames must have lasted for its
/// failure to count as a new one, with a fresh retry budget: a session on a
/// quiet stream whose connections are cut now and then (load balancers) must
/// not use up its budget over its lifetime, while a server that answers and
/// then fails at once must not reset it.
const STABLE_CONNECTION: Duration = Duration::from_secs(60);

impl ReadSession {
    /// The service refused the current connection, or ended it with an
    /// error frame.
    pub(super) fn handle_rejection(&mut self, rejection: SessionRejection, now: Instant) {
        match rejection.past_tail {
            Some(tail) => self.handle_past_tail(tail, rejection.into_error(), now),
            None => self.handle_failure(rejection.into_error(), now),
        }
    }

    /// The current connection failed with `error`.
    pub(super) fn handle_failure(&mut self, error: Error, now: Instant) {
        if !error.is_retryable() {
            return self.fail(error);
        }
        if error.code() == Some("server_draining") && self.advice.try_acquire(now) {
            // The server is going away, as if it had advised reconnecting:
            // no failure of ours, so free of the retry budget.
            return self.reconnect_after(Duration::ZERO, now);
        }
        self.retry(error, now);
    }

    /// The service refused the read with a 416 (`error`): the start is past
    /// (or, for a read that does not wait, at) the tail.
    fn handle_past_tail(&mut self, tail: StreamPosition, error: Error, now: Instant) {
        // No position of our own yet: the caller's start is past the tail.
        let Some(next) = self.next_seq_num else {
            return self.finish(ReadEvent::Tail(tail));
        };
        // A resume: everything before `next` was delivered, so the tail is
        // at least `next`, and the resume is refused only at the tail.
        if tail.seq_num != next {
            return self.fail(
                inconsistent(format!(
                    "a resume from {next} was refused with the tail at {}",
                    tail.seq_num
                ))
                .into(),
            );
        }
        if self.stops_at_tail() {
            // Caught up: a bounded read has nothing more to deliver.
            return self.finish(ReadEvent::Finished);
        }
        if !self.caught_up {
            self.caught_up = true;
            self.events.push_back(ReadEvent::CaughtUp(tail));
        }
        // A tailing read keeps following (the resume is clamped), through
        // the backoff: a server that keeps refusing must not spin us, and
        // once the budget is spent the session fails with the refusal.
        self.retry(error, now);
    }

    /// Reconnects after a backoff, or fails with `error` once the budget is
    /// spent. A connection that lasted counts as progress.
    pub(super) fn retry(&mut self, error: Error, now: Instant) {
        if let Some(link) = self.phase.link()
            && link.heard
            && now.saturating_duration_since(link.opened) >= STABLE_CONNECTION
        {
            self.backoff.reset();
        }
        match self.backoff.next_delay(now, error.retry_after()) {
            Some(delay) => self.reconnect_after(delay, now),
            None => self.fail(error),
        }
    }

    /// Connects again after `delay` (at once when it is zero).
    pub(super) fn reconnect_after(&mut self, delay: Duration, now: Instant) {
        if delay.is_zero() {
            self.connect(now);
        } else {
            self.phase = Phase::Backoff {
                until: deadline(now, delay),
            };
        }
    }
}
