//! What the server sends that the session refuses or repairs: records out of
//! order or out of bounds, tails behind, gaps, garbage.

use super::*;

#[test]
fn stale_connection_inputs_are_ignored() {
    let now = Instant::now();
    let mut session = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    let Some(ReadEvent::Connect {
        connection: first, ..
    }) = session.poll_event()
    else {
        panic!("expected a connect");
    };
    session.handle(
        Input::Connection(
            first,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
        ),
        now,
    );
    let deadline = session.poll_timeout().unwrap();
    session.handle(Input::Timeout, deadline);
    let Some(ReadEvent::Connect {
        connection: second, ..
    }) = session.poll_event()
    else {
        panic!("expected a reconnect");
    };
    assert_ne!(first, second);
    session.handle(
        Input::Connection(
            first,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "late")),
        ),
        deadline,
    );
    assert!(session.poll_event().is_none());
    assert_eq!(
        session.poll_timeout(),
        Some(deadline + DEFAULT_HEARTBEAT_TIMEOUT)
    );
}

#[test]
fn garbage_from_the_server_is_a_protocol_error() {
    let now = Instant::now();
    let mut session = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    let Some(ReadEvent::Connect { connection, .. }) = session.poll_event() else {
        panic!("expected a connect");
    };
    session.handle(
        Input::Connection(
            connection,
            ConnectionEvent::Data(Bytes::from_static(&[0xff, 0xff, 0xff, 0x00])),
        ),
        now,
    );
    assert!(matches!(
        session.poll_event(),
        Some(ReadEvent::Failed(Error::Protocol(_)))
    ));
}

#[test]
fn records_going_backwards_are_a_protocol_error() {
    let now = Instant::now();
    let mut s = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    let (c, _) = connect(&mut s);
    let records = model_records(6);
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&records[0..4], None))),
        now,
    );
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&records[2..6], None))),
        now,
    );
    let events = events(&mut s);
    assert_eq!(delivered(&events), vec![0, 1, 2, 3]);
    assert!(protocol_failure(&events), "{events:?}");
    assert!(s.is_finished());
}

#[test]
fn a_record_before_an_explicit_start_is_a_protocol_error() {
    let now = Instant::now();
    let request = ReadRequest::new(ReadStart::SeqNum(4));
    let mut s = ReadSession::new(request, ReadSessionConfig::default(), now);
    let (c, _) = connect(&mut s);
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Data(message(&model_records(6)[2..6], None)),
        ),
        now,
    );
    let events = events(&mut s);
    assert!(delivered(&events).is_empty());
    assert!(protocol_failure(&events), "{events:?}");
}

#[test]
fn a_record_at_the_last_seq_num_is_a_protocol_error() {
    let now = Instant::now();
    let mut s = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    let (c, _) = connect(&mut s);
    let record = model_records(1).remove(0);
    let record = SequencedRecord::new(StreamPosition::new(u64::MAX, record.timestamp()), "r0");
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&[record], None))),
        now,
    );
    let events = events(&mut s);
    assert!(protocol_failure(&events), "{events:?}");
    assert!(delivered(&events).is_empty());
    assert_eq!(s.next_seq_num(), None, "no wrap to 0");
}

#[test]
fn a_heartbeat_tail_before_what_was_delivered_is_a_protocol_error() {
    let now = Instant::now();
    let mut s = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    let (c, _) = connect(&mut s);
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&model_records(4), None))),
        now,
    );
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&[], Some(2)))),
        now,
    );
    assert!(protocol_failure(&events(&mut s)));
}

#[test]
fn a_batch_tail_before_its_records_is_a_protocol_error() {
    let now = Instant::now();
    let mut s = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    let (c, _) = connect(&mut s);
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Data(message(&model_records(4), Some(3))),
        ),
        now,
    );
    assert!(protocol_failure(&events(&mut s)));
}

#[test]
fn a_gap_within_a_connection_resumes_from_the_next_record() {
    let mut now = Instant::now();
    let mut s = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    let (c, _) = connect(&mut s);
    let records = model_records(8);
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&records[0..2], None))),
        now,
    );
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&records[4..6], None))),
        now,
    );
    let first = events(&mut s);
    assert_eq!(delivered(&first), vec![0, 1], "nothing past the gap");
    assert!(!s.is_finished());
    now = s.poll_timeout().expect("backing off");
    s.handle(Input::Timeout, now);
    let (c, request) = connect(&mut s);
    assert_eq!(request.start, ReadStart::SeqNum(2));
    // Records 2 and 3 were trimmed meanwhile: a new connection may start
    // past them.
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&records[4..6], None))),
        now,
    );
    assert_eq!(delivered(&events(&mut s)), vec![4, 5]);
}

#[test]
fn a_gap_within_a_batch_is_not_delivered() {
    let now = Instant::now();
    let mut s = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    let (c, _) = connect(&mut s);
    let records = model_records(8);
    let batch = [records[0].clone(), records[1].clone(), records[5].clone()];
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&batch, None))),
        now,
    );
    assert!(delivered(&events(&mut s)).is_empty());
    assert!(s.poll_timeout().is_some() && !s.is_finished());
}

#[test]
fn a_server_that_keeps_skipping_records_fails_the_session() {
    let mut now = Instant::now();
    let mut s = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    let records = model_records(8);
    let (c, _) = connect(&mut s);
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&records[0..1], None))),
        now,
    );
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
        ),
        now,
    );
    let first_failure = now;
    let mut connects = 0;
    loop {
        now = s.poll_timeout().expect("backing off");
        s.handle(Input::Timeout, now);
        let (c, request) = connect(&mut s);
        connects += 1;
        assert_eq!(request.start, ReadStart::SeqNum(1));
        // Every connection skips record 1.
        s.handle(
            Input::Connection(c, ConnectionEvent::Data(message(&[], Some(8)))),
            now,
        );
        s.handle(
            Input::Connection(c, ConnectionEvent::Data(message(&records[3..4], None))),
            now,
        );
        if protocol_failure(&events(&mut s)) {
            break;
        }
        assert!(
            connects < 100,
            "a gap every time must not be retried forever"
        );
    }
    // It gave up when the window closed, not before.
    assert_eq!(now - first_failure, BackoffConfig::default().retry_window());
}

#[test]
fn a_resume_past_the_tail_is_a_protocol_error() {
    let mut now = Instant::now();
    let mut s = ReadSession::new(
        ReadRequest::new(ReadStart::SeqNum(0)),
        ReadSessionConfig::default(),
        now,
    );
    let (c, _) = connect(&mut s);
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&model_records(3), None))),
        now,
    );
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
        ),
        now,
    );
    now = s.poll_timeout().expect("backing off");
    s.handle(Input::Timeout, now);
    let (c, _) = connect(&mut s);
    let tail = StreamPosition {
        seq_num: 1,
        timestamp: 0,
    };
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Rejected(SessionRejection::past_tail(tail, None)),
        ),
        now,
    );
    assert!(protocol_failure(&events(&mut s)));
}
