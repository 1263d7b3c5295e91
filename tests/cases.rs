//! The conformance cases. Each takes a client and panics on failure.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use s2_client::{
    ClientConfig, Error, Runtime, S2,
    config::Endpoints,
    error::{AppendConditionFailed, ValidationError},
    types::{
        AccessTokenId, AccessTokenInfo, AccessTokenScope, AccountMetricSet, AppendInput,
        AppendRecord, BasinConfig, BasinName, BasinState, Command, CommandRecord, FencingToken,
        ListRequest, MeteredBytes, MetricsRange, ProvisionResult, ReadLimit, ReadOutput,
        ReadRequest, ReadStart, ResourceSet, RetentionPolicy, StorageClass, StreamConfig,
        StreamName, Timestamping, TimestampingMode,
    },
};

use crate::{fresh_stream, unique_basin_name};

fn stream_name(name: &str) -> StreamName {
    StreamName::new(name).expect("valid stream name")
}

fn service_code(error: &Error) -> (u16, &str) {
    match error {
        Error::Service(e) => (e.status, e.code.as_str()),
        other => panic!("expected a service error, got {other:?}"),
    }
}

fn batch(records: Vec<AppendRecord>) -> AppendInput {
    AppendInput::new(records).expect("valid batch")
}

/// Create, get config, reconfigure, list, delete a basin.
pub async fn basin_lifecycle<R: Runtime + Default>(s2: S2<R>) {
    let name = unique_basin_name("life");
    let config = BasinConfig::new()
        .with_create_stream_on_append(true)
        .with_default_stream_config(
            StreamConfig::new()
                .with_storage_class(StorageClass::Standard)
                .with_retention_policy(RetentionPolicy::Age(Duration::from_secs(3600))),
        );
    let info = s2.create_basin(&name, config).await.expect("create");
    assert_eq!(info.name, name);
    assert_eq!(info.state(), BasinState::Active);

    let got = s2.get_basin_config(&name).await.expect("get config");
    assert_eq!(got.create_stream_on_append, Some(true));
    let defaults = got.default_stream_config.expect("default stream config");
    assert_eq!(
        defaults.retention_policy,
        Some(RetentionPolicy::Age(Duration::from_secs(3600)))
    );

    let changed = s2
        .reconfigure_basin(
            &name,
            BasinConfig::new().with_default_stream_config(
                StreamConfig::new().with_retention_policy(RetentionPolicy::Infinite),
            ),
        )
        .await
        .expect("reconfigure");
    let defaults = changed
        .default_stream_config
        .expect("default stream config");
    assert_eq!(defaults.retention_policy, Some(RetentionPolicy::Infinite));
    // Settings not named in the reconfiguration are left alone.
    assert_eq!(changed.create_stream_on_append, Some(true));

    let page = s2
        .list_basins(&ListRequest::new().with_prefix(name.as_str()))
        .await
        .expect("list");
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].name, name);
    assert!(!page.has_more);

    s2.delete_basin(&name).await.expect("delete");
    let after = s2
        .list_basins(&ListRequest::new().with_prefix(name.as_str()))
        .await
        .expect("list after delete");
    assert!(
        after
            .items
            .iter()
            .all(|b| b.state() == BasinState::Deleting),
        "deleted basin listed as {after:?}"
    );
}

/// The errors users hit with basins.
pub async fn basin_errors<R: Runtime + Default>(s2: S2<R>) {
    let name = unique_basin_name("errs");
    s2.create_basin(&name, BasinConfig::default())
        .await
        .expect("create");
    let err = s2
        .create_basin(&name, BasinConfig::default())
        .await
        .expect_err("second create must fail");
    assert_eq!(service_code(&err), (409, "resource_already_exists"));
    assert!(!err.is_retryable());
    assert!(!err.may_have_side_effect());

    let missing = unique_basin_name("none");
    let err = s2
        .get_basin_config(&missing)
        .await
        .expect_err("missing basin");
    assert_eq!(service_code(&err), (404, "basin_not_found"));

    let err = s2
        .basin(missing)
        .stream(stream_name("s"))
        .check_tail()
        .await
        .expect_err("stream in a missing basin");
    assert_eq!(service_code(&err).0, 404);
}

