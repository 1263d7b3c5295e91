//! Reconnects: the server's advice, refused sessions, and outages within
//! and past the retry window.

use super::*;

#[test]
fn reconnect_advice_drains_instead_of_failing() {
    let now = Instant::now();
    let mut s = AppendSession::new(config(AppendRetryPolicy::NoSideEffects, 10));
    let input = || AppendInput::new(vec![AppendRecord::new("x")]).unwrap();
    s.try_submit(input()).unwrap();
    s.try_submit(input()).unwrap();
    let Some(AppendEvent::Connect(c)) = s.poll_event() else {
        panic!("expected a connect")
    };
    while s.poll_transmit(now).is_some() {}
    let ack = |seq_num| {
        let mut out = BytesMut::new();
        let ack = AppendAck {
            start: StreamPosition::new(seq_num, 1),
            end: StreamPosition::new(seq_num + 1, 1),
            tail: StreamPosition::new(seq_num + 1, 1),
        };
        encode_message(&mut out, &ack, Compression::None).unwrap();
        out
    };
    let mut advised = ack(0);
    advised[3] |= crate::frame::FLAG_RECONNECT_ADVISED;
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(advised.freeze())),
        now,
    );
    s.try_submit(input()).unwrap();
    // Nothing more goes out on the advised connection.
    assert!(s.poll_transmit(now).is_none());
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(ack(1).freeze())),
        now,
    );
    let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(
        events.iter().all(|e| !matches!(e, AppendEvent::Failed(_))),
        "{events:?}"
    );
    assert!(matches!(events[events.len() - 2], AppendEvent::Disconnect(d) if d == c));
    let Some(AppendEvent::Connect(next)) = events.last() else {
        panic!("expected a reconnect: {events:?}")
    };
    assert_eq!(s.poll_transmit(now).map(|(c, _)| c), Some(*next));
}

/// A session whose open was answered with `status`/`code`, after its one
/// batch was sent on it.
fn rejected_session(status: u16, code: &str, now: Instant) -> Vec<AppendEvent> {
    let mut s = AppendSession::new(config(AppendRetryPolicy::NoSideEffects, 10));
    s.try_submit(AppendInput::new(vec![AppendRecord::new("x")]).unwrap())
        .unwrap();
    let Some(AppendEvent::Connect(c)) = s.poll_event() else {
        panic!("expected a connect")
    };
    assert!(s.poll_transmit(now).is_some());
    let error = Error::Service(crate::error::ServiceError {
        status,
        code: code.into(),
        message: String::new(),
        retry_after: None,
    });
    s.handle(
        Input::Connection(c, ConnectionEvent::Rejected(error.into())),
        now,
    );
    let mut events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    if let Some(t) = s.poll_timeout() {
        s.handle(Input::Timeout, t);
        events.extend(std::iter::from_fn(|| s.poll_event()));
    }
    events
}

#[test]
fn a_session_refused_with_a_no_effect_status_proves_nothing_was_applied() {
    // Refused, it provably did not apply: a no-side-effects session retries.
    let events = rejected_session(429, "rate_limited", Instant::now());
    assert!(
        events.iter().all(|e| !matches!(e, AppendEvent::Failed(_))),
        "{events:?}"
    );
    assert!(events.iter().any(|e| matches!(e, AppendEvent::Connect(_))));
}

#[test]
fn a_session_refused_with_an_unknown_outcome_status_may_have_applied() {
    // A gateway's 504 (or a 503 `unavailable`) may come after the frames
    // reached the service: a no-side-effects session gives up, saying the
    // batch may have landed.
    for (status, code) in [(504, ""), (503, "unavailable"), (502, "")] {
        let events = rejected_session(status, code, Instant::now());
        let failed = events.iter().find_map(|e| match e {
            AppendEvent::Failed(error) => Some(error),
            _ => None,
        });
        let Some(Error::AppendSession { maybe_applied, .. }) = failed else {
            panic!("{status} {code}: expected the session to fail, got {events:?}")
        };
        assert_eq!(maybe_applied, &(0..1), "{status} {code}");
    }
}

