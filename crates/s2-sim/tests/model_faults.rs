//! Each fault of the model does what it says, seen through the real
//! s2-tokio client over loopback TCP: faults forced one at a time, the
//! model's state and fault counts checked against what the client reports.

mod model_common;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use model_common::{batch, bodies, client, config, held, serve, stream};
use s2_sim::model::{FaultKind, Faults};
use s2_tokio::{
    Error, S2,
    config::AppendRetryPolicy,
    session::ReadItem,
    types::{ReadRequest, ReadStart},
};

/// Appends `count` batches of `per` records (`{tag}{i}-{j}`) through one
/// session conditioned on an empty stream, calling `before(i)` ahead of
/// batch `i`; closes it and checks each batch was acknowledged where it
/// belongs.
async fn conditioned_session(
    stream: &s2_tokio::S2Stream,
    tag: &str,
    count: u64,
    per: usize,
    mut before: impl FnMut(u64),
) {
    let session = stream.append_session().expect("session");
    let mut acks = Vec::new();
    for i in 0..count {
        before(i);
        let mut input = batch(&format!("{tag}{i}"), per);
        if i == 0 {
            input = input.with_match_seq_num(0);
        }
        acks.push(session.submit(input).await.expect("submit"));
    }
    session.close().await.expect("close");
    for (i, ack) in (0u64..).zip(acks) {
        assert_eq!(ack.await.expect("ack").start.seq_num, per as u64 * i);
    }
}

/// Cut after apply, unconditioned, under `NoSideEffects`: the record is in
/// the stream and the client says the outcome is unknown.
#[tokio::test]
async fn cut_after_apply_leaves_the_record_and_an_unknown_outcome() {
    let served = serve(10, Faults::none()).await;
    let s2 = client(&served, AppendRetryPolicy::NoSideEffects);
    let stream = stream(&served, &s2, "cut");
    served.model.force(FaultKind::CutAfterApply, 1);
    let error = stream.append(&batch("x", 2)).await.expect_err("cut");
    assert!(error.may_have_side_effect(), "{error:?}");
    assert_eq!(held(&served, "cut"), ["x-0", "x-1"]);
    assert_eq!(served.model.fault_counts().get(FaultKind::CutAfterApply), 1);
    // The client moves to a new connection.
    stream
        .append(&batch("y", 1))
        .await
        .expect("append after the cut");
    assert_eq!(served.model.connections(), 2);
}

/// Cut after apply, conditioned: the client resolves the unknown outcome
/// by reading back, and the batch is there exactly once.
#[tokio::test]
async fn cut_after_apply_is_resolved_exactly_once_when_conditioned() {
    let served = serve(11, Faults::none()).await;
    let s2 = client(&served, AppendRetryPolicy::All);
    let stream = stream(&served, &s2, "resolved");
    served.model.force(FaultKind::CutAfterApply, 1);
    let ack = stream
        .append(&batch("x", 3).with_match_seq_num(0))
        .await
        .expect("resolved");
    assert_eq!((ack.start.seq_num, ack.end.seq_num), (0, 3));
    assert_eq!(held(&served, "resolved"), ["x-0", "x-1", "x-2"]);
    assert_eq!(served.model.fault_counts().get(FaultKind::CutAfterApply), 1);
}

