//! The request's bounds: its count and bytes budgets, `until`, and the
//! wait, kept across reconnects.

use std::time::{Duration, Instant};

use super::ReadSession;
use crate::{
    session::deadline,
    types::{ReadStart, StreamPosition},
};

impl ReadSession {
    /// Starts the request's wait over at `now`.
    pub(super) fn restart_wait(&mut self, now: Instant) {
        self.wait_until = self
            .request
            .wait_secs
            .map(|secs| deadline(now, Duration::from_secs(secs.into())));
    }

    /// What is left at `now` of the request's wait, if it has one.
    pub(super) fn remaining_wait(&self, now: Instant) -> Option<Duration> {
        self.wait_until
            .map(|until| until.saturating_duration_since(now))
    }

    /// Whether the session had a wait and less than a second of it is left:
    /// the service ends a session whose wait ran out, and a reconnect could
    /// only ask for none.
    pub(super) fn wait_ran_out(&self, now: Instant) -> bool {
        self.remaining_wait(now)
            .is_some_and(|left| left < Duration::from_secs(1))
    }

    /// Whether the session ends once it reaches the tail (it is bounded),
    /// instead of following it.
    pub(super) fn stops_at_tail(&self) -> bool {
        self.request.limit.is_bounded() || self.request.until.is_some()
    }

    /// Whether a clean end of a count-bounded read came before both its
    /// count and the tail the server reported. A byte limit or `until` can
    /// end a read early for reasons this side cannot see (the next record
    /// does not fit, or is too late), so only a count alone is judged.
    pub(super) fn ended_short(&self) -> bool {
        let count_only = self.request.limit.bytes.is_none() && self.request.until.is_none();
        count_only
            && self.remaining_count.is_some_and(|c| c > 0)
            && matches!((self.known_tail, self.next_seq_num), (Some(t), Some(n)) if t > n)
    }

    /// Whether a heartbeat's tail, before any record, is where this read
    /// resumes: yes for starts relative to time or the tail, and for a
    /// clamped start past the tail; an explicit earlier start stays.
    pub(super) fn adopts_tail(&self, tail: StreamPosition) -> bool {
        match self.request.start {
            ReadStart::Timestamp(_) | ReadStart::TailOffset(_) => true,
            ReadStart::SeqNum(start) => start >= tail.seq_num,
        }
    }

    /// Whether the count or bytes budget is used up.
    pub(super) fn budget_exhausted(&self) -> bool {
        self.remaining_count == Some(0) || self.remaining_bytes == Some(0)
    }
}