/// `list_all_basins` walks every page.
pub async fn list_basins_across_pages<R: Runtime + Default>(s2: S2<R>) {
    let prefix = format!("page-{:08x}", rand::random::<u32>());
    let mut names = Vec::new();
    for i in 0..5 {
        let name = BasinName::new(format!("{prefix}-{i}")).expect("valid");
        s2.create_basin(&name, BasinConfig::default())
            .await
            .expect("create");
        names.push(name);
    }
    let first = s2
        .list_basins(&ListRequest::new().with_prefix(&prefix).with_limit(2))
        .await
        .expect("first page");
    assert_eq!(first.items.len(), 2);
    assert!(first.has_more);

    let all: Vec<_> = s2
        .list_all_basins(ListRequest::new().with_prefix(&prefix).with_limit(2))
        .map_ok(|info| info.name)
        .try_collect()
        .await
        .expect("all pages");
    assert_eq!(all, names);

    let after: Vec<_> = s2
        .list_all_basins(
            ListRequest::new()
                .with_prefix(&prefix)
                .with_start_after(names[2].as_str()),
        )
        .map_ok(|info| info.name)
        .try_collect()
        .await
        .expect("after");
    assert_eq!(after, names[3..]);
}

/// `ensure_basin` says what it did.
pub async fn ensure_basin_reports_provisioning<R: Runtime + Default>(s2: S2<R>) {
    let name = unique_basin_name("ensure");
    let config = BasinConfig::new().with_create_stream_on_append(true);
    let first = s2.ensure_basin(&name, config).await.expect("ensure");
    assert_eq!(first.result, ProvisionResult::Created);
    assert_eq!(first.info.name, name);
    let again = s2.ensure_basin(&name, config).await.expect("ensure again");
    assert_eq!(again.result, ProvisionResult::Unchanged);
    let changed = s2
        .ensure_basin(
            &name,
            BasinConfig::new().with_create_stream_on_append(false),
        )
        .await
        .expect("ensure changed");
    assert_eq!(changed.result, ProvisionResult::Updated);
}

/// Create, get config, reconfigure, ensure, list, delete a stream.
pub async fn stream_lifecycle<R: Runtime + Default>(s2: S2<R>) {
    let basin_name = unique_basin_name("streams");
    s2.create_basin(&basin_name, BasinConfig::default())
        .await
        .expect("basin");
    let basin = s2.basin(basin_name);
    // Names that need percent-encoding in paths.
    let name = stream_name("orders/2026 #1?");
    let config = StreamConfig::new()
        .with_storage_class(StorageClass::Express)
        .with_timestamping(Timestamping {
            mode: Some(TimestampingMode::ClientRequire),
            uncapped: Some(true),
        })
        .with_delete_on_empty(Duration::from_secs(600));
    let info = basin.create_stream(&name, config).await.expect("create");
    assert_eq!(info.name, name);
    assert!(info.created_at.is_some());

    let got = basin.get_stream_config(&name).await.expect("config");
    assert_eq!(got.storage_class, Some(StorageClass::Express));
    let timestamping = got.timestamping.expect("timestamping");
    assert_eq!(timestamping.mode, Some(TimestampingMode::ClientRequire));
    assert_eq!(timestamping.uncapped, Some(true));
    assert_eq!(
        got.delete_on_empty.map(|d| d.min_age),
        Some(Duration::from_secs(600))
    );

    let changed = basin
        .reconfigure_stream(
            &name,
            StreamConfig::new().with_timestamping(Timestamping {
                mode: Some(TimestampingMode::Arrival),
                uncapped: None,
            }),
        )
        .await
        .expect("reconfigure");
    assert_eq!(
        changed.timestamping.and_then(|t| t.mode),
        Some(TimestampingMode::Arrival)
    );
    assert_eq!(changed.storage_class, Some(StorageClass::Express));

    let ensured = basin
        .ensure_stream(&stream_name("ensured"), StreamConfig::default())
        .await
        .expect("ensure");
    assert_eq!(ensured.result, ProvisionResult::Created);
    let ensured = basin
        .ensure_stream(&stream_name("ensured"), StreamConfig::default())
        .await
        .expect("ensure again");
    assert_eq!(ensured.result, ProvisionResult::Unchanged);

    let page = basin.list_streams(&ListRequest::new()).await.expect("list");
    let names: Vec<_> = page.items.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, vec!["ensured".to_string(), name.to_string()]);

    basin.delete_stream(&name).await.expect("delete");
    let err = basin
        .stream(name.clone())
        .check_tail()
        .await
        .expect_err("deleted stream");
    let (status, code) = service_code(&err);
    assert!(
        (status, code) == (404, "stream_not_found")
            || (status, code) == (409, "stream_deletion_pending"),
        "unexpected {status} {code}"
    );
}