/// A lost (reset) answer after apply: unknown outcome, record applied
/// once; conditioned (and retried), the client resolves it.
#[tokio::test]
async fn lost_response_after_apply() {
    let served = serve(12, Faults::none()).await;
    let s2 = client(&served, AppendRetryPolicy::NoSideEffects);
    let stream = stream(&served, &s2, "lost");
    served.model.force(FaultKind::LostResponse, 1);
    let error = stream.append(&batch("x", 1)).await.expect_err("reset");
    assert!(error.may_have_side_effect(), "{error:?}");
    assert_eq!(held(&served, "lost"), ["x-0"]);
    // Conditioned: whatever the client makes of it, the batch landed once.
    served.model.force(FaultKind::LostResponse, 1);
    match stream.append(&batch("y", 1).with_match_seq_num(1)).await {
        Ok(ack) => assert_eq!(ack.start.seq_num, 1),
        Err(error) => assert!(error.may_have_side_effect(), "{error:?}"),
    }
    assert_eq!(held(&served, "lost"), ["x-0", "y-0"]);
    // Retried, the client resolves it from the read-back.
    let s2 = client(&served, AppendRetryPolicy::All);
    let stream = model_common::stream(&served, &s2, "lost");
    served.model.force(FaultKind::LostResponse, 1);
    let ack = stream
        .append(&batch("z", 1).with_match_seq_num(2))
        .await
        .expect("resolved");
    assert_eq!(ack.start.seq_num, 2);
    assert_eq!(held(&served, "lost"), ["x-0", "y-0", "z-0"]);
    assert_eq!(served.model.fault_counts().get(FaultKind::LostResponse), 3);
}

/// A 503 before applying: nothing lands; under `All` the retry lands once.
#[tokio::test]
async fn unavailable_applies_nothing() {
    let served = serve(13, Faults::none()).await;
    let s2 = client(&served, AppendRetryPolicy::NoSideEffects);
    let stream = stream(&served, &s2, "unavailable");
    served.model.force(FaultKind::Unavailable, 1);
    let error = stream.append(&batch("x", 1)).await.expect_err("503");
    assert!(matches!(error, Error::Service(_)), "{error:?}");
    assert_eq!(error.code(), Some("unavailable"));
    assert!(held(&served, "unavailable").is_empty());

    let s2 = client(&served, AppendRetryPolicy::All);
    let stream = model_common::stream(&served, &s2, "unavailable");
    served.model.force(FaultKind::Unavailable, 2);
    stream.append(&batch("y", 1)).await.expect("retried");
    assert_eq!(held(&served, "unavailable"), ["y-0"]);
    assert_eq!(served.model.fault_counts().get(FaultKind::Unavailable), 3);
}

/// REFUSED_STREAM before processing: nothing is applied, so what the
/// stream holds matches what the client reports, retried or not.
#[tokio::test]
async fn refused_streams_apply_nothing() {
    let served = serve(14, Faults::none()).await;
    let s2 = client(&served, AppendRetryPolicy::NoSideEffects);
    let stream = stream(&served, &s2, "refused");
    served.model.force(FaultKind::RefusedStream, 1);
    let result = stream.append(&batch("x", 1)).await;
    let landed = if result.is_ok() { vec!["x-0"] } else { vec![] };
    assert_eq!(held(&served, "refused"), landed, "{result:?}");

    // Retried blindly, the batch still lands once: the refused attempts
    // were not applied.
    let s2 = client(&served, AppendRetryPolicy::All);
    let stream = model_common::stream(&served, &s2, "refused");
    served.model.force(FaultKind::RefusedStream, 2);
    stream.append(&batch("y", 1)).await.expect("retried");
    served.model.refuse_streams_for(Duration::from_millis(50));
    stream
        .append(&batch("z", 1))
        .await
        .expect("retried past the window");
    let mut expected = landed;
    expected.extend(["y-0", "z-0"]);
    assert_eq!(held(&served, "refused"), expected);
    assert!(served.model.fault_counts().get(FaultKind::RefusedStream) >= 4);
}

/// GOAWAY: the request that drew it is served, then the client moves to a
/// new connection.
#[tokio::test]
async fn go_away_moves_the_client_to_a_new_connection() {
    let served = serve(15, Faults::none()).await;
    let s2 = client(&served, AppendRetryPolicy::NoSideEffects);
    let stream = stream(&served, &s2, "goaway");
    served.model.force(FaultKind::GoAway, 1);
    stream.append(&batch("x", 1)).await.expect("served");
    // Let the second GOAWAY (after the PING) reach the client.
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream
        .append(&batch("y", 1))
        .await
        .expect("on a new connection");
    assert_eq!(held(&served, "goaway"), ["x-0", "y-0"]);
    assert_eq!(served.model.connections(), 2);
    assert_eq!(served.model.go_away_all(), 1);
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream.append(&batch("z", 1)).await.expect("again");
    assert_eq!(served.model.connections(), 3);
    assert_eq!(served.model.fault_counts().get(FaultKind::GoAway), 2);
}

