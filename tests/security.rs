//! Security cases: configuration extremes never panic, and names that look
//! like path tricks reach the server as plain names.

use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use s2_client::{
    Runtime, S2,
    config::BackoffConfig,
    session::ReadItem,
    types::{
        AppendInput, AppendRecord, BasinConfig, ListRequest, ReadLimit, ReadRequest, ReadStart,
        StreamConfig, StreamName,
    },
};

use crate::{config, fresh_stream, unique_basin_name};

/// `Duration::MAX` for every timeout, keepalive and backoff delay: unary
/// calls, an append session (ack deadline) and a read session (heartbeat
/// watchdog) all work, and nothing panics adding a duration to an instant.
pub async fn huge_durations_never_panic<R: Runtime + Default>(_s2: S2<R>) {
    let config = config()
        .with_request_timeout(Duration::MAX)
        .with_connect_timeout(Duration::MAX)
        .with_ack_timeout(Duration::MAX)
        .with_heartbeat_timeout(Duration::MAX)
        .with_keepalive_interval(Some(Duration::MAX))
        .with_retry(
            BackoffConfig::default()
                .with_base_delay(Duration::MAX)
                .with_max_delay(Duration::MAX),
        );
    let s2 = S2::<R>::with_runtime(config, R::default()).expect("client");

    s2.list_basins(&ListRequest::new())
        .await
        .expect("list basins");
    let stream = fresh_stream(&s2, "huge").await;
    let input = AppendInput::new(vec![AppendRecord::new("x"); 10]).expect("valid batch");
    stream.append(&input).await.expect("append");
    let acks: Vec<_> = stream
        .append_all(futures_util::stream::iter(vec![input.clone(), input]))
        .expect("append session")
        .try_collect()
        .await
        .expect("append session");
    assert_eq!(acks.last().map(|a| a.end.seq_num), Some(30));

    let mut session = stream
        .read_session(ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(30)));
    let mut records = 0;
    while let Some(item) = session.next().await {
        if let ReadItem::Batch(batch) = item.expect("read item") {
            records += batch.records.len();
        }
    }
    assert_eq!(records, 30);
}

/// Stream names made of dots, slashes and percent signs are plain names on
/// the wire: each one is created, found and listed under its own name.
/// (`.` and `..` themselves are refused by the service and by validation.)
pub async fn path_like_stream_names_stay_names<R: Runtime + Default>(s2: S2<R>) {
    assert!(StreamName::new(".").is_err());
    assert!(StreamName::new("..").is_err());

    let basin_name = unique_basin_name("paths");
    s2.create_basin(&basin_name, BasinConfig::default())
        .await
        .expect("create basin");
    let basin = s2.basin(basin_name);
    let names = ["...", ".a", "a/../b", "../x", "%2e%2e", "./", "a?b#c"];
    for name in names {
        let name = StreamName::new(name).expect("valid stream name");
        basin
            .create_stream(&name, StreamConfig::default())
            .await
            .unwrap_or_else(|e| panic!("create {name:?}: {e}"));
        basin
            .get_stream_config(&name)
            .await
            .unwrap_or_else(|e| panic!("get {name:?}: {e}"));
    }
    let listed: Vec<String> = basin
        .list_streams(&ListRequest::new())
        .await
        .expect("list streams")
        .items
        .into_iter()
        .map(|info| info.name.to_string())
        .collect();
    let mut expected: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected);
}

/// A server whose certificate the client does not trust: the call fails
/// with a handshake error, which retrying cannot fix, rather than retrying
/// for the whole retry window as a refused connection would.
pub async fn an_untrusted_certificate_fails_without_retries<R: Runtime + Default>(_s2: S2<R>) {
    let server = s2_test_server::TestServer::start_tls().expect("a TLS s2-lite");
    let endpoint = format!("https://localhost:{}", server.addr().port());
    let config = s2_client::ClientConfig::new("token")
        .with_endpoints(s2_client::config::Endpoints::single(&endpoint).expect("endpoint"));
    let s2 = S2::<R>::with_runtime(config, R::default()).expect("client");
    let error = s2
        .list_basins(&ListRequest::new())
        .await
        .expect_err("the certificate is not trusted");
    assert!(
        matches!(
            error,
            s2_client::Error::Protocol(s2_client::error::ProtocolError::Handshake(_))
        ),
        "{error:?}"
    );
    assert!(!error.is_retryable() && !error.may_have_side_effect());
}
