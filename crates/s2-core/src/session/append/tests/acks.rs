//! Acks the session checks: in order, without overlaps, increasing across
//! connections, with a tail at or past their end; and when one is overdue.

use super::*;

#[test]
fn acks_going_backwards_are_a_protocol_error() {
    let now = Instant::now();
    let (mut s, c) = sent_session(2, 3, now);
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(ack_frame(10, 13, 13))),
        now,
    );
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(ack_frame(3, 6, 13))),
        now,
    );
    let Some(Error::AppendSession { cause, .. }) = failure(&mut s) else {
        panic!("expected a failure")
    };
    assert!(matches!(*cause, Error::Protocol(_)), "{cause:?}");
}

#[test]
fn overlapping_acks_are_a_protocol_error() {
    let now = Instant::now();
    let (mut s, c) = sent_session(2, 3, now);
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(ack_frame(10, 13, 20))),
        now,
    );
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(ack_frame(12, 15, 20))),
        now,
    );
    let Some(Error::AppendSession { cause, .. }) = failure(&mut s) else {
        panic!("expected a failure")
    };
    assert!(matches!(*cause, Error::Protocol(_)), "{cause:?}");
}

#[test]
fn acks_are_increasing_across_connections() {
    let now = Instant::now();
    let (mut s, c) = sent_session(2, 3, now);
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(ack_frame(10, 13, 13))),
        now,
    );
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
        ),
        now,
    );
    let t = s.poll_timeout().expect("backing off");
    s.handle(Input::Timeout, t);
    let c = std::iter::from_fn(|| s.poll_event())
        .find_map(|e| match e {
            AppendEvent::Connect(c) => Some(c),
            _ => None,
        })
        .expect("a reconnect");
    while s.poll_transmit(t).is_some() {}
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(ack_frame(12, 15, 15))),
        t,
    );
    let Some(Error::AppendSession { cause, .. }) = failure(&mut s) else {
        panic!("expected a failure")
    };
    assert!(matches!(*cause, Error::Protocol(_)), "{cause:?}");
}

#[test]
fn acks_with_a_tail_before_their_end_are_a_protocol_error() {
    let now = Instant::now();
    let (mut s, c) = sent_session(1, 3, now);
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(ack_frame(10, 13, 12))),
        now,
    );
    let Some(Error::AppendSession { cause, .. }) = failure(&mut s) else {
        panic!("expected a failure")
    };
    assert!(matches!(*cause, Error::Protocol(_)), "{cause:?}");
}

#[test]
fn only_an_ack_past_its_deadline_is_overdue() {
    let now = Instant::now();
    let config = AppendSessionConfig::default()
        .with_backoff(BackoffConfig::default().with_base_delay(Duration::ZERO));
    let mut s = AppendSession::new(config);
    s.try_submit(AppendInput::new(vec![AppendRecord::new("a")]).unwrap())
        .unwrap();
    let mut conn = None;
    while let Some(event) = s.poll_event() {
        if let AppendEvent::Connect(c) = event {
            conn = Some(c);
        }
    }
    let conn = conn.expect("connects");
    assert!(!s.is_ack_overdue(now), "nothing sent yet");
    while s.poll_transmit(now).is_some() {}
    let due = s.poll_timeout().expect("an ack deadline");
    assert!(!s.is_ack_overdue(due - Duration::from_millis(1)));
    assert!(s.is_ack_overdue(due));
    // A failure starts a zero backoff: its end is due at once, and is no
    // ack timeout.
    s.handle(
        Input::Connection(
            conn,
            ConnectionEvent::Failed(Error::transport(Sent::No, "refused")),
        ),
        now,
    );
    assert_eq!(s.poll_timeout(), Some(now));
    assert!(!s.is_ack_overdue(now));
}