/// An abrupt GOAWAY: the request that drew it is not served (and nothing
/// is applied), the client moves to a new connection.
#[tokio::test]
async fn abrupt_go_away_serves_nothing_more() {
    let served = serve(24, Faults::none()).await;
    let s2 = client(&served, AppendRetryPolicy::NoSideEffects);
    let stream = stream(&served, &s2, "abrupt");
    stream.append(&batch("x", 1)).await.expect("before");
    served.model.force(FaultKind::AbruptGoAway, 1);
    let result = stream.append(&batch("y", 1)).await;
    assert!(result.is_err(), "no answer comes: {result:?}");
    assert_eq!(held(&served, "abrupt"), ["x-0"]);
    stream
        .append(&batch("z", 1))
        .await
        .expect("on a new connection");
    assert_eq!(held(&served, "abrupt"), ["x-0", "z-0"]);
    assert_eq!(served.model.connections(), 2);
    assert_eq!(served.model.fault_counts().get(FaultKind::AbruptGoAway), 1);
}

/// A graceful GOAWAY amid concurrent appends: what h2 accepted is served,
/// what came after is not processed, so blind retries duplicate nothing.
#[tokio::test]
async fn go_away_amid_concurrent_appends_duplicates_nothing() {
    let served = serve(25, Faults::none()).await;
    let s2 = client(&served, AppendRetryPolicy::All);
    let stream = stream(&served, &s2, "concurrent");
    stream.append(&batch("warm", 1)).await.expect("connect");
    served.model.force(FaultKind::GoAway, 1);
    let appends = (0..40).map(|i| {
        let stream = stream.clone();
        async move { stream.append(&batch(&format!("c{i}"), 1)).await }
    });
    for result in futures_util::future::join_all(appends).await {
        result.expect("append");
    }
    let mut held = held(&served, "concurrent");
    assert_eq!(held.len(), 41, "{held:?}");
    held.sort();
    held.dedup();
    assert_eq!(held.len(), 41, "no duplicates");
    assert_eq!(served.model.fault_counts().get(FaultKind::GoAway), 1);
}

/// A connection dropped on a request's arrival: the request was not
/// processed, the client retries (under `All`) on a new connection.
#[tokio::test]
async fn cut_before_processing() {
    let served = serve(16, Faults::none()).await;
    let s2 = client(&served, AppendRetryPolicy::All);
    let stream = stream(&served, &s2, "precut");
    served.model.force(FaultKind::Cut, 1);
    stream.append(&batch("x", 1)).await.expect("retried");
    assert_eq!(held(&served, "precut"), ["x-0"]);
    assert_eq!(served.model.fault_counts().get(FaultKind::Cut), 1);
    assert_eq!(served.model.connections(), 2);
}

/// Refused connections: the client keeps trying until the window ends.
#[tokio::test]
async fn refused_connections_until_the_window_ends() {
    let served = serve(17, Faults::none()).await;
    let s2 = client(&served, AppendRetryPolicy::All);
    let stream = stream(&served, &s2, "noconn");
    served
        .model
        .refuse_connections_for(Duration::from_millis(60));
    stream
        .append(&batch("x", 1))
        .await
        .expect("after the window");
    assert_eq!(held(&served, "noconn"), ["x-0"]);
    assert!(
        served
            .model
            .fault_counts()
            .get(FaultKind::RefusedConnection)
            >= 1
    );
    assert_eq!(served.model.connections(), 1);
}

