//! Smoke tests under `smol::block_on`: the test thread drives no async-std
//! executor, so the client's background tasks (HTTP/2 connections) must make
//! progress on async-std's own executor threads.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use futures_util::{StreamExt, TryStreamExt};
use s2_async_std::{
    AsyncStdRuntime, Error, S2,
    config::BatcherConfig,
    runtime::{ConnectTarget, Runtime},
    session::ReadItem,
    types::{
        AppendInput, AppendRecord, BasinConfig, ReadLimit, ReadRequest, ReadStart, StreamConfig,
        StreamName,
    },
};

#[test]
fn basin_stream_append_read_check_tail() {
    let s2 = S2::new(s2_conformance::config()).expect("client");
    smol::block_on(async {
        let basin_name = s2_conformance::unique_basin_name("smol");
        let info = s2
            .create_basin(&basin_name, BasinConfig::default())
            .await
            .expect("create basin");
        assert_eq!(info.name, basin_name);
        let basin = s2.basin(basin_name);
        let stream_name = StreamName::new("smoke").expect("valid name");
        basin
            .create_stream(&stream_name, StreamConfig::default())
            .await
            .expect("create stream");
        let stream = basin.stream(stream_name);

        let records: Vec<AppendRecord> = ["one", "two", "three"]
            .iter()
            .map(|body| AppendRecord::new(*body).with_header("runtime", "smol"))
            .collect();
        let ack = stream
            .append(&AppendInput::new(records.clone()).expect("valid batch"))
            .await
            .expect("append");
        assert_eq!((ack.start.seq_num, ack.end.seq_num), (0, 3));

        let read = stream
            .read(&ReadRequest::new(ReadStart::SeqNum(0)))
            .await
            .expect("read")
            .into_records();
        assert_eq!(read.len(), records.len());
        for (i, (got, want)) in read.iter().zip(&records).enumerate() {
            assert_eq!(got.seq_num(), i as u64);
            assert_eq!(got.body(), want.body());
            assert_eq!(got.headers(), want.headers());
        }

        let tail = stream.check_tail().await.expect("check tail");
        assert_eq!(tail.seq_num, 3);
    });
}

#[test]
fn sessions_and_producer() {
    let s2 = S2::new(s2_conformance::config()).expect("client");
    smol::block_on(async {
        let stream = s2_conformance::fresh_stream(&s2, "smolsess").await;

        // append_inputs lingers on async-io's timer; the session's
        // connection task runs on async-std's executor.
        let records = (0..250).map(|i| AppendRecord::new(format!("record {i}")));
        let config = BatcherConfig::default()
            .with_max_records(100)
            .with_linger(Some(Duration::from_millis(5)));
        let inputs =
            s2_async_std::session::append_inputs(futures_util::stream::iter(records), config)
                .expect("batcher config");
        let acks: Vec<_> = stream
            .append_all(inputs.map(|input| input.expect("batch")))
            .expect("append session")
            .try_collect()
            .await
            .expect("append session");
        assert_eq!(acks.last().map(|a| a.end.seq_num), Some(250));

        let producer = stream
            .producer(BatcherConfig::default().with_linger(Some(Duration::from_millis(5))))
            .expect("producer");
        let ack = producer
            .submit(AppendRecord::new("lone"))
            .await
            .expect("submit");
        // Sent by linger alone, without a flush.
        assert_eq!(ack.await.expect("record ack").seq_num, 250);

        let mut session: s2_async_std::ReadSession = stream
            .read_session(ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(251)));
        let mut next = 0;
        while let Some(item) = session.next().await {
            if let ReadItem::Batch(batch) = item.expect("read item") {
                for record in batch.records {
                    assert_eq!(record.seq_num(), next);
                    next += 1;
                }
            }
        }
        assert_eq!(next, 251);
    });
}

#[test]
fn spawned_tasks_and_timers_run_on_their_own() {
    let runtime = AsyncStdRuntime;
    let (tx, rx) = std::sync::mpsc::channel();
    let started = Instant::now();
    runtime.spawn(Box::pin(async move {
        AsyncStdRuntime.sleep(Duration::from_millis(50)).await;
        let _ = tx.send(Instant::now());
    }));
    // No executor is driven by this thread at all.
    let fired = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the spawned task ran");
    assert!(fired.duration_since(started) >= Duration::from_millis(50));

    let before = runtime.now();
    smol::block_on(runtime.sleep(Duration::from_millis(20)));
    assert!(runtime.now().duration_since(before) >= Duration::from_millis(20));
}

#[test]
fn connect_plain_tcp_and_fail_tls_against_a_plain_server() {
    let runtime = AsyncStdRuntime;
    // A plain TCP server that answers anything with an HTTP/1.1 error.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("local addr").port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            let _ = std::io::Write::write_all(&mut conn, b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    let host = "127.0.0.1";
    smol::block_on(async {
        let plain = ConnectTarget {
            host: host.to_owned(),
            port,
            tls: None,
        };
        runtime.connect(plain).await.expect("plain TCP connect");

        // A TLS handshake against a plain HTTP server must fail, not hang.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let tls = ConnectTarget {
            host: "localhost".to_owned(),
            port,
            tls: Some(Arc::new(config)),
        };
        let outcome = futures_util::future::select(
            runtime.connect(tls),
            runtime.sleep(Duration::from_secs(10)),
        )
        .await;
        match outcome {
            futures_util::future::Either::Left((Err(_), _)) => {}
            futures_util::future::Either::Left((Ok(_), _)) => {
                panic!("TLS handshake with a plain HTTP server succeeded")
            }
            futures_util::future::Either::Right(_) => panic!("TLS handshake hung"),
        }
    });
}

#[test]
fn unreachable_endpoint_is_a_transport_error() {
    // The error once a short retry window closes: the default minute of
    // retries is not what is under test.
    let config = s2_async_std::ClientConfig::new("token")
        .with_endpoints(
            s2_async_std::config::Endpoints::new("http://127.0.0.1:1", "http://127.0.0.1:1")
                .expect("endpoints"),
        )
        .with_retry_window(Duration::from_secs(1));
    let s2 = S2::new(config).expect("client");
    let err = smol::block_on(
        s2.basin(s2_conformance::unique_basin_name("nowhere"))
            .stream(StreamName::new("s").expect("valid name"))
            .check_tail(),
    )
    .expect_err("nothing listens");
    assert!(
        matches!(err, Error::Transport { sent: false, .. }),
        "{err:?}"
    );
}
