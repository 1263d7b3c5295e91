//! Fault cases: sessions through a loopback proxy that cuts and stalls
//! connections. The figures that matter are records lost and duplicated:
//! both must be zero.

use std::time::Duration;

use futures_util::StreamExt;
use s2_client::{
    ClientConfig, Error, Runtime, S2,
    config::{AppendRetryPolicy, BackoffConfig, Endpoints},
    session::ReadItem,
    types::{AppendInput, AppendRecord, ReadLimit, ReadRequest, ReadStart, SequencedRecord},
};
use s2_test_server::FaultProxy;

use crate::{config, fresh_stream};

/// A client that talks through `proxy`, with short timeouts so stalls are
/// detected quickly and a retry budget that outlasts the faults.
fn client_through<R: Runtime + Default>(proxy: &FaultProxy, policy: AppendRetryPolicy) -> S2<R> {
    let config: ClientConfig = config()
        .with_endpoints(Endpoints::single(&proxy.endpoint()).expect("endpoint"))
        .with_append_retry_policy(policy)
        .with_retry(
            BackoffConfig::default()
                .with_max_retries(20)
                .with_base_delay(Duration::from_millis(10))
                .with_max_delay(Duration::from_millis(200)),
        )
        .with_ack_timeout(Duration::from_secs(2))
        .with_heartbeat_timeout(Duration::from_millis(1500))
        .with_connect_timeout(Duration::from_secs(2));
    S2::with_runtime(config, R::default()).expect("client")
}

/// The body of record `index` of batch `batch`: unique in a run.
pub(crate) fn record_body(batch: u64, index: u64) -> String {
    format!("b{batch:06}-r{index:03}")
}

/// Batch `batch`: `per_batch` records with [`record_body`] bodies.
pub(crate) fn batch(batch: u64, per_batch: u64) -> AppendInput {
    AppendInput::new(
        (0..per_batch)
            .map(|i| AppendRecord::new(record_body(batch, i)))
            .collect::<Vec<_>>(),
    )
    .expect("batch")
}

fn batches(count: u64, per_batch: u64) -> impl Iterator<Item = AppendInput> {
    (0..count).map(move |b| batch(b, per_batch))
}

/// Counts records missing from and repeated in `read`, against the
/// expected bodies in order.
pub(crate) fn lost_and_duplicated(read: &[SequencedRecord], expected: &[String]) -> (usize, usize) {
    let mut seen = std::collections::HashMap::new();
    for record in read {
        *seen.entry(record.body().clone()).or_insert(0usize) += 1;
    }
    let lost = expected
        .iter()
        .filter(|body| !seen.contains_key(body.as_bytes()))
        .count();
    let duplicated = seen.values().map(|n| n - 1).sum();
    (lost, duplicated)
}

async fn read_back<R: Runtime + Default>(stream: &s2_client::S2Stream<R>) -> Vec<SequencedRecord> {
    let tail = stream.check_tail().await.expect("tail").seq_num;
    let mut records = Vec::with_capacity(tail as usize);
    let mut session = stream
        .read_session(ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(tail)));
    while let Some(item) = session.next().await {
        if let ReadItem::Batch(batch) = item.expect("read back") {
            records.extend(batch.records);
        }
    }
    records
}

/// 100 000 records through an exactly-once (conditioned) append session
/// while the connection is cut at least 20 times: none lost, none
/// duplicated, every ack where its records are.
pub async fn exactly_once_append_through_cuts<R: Runtime + Default>(s2: S2<R>) {
    let Some(proxy) = crate::proxy() else { return };
    let direct = fresh_stream(&s2, "xonce").await;
    let faulty = client_through::<R>(&proxy, AppendRetryPolicy::NoSideEffects)
        .basin(direct.basin_name().clone())
        .stream(direct.name().clone());

    const BATCHES: u64 = 2_000;
    const PER_BATCH: u64 = 50;
    let session = faulty.append_session().expect("append session");
    let mut acks = Vec::new();
    for (i, mut input) in batches(BATCHES, PER_BATCH).enumerate() {
        if i == 0 {
            input = input.with_match_seq_num(0);
        }
        acks.push(session.submit(input).await.expect("submit"));
        if i % 80 == 40 {
            proxy.cut();
        }
    }
    session.close().await.expect("close");
    for (i, ack) in acks.into_iter().enumerate() {
        let ack = ack.await.expect("ack");
        assert_eq!(ack.start.seq_num, i as u64 * PER_BATCH, "ack {i} position");
    }
    let read = read_back(&direct).await;
    let expected: Vec<String> = (0..BATCHES)
        .flat_map(|b| (0..PER_BATCH).map(move |i| record_body(b, i)))
        .collect();
    let (lost, duplicated) = lost_and_duplicated(&read, &expected);
    eprintln!(
        "exactly-once append: {} records, {} cuts, {} connections: lost {lost}, duplicated {duplicated}",
        expected.len(),
        proxy.cuts(),
        proxy.connections()
    );
    assert!(proxy.cuts() >= 20);
    assert_eq!((lost, duplicated), (0, 0));
    let bodies: Vec<_> = read.iter().map(|r| r.body().clone()).collect();
    assert!(
        bodies.iter().zip(&expected).all(|(b, e)| b == e.as_bytes()),
        "order"
    );
}

