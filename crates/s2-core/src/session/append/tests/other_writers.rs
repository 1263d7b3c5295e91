//! Exactly-once resolution against other writers' records: conflicts,
//! read-backs, and what a tail or a mismatch proves.

use super::*;

#[test]
fn another_writer_is_a_conflict_not_a_duplicate() {
    let batches = vec![vec![AppendRecord::new("a")], vec![AppendRecord::new("b")]];
    let mut sim = Sim::new(config(AppendRetryPolicy::All, 10));
    sim.step(Action::Submit, &batches, true);
    sim.step(Action::Submit, &batches, true);
    // Both frames reach the server, the first is applied, then the
    // connection breaks before any ack arrives.
    sim.step(Action::Process, &batches, true);
    // Meanwhile another writer appends.
    let foreign = AppendInput::new(vec![AppendRecord::new("intruder")]).unwrap();
    sim.log.apply(&foreign);
    sim.step(Action::Cut, &batches, true);
    for _ in 0..20 {
        sim.step(Action::Tick, &batches, true);
        sim.step(Action::Process, &batches, true);
        sim.step(Action::Deliver(1000), &batches, true);
    }
    // Batch 0 is recognised as landed; batch 1's place is taken.
    assert_eq!(sim.outcome.acks.len(), 1);
    let error = sim.outcome.failed.expect("a conflict");
    let (maybe, not) = failure_ranges(&error).unwrap();
    assert!(maybe.is_empty());
    assert_eq!(not, 1..2);
    let Error::AppendSession { cause, .. } = error else {
        unreachable!()
    };
    assert!(matches!(*cause, Error::WriterConflict { .. }), "{cause:?}");
    assert_eq!(sim.log.records.len(), 2);
}

#[test]
fn mismatch_on_first_attempt_is_a_writer_conflict() {
    let batches = vec![vec![AppendRecord::new("a")], vec![AppendRecord::new("b")]];
    let mut sim = Sim::new(config(AppendRetryPolicy::All, 10));
    sim.log
        .apply(&AppendInput::new(vec![AppendRecord::new("x")]).unwrap());
    sim.step(Action::Submit, &batches, true);
    sim.step(Action::Submit, &batches, true);
    sim.step(Action::Process, &batches, true);
    sim.step(Action::Deliver(1000), &batches, true);
    let error = sim.outcome.failed.expect("mismatch");
    assert!(!error.may_have_side_effect());
    let Error::AppendSession {
        cause,
        maybe_applied,
        not_applied,
    } = error
    else {
        panic!()
    };
    assert!(
        matches!(*cause, Error::WriterConflict { seq_num: 1, .. }),
        "{cause:?}"
    );
    assert_eq!((maybe_applied, not_applied), (0..0, 0..2));
}

#[test]
fn a_landed_batch_before_a_foreign_record_is_acked() {
    // A = 1 record, B = 2 records. A lands, its ack is lost, another writer
    // appends 1 record: the tail (2) lies inside B (1..3).
    let batches = vec![
        vec![AppendRecord::new("a")],
        vec![AppendRecord::new("b1"), AppendRecord::new("b2")],
    ];
    let mut sim = Sim::new(config(AppendRetryPolicy::All, 10));
    sim.step(Action::Submit, &batches, true);
    sim.step(Action::Submit, &batches, true);
    sim.step(Action::Process, &batches, true);
    sim.log
        .apply(&AppendInput::new(vec![AppendRecord::new("intruder")]).unwrap());
    sim.step(Action::Cut, &batches, true);
    for _ in 0..20 {
        sim.step(Action::Tick, &batches, true);
        sim.step(Action::Process, &batches, true);
        sim.step(Action::Deliver(1000), &batches, true);
    }
    assert_eq!(sim.outcome.acks.len(), 1, "A is on the stream: it is acked");
    let error = sim.outcome.failed.expect("B conflicts");
    let (maybe, not) = failure_ranges(&error).unwrap();
    assert_eq!((maybe, not), (1..1, 1..2));
}

