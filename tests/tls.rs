//! HTTP/2 over TLS, end to end.

use bytes::Bytes;
use futures_util::TryStreamExt;
use s2_client::{
    ClientConfig, Error, Runtime, S2,
    config::Endpoints,
    types::{AppendRecord, ListRequest},
};

use crate::{
    fresh_stream,
    support::{batch, numbered_batches, read_all},
};

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
