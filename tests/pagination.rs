//! Listing across pages: `list_all_basins` and `list_all_streams` walk
//! every page.

use futures_util::{StreamExt, TryStreamExt};
use s2_client::{
    Runtime, S2,
    types::{BasinConfig, BasinName, ListRequest, StreamConfig},
};

use crate::{support::stream_name, unique_basin_name};

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
