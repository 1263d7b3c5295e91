//! Connection pool cases: a session whose connection timed out or was
//! advised to close reconnects on a new connection, and many long-lived
//! sessions to one host spread over several connections without starving
//! unary calls.

use std::{
    future::Future,
    time::{Duration, Instant},
};

use futures_util::{
    StreamExt,
    future::{Either, join, select},
    stream,
};
use s2_client::{
    ClientConfig, Runtime, S2, S2Stream,
    config::{BackoffConfig, Endpoints},
    session::ReadItem,
    types::{
        AppendInput, AppendRecord, BasinConfig, BasinName, ReadRequest, ReadStart, StreamConfig,
        StreamName,
    },
};
use s2_test_server::{HostileServer, Misbehaviour, Route};

use crate::{config, unique_basin_name};

/// `future`'s output, or `None` if `limit` passes first.
async fn within<R: Runtime + Default, F: Future>(limit: Duration, future: F) -> Option<F::Output> {
    let sleep = R::default().sleep(limit);
    match select(Box::pin(future), sleep).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(_) => None,
    }
}

fn one_record(body: &str) -> AppendInput {
    AppendInput::new(vec![AppendRecord::new(body.to_owned())]).expect("valid batch")
}

// ---------------------------------------------------------------------------
// Replacing connections that timed out or were advised to close
// ---------------------------------------------------------------------------

/// A client of `server` with deadlines short enough for a quick case.
fn hostile_client<R: Runtime + Default>(server: &HostileServer) -> S2<R> {
    let endpoints = Endpoints::single(&server.endpoint()).expect("endpoint");
    let config = ClientConfig::new("token")
        .with_endpoints(endpoints)
        .with_request_timeout(Duration::from_secs(1))
        .with_connect_timeout(Duration::from_secs(1))
        .with_retry(
            BackoffConfig::default()
                .with_base_delay(Duration::from_millis(10))
                .with_max_delay(Duration::from_millis(50))
                .with_max_retries(3),
        )
        .with_ack_timeout(Duration::from_millis(400))
        .with_heartbeat_timeout(Duration::from_millis(400))
        // PINGs are answered all along: a live connection is not a working one.
        .with_keepalive_interval(Some(Duration::from_millis(100)));
    S2::with_runtime(config, R::default()).expect("client")
}

fn hostile_stream<R: Runtime>(s2: &S2<R>) -> S2Stream<R> {
    s2.basin(BasinName::new("hostile-basin").expect("valid name"))
        .stream(StreamName::new("stream").expect("valid name"))
}

/// Asserts that every session request of `route` went out on a TCP
/// connection of its own.
fn assert_one_connection_per_session(server: &HostileServer, route: Route, why: &str) {
    let sessions = server.requests_on(route);
    let connections = server.connections();
    eprintln!("{route:?}: {sessions} session requests on {connections} connections");
    assert!(sessions >= 2, "the session never reconnected ({sessions})");
    assert_eq!(
        connections, sessions,
        "a reconnect after {why} went out on the connection it left"
    );
}

/// A read session whose connection goes silent past the heartbeat timeout
/// reconnects on a new TCP connection, not the silent one.
pub async fn read_session_heartbeat_timeout_replaces_the_connection<R: Runtime + Default>(
    _: S2<R>,
) {
    let server = HostileServer::start(Misbehaviour::Unresponsive).expect("hostile server");
    let s2 = hostile_client::<R>(&server);
    let mut session = hostile_stream(&s2).read_session(ReadRequest::new(ReadStart::SeqNum(0)));
    // Every attempt times out; the session fails once its budget is spent.
    let end = within::<R, _>(Duration::from_secs(10), session.next())
        .await
        .expect("the read session hung");
    assert!(matches!(end, Some(Err(_))), "{end:?}");
    assert_one_connection_per_session(&server, Route::ReadSession, "a heartbeat timeout");
}

