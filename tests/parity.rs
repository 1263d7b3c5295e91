//! Cases for what a user of the official Rust SDK expects to find: locations,
//! reconfiguration that resets, cancel-safe capacity, read-session
//! conveniences, access-token providers and caller headers.

use std::time::Duration;

use s2_client::{
    Error, Runtime, S2, StreamName,
    types::{
        BasinConfig, BasinReconfiguration, Change, LocationName, RetentionPolicy, StorageClass,
        StreamConfig, StreamReconfiguration,
    },
};

use crate::unique_basin_name;

fn not_implemented(result: Result<impl std::fmt::Debug, Error>) {
    match result {
        Err(Error::Service(e)) => {
            assert_eq!((e.status, e.code.as_str()), (501, "not_implemented"), "{e}")
        }
        other => panic!("expected 501 not_implemented, got {other:?}"),
    }
}

/// The location endpoints reach s2-lite's routes (it answers 501 for them, a
/// wrong path would be a 404), and a basin created or ensured with a location
/// is accepted.
pub async fn locations<R: Runtime + Default>(s2: S2<R>) {
    let location = LocationName::new("aws:us-east-1").expect("valid location");
    not_implemented(s2.list_locations().await);
    not_implemented(s2.get_default_location().await);
    not_implemented(s2.set_default_location(&location).await);

    let name = unique_basin_name("loc");
    let info = s2
        .create_basin_in(&name, BasinConfig::default(), Some(&location))
        .await
        .expect("create in a location");
    assert_eq!(info.name, name);
    // s2-lite has no locations: it reports none.
    assert_eq!(info.location, None);
    let ensured = s2
        .ensure_basin_in(
            &unique_basin_name("loc"),
            BasinConfig::default(),
            Some(&location),
        )
        .await
        .expect("ensure in a location");
    assert_eq!(ensured.info.location, None);

    assert!(LocationName::new("").is_err());
    assert!(LocationName::new("aws/us-east-1").is_err());
    assert!(LocationName::new("x".repeat(65)).is_err());
}

/// A reset puts a stream setting back to what a stream created without it
/// has; the settings not named stay as they are.
pub async fn reconfigure_stream_resets_to_default<R: Runtime + Default>(s2: S2<R>) {
    let name = unique_basin_name("reset");
    s2.create_basin(&name, BasinConfig::default())
        .await
        .expect("create basin");
    let basin = s2.basin(name);
    let plain = StreamName::new("plain").expect("valid name");
    basin
        .create_stream(&plain, StreamConfig::default())
        .await
        .expect("create plain stream");
    let defaults = basin.get_stream_config(&plain).await.expect("defaults");

    let tuned = StreamName::new("tuned").expect("valid name");
    let hour = RetentionPolicy::Age(Duration::from_secs(3600));
    basin
        .create_stream(
            &tuned,
            StreamConfig::new()
                .with_retention_policy(hour)
                .with_storage_class(StorageClass::Standard),
        )
        .await
        .expect("create tuned stream");
    assert_ne!(defaults.retention_policy, Some(hour));

    let changed = basin
        .reconfigure_stream(
            &tuned,
            StreamReconfiguration::new().with_retention_policy(Change::Reset),
        )
        .await
        .expect("reset retention");
    assert_eq!(changed.retention_policy, defaults.retention_policy);
    assert_eq!(changed.storage_class, Some(StorageClass::Standard));
    let got = basin.get_stream_config(&tuned).await.expect("get config");
    assert_eq!(got.retention_policy, defaults.retention_policy);
}

/// A reset puts basin settings back to those of a basin created without
/// them.
pub async fn reconfigure_basin_resets_to_default<R: Runtime + Default>(s2: S2<R>) {
    let plain = unique_basin_name("reset");
    s2.create_basin(&plain, BasinConfig::default())
        .await
        .expect("create plain basin");
    let defaults = s2.get_basin_config(&plain).await.expect("defaults");

    let tuned = unique_basin_name("reset");
    let tuned_config = BasinConfig::new()
        .with_create_stream_on_append(true)
        .with_default_stream_config(
            StreamConfig::new().with_retention_policy(RetentionPolicy::Infinite),
        );
    s2.create_basin(&tuned, tuned_config)
        .await
        .expect("create tuned basin");
    let changed = s2
        .reconfigure_basin(
            &tuned,
            BasinReconfiguration::new()
                .with_create_stream_on_append(Change::Reset)
                .with_default_stream_config(Change::Reset),
        )
        .await
        .expect("reset");
    assert_eq!(changed, defaults);
    assert_eq!(s2.get_basin_config(&tuned).await.expect("get"), defaults);
}
