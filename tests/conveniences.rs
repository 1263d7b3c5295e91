//! Cases for settings per session, compression of every body, closing a
//! client, and the defaults users compare with the official SDKs.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use s2_client::{
    Error, Runtime, S2,
    config::{AppendSessionOptions, BatcherConfig, Compression},
    types::{AppendInput, AppendRecord, ListRequest, ReadRequest, ReadStart},
};

const MIB: u64 = 1024 * 1024;

/// A body that compresses well and is well over the 1 KiB threshold.
fn compressible(i: usize) -> Bytes {
    Bytes::from(format!("record {i}: {}", "compressible ".repeat(400)))
}

fn input(records: Vec<AppendRecord>) -> AppendInput {
    AppendInput::new(records).expect("valid input")
}

/// The caps of one append session and of one producer come from their
/// options, not the client's (5 MiB, 1000 batches): a permit taking the
/// whole window leaves no room for another.
pub async fn session_options_override_the_client_caps<R: Runtime + Default>(s2: S2<R>) {
    let stream = crate::fresh_stream(&s2, "options").await;
    // Options that cannot work are refused when the session opens, naming
    // the setting, before anything is sent.
    for (options, named) in [
        (
            AppendSessionOptions::new().with_max_unacked_bytes(0),
            "max_unacked_bytes",
        ),
        (
            AppendSessionOptions::new().with_ack_timeout(Duration::ZERO),
            "ack_timeout",
        ),
    ] {
        match stream.append_session_with(&options).map(drop) {
            Err(Error::Validation(s2_client::error::ValidationError::InvalidSetting {
                setting,
                ..
            })) => assert_eq!(setting, named),
            other => panic!("{named}: {other:?}"),
        }
    }

    let bytes = AppendSessionOptions::new()
        .with_max_unacked_bytes(MIB)
        .with_ack_timeout(Duration::from_secs(30));
    let session = stream.append_session_with(&bytes).expect("client open");
    let full = session.reserve(MIB).await.expect("room for 1 MiB");
    assert!(
        session.reserve(1).now_or_never().is_none(),
        "a 1 MiB session has no room left"
    );
    drop(full);
    session.reserve(1).await.expect("room given back");

    let batches = AppendSessionOptions::new().with_max_unacked_batches(1);
    let session = stream.append_session_with(&batches).expect("client open");
    let permit = session.reserve(1).await.expect("room for one batch");
    assert!(
        session.reserve(1).now_or_never().is_none(),
        "a one-batch session has no room for a second"
    );
    let ack = permit
        .submit(input(vec![AppendRecord::new("a")]))
        .expect("submit");
    ack.await.expect("ack");
    session.reserve(1).await.expect("room after the ack");
    session.close().await.expect("close");

    let producer = stream
        .producer_with(BatcherConfig::default(), &bytes)
        .expect("producer");
    let held = producer.reserve(MIB).await.expect("room for 1 MiB");
    assert!(
        producer.reserve(3 * MIB).now_or_never().is_none(),
        "the producer's window follows its session's"
    );
    drop(held);
    producer.close().await.expect("close");

    // Options also go with a stream of inputs, such as `append_inputs`'.
    let acks: Vec<_> = stream
        .append_all_with(
            futures_util::stream::iter([input(vec![AppendRecord::new("b")])]),
            &batches,
        )
        .expect("client open")
        .collect()
        .await;
    assert_eq!(acks.len(), 1);
    assert!(acks[0].is_ok(), "{acks:?}");
}

/// Gzip and zstd request bodies reach s2-lite and read back byte-exact:
/// unary appends (the client's compression) and session frames (the
/// client's, or the session's own).
pub async fn compressed_appends_round_trip<R: Runtime + Default>(_: S2<R>) {
    for compression in [Compression::Gzip, Compression::Zstd] {
        let s2 = S2::<R>::with_runtime(crate::config().with_compression(compression), R::default())
            .expect("client");
        let stream = crate::fresh_stream(&s2, "compressed").await;
        let unary: Vec<_> = (0..5).map(compressible).collect();
        stream
            .append(&input(
                unary.iter().cloned().map(AppendRecord::new).collect(),
            ))
            .await
            .expect("compressed unary append");

        // The client compresses as `compression`; this session the other way.
        let other = match compression {
            Compression::Gzip => Compression::Zstd,
            _ => Compression::Gzip,
        };
        let sessions: Vec<_> = (5..10).map(compressible).collect();
        let inputs = vec![
            input(
                sessions[..2]
                    .iter()
                    .cloned()
                    .map(AppendRecord::new)
                    .collect(),
            ),
            input(
                sessions[2..]
                    .iter()
                    .cloned()
                    .map(AppendRecord::new)
                    .collect(),
            ),
        ];
        let options = AppendSessionOptions::new().with_compression(other);
        let acks: Vec<_> = stream
            .append_all_with(futures_util::stream::iter(inputs), &options)
            .expect("client open")
            .collect()
            .await;
        assert!(acks.iter().all(Result::is_ok), "{acks:?}");

        let read = stream
            .read(&ReadRequest::new(ReadStart::SeqNum(0)))
            .await
            .expect("read")
            .into_records();
        let bodies: Vec<_> = read.iter().map(|r| r.body().clone()).collect();
        let expected: Vec<_> = unary.into_iter().chain(sessions).collect();
        assert_eq!(bodies, expected, "{compression:?}");
    }
}