/// The errors users hit with streams.
pub async fn stream_errors<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "serr").await;
    let basin = s2.basin(stream.basin_name().clone());
    let err = basin
        .create_stream(stream.name(), StreamConfig::default())
        .await
        .expect_err("duplicate stream");
    assert_eq!(service_code(&err), (409, "resource_already_exists"));
    let missing = basin.stream(stream_name("missing"));
    let err = missing.check_tail().await.expect_err("missing stream");
    assert_eq!(service_code(&err), (404, "stream_not_found"));
    let err = missing
        .append(&batch(vec![AppendRecord::new("x")]))
        .await
        .expect_err("append to missing stream");
    assert_eq!(service_code(&err), (404, "stream_not_found"));
    let err = missing
        .read(&ReadRequest::new(ReadStart::SeqNum(0)))
        .await
        .expect_err("read missing stream");
    assert_eq!(service_code(&err), (404, "stream_not_found"));
    let err = basin
        .get_stream_config(&stream_name("missing"))
        .await
        .expect_err("config of missing stream");
    assert_eq!(service_code(&err), (404, "stream_not_found"));
}

/// `list_all_streams` walks every page.
pub async fn list_streams_across_pages<R: Runtime + Default>(s2: S2<R>) {
    let basin_name = unique_basin_name("lists");
    s2.create_basin(&basin_name, BasinConfig::default())
        .await
        .expect("basin");
    let basin = s2.basin(basin_name);
    let mut names = Vec::new();
    for i in 0..7 {
        let name = stream_name(&format!("s-{i}"));
        basin
            .create_stream(&name, StreamConfig::default())
            .await
            .expect("create");
        names.push(name);
    }
    basin
        .create_stream(&stream_name("other"), StreamConfig::default())
        .await
        .expect("create other");
    let all: Vec<_> = basin
        .list_all_streams(ListRequest::new().with_prefix("s-").with_limit(3))
        .map_ok(|s| s.name)
        .try_collect()
        .await
        .expect("list all");
    assert_eq!(all, names);
    let count = basin.list_all_streams(ListRequest::new()).count().await;
    assert_eq!(count, 8);
}

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

async fn append_numbered<R: Runtime + Default>(
    stream: &s2_client::S2Stream<R>,
    count: u64,
    timestamp_base: u64,
) {
    let records = (0..count)
        .map(|i| AppendRecord::new(format!("record-{i}")).with_timestamp(timestamp_base + i * 10))
        .collect::<Vec<_>>();
    stream.append(&batch(records)).await.expect("append");
}