#[test]
fn read_back_across_responses_keeps_the_start_timestamp() {
    let now = Instant::now();
    let mut s = AppendSession::new(config(AppendRetryPolicy::All, 10));
    let input = AppendInput::new(vec![AppendRecord::new("x"), AppendRecord::new("y")])
        .unwrap()
        .with_match_seq_num(0);
    s.try_submit(input).unwrap();
    let Some(AppendEvent::Connect(c)) = s.poll_event() else {
        panic!("expected a connect")
    };
    s.poll_transmit(now).unwrap();
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
        ),
        now,
    );
    assert!(matches!(s.poll_event(), Some(AppendEvent::Disconnect(_))));
    let t = s.poll_timeout().unwrap();
    s.handle(Input::Timeout, t);
    assert!(matches!(s.poll_event(), Some(AppendEvent::CheckTail)));
    s.handle(Input::Tail(Ok(StreamPosition::new(2, 50))), t);
    let record = |seq_num, timestamp, body: &'static str| {
        SequencedRecord::new(StreamPosition::new(seq_num, timestamp), body)
    };
    for (i, (ts, body)) in [(40, "x"), (41, "y")].into_iter().enumerate() {
        assert!(matches!(s.poll_event(), Some(AppendEvent::Read(_))));
        let batch = ReadBatch {
            records: vec![record(i as u64, ts, body)],
            tail: None,
        };
        s.handle(Input::ReadBack(Ok(ReadOutput::Batch(batch))), t);
    }
    let Some(AppendEvent::Ack { ack, .. }) = s.poll_event() else {
        panic!("expected the ack")
    };
    assert_eq!((ack.start.timestamp, ack.end.timestamp), (40, 41));
}

#[test]
fn a_stale_attempt_keeps_its_batch_maybe_applied() {
    let mut now = Instant::now();
    let mut s = AppendSession::new(
        AppendSessionConfig::default().with_backoff(BackoffConfig::default().with_max_retries(3)),
    );
    let input = AppendInput::new(vec![AppendRecord::new("a")])
        .unwrap()
        .with_match_seq_num(0);
    s.try_submit(input).unwrap();
    let mut conn = None;
    let mut failed = None;
    let drain = |s: &mut AppendSession,
                 conn: &mut Option<ConnectionId>,
                 failed: &mut Option<Error>,
                 now| {
        while let Some(event) = s.poll_event() {
            match event {
                AppendEvent::Connect(c) => *conn = Some(c),
                // The server has not applied A yet: it is stuck behind a stall.
                AppendEvent::CheckTail => s.handle(
                    Input::Tail(Ok(StreamPosition {
                        seq_num: 0,
                        timestamp: 0,
                    })),
                    now,
                ),
                AppendEvent::Failed(e) => *failed = Some(e),
                _ => {}
            }
        }
        while s.poll_transmit(now).is_some() {}
    };
    drain(&mut s, &mut conn, &mut failed, now);
    now += Duration::from_secs(11);
    s.handle(Input::Timeout, now);
    drain(&mut s, &mut conn, &mut failed, now);
    for _ in 0..10 {
        if let Some(t) = s.poll_timeout() {
            now = now.max(t);
            s.handle(Input::Timeout, now);
        }
        drain(&mut s, &mut conn, &mut failed, now);
        // Every new connection is refused before anything is sent, while
        // the stalled first attempt may still be applied.
        if let Some(c) = conn.take() {
            s.handle(
                Input::Connection(
                    c,
                    ConnectionEvent::Failed(Error::transport(Sent::No, "refused")),
                ),
                now,
            );
        }
        drain(&mut s, &mut conn, &mut failed, now);
        if failed.is_some() {
            break;
        }
    }
    let (maybe, _) = failure_ranges(&failed.expect("gave up")).unwrap();
    assert!(maybe.contains(&0), "A may have landed: {maybe:?}");
}

#[test]
fn other_writers_may_land_between_unconditioned_acks() {
    let now = Instant::now();
    let (mut s, c) = sent_session(2, 3, now);
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(ack_frame(10, 13, 20))),
        now,
    );
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(ack_frame(14, 17, 20))),
        now,
    );
    let acks = std::iter::from_fn(|| s.poll_event())
        .filter(|e| matches!(e, AppendEvent::Ack { .. }))
        .count();
    assert_eq!(acks, 2);
}

