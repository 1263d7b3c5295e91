//! The real s2-tokio client against the model, well behaved (no faults),
//! over loopback TCP: every call the client makes succeeds and the model's
//! state says what the client was told.

mod model_common;

use std::time::Duration;

use futures_util::StreamExt;
use model_common::{BASIN, batch, bodies, client, held, serve, stream};
use s2_sim::model::Faults;
use s2_tokio::{
    Error,
    config::{AppendRetryPolicy, BatcherConfig},
    error::AppendConditionFailed,
    session::ReadItem,
    types::{
        AppendInput, AppendRecord, BasinConfig, CommandRecord, FencingToken, ListRequest,
        ReadLimit, ReadOutput, ReadRequest, ReadStart, StreamConfig,
    },
};

#[tokio::test]
async fn basins_and_streams_through_the_api() {
    let served = serve(1, Faults::none()).await;
    let s2 = client(&served, AppendRetryPolicy::All);
    let basin_name = "api-basin".parse().expect("name");
    let info = s2
        .create_basin(&basin_name, BasinConfig::default())
        .await
        .expect("create basin");
    assert_eq!(info.name, basin_name);
    let page = s2.list_basins(&ListRequest::new()).await.expect("list");
    assert_eq!(page.items.len(), 1);
    let basin = s2.basin(basin_name.clone());
    let stream_name = "api-stream".parse().expect("name");
    basin
        .create_stream(&stream_name, StreamConfig::default())
        .await
        .expect("create stream");
    let config = basin
        .get_stream_config(&stream_name)
        .await
        .expect("stream config");
    assert!(config.storage_class.is_some(), "defaults are filled in");
    let streams = basin.list_streams(&ListRequest::new()).await.expect("list");
    assert_eq!(streams.items.len(), 1);
    assert_eq!(streams.items[0].name, stream_name);
    assert!(served.model.tail("api-basin", "api-stream").is_some());
    basin.delete_stream(&stream_name).await.expect("delete");
    assert!(served.model.tail("api-basin", "api-stream").is_none());
    let gone = basin.delete_stream(&stream_name).await;
    assert!(matches!(gone, Err(Error::Service(_))), "{gone:?}");
    s2.delete_basin(&basin_name).await.expect("delete basin");
    let page = s2.list_basins(&ListRequest::new()).await.expect("list");
    assert!(page.items.is_empty());
}

#[tokio::test]
async fn unary_appends_with_and_without_conditions() {
    let served = serve(2, Faults::none()).await;
    let s2 = client(&served, AppendRetryPolicy::All);
    let stream = stream(&served, &s2, "unary");

    let ack = stream.append(&batch("a", 3)).await.expect("append");
    assert_eq!((ack.start.seq_num, ack.end.seq_num), (0, 3));
    let ack = stream
        .append(&batch("b", 2).with_match_seq_num(3))
        .await
        .expect("conditioned append");
    assert_eq!((ack.start.seq_num, ack.end.seq_num), (3, 5));
    let stale = stream.append(&batch("c", 1).with_match_seq_num(3)).await;
    match stale {
        Err(Error::AppendCondition(AppendConditionFailed::SeqNumMismatch { expected })) => {
            assert_eq!(expected, 5)
        }
        other => panic!("expected a seq num mismatch, got {other:?}"),
    }

    // Fencing: a fence sets the token; appends with another token fail.
    let token = FencingToken::new("leader-1").expect("token");
    let fence = AppendInput::new(vec![CommandRecord::fence(token.clone())]).expect("fence");
    stream.append(&fence).await.expect("fence");
    assert_eq!(
        served.model.fencing_token(BASIN, "unary").as_deref(),
        Some("leader-1")
    );
    stream
        .append(&batch("d", 1).with_fencing_token(token))
        .await
        .expect("fenced append");
    let other = FencingToken::new("leader-2").expect("token");
    let fenced_out = stream
        .append(&batch("e", 1).with_fencing_token(other))
        .await;
    assert!(
        matches!(
            fenced_out,
            Err(Error::AppendCondition(
                AppendConditionFailed::FencingTokenMismatch { .. }
            ))
        ),
        "{fenced_out:?}"
    );

    let held = held(&served, "unary");
    assert_eq!(held.len(), 7);
    assert_eq!(&held[..5], ["a-0", "a-1", "a-2", "b-0", "b-1"]);
    assert_eq!(held[6], "d-0");
    let tail = stream.check_tail().await.expect("tail");
    assert_eq!(tail, served.model.tail(BASIN, "unary").expect("tail"));
    assert_eq!(tail.seq_num, 7);
}