fn seq_nums(output: &ReadOutput) -> Vec<u64> {
    output.records().iter().map(|r| r.seq_num()).collect()
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
pub async fn match_seq_num_mismatch<R: Runtime + Default>(s2: S2<R>) {
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

/// A fence command sets the token; appends with another token are rejected
/// with the current one.
pub async fn fencing<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "fence").await;
    let token = FencingToken::new("writer-1").expect("token");
    stream
        .append(&batch(vec![CommandRecord::fence(token.clone())]))
        .await
        .expect("fence");
    stream
        .append(&batch(vec![AppendRecord::new("ok")]).with_fencing_token(token.clone()))
        .await
        .expect("fenced append");
    let err = stream
        .append(
            &batch(vec![AppendRecord::new("no")])
                .with_fencing_token(FencingToken::new("writer-2").expect("token")),
        )
        .await
        .expect_err("wrong token");
    match err {
        Error::AppendCondition(AppendConditionFailed::FencingTokenMismatch { expected }) => {
            assert_eq!(expected, "writer-1")
        }
        other => panic!("expected a fencing token mismatch, got {other:?}"),
    }
    let records = stream
        .read(&ReadRequest::new(ReadStart::SeqNum(0)))
        .await
        .expect("read")
        .into_records();
    assert_eq!(records.len(), 2);
    assert_eq!(
        records[0].command(),
        Some(Command::Fence("writer-1".into()))
    );
}

/// A trim command is a record on the stream and removes what precedes it.
pub async fn trim_command<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "trim").await;
    append_numbered(&stream, 5, 1_000).await;
    let ack = stream
        .append(&batch(vec![CommandRecord::trim(3)]))
        .await
        .expect("trim");
    assert_eq!(ack.start.seq_num, 5);
    let records = stream
        .read(&ReadRequest::new(ReadStart::SeqNum(5)))
        .await
        .expect("read")
        .into_records();
    assert_eq!(records[0].command(), Some(Command::Trim(3)));
}

/// `ignore_command_records` drops fence and trim records.
pub async fn ignore_command_records<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "ignore").await;
    stream
        .append(&batch(vec![
            AppendRecord::new("a"),
            CommandRecord::fence(FencingToken::new("").expect("token")),
            AppendRecord::new("b"),
            CommandRecord::trim(0),
        ]))
        .await
        .expect("append");
    let all = stream
        .read(&ReadRequest::new(ReadStart::SeqNum(0)))
        .await
        .expect("read all");
    assert_eq!(all.records().len(), 4);
    let data = stream
        .read(&ReadRequest::new(ReadStart::SeqNum(0)).with_ignore_command_records(true))
        .await
        .expect("read data");
    let bodies: Vec<_> = data.records().iter().map(|r| r.body().clone()).collect();
    assert_eq!(bodies, vec![Bytes::from("a"), Bytes::from("b")]);
    assert_eq!(seq_nums(&data), vec![0, 2]);
}

/// With compression on, large reads come back compressed and intact.
pub async fn compression_round_trip<R: Runtime + Default>(_s2: S2<R>) {
    let s2 = S2::<R>::with_runtime(
        crate::config().with_compression(s2_client::config::Compression::Zstd),
        R::default(),
    )
    .expect("client");
    let stream = fresh_stream(&s2, "zstd").await;
    let body = Bytes::from("compressible ".repeat(5_000));
    stream
        .append(&batch(vec![AppendRecord::new(body.clone()); 10]))
        .await
        .expect("append");
    let records = stream
        .read(&ReadRequest::new(ReadStart::SeqNum(0)))
        .await
        .expect("read")
        .into_records();
    assert_eq!(records.len(), 10);
    assert!(records.iter().all(|r| *r.body() == body));
}

/// s2-lite answers access-token and metrics calls with 501; the client
/// surfaces that as a non-retryable service error. (The requests themselves
/// are checked against the OpenAPI spec in s2-core's tests.)
pub async fn access_tokens_and_metrics_not_served_by_lite<R: Runtime + Default>(s2: S2<R>) {
    if crate::target().server.is_none() {
        return; // A real deployment serves these; nothing lite-specific to check.
    }
    let info = AccessTokenInfo::new(
        AccessTokenId::new("ci-token").expect("id"),
        AccessTokenScope {
            streams: Some(ResourceSet::Prefix("ci/".into())),
            ..Default::default()
        },
    );
    for err in [
        s2.issue_access_token(&info).await.expect_err("issue"),
        s2.list_access_tokens(&ListRequest::new())
            .await
            .expect_err("list"),
        s2.revoke_access_token(&info.id).await.expect_err("revoke"),
        s2.account_metrics(AccountMetricSet::ActiveBasins, &MetricsRange::default())
            .await
            .expect_err("metrics"),
    ] {
        let (status, _) = service_code(&err);
        assert!(
            status == 501 || status == 404,
            "unexpected status {status}: {err}"
        );
        assert!(!err.is_retryable());
    }
}

