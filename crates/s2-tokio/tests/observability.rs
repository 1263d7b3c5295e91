//! What the client tells an operator: tracing events and spans captured at
//! TRACE (the client's and its dependencies') by a subscriber writing into
//! memory, and the metrics recorded into a Prometheus recorder.
//!
//! Each case names its own basin, and looks only at lines that carry it
//! (every event inside a call or session span does), so cases may run in
//! parallel in this one process.

use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use futures_util::StreamExt;
use s2_conformance::{config, fresh_stream, proxy, unique_basin_name};
use s2_tokio::{
    S2,
    config::{AppendRetryPolicy, BackoffConfig, Endpoints},
    session::ReadItem,
    types::{AccessToken, AppendInput, AppendRecord, ReadRequest, ReadStart, StreamName},
};
use tracing_subscriber::fmt::{MakeWriter, format::FmtSpan};

/// The token every client of this file presents: it must never be printed.
const TOKEN: &str = "tok-0bserv4bility-n3ver-pr1nted";
/// A record body that must never be printed either.
const BODY: &str = "body-n3ver-pr1nted";

/// Everything written by the subscriber, as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("capture lock")).into_owned()
    }

    /// Lines that mention `needle` (a case's basin name).
    fn lines_with(&self, needle: &str) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("capture lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Installs (once) the global subscriber at TRACE and the metrics recorder.
fn capture() -> &'static (Captured, metrics_exporter_prometheus::PrometheusHandle) {
    static CAPTURE: OnceLock<(Captured, metrics_exporter_prometheus::PrometheusHandle)> =
        OnceLock::new();
    CAPTURE.get_or_init(|| {
        let captured = Captured::default();
        tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
            .with_span_events(FmtSpan::CLOSE)
            .with_ansi(false)
            .with_writer(captured.clone())
            .init();
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).expect("the only recorder");
        s2_tokio::metrics::describe();
        (captured, handle)
    })
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

/// A client of the test server presenting [`TOKEN`], through `endpoint`
/// when given, with quick retries.
fn client(endpoint: Option<&str>) -> S2 {
    let mut config = config().with_access_token(AccessToken::new(TOKEN));
    if let Some(endpoint) = endpoint {
        config = config.with_endpoints(Endpoints::single(endpoint).expect("endpoint"));
    }
    config = config
        .with_retry(
            BackoffConfig::default()
                .with_max_retries(20)
                .with_base_delay(Duration::from_millis(10))
                .with_max_delay(Duration::from_millis(100)),
        )
        .with_append_retry_policy(AppendRetryPolicy::NoSideEffects);
    S2::new(config).expect("client")
}

fn batch(records: usize) -> AppendInput {
    AppendInput::new(
        (0..records)
            .map(|i| AppendRecord::new(format!("{BODY}-{i}")).with_header("h", "v"))
            .collect::<Vec<_>>(),
    )
    .expect("batch")
}

/// A unary call that fails to connect is retried: each retry is an event
/// with its cause and delay, inside the call's span (operation, basin,
/// stream), which closes with the attempt count and outcome.
#[test]
fn retry_events_carry_cause_and_delay() {
    let (captured, _) = capture();
    // A port nothing listens on: every attempt is refused, unsent.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let s2 = client(Some(&endpoint));
    block_on(async {
        let basin = unique_basin_name("obs-retry");
        let stream = s2
            .basin(basin.clone())
            .stream(StreamName::new("retried").expect("name"));
        let basin = basin.to_string();
        let error = stream.check_tail().await.expect_err("nothing listens");
        assert!(!error.may_have_side_effect());
        let lines = captured.lines_with(&basin);
        let retries: Vec<_> = lines.iter().filter(|l| l.contains("retrying")).collect();
        assert!(retries.len() >= 3, "retries logged: {lines:#?}");
        for line in &retries {
            assert!(line.contains("DEBUG"), "{line}");
            assert!(line.contains("cause="), "a retry says why: {line}");
            assert!(line.contains("delay="), "a retry says how long: {line}");
            assert!(line.contains("operation=\"check_tail\""), "{line}");
            assert!(line.contains("stream=\"retried\""), "{line}");
        }
        let closed = lines
            .iter()
            .find(|l| l.contains("close"))
            .unwrap_or_else(|| panic!("the call's span closes: {lines:#?}"));
        assert!(closed.contains("attempts=21"), "{closed}");
        assert!(closed.contains("outcome=\"failed\""), "{closed}");
    });
}

