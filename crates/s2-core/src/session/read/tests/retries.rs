//! Reconnects and the retry budget: what spends it, what renews it, and
//! outages within and past the window.

use super::*;

#[test]
fn gives_up_after_retry_budget() {
    let now = Instant::now();
    let config =
        ReadSessionConfig::default().with_backoff(BackoffConfig::default().with_max_retries(2));
    let mut session = ReadSession::new(ReadRequest::default(), config, now);
    let mut failures = 0;
    let mut t = now;
    while !session.is_finished() {
        while let Some(event) = session.poll_event() {
            match event {
                ReadEvent::Connect { connection, .. } => {
                    failures += 1;
                    session.handle(
                        Input::Connection(
                            connection,
                            ConnectionEvent::Failed(Error::transport(Sent::No, "refused")),
                        ),
                        t,
                    );
                }
                ReadEvent::Failed(e) => assert!(e.is_retryable()),
                other => panic!("unexpected {other:?}"),
            }
        }
        if let Some(deadline) = session.poll_timeout() {
            t = deadline;
            session.handle(Input::Timeout, t);
        }
    }
    assert_eq!(failures, 3);
}

#[test]
fn non_retryable_error_fails_at_once() {
    let now = Instant::now();
    let mut session = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    let Some(ReadEvent::Connect { connection, .. }) = session.poll_event() else {
        panic!("expected a connect");
    };
    let mut out = BytesMut::new();
    encode_terminal(
        &mut out,
        404,
        br#"{"code":"stream_not_found","message":"no"}"#,
    )
    .unwrap();
    session.handle(
        Input::Connection(connection, ConnectionEvent::Data(out.freeze())),
        now,
    );
    assert!(
        matches!(session.poll_event(), Some(ReadEvent::Failed(Error::Service(e))) if e.status == 404)
    );
    assert!(session.is_finished());
}

#[test]
fn huge_retry_hint_ends_the_session_with_its_error() {
    let now = Instant::now();
    let mut s = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    let Some(ReadEvent::Connect { connection, .. }) = s.poll_event() else {
        panic!("expected a connect")
    };
    let e = Error::Service(crate::error::ServiceError {
        status: 503,
        code: "unavailable".into(),
        message: String::new(),
        retry_after: Some(Duration::from_millis(u64::MAX)),
    });
    s.handle(
        Input::Connection(connection, ConnectionEvent::Failed(e)),
        now,
    );
    match s.poll_event() {
        Some(ReadEvent::Failed(Error::Service(e))) => {
            assert_eq!(e.retry_after, Some(Duration::from_millis(u64::MAX)))
        }
        other => panic!("expected the 503 at once, got {other:?}"),
    }
}

#[test]
fn sessions_ended_by_the_server_reconnect_through_the_backoff() {
    let start = Instant::now();
    let mut now = start;
    let config = ReadSessionConfig::default();
    let mut s = ReadSession::new(ReadRequest::default(), config, now);
    let mut connects = 0;
    loop {
        match s.poll_event() {
            Some(ReadEvent::Connect { connection, .. }) => {
                connects += 1;
                s.handle(
                    Input::Connection(connection, ConnectionEvent::Connected),
                    now,
                );
                s.handle(Input::Connection(connection, ConnectionEvent::End), now);
            }
            Some(ReadEvent::Failed(_)) => break,
            Some(other) => panic!("unexpected {other:?}"),
            None => {
                let at = s.poll_timeout().expect("backing off");
                assert!(at > now, "an ended session must not reconnect at once");
                now = at;
                s.handle(Input::Timeout, now);
            }
        }
    }
    // Through the whole window, and no further, from the first end.
    assert_eq!(now - start, config.backoff().retry_window());
    assert!((10..40).contains(&connects), "{connects}");
}