fn numbered_batches(batches: u64, per_batch: u64) -> Vec<AppendInput> {
    (0..batches)
        .map(|b| {
            batch(
                (0..per_batch)
                    .map(|i| AppendRecord::new(format!("batch {b} record {i}")))
                    .collect(),
            )
        })
        .collect()
}

async fn read_all<R: Runtime + Default>(
    stream: &s2_client::S2Stream<R>,
) -> Vec<s2_client::types::SequencedRecord> {
    let tail = stream.check_tail().await.expect("tail").seq_num;
    let mut session = stream
        .read_session(ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(tail)));
    let mut records = Vec::new();
    while let Some(item) = session.next().await {
        if let s2_client::session::ReadItem::Batch(batch) = item.expect("read session") {
            records.extend(batch.records);
        }
    }
    records
}

/// The stream API of append sessions acks every batch in order, and the
/// records land in order.
pub async fn append_session_acks_in_order<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "appsess").await;
    let inputs = numbered_batches(50, 20);
    let acks: Vec<_> = stream
        .append_all(futures_util::stream::iter(inputs.clone()))
        .expect("append session")
        .try_collect()
        .await
        .expect("append session");
    assert_eq!(acks.len(), 50);
    for (i, ack) in acks.iter().enumerate() {
        assert_eq!(ack.start.seq_num, i as u64 * 20);
        assert_eq!(ack.end.seq_num, (i as u64 + 1) * 20);
    }
    let records = read_all(&stream).await;
    let sent: Vec<_> = inputs.iter().flat_map(|i| i.records().to_vec()).collect();
    assert_eq!(records.len(), sent.len());
    assert!(records.iter().zip(&sent).all(|(r, s)| r.body() == s.body()));
}

/// The handle API: submit as you go, await acks, close drains.
pub async fn append_session_handle_submits_and_drains<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "handle").await;
    let session = stream.append_session().expect("append session");
    let mut acks = Vec::new();
    for input in numbered_batches(30, 5) {
        acks.push(session.submit(input).await.expect("submit"));
    }
    let ids: Vec<_> = acks.iter().map(|a| a.id()).collect();
    assert_eq!(ids, (0..30).collect::<Vec<_>>());
    // Dropping one ack future does not disturb the others.
    drop(acks.remove(3));
    session.close().await.expect("close drains");
    for (i, ack) in acks.into_iter().enumerate() {
        let ack = ack.await.expect("ack");
        let batch = if i < 3 { i } else { i + 1 } as u64;
        assert_eq!(ack.start.seq_num, batch * 5);
    }
    assert_eq!(stream.check_tail().await.expect("tail").seq_num, 150);
}

/// A conditioned session advances `match_seq_num` itself; a wrong starting
/// condition fails cleanly with nothing appended.
pub async fn conditioned_append_session<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "cond").await;
    let mut inputs = numbered_batches(10, 3);
    inputs[0] = inputs[0].clone().with_match_seq_num(0);
    let acks: Vec<_> = stream
        .append_all(futures_util::stream::iter(inputs))
        .expect("append session")
        .try_collect()
        .await
        .expect("conditioned session");
    assert_eq!(acks.last().map(|a| a.end.seq_num), Some(30));

    let stale = vec![batch(vec![AppendRecord::new("late")]).with_match_seq_num(5)];
    let err = stream
        .append_all(futures_util::stream::iter(stale))
        .expect("append session")
        .try_collect::<Vec<_>>()
        .await
        .expect_err("stale condition");
    match err {
        Error::AppendSession {
            cause,
            not_applied,
            maybe_applied,
        } => {
            // Another writer got there first: nothing of the session landed.
            assert!(
                matches!(*cause, Error::WriterConflict { seq_num: 30, .. }),
                "{cause:?}"
            );
            assert_eq!(not_applied, 0..1);
            assert!(maybe_applied.is_empty());
        }
        other => panic!("expected a session error, got {other:?}"),
    }
    assert_eq!(stream.check_tail().await.expect("tail").seq_num, 30);
}

