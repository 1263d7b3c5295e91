//! Basins and the account: a basin's lifecycle, the errors users hit
//! with basins, `ensure_basin`, and the account calls s2-lite does not
//! serve.

use std::time::Duration;

use s2_client::{
    Runtime, S2,
    types::{
        AccessTokenId, AccessTokenInfo, AccessTokenScope, AccountMetricSet, BasinConfig,
        BasinState, ListRequest, MetricsRange, ProvisionResult, ResourceSet, RetentionPolicy,
        StorageClass, StreamConfig,
    },
};

use crate::{
    support::{service_code, stream_name},
    unique_basin_name,
};

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
pub async fn duplicate_and_missing_basins_fail_with_their_codes<R: Runtime + Default>(s2: S2<R>) {
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
