//! Streams: a stream's lifecycle and the errors users hit with streams.

use std::time::Duration;

use s2_client::{
    Runtime, S2,
    types::{
        AppendRecord, BasinConfig, ListRequest, ProvisionResult, ReadRequest, ReadStart,
        StorageClass, StreamConfig, Timestamping, TimestampingMode,
    },
};

use crate::{
    fresh_stream,
    support::{batch, service_code, stream_name},
    unique_basin_name,
};

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
pub async fn duplicate_and_missing_streams_fail_with_their_codes<R: Runtime + Default>(s2: S2<R>) {
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
