//! Unary appends and reads: validation before sending, byte-exact round
//! trips, read starts and limits, reads at the tail, and conditioned
//! appends.

use bytes::Bytes;
use s2_client::{
    ClientConfig, Error, Runtime, S2,
    config::Endpoints,
    error::{AppendConditionFailed, ValidationError},
    types::{
        AppendInput, AppendRecord, BasinName, FencingToken, ListRequest, MeteredBytes, ReadLimit,
        ReadOutput, ReadRequest, ReadStart, StreamName,
    },
};

use crate::{
    fresh_stream,
    support::{append_numbered, batch, seq_nums, stream_name},
    unique_basin_name,
};

/// Invalid input fails with a validation error and nothing is sent: the
/// client here points at a port where nothing listens.
pub async fn validation_happens_before_sending<R: Runtime + Default>(_s2: S2<R>) {
    assert!(matches!(
        BasinName::new("Bad_Name"),
        Err(ValidationError::InvalidBasinName { .. })
    ));
    assert!(StreamName::new("").is_err());
    assert!(matches!(
        AppendInput::new(vec![AppendRecord::new("x"); 1001]),
        Err(ValidationError::TooManyRecords { count: 1001 })
    ));
    assert!(matches!(
        AppendInput::new(vec![AppendRecord::new(vec![0u8; 1024 * 1024])]),
        Err(ValidationError::BatchTooLarge { .. })
    ));
    assert!(FencingToken::new("x".repeat(37)).is_err());

    let dead = ClientConfig::new("token")
        .with_endpoints(Endpoints::single("http://127.0.0.1:9").expect("endpoint"))
        .with_max_retries(0);
    let s2 = S2::<R>::with_runtime(dead, R::default()).expect("client");
    let err = s2
        .list_basins(&ListRequest::new().with_limit(1001))
        .await
        .expect_err("limit");
    assert!(matches!(
        err,
        Error::Validation(ValidationError::InvalidListLimit { limit: 1001 })
    ));
    let stream = s2.basin(unique_basin_name("dead")).stream(stream_name("s"));
    let err = stream
        .read(&ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(1001)))
        .await
        .expect_err("read limit");
    assert!(matches!(err, Error::Validation(_)), "{err:?}");
    // A valid request does reach the transport, and fails there.
    let err = stream.check_tail().await.expect_err("nothing listens");
    assert!(
        matches!(err, Error::Transport { sent: false, .. }),
        "{err:?}"
    );
}

/// Records come back byte-exact: bodies, headers, order, positions.
pub async fn append_and_read_back_exactly<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "exact").await;
    let first: Vec<AppendRecord> = (0..10u8)
        .map(|i| {
            AppendRecord::new(Bytes::from(vec![i; usize::from(i) * 100]))
                .with_header("index", vec![i])
                .with_header(
                    Bytes::from_static(b"\x00bin\xff"),
                    Bytes::from_static(b"\x01\x02"),
                )
        })
        .collect();
    let ack = stream.append(&batch(first.clone())).await.expect("append");
    assert_eq!((ack.start.seq_num, ack.end.seq_num), (0, 10));
    assert_eq!(ack.tail.seq_num, 10);
    let second = vec![
        AppendRecord::new(""),
        AppendRecord::new(vec![0xffu8; 70_000]),
    ];
    let ack2 = stream
        .append(&batch(second.clone()))
        .await
        .expect("append 2");
    assert_eq!((ack2.start.seq_num, ack2.end.seq_num), (10, 12));
    assert!(ack2.start.timestamp >= ack.end.timestamp);

    let tail = stream.check_tail().await.expect("tail");
    assert_eq!(tail.seq_num, 12);

    let output = stream
        .read(&ReadRequest::new(ReadStart::SeqNum(0)))
        .await
        .expect("read");
    let records = output.into_records();
    let sent: Vec<_> = first.iter().chain(&second).collect();
    assert_eq!(records.len(), sent.len());
    for (i, (got, want)) in records.iter().zip(sent).enumerate() {
        assert_eq!(got.seq_num(), i as u64);
        assert_eq!(got.body(), want.body(), "body of record {i}");
        assert_eq!(got.headers(), want.headers(), "headers of record {i}");
    }
}

/// Start by seq num, timestamp or tail offset; count, bytes and until bounds.
pub async fn read_positions_and_limits<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "limits").await;
    let base = 1_700_000_000_000;
    append_numbered(&stream, 20, base).await;

    let from = |start| ReadRequest::new(start);
    let out = stream
        .read(&from(ReadStart::SeqNum(5)).with_limit(ReadLimit::count(3)))
        .await
        .expect("seq");
    assert_eq!(seq_nums(&out), vec![5, 6, 7]);

    let out = stream
        .read(&from(ReadStart::Timestamp(base + 100)).with_limit(ReadLimit::count(2)))
        .await
        .expect("timestamp");
    assert_eq!(seq_nums(&out), vec![10, 11]);
    assert_eq!(out.records()[0].timestamp(), base + 100);

    let out = stream
        .read(&from(ReadStart::TailOffset(4)))
        .await
        .expect("tail offset");
    assert_eq!(seq_nums(&out), vec![16, 17, 18, 19]);

    let one = AppendRecord::new("record-0").metered_bytes();
    let out = stream
        .read(&from(ReadStart::SeqNum(0)).with_limit(ReadLimit::bytes(one * 3 + 1)))
        .await
        .expect("bytes");
    assert_eq!(seq_nums(&out), vec![0, 1, 2]);
    assert!(out.records().metered_bytes() <= one * 3 + 1);

    let out = stream
        .read(&from(ReadStart::SeqNum(0)).with_until(base + 50))
        .await
        .expect("until");
    assert_eq!(seq_nums(&out), vec![0, 1, 2, 3, 4]);
    assert!(out.records().iter().all(|r| r.timestamp() < base + 50));
}

/// Reading at or past the tail returns the tail; clamp starts at the tail.
pub async fn read_past_tail_and_clamp<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "tail").await;
    append_numbered(&stream, 3, 1_000).await;
    let out = stream
        .read(&ReadRequest::new(ReadStart::SeqNum(10)))
        .await
        .expect("past tail");
    match out {
        ReadOutput::Tail(tail) => assert_eq!(tail.seq_num, 3),
        other => panic!("expected the tail, got {other:?}"),
    }
    let out = stream
        .read(
            &ReadRequest::new(ReadStart::SeqNum(10))
                .with_clamp(true)
                .with_limit(ReadLimit::count(5)),
        )
        .await
        .expect("clamped");
    match out {
        ReadOutput::Batch(batch) => assert!(batch.records.is_empty()),
        ReadOutput::Tail(tail) => assert_eq!(tail.seq_num, 3),
    }
}

/// A `match_seq_num` mismatch says what the next sequence number is, and
/// nothing is appended.
pub async fn a_match_seq_num_mismatch_appends_nothing<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "match").await;
    let ack = stream
        .append(&batch(vec![AppendRecord::new("a"), AppendRecord::new("b")]).with_match_seq_num(0))
        .await
        .expect("matching append");
    assert_eq!(ack.end.seq_num, 2);
    let err = stream
        .append(&batch(vec![AppendRecord::new("c")]).with_match_seq_num(5))
        .await
        .expect_err("mismatch");
    match &err {
        Error::AppendCondition(AppendConditionFailed::SeqNumMismatch { expected }) => {
            assert_eq!(*expected, 2)
        }
        other => panic!("expected a seq num mismatch, got {other:?}"),
    }
    assert!(!err.may_have_side_effect());
    assert_eq!(stream.check_tail().await.expect("tail").seq_num, 2);
}