#[test]
fn healthy_connections_renew_the_retry_budget() {
    let mut now = Instant::now();
    let mut s = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    for _ in 0..10 {
        let connection = loop {
            match s.poll_event() {
                Some(ReadEvent::Connect { connection, .. }) => break connection,
                Some(ReadEvent::Failed(e)) => panic!("gave up on a healthy stream: {e}"),
                Some(_) => continue,
                None => {
                    now = s.poll_timeout().expect("a timer");
                    s.handle(Input::Timeout, now);
                }
            }
        };
        s.handle(
            Input::Connection(connection, ConnectionEvent::Connected),
            now,
        );
        let heartbeat = ReadBatch {
            records: vec![],
            tail: Some(StreamPosition::new(5, 0)),
        };
        let mut out = BytesMut::new();
        encode_message(&mut out, &heartbeat, Compression::None).unwrap();
        s.handle(
            Input::Connection(connection, ConnectionEvent::Data(out.freeze())),
            now,
        );
        now += Duration::from_secs(3600);
        s.handle(
            Input::Connection(
                connection,
                ConnectionEvent::Failed(Error::transport(Sent::Maybe, "reset by a load balancer")),
            ),
            now,
        );
    }
}

#[test]
fn heartbeats_alone_do_not_renew_the_retry_budget() {
    let start = Instant::now();
    let mut now = start;
    let config = ReadSessionConfig::default();
    let mut s = ReadSession::new(ReadRequest::default(), config, now);
    let mut connects = 0;
    loop {
        match s.poll_event() {
            Some(ReadEvent::Connect { connection, .. }) => {
                connects += 1;
                assert!(connects < 100, "reconnects without limit");
                s.handle(
                    Input::Connection(connection, ConnectionEvent::Connected),
                    now,
                );
                s.handle(
                    Input::Connection(connection, ConnectionEvent::Data(message(&[], Some(5)))),
                    now,
                );
                s.handle(
                    Input::Connection(
                        connection,
                        ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
                    ),
                    now,
                );
            }
            Some(ReadEvent::Failed(_)) => break,
            Some(_) => {}
            None => {
                now = s.poll_timeout().expect("backing off");
                s.handle(Input::Timeout, now);
            }
        }
    }
    assert_eq!(now - start, config.backoff().retry_window());
}

/// Drives `s` through an outage from `now` until `back`: every connect is
/// refused; returns the time of the first connect at or after `back`, with
/// its connection, and how many were refused.
fn ride_out(
    s: &mut ReadSession,
    mut now: Instant,
    back: Instant,
) -> Option<(Instant, ConnectionId, u32)> {
    let mut refused = 0;
    loop {
        match s.poll_event() {
            Some(ReadEvent::Connect { connection, .. }) if now >= back => {
                return Some((now, connection, refused));
            }
            Some(ReadEvent::Connect { connection, .. }) => {
                refused += 1;
                s.handle(
                    Input::Connection(
                        connection,
                        ConnectionEvent::Failed(Error::transport(Sent::No, "connection refused")),
                    ),
                    now,
                );
            }
            Some(ReadEvent::Failed(e)) => {
                assert!(e.is_retryable(), "{e}");
                return None;
            }
            Some(other) => panic!("unexpected {other:?}"),
            None => {
                now = s.poll_timeout().expect("backing off");
                s.handle(Input::Timeout, now);
            }
        }
    }
}

/// With the default budget, a session rides out a server down for 45 s,
/// twice with progress in between (90 s in all: progress renews the
/// window), resuming each time where it was; a third outage, past the
/// window, ends it with the connection's error.
#[test]
fn default_retries_ride_out_outages_shorter_than_the_window() {
    let records = model_records(9);
    let mut now = Instant::now();
    let mut s = ReadSession::new(
        ReadRequest::new(ReadStart::SeqNum(0)),
        ReadSessionConfig::default(),
        now,
    );
    let (mut c, _) = connect(&mut s);
    let mut seen = Vec::new();
    for round in 0..2 {
        let from = round * 3;
        s.handle(Input::Connection(c, ConnectionEvent::Connected), now);
        s.handle(
            Input::Connection(
                c,
                ConnectionEvent::Data(message(&records[from..from + 3], None)),
            ),
            now,
        );
        seen.extend(delivered(&events(&mut s)));
        s.handle(
            Input::Connection(
                c,
                ConnectionEvent::Failed(Error::transport(Sent::Maybe, "server killed")),
            ),
            now,
        );
        let back = now + Duration::from_secs(45);
        let (at, next, refused) = ride_out(&mut s, now, back).expect("rides out 45 s");
        assert!(
            at - back <= crate::backoff::DEFAULT_MAX_DELAY,
            "back at once"
        );
        assert!(refused >= 10, "{refused}");
        (now, c) = (at, next);
    }
    s.handle(Input::Connection(c, ConnectionEvent::Connected), now);
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&records[6..9], None))),
        now,
    );
    seen.extend(delivered(&events(&mut s)));
    assert_eq!(
        seen,
        (0..9).collect::<Vec<_>>(),
        "every record once, in order"
    );
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "server killed")),
        ),
        now,
    );
    let forever = now + Duration::from_secs(3600);
    assert!(ride_out(&mut s, now, forever).is_none(), "gives up");
    assert!(s.is_finished());
}