/// An append session whose ack does not come within the ack timeout
/// reconnects on a new TCP connection, not the silent one.
pub async fn append_session_ack_timeout_replaces_the_connection<R: Runtime + Default>(_: S2<R>) {
    let server = HostileServer::start(Misbehaviour::Unresponsive).expect("hostile server");
    let s2 = hostile_client::<R>(&server);
    let session = hostile_stream(&s2)
        .append_session()
        .expect("append session");
    let ack = session.submit(one_record("x")).await.expect("submit");
    let result = within::<R, _>(Duration::from_secs(10), ack)
        .await
        .expect("the ack hung");
    assert!(result.is_err(), "acked by a server that never answers");
    assert_one_connection_per_session(&server, Route::AppendSession, "an ack timeout");
}

/// A read session advised to reconnect moves to a new TCP connection: the
/// one the advice came on takes no new requests.
pub async fn read_session_advice_replaces_the_connection<R: Runtime + Default>(_: S2<R>) {
    let server = HostileServer::start(Misbehaviour::ReconnectAdvice).expect("hostile server");
    let s2 = hostile_client::<R>(&server);
    let mut session = hostile_stream(&s2).read_session(ReadRequest::new(ReadStart::SeqNum(0)));
    let mut next = 0;
    // Advice is followed at most once a minute: one reconnect, then the
    // session stays on its second connection.
    while server.requests_on(Route::ReadSession) < 2 || next < 20 {
        let item = within::<R, _>(Duration::from_secs(5), session.next())
            .await
            .expect("the read session hung");
        match item {
            Some(Ok(ReadItem::Batch(batch))) => {
                for record in batch.records {
                    assert_eq!(record.seq_num(), next, "records in order, once each");
                    next += 1;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("the read session ended: {other:?}"),
        }
    }
    assert_one_connection_per_session(&server, Route::ReadSession, "advice");
    // A unary call goes to a connection no advice came on either.
    hostile_stream(&s2).check_tail().await.expect("check_tail");
    let connections = server.connections();
    assert_eq!(
        server.requests_on(Route::CheckTail),
        1,
        "check_tail was retried"
    );
    assert_eq!(
        connections, 3,
        "check_tail went out on a connection advised to close"
    );
}

/// An append session advised to reconnect moves to a new TCP connection
/// once what it sent is acknowledged.
pub async fn append_session_advice_replaces_the_connection<R: Runtime + Default>(_: S2<R>) {
    let server = HostileServer::start(Misbehaviour::ReconnectAdvice).expect("hostile server");
    let s2 = hostile_client::<R>(&server);
    let session = hostile_stream(&s2)
        .append_session()
        .expect("append session");
    for i in 0..5u64 {
        let ack = session.submit(one_record("x")).await.expect("submit");
        let ack = within::<R, _>(Duration::from_secs(5), ack)
            .await
            .expect("the ack hung")
            .expect("ack");
        assert_eq!(ack.start.seq_num, i, "ack {i} position");
    }
    within::<R, _>(Duration::from_secs(5), session.close())
        .await
        .expect("close hung")
        .expect("close");
    assert_one_connection_per_session(&server, Route::AppendSession, "advice");
}

// ---------------------------------------------------------------------------
// Many sessions to one host
// ---------------------------------------------------------------------------

/// Read sessions held open at once: more than s2-lite's 200 streams per
/// connection.
const SESSIONS: usize = 300;
/// How long the unary calls may take with every session open.
const UNARY_LIMIT: Duration = Duration::from_secs(2);

/// 300 tailing read sessions on one client: the pool opens connections
/// past the per-connection stream limit, so every session opens, a unary
/// `check_tail` and an append on another stream complete promptly, and
/// each session receives the record appended to its stream.
pub async fn many_sessions_leave_room_for_unary_calls<R: Runtime + Default>(s2: S2<R>) {
    let Some(proxy) = crate::proxy() else { return };
    let basin_name = unique_basin_name("pool");
    s2.create_basin(&basin_name, BasinConfig::default())
        .await
        .expect("create basin");
    let names: Vec<StreamName> = (0..=SESSIONS)
        .map(|i| StreamName::new(format!("s{i:04}")).expect("valid name"))
        .collect();
    let basin = s2.basin(basin_name.clone());
    stream::iter(&names)
        .for_each_concurrent(16, |name| {
            let basin = &basin;
            async move {
                basin
                    .create_stream(name, StreamConfig::default())
                    .await
                    .expect("create stream");
            }
        })
        .await;

    let config = config().with_endpoints(Endpoints::single(&proxy.endpoint()).expect("endpoint"));
    let pooled = S2::with_runtime(config, R::default()).expect("client");
    let basin = pooled.basin(basin_name);
    let streams: Vec<S2Stream<R>> = names.iter().map(|n| basin.stream(n.clone())).collect();
    let (other, session_streams) = streams.split_last().expect("streams");
    let mut sessions = stream::select_all(session_streams.iter().enumerate().map(|(i, s)| {
        s.read_session(ReadRequest::new(ReadStart::SeqNum(0)))
            .map(move |item| (i, item))
    }));

    // Every session opens and reaches the (empty) tail.
    let mut caught_up = vec![false; SESSIONS];
    let mut open = 0;
    let started = Instant::now();
    while open < SESSIONS {
        let next = within::<R, _>(Duration::from_secs(10), sessions.next()).await;
        match next {
            Some(Some((i, Ok(ReadItem::CaughtUp(_))))) => {
                if !std::mem::replace(&mut caught_up[i], true) {
                    open += 1;
                }
            }
            Some(Some((i, item))) => panic!("session {i} before any append: {item:?}"),
            Some(None) => panic!("the sessions ended"),
            None => panic!(
                "only {open} of {SESSIONS} sessions opened, on {} connections",
                proxy.connections()
            ),
        }
    }
    eprintln!(
        "{SESSIONS} read sessions open in {:?} on {} connections",
        started.elapsed(),
        proxy.connections()
    );

    let unary = async {
        let started = Instant::now();
        other.check_tail().await.expect("check_tail");
        other.append(&one_record("other")).await.expect("append");
        let took = started.elapsed();
        assert!(
            took < UNARY_LIMIT,
            "check_tail and append took {took:?} with {SESSIONS} sessions open"
        );
        stream::iter(session_streams.iter().enumerate())
            .for_each_concurrent(32, |(i, s)| async move {
                s.append(&one_record(&format!("record-{i}")))
                    .await
                    .expect("append to a session's stream");
            })
            .await;
    };
    let receive = async {
        let mut received = vec![false; SESSIONS];
        let mut count = 0;
        while count < SESSIONS {
            let (i, item) = sessions.next().await.expect("the sessions ended");
            match item {
                Ok(ReadItem::Batch(batch)) => {
                    assert_eq!(batch.records.len(), 1, "session {i}");
                    let body = batch.records[0].body();
                    assert_eq!(body, format!("record-{i}").as_bytes(), "session {i}");
                    assert!(!std::mem::replace(&mut received[i], true), "session {i}");
                    count += 1;
                }
                Ok(_) => {}
                Err(e) => panic!("session {i} failed: {e}"),
            }
        }
    };
    within::<R, _>(Duration::from_secs(15), join(unary, receive))
        .await
        .expect("the appended records did not all reach their sessions");
    // 300 sessions need at least 3 connections of 100 streams, and the pool
    // opens no more than it needs (one more for the unary calls at most).
    let connections = proxy.connections();
    assert!(
        (3..=5).contains(&connections),
        "{connections} connections for {SESSIONS} sessions"
    );
}

/// Bytes appended to the stream whose reader never reads: far more than any
/// one request's HTTP/2 receive window.
const UNREAD_BYTES: usize = 24 * 1024 * 1024;

/// A read session whose consumer stops reading holds at most its own
/// stream's receive window: another read session on the same HTTP/2
/// connection keeps receiving records, and unary calls keep completing.
pub async fn a_slow_consumer_stalls_no_other_session<R: Runtime + Default>(s2: S2<R>) {
    let slow = crate::fresh_stream(&s2, "slow").await;
    let basin = s2.basin(slow.basin_name().clone());
    let other_name = StreamName::new("other").expect("valid name");
    basin
        .create_stream(&other_name, StreamConfig::default())
        .await
        .expect("create stream");
    let other = basin.stream(other_name);

    // The slow session opens and sees its first batch, then is never
    // polled again while the stream fills behind it.
    let mut stalled = slow.read_session(ReadRequest::new(ReadStart::SeqNum(0)));
    slow.append(&one_record("first")).await.expect("append");
    match within::<R, _>(Duration::from_secs(10), stalled.next()).await {
        Some(Some(Ok(_))) => {}
        other => panic!("the slow session did not open: {other:?}"),
    }
    let body = bytes::Bytes::from(vec![b'x'; 1000 * 1024 / 1000 - 8]);
    for _ in 0..UNREAD_BYTES / (1000 * 1024) {
        let batch: Vec<AppendRecord> = (0..1000).map(|_| AppendRecord::new(body.clone())).collect();
        slow.append(&AppendInput::new(batch).expect("valid batch"))
            .await
            .expect("append");
    }

    // Another session on the same client (and connection) still gets its
    // records, one by one, promptly.
    let mut session = other.read_session(ReadRequest::new(ReadStart::SeqNum(0)));
    for i in 0..3 {
        let body = format!("record {i}");
        other.append(&one_record(&body)).await.expect("append");
        let got = within::<R, _>(Duration::from_secs(5), async {
            loop {
                match session.next().await {
                    Some(Ok(ReadItem::Batch(batch))) => break batch,
                    Some(Ok(_)) => continue,
                    other => panic!("the other session ended: {other:?}"),
                }
            }
        })
        .await
        .unwrap_or_else(|| panic!("record {i} never reached the other session"));
        assert_eq!(got.records[0].body(), body.as_bytes());
    }
    let tail = within::<R, _>(UNARY_LIMIT, other.check_tail()).await;
    assert!(
        matches!(tail, Some(Ok(_))),
        "check_tail stalled behind the slow session"
    );
    drop(stalled);
}

/// An append's ack does not wait behind a read batch on the same
/// connection. s2-lite leaves Nagle's algorithm on: after writing a batch to
/// a tailing read session it holds the ack, a small write, until the client
/// has acknowledged that batch at the TCP level, which a client with nothing
/// to send delays by up to 40 ms (Linux's delayed ACK). Each append here
/// waits for its ack before the next, so the client sends nothing meanwhile.
pub async fn acks_do_not_wait_behind_read_batches<R: Runtime + Default>(s2: S2<R>) {
    if crate::target().server.is_none() {
        return; // A remote deployment's ack latency is its own, not Nagle's.
    }
    let stream = crate::fresh_stream(&s2, "prompt-acks").await;
    let mut tail = stream.read_session(ReadRequest::new(ReadStart::SeqNum(0)));
    let session = stream.append_session().expect("append session");
    let mut latencies = Vec::new();
    for i in 0..20u64 {
        let input = AppendInput::new(vec![AppendRecord::new(vec![7u8; 1024])]).expect("valid");
        let started = Instant::now();
        let ack = session.submit(input).await.expect("submitted");
        let ack = ack.await.expect("acked");
        latencies.push(started.elapsed());
        assert_eq!(ack.start.seq_num, i);
        // The follower takes its batch, so the server writes to it again.
        loop {
            match tail.next().await.expect("tailing").expect("read") {
                ReadItem::Batch(batch)
                    if batch.records.last().is_some_and(|r| r.seq_num() == i) =>
                {
                    break;
                }
                _ => {}
            }
        }
    }
    latencies.sort_unstable();
    let median = latencies[latencies.len() / 2];
    assert!(
        median < Duration::from_millis(30),
        "median ack latency {median:?} (all: {latencies:?}): acks waited for the \
         client's delayed TCP acknowledgement"
    );
}
