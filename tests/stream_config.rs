//! The configuration of a stream created by an append or a read
//! (`s2-stream-config`), and the stream-level metrics.

use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use s2_client::{
    Error, Runtime, S2, S2Basin,
    types::{
        AppendInput, AppendRecord, BasinConfig, MetricsRange, ReadLimit, ReadRequest, ReadStart,
        RetentionPolicy, StreamConfig, StreamMetricSet, StreamName, Timestamping, TimestampingMode,
    },
};

use crate::unique_basin_name;

/// A configuration unlike the service's defaults in every setting s2-lite
/// keeps.
fn custom_config() -> StreamConfig {
    StreamConfig::new()
        .with_retention_policy(RetentionPolicy::Age(Duration::from_secs(3600)))
        .with_timestamping(Timestamping {
            mode: Some(TimestampingMode::Arrival),
            uncapped: Some(true),
        })
        .with_delete_on_empty(Duration::from_secs(300))
}

/// Asserts `got` holds every setting of [`custom_config`].
fn assert_custom(got: &StreamConfig, what: &str) {
    let want = custom_config();
    assert_eq!(got.retention_policy, want.retention_policy, "{what}");
    assert_eq!(
        got.timestamping.and_then(|t| t.mode),
        Some(TimestampingMode::Arrival),
        "{what}"
    );
    assert_eq!(
        got.timestamping.and_then(|t| t.uncapped),
        Some(true),
        "{what}"
    );
    assert_eq!(got.delete_on_empty, want.delete_on_empty, "{what}");
}

async fn basin_creating_streams<R: Runtime>(s2: &S2<R>, config: BasinConfig) -> S2Basin<R> {
    let name = unique_basin_name("cfghdr");
    s2.create_basin(&name, config).await.expect("create basin");
    s2.basin(name)
}

fn name(name: &str) -> StreamName {
    StreamName::new(name).expect("valid name")
}

fn batch(body: &str) -> AppendInput {
    AppendInput::new(vec![AppendRecord::new(body.to_owned())]).expect("valid batch")
}

/// Streams created by a unary append and by an append session get the
/// handle's configuration; a stream that exists keeps its own.
pub async fn create_on_append_takes_the_handle_config<R: Runtime + Default>(s2: S2<R>) {
    let basin =
        basin_creating_streams(&s2, BasinConfig::new().with_create_stream_on_append(true)).await;

    let unary = name("unary");
    basin
        .stream(unary.clone())
        .with_create_config(custom_config())
        .append(&batch("first"))
        .await
        .expect("append creates the stream");
    let got = basin.get_stream_config(&unary).await.expect("config");
    assert_custom(&got, "created by a unary append");

    let session = name("session");
    let acks: Vec<_> = basin
        .stream(session.clone())
        .with_create_config(custom_config())
        .append_all(futures_util::stream::iter(vec![batch("first")]))
        .expect("append session")
        .try_collect()
        .await
        .expect("append session creates the stream");
    assert_eq!(acks.len(), 1);
    let got = basin.get_stream_config(&session).await.expect("config");
    assert_custom(&got, "created by an append session");

    // Without the header, the basin's defaults.
    let plain = name("plain");
    basin
        .stream(plain.clone())
        .append(&batch("first"))
        .await
        .expect("append creates the stream");
    let got = basin.get_stream_config(&plain).await.expect("config");
    assert_ne!(got.retention_policy, custom_config().retention_policy);

    // An existing stream ignores it.
    basin
        .stream(plain.clone())
        .with_create_config(custom_config())
        .append(&batch("second"))
        .await
        .expect("append");
    let again = basin.get_stream_config(&plain).await.expect("config");
    assert_eq!(again, got);
}

/// Streams created by a unary read and by a read session get the handle's
/// configuration.
pub async fn create_on_read_takes_the_handle_config<R: Runtime + Default>(s2: S2<R>) {
    let basin =
        basin_creating_streams(&s2, BasinConfig::new().with_create_stream_on_read(true)).await;

    let unary = name("unary");
    let output = basin
        .stream(unary.clone())
        .with_create_config(custom_config())
        .read(&ReadRequest::new(ReadStart::SeqNum(0)).with_clamp(true))
        .await
        .expect("read creates the stream");
    assert!(output.records().is_empty());
    let got = basin.get_stream_config(&unary).await.expect("config");
    assert_custom(&got, "created by a unary read");

    let session = name("session");
    let items: Vec<_> = basin
        .stream(session.clone())
        .with_create_config(custom_config())
        .read_session(ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(1)))
        .collect()
        .await;
    assert!(items.iter().all(|item| item.is_ok()), "{items:?}");
    let got = basin.get_stream_config(&session).await.expect("config");
    assert_custom(&got, "created by a read session");
}

/// The stream-level `storage` metric set is asked of
/// `/v1/metrics/{basin}/{stream}`: s2-lite parses the path and the set and
/// answers that it does not implement metrics (a wrong path or set would be
/// a 404 or a 400).
pub async fn stream_metrics_reach_the_stream_endpoint<R: Runtime + Default>(s2: S2<R>) {
    if crate::target().server.is_none() {
        return; // A real deployment serves metrics; s2-lite's answer is what is checked.
    }
    let stream = crate::fresh_stream(&s2, "smetrics").await;
    let range = MetricsRange::new()
        .with_start(1_767_225_600)
        .with_end(1_767_229_200);
    let err = s2
        .stream_metrics(
            stream.basin_name(),
            stream.name(),
            StreamMetricSet::Storage,
            &range,
        )
        .await
        .expect_err("s2-lite has no metrics");
    match &err {
        Error::Service(e) => assert_eq!((e.status, e.code.as_str()), (501, "not_implemented")),
        other => panic!("unexpected error: {other}"),
    }
    assert!(!err.is_retryable());
}
