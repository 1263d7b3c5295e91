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

    /// The error submits get, once stopped.
    pub(crate) fn stopped(&self) -> Option<Error> {
        self.lock().stopped.clone()
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
mod tests {
    use std::task::Waker;

    use super::*;

    fn gate() -> Gate<Vec<u64>> {
        Gate::new(
            Vec::new(),
            Limits {
                max_bytes: 10,
                max_items: 3,
            },
        )
    }

    fn admit(gate: &Gate<Vec<u64>>, place: &mut Place<'_, Vec<u64>>, bytes: u64) -> Poll<u64> {
        let mut cx = Context::from_waker(Waker::noop());
        gate.poll_admit(place, bytes, &mut cx, |inner, id| {
            inner.push(id);
            Ok(id)
        })
        .map(|r| r.expect("admitted"))
    }

    #[test]
    fn admits_within_limits_and_in_arrival_order() {
        let gate = gate();
        assert_eq!(admit(&gate, &mut gate.place(), 6), Poll::Ready(0));
        let (mut big, mut small) = (gate.place(), gate.place());
        assert_eq!(admit(&gate, &mut big, 6), Poll::Pending);
        // Would fit, but arrived later: waits its turn.
        assert_eq!(admit(&gate, &mut small, 1), Poll::Pending);
        gate.release(6, 1);
        assert_eq!(admit(&gate, &mut small, 1), Poll::Pending);
        assert_eq!(admit(&gate, &mut big, 6), Poll::Ready(1));
        assert_eq!(admit(&gate, &mut small, 1), Poll::Ready(2));
        gate.with(|inner| assert_eq!(inner, &[0, 1, 2]));
    }

    #[test]
    fn a_dropped_waiter_hands_nothing_over_and_lets_the_next_in() {
        let gate = gate();
        assert_eq!(admit(&gate, &mut gate.place(), 10), Poll::Ready(0));
        let mut dropped = gate.place();
        assert_eq!(admit(&gate, &mut dropped, 5), Poll::Pending);
        let mut next = gate.place();
        assert_eq!(admit(&gate, &mut next, 5), Poll::Pending);
        drop(dropped);
        gate.release(10, 1);
        assert_eq!(admit(&gate, &mut next, 5), Poll::Ready(1));
        gate.with(|inner| assert_eq!(inner, &[0, 1]));
    }

    #[test]
    fn one_item_is_admitted_whatever_its_size_and_items_are_capped() {
        let gate = gate();
        assert_eq!(admit(&gate, &mut gate.place(), 100), Poll::Ready(0));
        assert_eq!(admit(&gate, &mut gate.place(), 0), Poll::Pending);
        gate.release(100, 1);
        for id in 1..=3 {
            assert_eq!(admit(&gate, &mut gate.place(), 0), Poll::Ready(id));
        }
        assert_eq!(admit(&gate, &mut gate.place(), 0), Poll::Pending);
    }

    #[test]
    fn a_failed_admission_takes_no_room_and_a_stop_fails_everyone() {
        let gate = gate();
        let mut cx = Context::from_waker(Waker::noop());
        let refused = gate.poll_admit(&mut gate.place(), 5, &mut cx, |_, _| {
            Err::<(), _>(Error::Closed("refused".into()))
        });
        assert!(matches!(refused, Poll::Ready(Err(_))));
        assert_eq!(admit(&gate, &mut gate.place(), 10), Poll::Ready(0));
        let mut waiting = gate.place();
        assert_eq!(admit(&gate, &mut waiting, 1), Poll::Pending);
        gate.stop(Error::Closed("stopped".into()));
        let stopped = gate.poll_admit(&mut waiting, 1, &mut cx, |_, id| Ok(id));
        assert!(matches!(stopped, Poll::Ready(Err(Error::Closed(_)))));
    }

    fn reserve(
        gate: &Arc<Gate<Vec<u64>>>,
        place: &mut Place<'_, Vec<u64>>,
        bytes: u64,
    ) -> Poll<Reserved<Vec<u64>>> {
        let mut cx = Context::from_waker(Waker::noop());
        gate.poll_reserve(place, bytes, &mut cx)
            .map(|r| r.expect("reserved"))
    }

    fn push(reserved: Reserved<Vec<u64>>, bytes: u64) -> u64 {
        reserved
            .admit(bytes, |inner, id| {
                inner.push(id);
                Ok(id)
            })
            .expect("admitted")
    }

    #[test]
    fn a_reservation_holds_room_until_used_or_dropped() {
        let gate = Arc::new(gate());
        let Poll::Ready(first) = reserve(&gate, &mut gate.place(), 6) else {
            panic!("room for the first")
        };
        // The reservation holds the room: nothing else fits.
        let mut waiting = gate.place();
        assert_eq!(admit(&gate, &mut waiting, 6), Poll::Pending);
        drop(first);
        assert_eq!(admit(&gate, &mut waiting, 6), Poll::Ready(0));
        // A dropped reservation handed nothing over.
        gate.with(|inner| assert_eq!(inner, &[0]));
    }

    #[test]
    fn inputs_through_reservations_get_ids_at_hand_over_and_never_wait() {
        let gate = Arc::new(gate());
        let Poll::Ready(early) = reserve(&gate, &mut gate.place(), 2) else {
            panic!("room")
        };
        let Poll::Ready(late) = reserve(&gate, &mut gate.place(), 2) else {
            panic!("room")
        };
        assert_eq!(admit(&gate, &mut gate.place(), 2), Poll::Ready(0));
        // The gate is full (three items), yet the reserved room is there.
        assert!(matches!(
            reserve(&gate, &mut gate.place(), 1),
            Poll::Pending
        ));
        assert_eq!(push(late, 2), 1);
        // Bigger than reserved by more than the room left: refused, and
        // the room is given back.
        let refused = early.admit(9, |inner, id| {
            inner.push(id);
            Ok(id)
        });
        assert!(matches!(
            refused,
            Err(Error::Validation(ValidationError::ExceedsReservation {
                reserved: 2,
                metered_bytes: 9
            }))
        ));
        gate.with(|inner| assert_eq!(inner, &[0, 1]));
        // An excess that fits the room left is taken, at its real size.
        let Poll::Ready(again) = reserve(&gate, &mut gate.place(), 2) else {
            panic!("room")
        };
        assert_eq!(push(again, 6), 2);
        gate.with(|inner| assert_eq!(inner, &[0, 1, 2]));
        gate.release(2 + 2 + 6, 3);
        assert!(matches!(
            reserve(&gate, &mut gate.place(), 10),
            Poll::Ready(_)
        ));
    }

    /// Memory stays bounded however permits are used: what is admitted
    /// never exceeds the byte cap by more than one input, even when room
    /// is reserved ahead for less than the inputs turn out to be (a
    /// producer's gate has no item cap, so only bytes bound it).
    #[test]
    fn reservations_cannot_admit_unbounded_bytes() {
        let gate = Arc::new(Gate::new(
            Vec::new(),
            Limits {
                max_bytes: 10,
                max_items: usize::MAX,
            },
        ));
        let mut permits = Vec::new();
        for _ in 0..1000 {
            match reserve(&gate, &mut gate.place(), 0) {
                Poll::Ready(permit) => permits.push(permit),
                Poll::Pending => break,
            }
        }
        let mut admitted = 0u64;
        for permit in permits {
            if permit
                .admit(10, |inner, id| {
                    inner.push(id);
                    Ok(id)
                })
                .is_ok()
            {
                admitted += 10;
            }
        }
        assert!(
            admitted <= 10 + 10,
            "{admitted} bytes admitted under a cap of 10"
        );
    }

    #[test]
    fn a_stopped_gate_refuses_reserved_inputs_and_takes_back_the_room() {
        let gate = Arc::new(gate());
        let Poll::Ready(reserved) = reserve(&gate, &mut gate.place(), 10) else {
            panic!("room")
        };
        gate.stop(Error::Closed("stopped".into()));
        let refused = reserved.admit(10, |inner, id| {
            inner.push(id);
            Ok(id)
        });
        assert!(matches!(refused, Err(Error::Closed(_))));
        gate.with(|inner| assert!(inner.is_empty()));
        assert_eq!(gate.lock().items, 0);
        assert_eq!(gate.lock().bytes, 0);
    }
}