/// `close` waits for every batch an open session holds to be acknowledged,
/// then refuses every call, on every clone, with `Error::Closed`.
pub async fn close_drains_sessions_and_refuses_later_calls<R: Runtime + Default>(_: S2<R>) {
    let s2 = crate::client::<R>();
    let stream = crate::fresh_stream(&s2, "close").await;
    let session = stream.append_session().expect("append session");
    let mut acks = Vec::new();
    for i in 0..20 {
        let ack = session
            .submit(input(vec![AppendRecord::new(compressible(i))]))
            .await
            .expect("submit");
        acks.push(ack);
    }
    let clone = s2.clone();
    s2.close().await.expect("close drains within the default");
    // Every ack was in by the time `close` returned.
    for (i, ack) in acks.into_iter().enumerate() {
        let ack = ack.now_or_never().expect("acked before close returned");
        assert_eq!(ack.expect("ack").start.seq_num, i as u64);
    }

    // Refused before anything was sent: no side effect, and each plain
    // call fails as its `_with` twin does.
    let closed = |result: Result<(), Error>| match result {
        Err(e @ Error::Closed { sent: false, .. }) => assert!(!e.may_have_side_effect()),
        other => panic!("expected Error::Closed with nothing sent, got {other:?}"),
    };
    closed(stream.check_tail().await.map(drop));
    closed(clone.list_basins(&ListRequest::new()).await.map(drop));
    closed(
        session
            .submit(input(vec![AppendRecord::new("late")]))
            .await
            .map(drop),
    );
    closed(stream.append_session().map(drop));
    closed(
        stream
            .append_session_with(&AppendSessionOptions::new())
            .map(drop),
    );
    let no_inputs = || futures_util::stream::empty::<AppendInput>();
    closed(stream.append_all(no_inputs()).map(drop));
    closed(
        stream
            .append_all_with(no_inputs(), &AppendSessionOptions::new())
            .map(drop),
    );
    closed(stream.producer(BatcherConfig::default()).map(drop));
    closed(
        stream
            .producer_with(BatcherConfig::default(), &AppendSessionOptions::new())
            .map(drop),
    );
    // Closing again is harmless.
    clone.close().await.expect("second close");

    // The records are there, read by another client.
    let reader = crate::client::<R>();
    let tail = reader
        .basin(stream.basin_name().clone())
        .stream(stream.name().clone())
        .check_tail()
        .await
        .expect("tail");
    assert_eq!(tail.seq_num, 20);
}