/// A read session tailing through cuts and a stall past the heartbeat
/// timeout sees every record once, in order.
pub async fn read_session_through_cuts_and_stalls<R: Runtime + Default>(s2: S2<R>) {
    let Some(proxy) = crate::proxy() else { return };
    let direct = fresh_stream(&s2, "rcuts").await;
    let faulty = client_through::<R>(&proxy, AppendRetryPolicy::All)
        .basin(direct.basin_name().clone())
        .stream(direct.name().clone());

    const BATCHES: u64 = 400;
    const PER_BATCH: u64 = 50;
    let total = BATCHES * PER_BATCH;
    let writer = async {
        for (i, input) in batches(BATCHES, PER_BATCH).enumerate() {
            direct.append(&input).await.expect("direct append");
            if i % 20 == 10 {
                proxy.cut();
            }
            if i == 200 {
                proxy.stall(Duration::from_millis(2500));
            }
        }
    };
    let reader = async {
        // Unbounded: the session follows the tail while the writer appends.
        let mut session = faulty.read_session(ReadRequest::new(ReadStart::SeqNum(0)));
        let mut records = Vec::new();
        while (records.len() as u64) < total {
            match session
                .next()
                .await
                .expect("a tailing session does not end")
            {
                Ok(ReadItem::Batch(batch)) => records.extend(batch.records),
                Ok(_) => {}
                Err(e) => panic!("read session failed under faults: {e}"),
            }
        }
        records
    };
    let ((), read) = futures_util::future::join(writer, reader).await;
    let expected: Vec<String> = (0..BATCHES)
        .flat_map(|b| (0..PER_BATCH).map(move |i| record_body(b, i)))
        .collect();
    let (lost, duplicated) = lost_and_duplicated(&read, &expected);
    eprintln!(
        "read session: {total} records, {} cuts, 1 stall, {} connections: gaps {lost}, duplicates {duplicated}",
        proxy.cuts(),
        proxy.connections()
    );
    assert_eq!((lost, duplicated), (0, 0));
    assert!(
        read.iter()
            .enumerate()
            .all(|(i, r)| r.seq_num() == i as u64)
    );
}

/// At-least-once: after a cut the session resends what was unacked; every
/// ack points at its own records and nothing is lost.
pub async fn at_least_once_resends_after_cut<R: Runtime + Default>(s2: S2<R>) {
    let Some(proxy) = crate::proxy() else { return };
    let direct = fresh_stream(&s2, "alo").await;
    let faulty = client_through::<R>(&proxy, AppendRetryPolicy::All)
        .basin(direct.basin_name().clone())
        .stream(direct.name().clone());
    let session = faulty.append_session().expect("append session");
    let mut acks = Vec::new();
    for (i, input) in batches(300, 20).enumerate() {
        acks.push(session.submit(input).await.expect("submit"));
        if i % 50 == 25 {
            proxy.cut();
        }
    }
    session.close().await.expect("close");
    let read = read_back(&direct).await;
    for (b, ack) in acks.into_iter().enumerate() {
        let ack = ack.await.expect("every batch is acked");
        let landed = &read[ack.start.seq_num as usize..ack.end.seq_num as usize];
        for (i, record) in landed.iter().enumerate() {
            assert_eq!(record.body(), record_body(b as u64, i as u64).as_bytes());
        }
    }
    let expected: Vec<String> = (0..300)
        .flat_map(|b| (0..20).map(move |i| record_body(b, i)))
        .collect();
    let (lost, duplicated) = lost_and_duplicated(&read, &expected);
    eprintln!("at-least-once: lost {lost}, duplicated {duplicated} (duplicates allowed)");
    assert_eq!(lost, 0);
}