/// Slow acks are held back for the configured delay, and still arrive.
#[tokio::test]
async fn slow_acks_arrive_late() {
    let delay = Duration::from_millis(300);
    let faults = Faults::none()
        .with(FaultKind::SlowAck, 1.0)
        .with_slow_ack_delay(delay);
    let served = serve(18, faults).await;
    let s2 = client(&served, AppendRetryPolicy::NoSideEffects);
    let stream = stream(&served, &s2, "slow");
    let started = Instant::now();
    stream.append(&batch("x", 1)).await.expect("unary");
    assert!(started.elapsed() >= delay);
    let session = stream.append_session().expect("session");
    let started = Instant::now();
    let ack = session.submit(batch("y", 1)).await.expect("submit");
    ack.await.expect("session ack");
    assert!(started.elapsed() >= delay);
    session.close().await.expect("close");
    assert_eq!(held(&served, "slow"), ["x-0", "y-0"]);
    assert_eq!(served.model.fault_counts().get(FaultKind::SlowAck), 2);
}

/// A stall past the ack timeout: the conditioned session gives up on the
/// silent connection, resolves and finishes, every record once.
#[tokio::test]
async fn stalled_append_session_recovers_exactly_once() {
    let faults = Faults::none().with_stall(Duration::from_secs(3));
    let served = serve(19, faults).await;
    let s2 = S2::new(
        config(&served)
            .with_ack_timeout(Duration::from_millis(500))
            .with_append_retry_policy(AppendRetryPolicy::All),
    )
    .expect("client");
    let stream = model_common::stream(&served, &s2, "stall");
    conditioned_session(&stream, "s", 20, 2, |i| {
        if i == 5 {
            served.model.force(FaultKind::Stall, 1);
        }
    })
    .await;
    let expected: Vec<String> = (0..20)
        .flat_map(|i| [format!("s{i}-0"), format!("s{i}-1")])
        .collect();
    assert_eq!(held(&served, "stall"), expected);
    assert_eq!(served.model.fault_counts().get(FaultKind::Stall), 1);
}