#[test]
fn advice_on_every_frame_reconnects_at_most_once_a_minute() {
    let start = Instant::now();
    let mut now = start;
    let mut s = ReadSession::new(
        ReadRequest::new(ReadStart::SeqNum(0)),
        ReadSessionConfig::default(),
        now,
    );
    let records = model_records(1000);
    let mut connects = 0;
    let mut conn = None;
    let mut seen = Vec::new();
    // Every advised frame tells the driver, though the session moves at
    // most once a minute.
    let mut advised = Vec::new();
    // Ten minutes of virtual time, a frame every second, each advising a
    // reconnect.
    for _ in 0..600 {
        for event in events(&mut s) {
            match event {
                ReadEvent::Connect { connection, .. } => {
                    connects += 1;
                    conn = Some(connection);
                }
                ReadEvent::Batch(b) => seen.extend(b.records.iter().map(|r| r.seq_num())),
                ReadEvent::Advised(connection) => advised.push(connection),
                ReadEvent::Failed(e) => panic!("failed: {e}"),
                _ => {}
            }
        }
        let c = conn.expect("connected");
        let next = s.next_seq_num().unwrap_or(0) as usize;
        let mut frame = BytesMut::from(&message(&records[next..next + 1], None)[..]);
        frame[3] |= crate::frame::FLAG_RECONNECT_ADVISED;
        s.handle(
            Input::Connection(c, ConnectionEvent::Data(frame.freeze())),
            now,
        );
        now += Duration::from_secs(1);
        s.handle(Input::Timeout, now);
    }
    let last = events(&mut s);
    advised.extend(last.iter().filter_map(|e| match e {
        ReadEvent::Advised(connection) => Some(*connection),
        _ => None,
    }));
    seen.extend(delivered(&last));
    assert_eq!(seen, (0..600).collect::<Vec<_>>());
    assert_eq!(advised.len(), 600, "one advice event per advised frame");
    assert!(connects <= 10 + 2, "{connects} connects in 10 minutes");
}

#[test]
fn a_draining_server_does_not_spend_the_retry_budget_once_a_minute() {
    let now = Instant::now();
    let config =
        ReadSessionConfig::default().with_backoff(BackoffConfig::default().with_max_retries(0));
    let mut s = ReadSession::new(ReadRequest::default(), config, now);
    let draining = || {
        Error::Service(crate::error::ServiceError {
            status: 503,
            code: "server_draining".into(),
            message: String::new(),
            retry_after: None,
        })
    };
    let (c, _) = connect(&mut s);
    s.handle(
        Input::Connection(c, ConnectionEvent::Failed(draining())),
        now,
    );
    let (c, _) = connect(&mut s);
    // Again at once: now it counts, and there is no budget.
    s.handle(
        Input::Connection(c, ConnectionEvent::Failed(draining())),
        now,
    );
    assert!(matches!(
        s.poll_event(),
        Some(ReadEvent::Failed(Error::Service(_)))
    ));
}

#[test]
fn absurd_timeouts_do_not_overflow_the_clock() {
    let now = Instant::now();
    let config = ReadSessionConfig::default()
        .with_heartbeat_timeout(Duration::MAX)
        .with_backoff(
            BackoffConfig::default()
                .with_base_delay(Duration::MAX)
                .with_max_delay(Duration::MAX)
                .with_max_retries(3),
        );
    let mut s = ReadSession::new(ReadRequest::default(), config, now);
    let (c, _) = connect(&mut s);
    s.handle(Input::Connection(c, ConnectionEvent::Connected), now);
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
        ),
        now,
    );
    assert!(s.poll_timeout().is_some_and(|t| t > now));
}