/// A bounded read session delivers exactly the bounded range, across many
/// server batches, then ends.
pub async fn read_session_bounded<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "rsb").await;
    for input in numbered_batches(5, 1000) {
        stream.append(&input).await.expect("append");
    }
    let mut session = stream
        .read_session(ReadRequest::new(ReadStart::SeqNum(100)).with_limit(ReadLimit::count(4321)));
    let mut next = 100;
    while let Some(item) = session.next().await {
        if let s2_client::session::ReadItem::Batch(batch) = item.expect("item") {
            for record in batch.records {
                assert_eq!(record.seq_num(), next);
                next += 1;
            }
        }
    }
    assert_eq!(next, 4421);
}

/// An unbounded read session catches up, says so, and then receives records
/// appended later, live.
pub async fn read_session_follows_the_tail<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "live").await;
    stream
        .append(&numbered_batches(1, 10)[0])
        .await
        .expect("append");
    let mut session = stream.read_session(ReadRequest::new(ReadStart::SeqNum(0)));
    let mut seen = 0;
    let mut caught_up = false;
    while !caught_up || seen < 10 {
        match session.next().await.expect("open").expect("item") {
            s2_client::session::ReadItem::Batch(batch) => seen += batch.records.len(),
            s2_client::session::ReadItem::CaughtUp(tail) => {
                assert_eq!(tail.seq_num, 10);
                caught_up = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(session.is_caught_up());
    let writer = stream.clone();
    let append = async move {
        for input in numbered_batches(3, 7) {
            writer.append(&input).await.expect("live append");
        }
    };
    let read = async {
        while seen < 31 {
            if let s2_client::session::ReadItem::Batch(batch) =
                session.next().await.expect("open").expect("item")
            {
                seen += batch.records.len();
            }
        }
    };
    futures_util::future::join(append, read).await;
    assert_eq!(seen, 31);
    assert_eq!(session.next_seq_num(), Some(31));
}

/// A read session starting past the tail yields the tail and ends.
pub async fn read_session_past_tail<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "rspt").await;
    stream
        .append(&numbered_batches(1, 2)[0])
        .await
        .expect("append");
    let items: Vec<_> = stream
        .read_session(ReadRequest::new(ReadStart::SeqNum(50)))
        .try_collect()
        .await
        .expect("session");
    assert_eq!(
        items,
        vec![s2_client::session::ReadItem::Tail(items_tail(&items))]
    );
}

fn items_tail(items: &[s2_client::session::ReadItem]) -> s2_client::types::StreamPosition {
    match items.first() {
        Some(s2_client::session::ReadItem::Tail(tail)) => {
            assert_eq!(tail.seq_num, 2);
            *tail
        }
        other => panic!("expected a tail, got {other:?}"),
    }
}

/// `append_inputs` batches by count and bytes, advances `match_seq_num`,
/// and its batches go straight into an append session.
pub async fn append_inputs_batches_for_sessions<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "batchr").await;
    let records: Vec<_> = (0..2_500)
        .map(|i| AppendRecord::new(format!("record {i}")))
        .collect();
    let config = s2_client::config::BatcherConfig::default()
        .with_max_records(1000)
        .with_match_seq_num(Some(0));
    let inputs: Vec<_> = s2_client::session::append_inputs(
        R::default(),
        futures_util::stream::iter(records.clone()),
        config,
    )
    .expect("config")
    .try_collect()
    .await
    .expect("batches");
    let sizes: Vec<_> = inputs.iter().map(|i| i.len()).collect();
    assert_eq!(sizes, vec![1000, 1000, 500]);
    let conditions: Vec<_> = inputs.iter().map(|i| i.match_seq_num()).collect();
    assert_eq!(conditions, vec![Some(0), Some(1000), Some(2000)]);
    let acks: Vec<_> = stream
        .append_all(futures_util::stream::iter(inputs))
        .expect("append session")
        .try_collect()
        .await
        .expect("session");
    assert_eq!(acks.last().map(|a| a.end.seq_num), Some(2500));

    // A record that can never fit ends the stream with a validation error.
    let huge = vec![AppendRecord::new(vec![0u8; 2 * 1024 * 1024])];
    let result: Result<Vec<_>, _> = s2_client::session::append_inputs(
        R::default(),
        futures_util::stream::iter(huge),
        Default::default(),
    )
    .expect("config")
    .try_collect()
    .await;
    assert!(matches!(
        result,
        Err(Error::Validation(ValidationError::BatchTooLarge { .. }))
    ));
}