#[tokio::test]
async fn unary_reads_and_trims() {
    let served = serve(3, Faults::none()).await;
    let s2 = client(&served, AppendRetryPolicy::All);
    let stream = stream(&served, &s2, "reads");
    for i in 0..4 {
        stream
            .append(&batch(&format!("r{i}"), 5))
            .await
            .expect("append");
    }
    let read = stream
        .read(&ReadRequest::new(ReadStart::SeqNum(3)).with_limit(ReadLimit::count(4)))
        .await
        .expect("read");
    let records = read.into_records();
    assert_eq!(bodies(&records), ["r0-3", "r0-4", "r1-0", "r1-1"]);
    assert_eq!(records[0].seq_num(), 3);

    // From the tail, the client learns where the tail is.
    let past = stream
        .read(&ReadRequest::new(ReadStart::SeqNum(20)))
        .await
        .expect("read at the tail");
    assert!(
        matches!(past, ReadOutput::Tail(t) if t.seq_num == 20),
        "{past:?}"
    );

    // A trim hides what it trims; the model still shows everything.
    let trim = AppendInput::new(vec![CommandRecord::trim(10)]).expect("trim");
    stream.append(&trim).await.expect("trim");
    let read = stream
        .read(&ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(3)))
        .await
        .expect("read");
    assert_eq!(read.records()[0].seq_num(), 10);
    assert_eq!(served.model.trim_point(BASIN, "reads"), Some(10));
    assert_eq!(
        served.model.records(BASIN, "reads").map(|r| r.len()),
        Some(21)
    );

    // A long poll at the tail gets the next records.
    let long_poll = ReadRequest::new(ReadStart::SeqNum(21))
        .with_limit(ReadLimit::count(10))
        .with_wait_secs(5);
    let poll = stream.read(&long_poll);
    let append = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stream.append(&batch("late", 2)).await.expect("append")
    };
    let (read, _) = tokio::join!(poll, append);
    assert_eq!(
        bodies(read.expect("long poll").records()),
        ["late-0", "late-1"]
    );
}

#[tokio::test]
async fn append_session_with_many_inputs() {
    let served = serve(4, Faults::none()).await;
    let s2 = client(&served, AppendRetryPolicy::All);
    let stream = stream(&served, &s2, "session");
    let session = stream.append_session().expect("session");
    let mut acks = Vec::new();
    for i in 0..300 {
        let mut input = batch(&format!("s{i}"), 10);
        if i == 0 {
            input = input.with_match_seq_num(0);
        }
        acks.push(session.submit(input).await.expect("submit"));
    }
    session.close().await.expect("close");
    for (i, ack) in acks.into_iter().enumerate() {
        let ack = ack.await.expect("ack");
        assert_eq!(ack.start.seq_num, i as u64 * 10, "ack {i}");
        assert_eq!(ack.end.seq_num, i as u64 * 10 + 10, "ack {i}");
    }
    let held = held(&served, "session");
    assert_eq!(held.len(), 3000);
    assert_eq!(held[2999], "s299-9");
    assert_eq!(served.model.fault_counts().total(), 0);
    assert_eq!(served.model.connections(), 1);
}

#[tokio::test]
async fn read_session_follows_the_tail() {
    let served = serve(5, Faults::none()).await;
    let s2 = client(&served, AppendRetryPolicy::All);
    let stream = stream(&served, &s2, "follow");
    stream.append(&batch("early", 3)).await.expect("append");

    let mut session = stream.read_session(ReadRequest::new(ReadStart::SeqNum(0)));
    let mut seen = Vec::new();
    let mut caught_up = 0;
    let writer = async {
        for i in 0..20 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            stream
                .append(&batch(&format!("live{i}"), 2))
                .await
                .expect("append");
        }
    };
    let reader = async {
        while seen.len() < 43 {
            match session.next().await.expect("open").expect("item") {
                ReadItem::Batch(batch) => seen.extend(batch.records),
                ReadItem::CaughtUp(_) => caught_up += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    tokio::join!(writer, reader);
    let seq_nums: Vec<u64> = seen.iter().map(|r| r.seq_num()).collect();
    assert_eq!(seq_nums, (0..43).collect::<Vec<_>>());
    assert_eq!(bodies(&seen), held(&served, "follow"));
    assert!(caught_up >= 1, "the heartbeat at the tail says caught up");

    // A bounded session ends once its count is delivered.
    let mut bounded = stream
        .read_session(ReadRequest::new(ReadStart::SeqNum(40)).with_limit(ReadLimit::count(3)));
    let mut tail_records = Vec::new();
    while let Some(item) = bounded.next().await {
        if let ReadItem::Batch(batch) = item.expect("item") {
            tail_records.extend(batch.records);
        }
    }
    assert_eq!(tail_records.len(), 3);
}

#[tokio::test]
async fn producer_acks_every_record() {
    let served = serve(6, Faults::none()).await;
    let s2 = client(&served, AppendRetryPolicy::All);
    let stream = stream(&served, &s2, "producer");
    let producer = stream
        .producer(BatcherConfig::default().with_match_seq_num(Some(0)))
        .expect("producer");
    let mut acks = Vec::new();
    for i in 0..500 {
        let ack = producer
            .submit(AppendRecord::new(format!("p{i}")))
            .await
            .expect("submit");
        acks.push(ack);
    }
    producer.close().await.expect("close");
    for (i, ack) in acks.into_iter().enumerate() {
        assert_eq!(ack.await.expect("ack").seq_num, i as u64);
    }
    let expected: Vec<String> = (0..500).map(|i| format!("p{i}")).collect();
    assert_eq!(held(&served, "producer"), expected);
}
