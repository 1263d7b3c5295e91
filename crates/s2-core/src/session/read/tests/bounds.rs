//! Where a read starts and ends: the tail, counts, waits, resumes.

use super::*;

#[test]
fn start_past_tail_reports_tail() {
    let records = model_records(3);
    let outcome = simulate(
        &records,
        ReadRequest::new(ReadStart::SeqNum(10)),
        &[Action::Deliver(100, 1)],
    );
    assert_eq!(outcome.tail.map(|t| t.seq_num), Some(3));
}

#[test]
fn a_heartbeat_does_not_move_an_explicit_start() {
    let now = Instant::now();
    let mut s = ReadSession::new(
        ReadRequest::new(ReadStart::SeqNum(2)),
        ReadSessionConfig::default(),
        now,
    );
    let Some(ReadEvent::Connect { connection, .. }) = s.poll_event() else {
        panic!("expected a connect")
    };
    let heartbeat = ReadBatch {
        records: vec![],
        tail: Some(StreamPosition::new(9, 0)),
    };
    let mut out = BytesMut::new();
    encode_message(&mut out, &heartbeat, Compression::None).unwrap();
    s.handle(
        Input::Connection(connection, ConnectionEvent::Data(out.freeze())),
        now,
    );
    assert_eq!(s.next_seq_num(), None);
    assert_eq!(s.remaining_request(now).start, ReadStart::SeqNum(2));
}

#[test]
fn a_bounded_read_resumed_at_the_tail_finishes() {
    let mut now = Instant::now();
    let request = ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(10));
    let mut s = ReadSession::new(request, ReadSessionConfig::default(), now);
    let (c, _) = connect(&mut s);
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&model_records(3), None))),
        now,
    );
    // Cut before the clean end.
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
        ),
        now,
    );
    now = s.poll_timeout().expect("backing off");
    s.handle(Input::Timeout, now);
    let events_before = events(&mut s);
    let Some(ReadEvent::Connect { connection, .. }) = events_before.last() else {
        panic!("expected a reconnect: {events_before:?}")
    };
    let tail = StreamPosition {
        seq_num: 3,
        timestamp: 0,
    };
    s.handle(
        Input::Connection(
            *connection,
            ConnectionEvent::Rejected(SessionRejection::past_tail(tail, None)),
        ),
        now,
    );
    let events = events(&mut s);
    assert!(
        matches!(events.last(), Some(ReadEvent::Finished)),
        "{events:?}"
    );
    assert!(s.is_finished());
}

#[test]
fn a_tailing_read_resumed_at_the_tail_keeps_following() {
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
        seq_num: 3,
        timestamp: 0,
    };
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Rejected(SessionRejection::past_tail(tail, None)),
        ),
        now,
    );
    let evs = events(&mut s);
    assert!(
        evs.iter().all(|e| !matches!(
            e,
            ReadEvent::Tail(_) | ReadEvent::Finished | ReadEvent::Failed(_)
        )),
        "{evs:?}"
    );
    assert!(!s.is_finished());
    if let Some(t) = s.poll_timeout() {
        now = t;
        s.handle(Input::Timeout, now);
    }
    let (_, request) = connect(&mut s);
    assert_eq!(request.start, ReadStart::SeqNum(3));
    assert!(request.clamp, "follows from the tail");
}

#[test]
fn a_clamped_start_past_the_tail_reads_from_the_tail() {
    let now = Instant::now();
    let request = ReadRequest::new(ReadStart::SeqNum(10)).with_clamp(true);
    let mut s = ReadSession::new(request, ReadSessionConfig::default(), now);
    let (c, _) = connect(&mut s);
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Data(message(&model_records(5)[3..5], None)),
        ),
        now,
    );
    assert_eq!(delivered(&events(&mut s)), vec![3, 4]);
}

#[test]
fn a_count_bounded_read_ended_before_the_reported_tail_resumes() {
    let mut now = Instant::now();
    let request = ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(500));
    let mut s = ReadSession::new(request, ReadSessionConfig::default(), now);
    let (c, _) = connect(&mut s);
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Data(message(&model_records(10), Some(1000))),
        ),
        now,
    );
    // A clean end, though the server said 990 more records are there.
    s.handle(Input::Connection(c, ConnectionEvent::End), now);
    let ended = events(&mut s);
    assert!(
        !ended.iter().any(|e| matches!(e, ReadEvent::Finished)),
        "a read cut short is not finished: {ended:?}"
    );
    now = s.poll_timeout().expect("backing off");
    s.handle(Input::Timeout, now);
    let (_, resumed) = connect(&mut s);
    assert_eq!(resumed.start, ReadStart::SeqNum(10));
    assert_eq!(resumed.limit.count, Some(490));
}