#[test]
fn advice_on_every_frame_reconnects_at_most_once_a_minute() {
    let batches: Vec<_> = (0..400)
        .map(|i| vec![AppendRecord::new(format!("r{i}"))])
        .collect();
    for conditioned in [false, true] {
        let mut sim = Sim::new(config(AppendRetryPolicy::All, 4));
        sim.advise_always = true;
        let start = sim.now;
        for _ in 0..batches.len() + 1 {
            for action in [Action::Submit, Action::Process, Action::Deliver(1000)] {
                sim.step(action, &batches, conditioned);
            }
            // One second per round: 400 s of virtual time.
            sim.now += Duration::from_secs(1);
        }
        assert!(sim.outcome.failed.is_none(), "{:?}", sim.outcome.failed);
        assert!(sim.outcome.closed);
        assert_eq!(log_records(&sim), flatten(&batches));
        let minutes = (sim.now - start).as_secs() / 60;
        assert!(
            sim.connects as u64 <= minutes + 2,
            "{} connects in {minutes} minutes",
            sim.connects
        );
    }
}

#[test]
fn a_connection_failing_after_advice_does_not_spend_the_retry_budget() {
    let now = Instant::now();
    let mut s = AppendSession::new(
        AppendSessionConfig::default().with_backoff(BackoffConfig::default().with_max_retries(0)),
    );
    for _ in 0..2 {
        let input = AppendInput::new(vec![AppendRecord::new("x")]).unwrap();
        s.try_submit(input).unwrap();
    }
    let Some(AppendEvent::Connect(c)) = s.poll_event() else {
        panic!("expected a connect")
    };
    while s.poll_transmit(now).is_some() {}
    let mut advised = BytesMut::from(&ack_frame(0, 1, 1)[..]);
    advised[3] |= crate::frame::FLAG_RECONNECT_ADVISED;
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(advised.freeze())),
        now,
    );
    // The server goes away as it said, before the second ack.
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "gone")),
        ),
        now,
    );
    assert!(failure(&mut s).is_none(), "an announced drop is no failure");
    s.handle(Input::Timeout, s.poll_timeout().expect("reconnecting"));
    assert!(matches!(s.poll_event(), Some(AppendEvent::Connect(_))));
}

/// With the default budget, a conditioned session rides out a server that
/// is down for 45 s (connects refused, tail checks failing) just after it
/// applied batches whose acks were lost, twice with acks in between (90 s
/// in all: progress renews the window), and lands every batch exactly once;
/// an outage past the window ends it a minute after its first failure,
/// saying which inputs may have landed.
#[test]
fn default_retries_ride_out_outages_shorter_than_the_window() {
    let batches: Vec<_> = (0..25)
        .map(|i| vec![AppendRecord::new(format!("r{i}"))])
        .collect();
    let mut sim = Sim::new(AppendSessionConfig::default());
    let step = |sim: &mut Sim, action| sim.step(action, &batches, true);
    for round in 1..=2 {
        for _ in 0..10 {
            step(&mut sim, Action::Submit);
        }
        for _ in 0..5 {
            step(&mut sim, Action::Process);
        }
        sim.down = true;
        step(&mut sim, Action::Cut);
        let back = sim.now + Duration::from_secs(45);
        while sim.now < back {
            step(&mut sim, Action::Tick);
            assert!(sim.outcome.failed.is_none(), "{:?}", sim.outcome.failed);
        }
        sim.down = false;
        for _ in 0..100 {
            for action in [Action::Tick, Action::Process, Action::Deliver(1000)] {
                step(&mut sim, action);
            }
        }
        assert!(sim.outcome.failed.is_none(), "{:?}", sim.outcome.failed);
        assert_eq!(sim.outcome.acks.len(), round * 10);
    }
    assert_eq!(log_records(&sim), flatten(&batches[..20]), "exactly once");
    check_acks(&sim, &batches).unwrap();

    for _ in 0..5 {
        step(&mut sim, Action::Submit);
    }
    step(&mut sim, Action::Process);
    sim.down = true;
    step(&mut sim, Action::Cut);
    let first_failure = sim.now;
    while sim.outcome.failed.is_none() {
        step(&mut sim, Action::Tick);
        assert!(
            sim.now - first_failure < Duration::from_secs(61),
            "gives up"
        );
    }
    assert!(sim.now - first_failure >= Duration::from_secs(60));
    let error = sim.outcome.failed.take().unwrap();
    let (maybe, not) = failure_ranges(&error).unwrap();
    let Error::AppendSession { cause, .. } = error else {
        unreachable!()
    };
    assert!(cause.is_retryable(), "the outage's own error: {cause}");
    // All five were sent on the connection that broke: any may have landed.
    assert_eq!((maybe, not), (20..25, 25..25));
    assert_eq!(log_records(&sim), flatten(&batches[..21]));
}
