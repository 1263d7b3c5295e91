//! Cancel-safe admission under backpressure, shared by a handle (whose
//! callers submit) and its driver (which releases room as acks come).
//!
//! Waiting for room is the only await of a submit. Once there is room, the
//! input is handed over and the caller's future is built in the same poll,
//! under the gate's lock; so a submit future dropped at any moment either
//! handed nothing over or already returned. Waiters are served in arrival
//! order.
//!
//! Room can also be reserved ahead of the input ([`Gate::poll_reserve`]):
//! the wait is the same, and it ends by returning a [`Reserved`] that holds
//! the room. Handing an input over through it needs no more room, so it
//! cannot wait or fail for capacity; dropping it unused gives the room back.
//! Ids are still given at hand-over, so inputs keep one order whichever way
//! they came in.

use std::{
    collections::BTreeMap,
    future::poll_fn,
    sync::{Arc, MutexGuard},
    task::{Context, Poll, Waker},
};

use s2_core::{Error, error::ValidationError};

use crate::sync::Mutex;

/// How much may be admitted and not yet released.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Most metered bytes (one item is always admitted, whatever its size).
    pub(crate) max_bytes: u64,
    /// Most items.
    pub(crate) max_items: usize,
}

/// Admission state and `T`, the state the admitted inputs are handed to,
/// behind one lock.
pub(crate) struct Gate<T> {
    limits: Limits,
    state: Mutex<State<T>>,
}

struct State<T> {
    inner: T,
    bytes: u64,
    items: usize,
    /// Id of the next admitted input: 0, 1, 2, … in admission order.
    next_id: u64,
    /// Set once nothing more is admitted: the error submits get.
    stopped: Option<Error>,
    /// Wakers of waiting submits, by arrival.
    waiters: BTreeMap<u64, Waker>,
    next_waiter: u64,
}

impl<T> State<T> {
    fn has_room(&self, limits: Limits, bytes: u64) -> bool {
        self.items == 0
            || (self.items < limits.max_items
                && self.bytes.saturating_add(bytes) <= limits.max_bytes)
    }

    fn wake_first(&self) {
        if let Some(waker) = self.waiters.values().next() {
            waker.wake_by_ref();
        }
    }
}

/// A submit's place in the line of waiters; leaving it (the submit
/// finished or was dropped) lets the next one in.
pub(crate) struct Place<'a, T> {
    gate: &'a Gate<T>,
    key: Option<u64>,
}

impl<T> Drop for Place<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut state = self.gate.lock();
            let was_first = state.waiters.keys().next() == Some(&key);
            state.waiters.remove(&key);
            if was_first {
                state.wake_first();
            }
        }
    }
}