/// The producer acks every record with its own sequence number; flush waits
/// for durability; close drains.
pub async fn producer_acks_each_record<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "prod").await;
    let producer = stream
        .producer(
            s2_client::config::BatcherConfig::default()
                .with_max_records(10)
                .with_linger(Some(Duration::from_millis(5))),
        )
        .expect("producer");
    let mut acks = Vec::new();
    for i in 0..95 {
        acks.push(
            producer
                .submit(AppendRecord::new(format!("p{i}")))
                .await
                .expect("submit"),
        );
    }
    producer.flush().await.expect("flush");
    assert_eq!(stream.check_tail().await.expect("tail").seq_num, 95);
    for (i, ack) in acks.into_iter().enumerate() {
        let ack = ack.await.expect("record ack");
        assert_eq!(ack.seq_num, i as u64);
        assert!(ack.batch.record_count() <= 10);
    }
    // Linger sends a lone record without a flush.
    let lone = producer
        .submit(AppendRecord::new("lone"))
        .await
        .expect("submit");
    assert_eq!(lone.await.expect("lingered ack").seq_num, 95);
    // A record that can never be sent is refused; the producer goes on.
    let err = producer
        .submit(AppendRecord::new(vec![0u8; 2 * 1024 * 1024]))
        .await
        .expect_err("oversize record refused");
    assert!(matches!(err, Error::Validation(_)));
    let last = producer
        .submit(AppendRecord::new("last"))
        .await
        .expect("submit");
    producer.close().await.expect("close");
    assert_eq!(last.await.expect("ack").seq_num, 96);
    let records = read_all(&stream).await;
    assert_eq!(records.len(), 97);
}

/// HTTP/2 over TLS (rustls, ALPN h2): unary calls and both sessions work
/// against a server with a certificate the client was told to trust, and
/// fail cleanly against one it does not trust.
pub async fn tls_end_to_end<R: Runtime + Default>(_s2: S2<R>) {
    let server = s2_test_server::TestServer::start_tls().expect("TLS server");
    let certificate = server.certificate().expect("certificate").clone();
    let endpoints = Endpoints::single(&server.endpoint()).expect("endpoint");

    let untrusting = ClientConfig::new("token")
        .with_endpoints(endpoints.clone())
        .with_max_retries(0);
    let err = S2::<R>::with_runtime(untrusting, R::default())
        .expect("client")
        .list_basins(&ListRequest::new())
        .await
        .expect_err("unknown issuer");
    assert!(
        matches!(
            err,
            Error::Protocol(s2_client::error::ProtocolError::Handshake(_))
        ),
        "{err:?}"
    );
    assert!(!err.may_have_side_effect());

    let config = ClientConfig::new("token")
        .with_endpoints(endpoints)
        .with_root_certificate(certificate);
    let s2 = S2::<R>::with_runtime(config, R::default()).expect("client");
    let stream = fresh_stream(&s2, "tls").await;
    stream
        .append(&batch(vec![AppendRecord::new("over tls")]))
        .await
        .expect("append");
    let acks: Vec<_> = stream
        .append_all(futures_util::stream::iter(numbered_batches(5, 10)))
        .expect("append session")
        .try_collect()
        .await
        .expect("append session");
    assert_eq!(acks.last().map(|a| a.end.seq_num), Some(51));
    let records = read_all(&stream).await;
    assert_eq!(records.len(), 51);
    assert_eq!(*records[0].body(), Bytes::from("over tls"));
}