/// A close that cannot drain in time says so, and still closes.
pub async fn close_times_out_on_a_stalled_session<R: Runtime + Default>(_: S2<R>) {
    let Some(proxy) = crate::proxy() else {
        return;
    };
    let config = crate::config()
        .with_endpoints(s2_client::config::Endpoints::single(&proxy.endpoint()).expect("endpoint"))
        .with_ack_timeout(Duration::from_secs(60));
    let s2 = S2::<R>::with_runtime(config, R::default()).expect("client");
    let stream = crate::fresh_stream(&s2, "stall").await;
    let session = stream.append_session().expect("append session");
    session
        .submit(input(vec![AppendRecord::new("before")]))
        .await
        .expect("submit")
        .await
        .expect("ack");
    let producer = stream.producer(BatcherConfig::default()).expect("producer");
    producer
        .submit(AppendRecord::new("producer, before"))
        .await
        .expect("submit")
        .await
        .expect("ack");
    proxy.stall(Duration::from_secs(2));
    let ack = session
        .submit(input(vec![AppendRecord::new("stalled")]))
        .await
        .expect("submit");
    let stalled = producer
        .submit(AppendRecord::new("producer, stalled"))
        .await
        .expect("submit");
    match s2.close_within(Duration::from_millis(300)).await {
        Err(Error::Timeout(_)) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    // A stalled producer holds up no other session's stop: after the
    // timeout nothing takes new batches.
    assert!(
        session
            .submit(input(vec![AppendRecord::new("after close")]))
            .await
            .is_err(),
        "a session took a batch after close"
    );
    assert!(
        producer
            .submit(AppendRecord::new("after close"))
            .await
            .is_err()
    );
    drop((ack, stalled));
    assert!(matches!(
        stream.check_tail().await,
        Err(Error::Closed { .. })
    ));
}

/// `close` drains producers too: records still lingering in a producer's
/// open batch (a linger far longer than the test) are sent and acknowledged
/// before `close` returns.
pub async fn close_drains_lingering_producer_records<R: Runtime + Default>(_: S2<R>) {
    let s2 = crate::client::<R>();
    let stream = crate::fresh_stream(&s2, "close-producer").await;
    let producer = stream
        .producer(BatcherConfig::default().with_linger(Some(std::time::Duration::from_secs(600))))
        .expect("producer");
    let mut acks = Vec::new();
    for i in 0..5 {
        acks.push(
            producer
                .submit(AppendRecord::new(format!("lingering {i}")))
                .await
                .expect("submit"),
        );
    }
    s2.close().await.expect("close drains within the default");
    for (i, ack) in acks.into_iter().enumerate() {
        let ack = ack.now_or_never().expect("acked before close returned");
        assert_eq!(ack.expect("ack").seq_num, i as u64);
    }
    let tail = crate::client::<R>()
        .basin(stream.basin_name().clone())
        .stream(stream.name().clone())
        .check_tail()
        .await
        .expect("tail");
    assert_eq!(tail.seq_num, 5);
}

/// A producer on a session cap of one full batch, with no linger, and
/// records so big that two never share a batch: every record is acknowledged. (A
/// producer capped at the session's 1 MiB alone would wait forever for room
/// for the record that closes the open batch.)
pub async fn a_producer_on_a_small_cap_without_linger_never_waits_forever<R: Runtime + Default>(
    s2: S2<R>,
) {
    let stream = crate::fresh_stream(&s2, "small-cap").await;
    let options = AppendSessionOptions::new().with_max_unacked_bytes(MIB);
    let producer = stream
        .producer_with(BatcherConfig::default().with_linger(None), &options)
        .expect("producer");
    let body = bytes::Bytes::from(vec![b'x'; 600 * 1024]);
    let acks = async {
        let mut acks = Vec::new();
        for _ in 0..3 {
            acks.push(
                producer
                    .submit(AppendRecord::new(body.clone()))
                    .await
                    .expect("submit"),
            );
        }
        producer.flush().await.expect("flush");
        let mut seq_nums = Vec::new();
        for ack in acks {
            seq_nums.push(ack.await.expect("ack").seq_num);
        }
        seq_nums
    };
    let timer = R::default().sleep(Duration::from_secs(20));
    match futures_util::future::select(std::pin::pin!(acks), timer).await {
        futures_util::future::Either::Left((seq_nums, _)) => assert_eq!(seq_nums, [0, 1, 2]),
        futures_util::future::Either::Right(_) => panic!("the producer waited forever for room"),
    }
}

/// A producer refused for its batcher config (its append session was set
/// up, its driver never ran) leaves nothing for `close` to wait on: the
/// client closes at once, and a producer made before still drains.
pub async fn a_refused_producer_holds_up_no_close<R: Runtime + Default>(_: S2<R>) {
    let s2 = crate::client::<R>();
    let stream = crate::fresh_stream(&s2, "refused-producer").await;
    let producer = stream
        .producer(BatcherConfig::default().with_linger(Some(std::time::Duration::from_secs(600))))
        .expect("producer");
    let ack = producer
        .submit(AppendRecord::new("before the refused one"))
        .await
        .expect("submit");
    match stream.producer(BatcherConfig::default().with_max_records(0)) {
        Err(Error::Validation(_)) => {}
        Err(e) => panic!("refused with {e}"),
        Ok(_) => panic!("a producer of batches of no record"),
    }
    s2.close_within(std::time::Duration::from_secs(10))
        .await
        .expect("close waits only for the producer that runs");
    assert_eq!(ack.await.expect("drained by close").seq_num, 0);
}