#[test]
fn a_batch_never_sent_is_not_acknowledged_from_another_writers_records() {
    let batches = vec![vec![AppendRecord::new("a")], vec![AppendRecord::new("b")]];
    let mut sim = Sim::new(config(AppendRetryPolicy::All, 10));
    sim.step(Action::Submit, &batches, true);
    // A lands, its ack is lost with the connection.
    sim.step(Action::Process, &batches, true);
    sim.step(Action::Cut, &batches, true);
    // B is submitted during the backoff: it never leaves the client...
    sim.step(Action::Submit, &batches, true);
    assert!(matches!(sim.session.phase, Phase::Backoff { .. }));
    // ...while another writer appends records identical to B where B was
    // to go.
    sim.log
        .apply(&AppendInput::new(batches[1].clone()).unwrap());
    for _ in 0..20 {
        sim.step(Action::Tick, &batches, true);
        sim.step(Action::Process, &batches, true);
        sim.step(Action::Deliver(1000), &batches, true);
    }
    assert_eq!(sim.outcome.acks.len(), 1, "A is on the stream: it is acked");
    let error = sim.outcome.failed.expect("B conflicts");
    let (maybe, not) = failure_ranges(&error).unwrap();
    assert_eq!((maybe, not), (1..1, 1..2));
    let Error::AppendSession { cause, .. } = error else {
        unreachable!()
    };
    assert!(
        matches!(*cause, Error::WriterConflict { seq_num: 1, .. }),
        "{cause:?}"
    );
}

/// A session of two conditioned batches of one record each, from 0, both
/// sent on one connection, the first acknowledged (0..1).
fn first_of_two_acked(now: Instant) -> (AppendSession, ConnectionId) {
    let mut s = AppendSession::new(config(AppendRetryPolicy::All, 10));
    let one = |body: &str| AppendInput::new(vec![AppendRecord::new(body.to_owned())]).unwrap();
    s.try_submit(one("a").with_match_seq_num(0)).unwrap();
    s.try_submit(one("b")).unwrap();
    let Some(AppendEvent::Connect(c)) = s.poll_event() else {
        panic!("expected a connect")
    };
    while s.poll_transmit(now).is_some() {}
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(ack_frame(0, 1, 1))),
        now,
    );
    (s, c)
}

/// The failure a session stopped with, as (cause, maybe_applied,
/// not_applied).
fn stopped_with(s: &mut AppendSession) -> (Error, Range<InputId>, Range<InputId>) {
    match failure(s) {
        Some(Error::AppendSession {
            cause,
            maybe_applied,
            not_applied,
        }) => (*cause, maybe_applied, not_applied),
        other => panic!("expected the session to stop, got {other:?}"),
    }
}

#[test]
fn a_tail_behind_the_acknowledged_end_leaves_the_pending_inputs_unknown() {
    let now = Instant::now();
    let (mut s, c) = first_of_two_acked(now);
    // The second batch's outcome is unknown: resolution asks for the tail.
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
        ),
        now,
    );
    let t = s.poll_timeout().expect("backing off");
    s.handle(Input::Timeout, t);
    assert!(
        std::iter::from_fn(|| s.poll_event()).any(|e| matches!(e, AppendEvent::CheckTail)),
        "expected a tail check"
    );
    // The server acknowledged record 0, and now says the stream is empty:
    // that contradicts its ack, and proves nothing about the second batch.
    s.handle(Input::Tail(Ok(StreamPosition::new(0, 0))), t);
    let (cause, maybe, not) = stopped_with(&mut s);
    assert!(matches!(cause, Error::Protocol(_)), "{cause:?}");
    assert_eq!((maybe, not), (1..2, 2..2));
}

#[test]
fn a_mismatch_behind_the_acknowledged_end_leaves_the_pending_inputs_unknown() {
    let now = Instant::now();
    let (mut s, c) = first_of_two_acked(now);
    // The second batch is refused as if the stream ended at 0, before the
    // record the server acknowledged: a server contradicting itself.
    let mut frame = BytesMut::new();
    encode_terminal(&mut frame, 412, br#"{"seq_num_mismatch":0}"#).unwrap();
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(frame.freeze())),
        now,
    );
    let (cause, maybe, not) = stopped_with(&mut s);
    assert!(matches!(cause, Error::Protocol(_)), "{cause:?}");
    assert_eq!((maybe, not), (1..2, 2..2));
}