/// A read session through a stall past the heartbeat timeout, a cut of
/// every connection and server-draining and reconnect advice: every
/// record once, in order.
#[tokio::test]
async fn read_session_rides_out_stalls_cuts_and_advice() {
    let served = serve(20, Faults::none()).await;
    let s2 = S2::new(config(&served).with_heartbeat_timeout(Duration::from_millis(500)))
        .expect("client");
    let stream = model_common::stream(&served, &s2, "tailing");
    let writer = s2
        .basin(model_common::BASIN.parse().expect("basin"))
        .stream("tailing".parse().expect("stream"));
    let mut session = stream.read_session(ReadRequest::new(ReadStart::SeqNum(0)));
    let mut seen = Vec::new();
    const BATCHES: usize = 40;
    let write = async {
        for i in 0..BATCHES {
            tokio::time::sleep(Duration::from_millis(20)).await;
            match i {
                5 => served.model.stall_for(Duration::from_millis(1500)),
                15 => {
                    served.model.cut_connections();
                }
                20 => served.model.force(FaultKind::ServerDraining, 1),
                25 => served.model.force(FaultKind::ReconnectAdvice, 1),
                30 => served.model.force(FaultKind::Unavailable, 1),
                _ => {}
            }
            writer
                .append(&batch(&format!("w{i}"), 3))
                .await
                .expect("append");
        }
    };
    let read = async {
        while seen.len() < BATCHES * 3 {
            match session.next().await.expect("open").expect("item") {
                ReadItem::Batch(batch) => seen.extend(batch.records),
                ReadItem::CaughtUp(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    tokio::join!(write, read);
    let seq_nums: Vec<u64> = seen.iter().map(|r| r.seq_num()).collect();
    assert_eq!(seq_nums, (0..(BATCHES * 3) as u64).collect::<Vec<_>>());
    assert_eq!(bodies(&seen), held(&served, "tailing"));
    let counts = served.model.fault_counts();
    for kind in [
        FaultKind::Stall,
        FaultKind::ServerDraining,
        FaultKind::ReconnectAdvice,
        FaultKind::Unavailable,
    ] {
        assert_eq!(counts.get(kind), 1, "{kind:?} in {counts:?}");
    }
    assert!(counts.get(FaultKind::Cut) >= 1, "{counts:?}");
}

/// `server_draining` on an append session is no failure of the client's:
/// with no retries at all, it still reconnects and finishes.
#[tokio::test]
async fn draining_append_session_reconnects_without_spending_retries() {
    let served = serve(21, Faults::none()).await;
    let s2 = S2::new(config(&served).with_max_retries(0)).expect("client");
    let stream = model_common::stream(&served, &s2, "draining");
    conditioned_session(&stream, "d", 10, 1, |i| {
        if i == 3 {
            served.model.force(FaultKind::ServerDraining, 1);
        }
    })
    .await;
    let expected: Vec<String> = (0..10).map(|i| format!("d{i}-0")).collect();
    assert_eq!(held(&served, "draining"), expected);
    assert_eq!(
        served.model.fault_counts().get(FaultKind::ServerDraining),
        1
    );
}

/// Reconnect advice on an append session: the client opens another
/// session and finishes there.
#[tokio::test]
async fn advice_moves_an_append_session() {
    let served = serve(22, Faults::none()).await;
    let s2 = client(&served, AppendRetryPolicy::NoSideEffects);
    let stream = stream(&served, &s2, "advice");
    let session = stream.append_session().expect("session");
    let first = session.submit(batch("a", 1)).await.expect("submit");
    first.await.expect("ack");
    let sessions_before = served.model.requests();
    served.model.force(FaultKind::ReconnectAdvice, 1);
    let advised = session.submit(batch("b", 1)).await.expect("submit");
    advised.await.expect("ack");
    for i in 0..5 {
        let ack = session
            .submit(batch(&format!("c{i}"), 1))
            .await
            .expect("submit");
        ack.await.expect("ack");
    }
    session.close().await.expect("close");
    assert!(
        served.model.requests() > sessions_before,
        "a new session was opened after the advice"
    );
    assert_eq!(held(&served, "advice").len(), 7);
    assert_eq!(
        served.model.fault_counts().get(FaultKind::ReconnectAdvice),
        1
    );
}

/// Faults drawn at random under a conditioned session: whatever is drawn,
/// nothing is lost or duplicated, and the counts say faults happened.
#[tokio::test]
async fn random_faults_lose_and_duplicate_nothing() {
    let faults = Faults::none()
        .with(FaultKind::CutAfterApply, 0.05)
        .with(FaultKind::LostResponse, 0.05)
        .with(FaultKind::Unavailable, 0.05)
        .with(FaultKind::RefusedStream, 0.05)
        .with(FaultKind::ReconnectAdvice, 0.05)
        .with(FaultKind::SlowAck, 0.05)
        .with_slow_ack_delay(Duration::from_millis(20));
    let served = serve(23, faults).await;
    let s2 = S2::new(config(&served).with_max_retries(30)).expect("client");
    let stream = model_common::stream(&served, &s2, "random");
    let session = stream.append_session().expect("session");
    let mut acks = Vec::new();
    for i in 0..200 {
        let mut input = batch(&format!("q{i}"), 2);
        if i == 0 {
            input = input.with_match_seq_num(0);
        }
        acks.push(session.submit(input).await.expect("submit"));
    }
    session.close().await.expect("close");
    for (i, ack) in acks.into_iter().enumerate() {
        assert_eq!(ack.await.expect("ack").start.seq_num, 2 * i as u64);
    }
    let expected: Vec<String> = (0..200)
        .flat_map(|i| [format!("q{i}-0"), format!("q{i}-1")])
        .collect();
    assert_eq!(held(&served, "random"), expected);
    let counts = served.model.fault_counts();
    eprintln!("random faults: {counts:?}");
    assert!(counts.total() > 0, "{counts:?}");
}