/// No-side-effects on unconditioned batches: a cut with batches in flight
/// stops the session with an error that says which inputs may have landed;
/// the stream agrees with it.
pub async fn no_side_effects_fails_precisely<R: Runtime + Default>(s2: S2<R>) {
    let Some(proxy) = crate::proxy() else { return };
    let direct = fresh_stream(&s2, "nse").await;
    let faulty = client_through::<R>(&proxy, AppendRetryPolicy::NoSideEffects)
        .basin(direct.basin_name().clone())
        .stream(direct.name().clone());
    let session = faulty.append_session().expect("append session");
    let mut all = batches(400, 10);
    // One batch acked before the fault.
    let first = session
        .submit(all.next().expect("batch"))
        .await
        .expect("submit");
    first.await.expect("first ack");
    let mut acked = 1;
    let mut acks = Vec::new();
    let mut failure = None;
    for (i, input) in all.enumerate() {
        match session.submit(input).await {
            Ok(ack) => acks.push(ack),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
        if i % 60 == 59 {
            // Submits do not wait while there is room: let the driver put
            // the batches on the wire before cutting under them.
            R::default().sleep(Duration::from_millis(1)).await;
            proxy.cut();
        }
    }
    for ack in acks {
        match ack.await {
            Ok(_) => acked += 1,
            Err(e) => {
                failure.get_or_insert(e);
                break;
            }
        }
    }
    let Some(Error::AppendSession {
        maybe_applied,
        not_applied,
        ..
    }) = failure
    else {
        panic!("a cut with batches in flight must stop a no-side-effects session: {failure:?}");
    };
    assert_eq!(maybe_applied.start, acked);
    let read = read_back(&direct).await;
    // Acked batches are there once; then some prefix of the maybe-applied
    // ones; nothing of the not-applied ones.
    let landed_batches = read.len() as u64 / 10;
    assert_eq!(read.len() as u64 % 10, 0);
    assert!(landed_batches >= acked && landed_batches <= maybe_applied.end);
    let expected: Vec<String> = (0..landed_batches)
        .flat_map(|b| (0..10).map(move |i| record_body(b, i)))
        .collect();
    let bodies: Vec<_> = read
        .iter()
        .map(|r| String::from_utf8_lossy(r.body()).into_owned())
        .collect();
    assert_eq!(bodies, expected);
    eprintln!(
        "no-side-effects: {acked} acked, {maybe_applied:?} maybe applied ({} landed), {not_applied:?} not applied",
        landed_batches - acked
    );
}

/// A conditioned unary append whose response is lost is retried; the retry
/// meets the batch it already landed (412) and the client reads it back and
/// acknowledges it — no duplicate, and no false "condition failed".
pub async fn conditioned_unary_append_is_exactly_once<R: Runtime + Default>(s2: S2<R>) {
    let Some(proxy) = crate::proxy() else { return };
    let direct = fresh_stream(&s2, "unary1x").await;
    let config = config()
        .with_endpoints(Endpoints::single(&proxy.endpoint()).expect("endpoint"))
        .with_request_timeout(Duration::from_millis(700))
        .with_retry(
            BackoffConfig::default()
                .with_max_retries(6)
                .with_base_delay(Duration::from_millis(50)),
        );
    let faulty = S2::<R>::with_runtime(config, R::default())
        .expect("client")
        .basin(direct.basin_name().clone())
        .stream(direct.name().clone());
    // Warm the connection up, then hold the server's answers back for longer
    // than the request timeout: the first attempt lands, but the client
    // never hears of it and retries.
    faulty.check_tail().await.expect("tail");
    proxy.stall_responses(Duration::from_millis(1200));
    let input = AppendInput::new(vec![AppendRecord::new("once"), AppendRecord::new("only")])
        .expect("batch")
        .with_match_seq_num(0);
    let ack = faulty.append(&input).await.expect("resolved, not failed");
    assert_eq!((ack.start.seq_num, ack.end.seq_num), (0, 2));
    let read = read_back(&direct).await;
    let bodies: Vec<_> = read.iter().map(|r| r.body().clone()).collect();
    assert_eq!(bodies, vec!["once", "only"]);
}

/// A producer polls its append session's driver in its own task: 20 000
/// conditioned records through cuts and one response stall past the ack
/// timeout (the session evicts, reconnects and resolves with unary calls
/// polled from the producer's task) land exactly once, in order, each ack
/// where its record is; `close` of the client then ends at once.
pub async fn exactly_once_producer_through_cuts_and_a_stall<R: Runtime + Default>(s2: S2<R>) {
    let Some(proxy) = crate::proxy() else { return };
    let direct = fresh_stream(&s2, "pxonce").await;
    let client = client_through::<R>(&proxy, AppendRetryPolicy::NoSideEffects);
    let faulty = client
        .basin(direct.basin_name().clone())
        .stream(direct.name().clone());

    const RECORDS: u64 = 20_000;
    let producer = faulty
        .producer(
            s2_client::config::BatcherConfig::default()
                .with_max_records(50)
                .with_match_seq_num(Some(0)),
        )
        .expect("producer");
    let mut acks = Vec::with_capacity(RECORDS as usize);
    for i in 0..RECORDS {
        acks.push(
            producer
                .submit(AppendRecord::new(record_body(0, i)))
                .await
                .expect("submit"),
        );
        if i == 0 {
            producer.flush().await.expect("first record");
        }
        if i % 1_000 == 500 {
            // Let batches reach the wire, then cut under them.
            R::default().sleep(Duration::from_millis(1)).await;
            proxy.cut();
        }
        if i == 10_250 {
            R::default().sleep(Duration::from_millis(1)).await;
            proxy.stall_responses(Duration::from_secs(3));
        }
    }
    let closed = R::default().sleep(Duration::from_secs(60));
    match futures_util::future::select(Box::pin(producer.close()), closed).await {
        futures_util::future::Either::Left((result, _)) => result.expect("close"),
        futures_util::future::Either::Right(_) => panic!("the producer's close hung"),
    }
    for (i, ack) in acks.into_iter().enumerate() {
        let ack = ack.await.expect("ack");
        assert_eq!(ack.seq_num, i as u64, "ack {i} position");
    }
    client
        .close_within(Duration::from_secs(10))
        .await
        .expect("the client's close waits for nothing left");
    let read = read_back(&direct).await;
    let expected: Vec<String> = (0..RECORDS).map(|i| record_body(0, i)).collect();
    let (lost, duplicated) = lost_and_duplicated(&read, &expected);
    eprintln!(
        "exactly-once producer: {} records, {} cuts, {} connections: lost {lost}, duplicated {duplicated}",
        expected.len(),
        proxy.cuts(),
        proxy.connections()
    );
    assert!(proxy.cuts() >= 20);
    assert_eq!((lost, duplicated), (0, 0));
    assert_eq!(read.len(), expected.len());
    assert!(
        read.iter()
            .zip(&expected)
            .all(|(r, e)| r.body() == e.as_bytes()),
        "order"
    );
}

/// An exactly-once session whose connection stops taking bytes (the proxy
/// holds everything back, so HTTP/2's window and the sockets fill) while
/// large batches wait to be sent: the ack timer still fires on the frames
/// HTTP/2 took, the session reconnects, and every record lands once, in
/// order, after the stall.
pub async fn exactly_once_append_through_a_write_stall<R: Runtime + Default>(s2: S2<R>) {
    let Some(proxy) = crate::proxy() else { return };
    let direct = fresh_stream(&s2, "wstall").await;
    let faulty = client_through::<R>(&proxy, AppendRetryPolicy::NoSideEffects)
        .basin(direct.basin_name().clone())
        .stream(direct.name().clone());

    // 40 batches of 2 x 250 KB: far more than the sockets, the proxy and
    // the stream's window hold while stalled.
    const BATCHES: u64 = 40;
    const PER_BATCH: u64 = 2;
    let body = |b: u64, i: u64| {
        let mut body = record_body(b, i).into_bytes();
        body.resize(250_000, b'.');
        body
    };
    let session = faulty.append_session().expect("append session");
    let mut acks = Vec::new();
    for b in 0..BATCHES {
        let records: Vec<_> = (0..PER_BATCH)
            .map(|i| AppendRecord::new(body(b, i)))
            .collect();
        let mut input = AppendInput::new(records).expect("batch");
        if b == 0 {
            input = input.with_match_seq_num(0);
        }
        acks.push(session.submit(input).await.expect("submit"));
        if b == 0 {
            // On the wire and acknowledged before the stall.
            R::default().sleep(Duration::from_millis(200)).await;
            proxy.stall(Duration::from_secs(4));
        }
    }
    let closed = R::default().sleep(Duration::from_secs(60));
    match futures_util::future::select(Box::pin(session.close()), closed).await {
        futures_util::future::Either::Left((result, _)) => result.expect("close"),
        futures_util::future::Either::Right(_) => panic!("the session's close hung"),
    }
    for (b, ack) in acks.into_iter().enumerate() {
        let ack = ack.await.expect("ack");
        assert_eq!(ack.start.seq_num, b as u64 * PER_BATCH, "ack {b} position");
    }
    let read = read_back(&direct).await;
    let expected: Vec<Vec<u8>> = (0..BATCHES)
        .flat_map(|b| (0..PER_BATCH).map(move |i| body(b, i)))
        .collect();
    eprintln!(
        "write stall: {} records read back, {} connections",
        read.len(),
        proxy.connections()
    );
    assert_eq!(read.len(), expected.len(), "records lost or duplicated");
    assert!(
        read.iter().zip(&expected).all(|(r, e)| *r.body() == e[..]),
        "order or contents"
    );
    assert!(
        proxy.connections() >= 2,
        "the ack timeout did not reconnect"
    );
}
