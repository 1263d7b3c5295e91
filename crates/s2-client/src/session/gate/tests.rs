//! Unit tests of the gate: admission order, caps, permits, stops.

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
        Err::<(), _>(Error::Closed {
            sent: false,
            reason: "refused".into(),
        })
    });
    assert!(matches!(refused, Poll::Ready(Err(_))));
    assert_eq!(admit(&gate, &mut gate.place(), 10), Poll::Ready(0));
    let mut waiting = gate.place();
    assert_eq!(admit(&gate, &mut waiting, 1), Poll::Pending);
    gate.stop(Error::Closed {
        sent: false,
        reason: "stopped".into(),
    });
    let stopped = gate.poll_admit(&mut waiting, 1, &mut cx, |_, id| Ok(id));
    assert!(matches!(stopped, Poll::Ready(Err(Error::Closed { .. }))));
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
    gate.stop(Error::Closed {
        sent: false,
        reason: "stopped".into(),
    });
    let refused = reserved.admit(10, |inner, id| {
        inner.push(id);
        Ok(id)
    });
    assert!(matches!(refused, Err(Error::Closed { .. })));
    gate.with(|inner| assert!(inner.is_empty()));
    assert_eq!(gate.lock().items, 0);
    assert_eq!(gate.lock().bytes, 0);
}

/// Polls `future` once with a waker that does nothing.
fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    std::pin::Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn a_dropped_admit_future_hands_nothing_over_and_lets_the_next_in() {
    let gate = gate();
    assert_eq!(admit(&gate, &mut gate.place(), 10), Poll::Ready(0));
    let calls = std::cell::Cell::new(0);
    let mut dropped = Box::pin(gate.admit(5, |inner: &mut Vec<u64>, id| {
        calls.set(calls.get() + 1);
        inner.push(id);
        Ok(id)
    }));
    assert!(poll_once(&mut dropped).is_pending());
    assert!(poll_once(&mut dropped).is_pending());
    let mut next = Box::pin(gate.admit(5, |inner: &mut Vec<u64>, id| {
        calls.set(calls.get() + 1);
        inner.push(id);
        Ok(id)
    }));
    assert!(poll_once(&mut next).is_pending());
    drop(dropped);
    gate.release(10, 1);
    assert!(matches!(poll_once(&mut next), Poll::Ready(Ok(1))));
    assert_eq!(calls.get(), 1, "only the admitted future ran its closure");
    gate.with(|inner| assert_eq!(inner, &[0, 1]));
}

#[test]
fn a_dropped_reserve_future_takes_no_room() {
    let gate = Arc::new(gate());
    assert_eq!(admit(&gate, &mut gate.place(), 10), Poll::Ready(0));
    let mut dropped = Box::pin(gate.reserve(5));
    assert!(poll_once(&mut dropped).is_pending());
    drop(dropped);
    gate.release(10, 1);
    // The whole cap is free again: nothing was kept by the dropped future.
    let mut full = Box::pin(gate.reserve(10));
    let Poll::Ready(Ok(reserved)) = poll_once(&mut full) else {
        panic!("room was leaked by a dropped reserve");
    };
    assert_eq!(admit(&gate, &mut gate.place(), 1), Poll::Pending);
    drop(reserved);
    assert_eq!(admit(&gate, &mut gate.place(), 10), Poll::Ready(1));
}

/// The public submit and reserve futures can be spawned on multi-threaded
/// runtimes.
#[allow(dead_code)]
fn public_futures_are_send(
    handle: &crate::AppendSession,
    producer: &crate::Producer,
    input: s2_core::types::AppendInput,
    record: s2_core::types::AppendRecord,
) {
    fn send<T: Send>(_: &T) {}
    send(&handle.submit(input));
    send(&handle.reserve(1));
    send(&producer.submit(record));
    send(&producer.reserve(1));
}
