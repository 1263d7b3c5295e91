//! Deleting what may not exist (also after a lost answer), and listing
//! everything without what is being deleted.

use std::time::Duration;

use futures_util::TryStreamExt;
use s2_client::{
    Error, Runtime, S2,
    config::{BackoffConfig, Endpoints},
    types::{BasinConfig, BasinState, ListRequest, StreamConfig, StreamName},
};
use s2_test_server::hostile::{HostileServer, Misbehaviour};

use crate::unique_basin_name;

fn code(result: Result<(), s2_client::Error>) -> Option<String> {
    result.err().and_then(|e| e.code().map(str::to_owned))
}

/// `delete_*_if_exists` succeeds where nothing exists (or deletion already
/// started), and still fails on any other error; the plain calls report
/// that nothing was found.
pub async fn delete_if_exists_ignores_only_not_found<R: Runtime + Default>(s2: S2<R>) {
    let missing = unique_basin_name("nobasin");
    assert_eq!(
        code(s2.delete_basin(&missing).await).as_deref(),
        Some("basin_not_found")
    );
    s2.delete_basin_if_exists(&missing)
        .await
        .expect("no basin: fine");

    let basin_name = unique_basin_name("delifx");
    s2.create_basin(&basin_name, BasinConfig::default())
        .await
        .expect("create basin");
    let basin = s2.basin(basin_name.clone());
    let stream = StreamName::new("doomed").expect("name");
    assert_eq!(
        code(basin.delete_stream(&stream).await).as_deref(),
        Some("stream_not_found")
    );
    basin
        .delete_stream_if_exists(&stream)
        .await
        .expect("no stream: fine");
    basin
        .create_stream(&stream, StreamConfig::default())
        .await
        .expect("create stream");
    basin
        .delete_stream_if_exists(&stream)
        .await
        .expect("deletes the stream");
    basin
        .delete_stream_if_exists(&stream)
        .await
        .expect("deleted or being deleted: fine");

    s2.delete_basin_if_exists(&basin_name)
        .await
        .expect("deletes the basin");
    s2.delete_basin_if_exists(&basin_name)
        .await
        .expect("deleted or being deleted: fine");

    // Other errors still fail: here, nothing listens at the endpoint.
    let config = crate::config()
        .with_endpoints(Endpoints::single("http://127.0.0.1:1").expect("endpoint"))
        .with_max_retries(0);
    let unreachable = S2::<R>::with_runtime(config, R::default()).expect("client");
    let result = unreachable.delete_basin_if_exists(&basin_name).await;
    assert!(matches!(result, Err(Error::Transport { .. })), "{result:?}");
    let result = unreachable
        .basin(basin_name)
        .delete_stream_if_exists(&stream)
        .await;
    assert!(matches!(result, Err(Error::Transport { .. })), "{result:?}");
}

/// `list_all_streams` and `list_all_basins` skip what is being deleted
/// unless asked for it. (s2-lite finishes a deletion in the background, so
/// what is being deleted may also be gone by the time it is listed.)
pub async fn list_all_skips_what_is_being_deleted<R: Runtime + Default>(s2: S2<R>) {
    let basin_name = unique_basin_name("lsdel");
    s2.create_basin(&basin_name, BasinConfig::default())
        .await
        .expect("create basin");
    let basin = s2.basin(basin_name.clone());
    for name in ["a", "b", "c"] {
        basin
            .create_stream(
                &StreamName::new(name).expect("name"),
                StreamConfig::default(),
            )
            .await
            .expect("create stream");
    }
    basin
        .delete_stream(&StreamName::new("b").expect("name"))
        .await
        .expect("delete");
    let all: Vec<_> = basin
        .list_all_streams(ListRequest::new())
        .try_collect()
        .await
        .expect("list all");
    let streams_with_deleted: Vec<_> = basin
        .list_all_streams(ListRequest::new().with_include_deleted(true))
        .try_collect()
        .await
        .expect("list all");
    let names: Vec<_> = all.iter().map(|i| i.name.to_string()).collect();
    assert_eq!(names, vec!["a", "c"]);
    for info in &streams_with_deleted {
        let name = info.name.to_string();
        assert!(
            names.contains(&name) || (name == "b" && info.deleted_at.is_some()),
            "{info:?}"
        );
    }
    assert!(streams_with_deleted.len() >= 2);

    // Basins: two with one prefix, one of them deleted.
    let prefix = unique_basin_name("lsdelb").to_string();
    let (keep, drop) = (
        s2_client::types::BasinName::new(format!("{prefix}-keep")).expect("name"),
        s2_client::types::BasinName::new(format!("{prefix}-drop")).expect("name"),
    );
    for name in [&keep, &drop] {
        s2.create_basin(name, BasinConfig::default())
            .await
            .expect("create basin");
    }
    s2.delete_basin(&drop).await.expect("delete basin");
    let request = ListRequest::new().with_prefix(prefix.clone());
    let listed: Vec<_> = s2
        .list_all_basins(request.clone())
        .try_collect()
        .await
        .expect("list all");
    let with_deleted: Vec<_> = s2
        .list_all_basins(request.with_include_deleted(true))
        .try_collect()
        .await
        .expect("list all");
    let listed: Vec<_> = listed.into_iter().map(|i| i.name).collect();
    assert_eq!(listed, vec![keep.clone()]);
    for info in &with_deleted {
        assert!(
            info.name == keep || (info.name == drop && info.state() == BasinState::Deleting),
            "{info:?}"
        );
    }
    eprintln!(
        "listed while being deleted: stream {}, basin {}",
        streams_with_deleted.len() > 2,
        with_deleted.len() > 1
    );
}

/// A delete whose first attempt's answer was lost (it may have deleted the
/// stream) and whose retry finds nothing to delete has done its job:
/// `delete_*_if_exists` succeeds, while plain `delete_*` reports the
/// unknown outcome of the first attempt.
pub async fn delete_if_exists_after_a_lost_answer_succeeds<R: Runtime + Default>(_: S2<R>) {
    for (name, if_exists) in [("plain", false), ("if_exists", true)] {
        let server = HostileServer::start(Misbehaviour::DeleteAnswerLost).expect("hostile server");
        let endpoints = Endpoints::single(&server.endpoint()).expect("endpoint");
        let config = s2_client::ClientConfig::new("token")
            .with_endpoints(endpoints)
            .with_retry(BackoffConfig::default().with_base_delay(Duration::from_millis(10)));
        let basin = S2::<R>::with_runtime(config, R::default())
            .expect("client")
            .basin(s2_client::types::BasinName::new("hostile-basin").expect("valid name"));
        let stream = StreamName::new("stream").expect("valid name");
        let result = if if_exists {
            basin.delete_stream_if_exists(&stream).await
        } else {
            basin.delete_stream(&stream).await
        };
        assert_eq!(
            server.requests_on(s2_test_server::hostile::Route::Delete),
            2,
            "{name}"
        );
        match (if_exists, result) {
            (true, Ok(())) => {}
            (false, Err(e)) => assert!(e.may_have_side_effect(), "{name}: {e}"),
            (_, other) => panic!("{name}: {other:?}"),
        }
    }
}