impl<T> Gate<T> {
    pub(crate) fn new(inner: T, limits: Limits) -> Self {
        Self {
            limits,
            state: Mutex::new(State {
                inner,
                bytes: 0,
                items: 0,
                next_id: 0,
                stopped: None,
                waiters: BTreeMap::new(),
                next_waiter: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Every critical section leaves the state consistent before anything
        // that could panic, so a poisoned lock is still usable.
        self.state.lock()
    }

    /// A place in line for one submit.
    pub(crate) fn place(&self) -> Place<'_, T> {
        Place {
            gate: self,
            key: None,
        }
    }

    /// [`poll_admit`](Self::poll_admit) as a future: the submit of both
    /// append sessions and producers. Cancel-safe: dropped before it
    /// completes, it admitted nothing.
    pub(crate) async fn admit<R>(
        &self,
        bytes: u64,
        admit: impl FnOnce(&mut T, u64) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let mut admit = Some(admit);
        let mut place = self.place();
        poll_fn(|cx| {
            self.poll_admit(&mut place, bytes, cx, |inner, id| {
                admit.take().expect("admitted once")(inner, id)
            })
        })
        .await
    }

    /// [`poll_reserve`](Self::poll_reserve) as a future. Cancel-safe:
    /// dropped before it completes, it took no room.
    pub(crate) async fn reserve(self: &Arc<Self>, bytes: u64) -> Result<Reserved<T>, Error> {
        let mut place = self.place();
        poll_fn(|cx| self.poll_reserve(&mut place, bytes, cx)).await
    }

    /// Waits (in line) for room for `bytes`, then runs `admit` with the
    /// inner state and the input's id, under the lock. When `admit`
    /// succeeds the room is taken and the id used; when it fails, nothing
    /// is. Fails at once when the gate is stopped.
    pub(crate) fn poll_admit<R>(
        &self,
        place: &mut Place<'_, T>,
        bytes: u64,
        cx: &mut Context<'_>,
        admit: impl FnOnce(&mut T, u64) -> Result<R, Error>,
    ) -> Poll<Result<R, Error>> {
        let mut state = match self.poll_room(place, bytes, cx) {
            Poll::Ready(Ok(state)) => state,
            Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
            Poll::Pending => return Poll::Pending,
        };
        let id = state.next_id;
        let result = admit(&mut state.inner, id);
        if result.is_ok() {
            state.next_id += 1;
            state.items += 1;
            state.bytes += bytes;
        }
        // There may be room for the next one too.
        state.wake_first();
        Poll::Ready(result)
    }

    /// Waits (in line) for room for `bytes` and takes it, for an input to
    /// come through the returned [`Reserved`]. Fails at once when the gate
    /// is stopped.
    pub(crate) fn poll_reserve(
        self: &Arc<Self>,
        place: &mut Place<'_, T>,
        bytes: u64,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Reserved<T>, Error>> {
        let mut state = match self.poll_room(place, bytes, cx) {
            Poll::Ready(Ok(state)) => state,
            Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
            Poll::Pending => return Poll::Pending,
        };
        state.items += 1;
        state.bytes += bytes;
        state.wake_first();
        Poll::Ready(Ok(Reserved {
            gate: Some(self.clone()),
            bytes,
        }))
    }

    /// The lock, once `place` is first in line and there is room for
    /// `bytes` (the place then leaves the line); an error once stopped.
    fn poll_room(
        &self,
        place: &mut Place<'_, T>,
        bytes: u64,
        cx: &mut Context<'_>,
    ) -> Poll<Result<MutexGuard<'_, State<T>>, Error>> {
        let mut state = self.lock();
        if let Some(error) = &state.stopped {
            return Poll::Ready(Err(error.clone()));
        }
        let first = match place.key {
            Some(key) => state.waiters.keys().next() == Some(&key),
            None => state.waiters.is_empty(),
        };
        if !(first && state.has_room(self.limits, bytes)) {
            let key = *place.key.get_or_insert_with(|| {
                state.next_waiter += 1;
                state.next_waiter
            });
            state.waiters.insert(key, cx.waker().clone());
            return Poll::Pending;
        }
        if let Some(key) = place.key.take() {
            state.waiters.remove(&key);
        }
        Poll::Ready(Ok(state))
    }

    /// Gives back the room of `items` admitted inputs of `bytes` in all.
    pub(crate) fn release(&self, bytes: u64, items: usize) {
        let mut state = self.lock();
        state.bytes = state.bytes.saturating_sub(bytes);
        state.items = state.items.saturating_sub(items);
        state.wake_first();
    }

    /// Admits nothing more: every submit, waiting or to come, fails with
    /// `error`. The first stop wins.
    pub(crate) fn stop(&self, error: Error) {
        let mut state = self.lock();
        state.stopped.get_or_insert(error);
        for (_, waker) in std::mem::take(&mut state.waiters) {
            waker.wake();
        }
    }

    /// Runs `f` on the inner state, under the lock.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.lock().inner)
    }
}

/// Room for one input, taken in a gate ahead of the input. Dropped unused,
/// it gives the room back.
pub(crate) struct Reserved<T> {
    /// `None` once used.
    gate: Option<Arc<Gate<T>>>,
    bytes: u64,
}

impl<T> Reserved<T> {
    /// Hands an input of `bytes` over through the room held: runs `admit`
    /// with the inner state and the input's id, under the lock, with no
    /// wait. The room is then the input's, at its real size: an input bigger
    /// than reserved is taken only when the excess fits in the room left
    /// (or it is alone), so permits cannot stretch the cap; otherwise it is
    /// refused with [`ValidationError::ExceedsReservation`]. When `admit`
    /// fails or the gate is stopped, the room is given back.
    pub(crate) fn admit<R>(
        mut self,
        bytes: u64,
        admit: impl FnOnce(&mut T, u64) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let gate = self.gate.take().expect("a reservation is used once");
        let mut state = gate.lock();
        let excess = bytes.saturating_sub(self.bytes);
        let fits = excess == 0
            || state.items == 1
            || state.bytes.saturating_add(excess) <= gate.limits.max_bytes;
        let result = match state.stopped.clone() {
            Some(error) => Err(error),
            None if !fits => Err(ValidationError::ExceedsReservation {
                reserved: self.bytes,
                metered_bytes: bytes,
            }
            .into()),
            None => {
                let id = state.next_id;
                admit(&mut state.inner, id)
            }
        };
        match result {
            Ok(_) => {
                state.next_id += 1;
                state.bytes = state.bytes.saturating_sub(self.bytes).saturating_add(bytes);
            }
            Err(_) => {
                state.items = state.items.saturating_sub(1);
                state.bytes = state.bytes.saturating_sub(self.bytes);
            }
        }
        state.wake_first();
        result
    }
}

impl<T> Drop for Reserved<T> {
    fn drop(&mut self) {
        if let Some(gate) = self.gate.take() {
            gate.release(self.bytes, 1);
        }
    }
}

#[cfg(test)]
mod tests;