#[test]
fn a_count_bounded_read_ended_at_the_reported_tail_finishes() {
    let now = Instant::now();
    let request = ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(500));
    let mut s = ReadSession::new(request, ReadSessionConfig::default(), now);
    let (c, _) = connect(&mut s);
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Data(message(&model_records(10), Some(10))),
        ),
        now,
    );
    s.handle(Input::Connection(c, ConnectionEvent::End), now);
    assert!(
        events(&mut s)
            .iter()
            .any(|e| matches!(e, ReadEvent::Finished))
    );
}

fn with_wait(request: ReadRequest, secs: u32) -> ReadRequest {
    request.with_wait_secs(secs)
}

#[test]
fn a_session_asks_for_its_wait_and_resumes_with_what_is_left() {
    let start = Instant::now();
    let mut now = start;
    let request = with_wait(
        ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(10)),
        30,
    );
    let mut s = ReadSession::new(request, ReadSessionConfig::default(), now);
    let (connection, sent) = connect(&mut s);
    assert_eq!(sent.wait_secs, Some(30));
    s.handle(
        Input::Connection(connection, ConnectionEvent::Connected),
        now,
    );
    // 12.5 s at the tail without a record, then the connection fails.
    now += Duration::from_millis(12_500);
    s.handle(
        Input::Connection(
            connection,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
        ),
        now,
    );
    let at = s.poll_timeout().expect("backing off");
    now = at;
    s.handle(Input::Timeout, now);
    let (connection, sent) = connect(&mut s);
    // What is left of the wait, in whole seconds, rounded down: a session
    // waits up to its wait, not past it.
    let left = (start + Duration::from_secs(30)) - now;
    assert!(left < Duration::from_millis(17_500));
    assert_eq!(sent.wait_secs, Some(left.as_secs() as u32));
    // A record restarts the wait (the service measures it between records).
    s.handle(
        Input::Connection(connection, ConnectionEvent::Connected),
        now,
    );
    now += Duration::from_secs(5);
    let record_at = now;
    s.handle(
        Input::Connection(
            connection,
            ConnectionEvent::Data(message(&model_records(1), Some(1))),
        ),
        now,
    );
    now += Duration::from_secs(3);
    s.handle(
        Input::Connection(
            connection,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
        ),
        now,
    );
    now = s.poll_timeout().expect("backing off");
    s.handle(Input::Timeout, now);
    let (_, sent) = connect(&mut s);
    let left = (record_at + Duration::from_secs(30)) - now;
    assert_eq!(sent.wait_secs, Some(left.as_secs() as u32));
    assert!(left.as_secs() < 27);
    assert_eq!(sent.start, ReadStart::SeqNum(1));
}

#[test]
fn a_session_without_a_wait_sends_none() {
    let now = Instant::now();
    let mut s = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    let (_, sent) = connect(&mut s);
    assert_eq!(sent.wait_secs, None);
    let mut s = ReadSession::new(
        with_wait(ReadRequest::default(), 0),
        ReadSessionConfig::default(),
        now,
    );
    let (_, sent) = connect(&mut s);
    assert_eq!(sent.wait_secs, Some(0));
}

#[test]
fn a_tailing_session_whose_wait_ran_out_is_finished() {
    let mut now = Instant::now();
    let mut s = ReadSession::new(
        with_wait(ReadRequest::default(), 5),
        ReadSessionConfig::default(),
        now,
    );
    let (connection, _) = connect(&mut s);
    s.handle(
        Input::Connection(connection, ConnectionEvent::Connected),
        now,
    );
    s.handle(
        Input::Connection(connection, ConnectionEvent::Data(message(&[], Some(0)))),
        now,
    );
    // The service ends the session once 5 s pass without a record.
    now += Duration::from_millis(5_020);
    s.handle(Input::Connection(connection, ConnectionEvent::End), now);
    let events = events(&mut s);
    assert!(
        matches!(events.last(), Some(ReadEvent::Finished)),
        "{events:?}"
    );
    assert!(s.is_finished());
}

#[test]
fn a_tailing_session_ended_before_its_wait_reconnects_for_the_rest() {
    let start = Instant::now();
    let mut now = start;
    let mut s = ReadSession::new(
        with_wait(ReadRequest::default(), 10),
        ReadSessionConfig::default(),
        now,
    );
    let (connection, _) = connect(&mut s);
    s.handle(
        Input::Connection(connection, ConnectionEvent::Connected),
        now,
    );
    now += Duration::from_secs(4);
    // The server went away early: not the end of the wait.
    s.handle(Input::Connection(connection, ConnectionEvent::End), now);
    assert!(!s.is_finished());
    now = s.poll_timeout().expect("backing off");
    s.handle(Input::Timeout, now);
    let (_, sent) = connect(&mut s);
    let left = (start + Duration::from_secs(10)) - now;
    assert!(left.as_secs() >= 1);
    assert_eq!(sent.wait_secs, Some(left.as_secs() as u32));
}