/// An append session whose connection is cut logs the failure, the
/// reconnect (with cause and delay) and, since its batches are conditioned,
/// the exactly-once resolution; a read session through cuts logs its
/// reconnects. The metrics count the reconnects and the records.
#[test]
fn reconnects_through_cut_connections_are_logged() {
    let (captured, metrics) = capture();
    let Some(proxy) = proxy() else { return };
    block_on(async {
        let direct = fresh_stream(&client(None), "obs-cut").await;
        let basin = direct.basin_name().to_string();
        let faulty = client(Some(&proxy.endpoint()))
            .basin(direct.basin_name().clone())
            .stream(direct.name().clone());

        let session = faulty.append_session().expect("append session");
        let mut acks = Vec::new();
        for i in 0..200 {
            let mut input = batch(10);
            if i == 0 {
                input = input.with_match_seq_num(0);
            }
            acks.push(session.submit(input).await.expect("submit"));
            // Paced, so that cuts land on open session connections.
            tokio::time::sleep(Duration::from_millis(2)).await;
            if i % 50 == 25 {
                proxy.cut();
            }
        }
        session.close().await.expect("close");
        for ack in acks {
            ack.await.expect("ack");
        }

        // Read to the tail, cut the connection there, then append more: the
        // session must reconnect to get them.
        let mut read = faulty.read_session(ReadRequest::new(ReadStart::SeqNum(0)));
        let mut count = 0;
        while count < 2010
            && let Some(item) = read.next().await
        {
            match item.expect("read") {
                ReadItem::Batch(batch) => count += batch.records.len(),
                ReadItem::CaughtUp(_) if count == 2000 => {
                    proxy.cut();
                    direct.append(&batch(10)).await.expect("append");
                }
                _ => {}
            }
        }
        assert_eq!(count, 2010);

        let lines = captured.lines_with(&basin);
        if std::env::var_os("SHOW_CAPTURE").is_some() {
            for line in lines.iter().filter(|l| !l.contains(" TRACE ")) {
                eprintln!("{line}");
            }
        }
        let append_reconnects: Vec<_> = lines
            .iter()
            .filter(|l| l.contains("reconnecting") && l.contains("kind=\"append\""))
            .collect();
        assert!(!append_reconnects.is_empty(), "{lines:#?}");
        for line in &append_reconnects {
            assert!(line.contains("cause="), "{line}");
            assert!(line.contains("delay="), "{line}");
            assert!(line.contains("connection="), "{line}");
        }
        assert!(
            lines
                .iter()
                .any(|l| l.contains("exactly-once resolution") && l.contains("outcome=")),
            "resolutions are logged: {lines:#?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("reconnecting") && l.contains("kind=\"read\"")),
            "read reconnects are logged: {lines:#?}"
        );
        assert!(
            lines
                .iter()
                .all(|l| !(l.contains(" INFO ") && l.contains("s2_client"))),
            "the client's INFO stays quiet through recovered faults: {lines:#?}"
        );
    });
    let rendered = metrics.render();
    for name in [
        s2_tokio::metrics::RECONNECTS,
        s2_tokio::metrics::RESOLUTIONS,
        s2_tokio::metrics::RECORDS_APPENDED,
        s2_tokio::metrics::RECORDS_READ,
        s2_tokio::metrics::ACK_LATENCY,
        s2_tokio::metrics::OPEN_CONNECTIONS,
    ] {
        assert!(rendered.contains(name), "{name} in {rendered}");
    }
    let appended = counter(&rendered, s2_tokio::metrics::RECORDS_APPENDED);
    assert!(appended >= 2000.0, "{appended} records appended");
}

/// The value of an unlabelled series in Prometheus text.
fn counter(rendered: &str, name: &str) -> f64 {
    rendered
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} in {rendered}"))
}

/// Nothing captured at TRACE, from the client or its dependencies (hyper,
/// h2, rustls), ever holds the access token or a record body, whatever
/// the cases of this file did.
#[test]
fn no_token_or_body_at_trace() {
    let (captured, _) = capture();
    block_on(async {
        let s2 = client(None);
        let stream = fresh_stream(&s2, "obs-secret").await;
        stream.append(&batch(3)).await.expect("append");
        let session = stream.append_session().expect("append session");
        let ack = session.submit(batch(3)).await.expect("submit");
        session.close().await.expect("close");
        ack.await.expect("ack");
        let output = stream
            .read(&ReadRequest::new(ReadStart::SeqNum(0)))
            .await
            .expect("read");
        assert_eq!(output.records().len(), 6);
        let basin = stream.basin_name().to_string();
        assert!(
            !captured.lines_with(&basin).is_empty(),
            "the case's calls were captured"
        );
    });
    let text = captured.text();
    assert!(!text.is_empty());
    assert!(!text.contains(TOKEN), "the token leaked into the logs");
    assert!(!text.contains(BODY), "a record body leaked into the logs");
}
