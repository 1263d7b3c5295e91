//! Timers on the virtual clock.

use std::{
    collections::BTreeMap,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, Waker},
    time::Duration,
};

use super::Shared;

/// Wakers waiting for a virtual time, in time order (ties in the order they
/// were set).
#[derive(Default)]
pub(crate) struct Timers {
    wakers: BTreeMap<(Duration, u64), Waker>,
    next: u64,
}

impl Timers {
    /// Wakes `waker` at `at`; returns the key to cancel it with.
    pub(crate) fn insert(&mut self, at: Duration, waker: Waker) -> (Duration, u64) {
        let key = (at, self.next);
        self.next += 1;
        self.wakers.insert(key, waker);
        key
    }

    pub(crate) fn remove(&mut self, key: (Duration, u64)) {
        self.wakers.remove(&key);
    }

    pub(crate) fn next_deadline(&self) -> Option<Duration> {
        self.wakers.keys().next().map(|(at, _)| *at)
    }

    /// The wakers due at `now`, removed.
    pub(crate) fn take_due(&mut self, now: Duration) -> Vec<Waker> {
        let later = self.wakers.split_off(&(now, u64::MAX));
        std::mem::replace(&mut self.wakers, later)
            .into_values()
            .collect()
    }

    pub(crate) fn take_all(&mut self) -> Vec<Waker> {
        std::mem::take(&mut self.wakers).into_values().collect()
    }
}

/// Completes once the virtual clock reaches its deadline. A zero-length
/// sleep is ready at its first poll, as tokio's is.
pub(crate) struct Sleep {
    shared: Arc<Shared>,
    deadline: Duration,
    timer: Option<(Duration, u64)>,
}

impl Sleep {
    pub(crate) fn until(shared: Arc<Shared>, deadline: Duration) -> Self {
        Self {
            shared,
            deadline,
            timer: None,
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let shared = self.shared.clone();
        let mut state = shared.state();
        if let Some(key) = self.timer.take() {
            state.timers.remove(key);
        }
        if state.now >= self.deadline {
            return Poll::Ready(());
        }
        self.timer = Some(state.timers.insert(self.deadline, cx.waker().clone()));
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.timer.take() {
            self.shared.state().timers.remove(key);
        }
    }
}
