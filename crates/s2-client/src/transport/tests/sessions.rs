//! Session drivers over the transport: what their timers make of the
//! connections they use.

use super::*;

/// Tokio, but a zero sleep is ready at once (tokio's is too, when polled
/// past its deadline; some runtimes always are).
#[derive(Clone)]
struct ZeroSleepReady;

impl Runtime for ZeroSleepReady {
    fn spawn(&self, task: Task) {
        Tokio.spawn(task);
    }

    fn sleep(&self, duration: Duration) -> SleepFuture {
        if duration.is_zero() {
            return Box::pin(std::future::ready(()));
        }
        Tokio.sleep(duration)
    }

    fn now(&self) -> Instant {
        Tokio.now()
    }

    fn connect(&self, target: ConnectTarget) -> ConnectFuture {
        Tokio.connect(target)
    }
}

/// A session ended by `server_draining` reconnects at once (a zero
/// backoff, free of the retry budget). That backoff firing is no ack
/// timeout: the shared HTTP/2 connection is not evicted, and the reconnect
/// goes out on it.
#[tokio::test]
async fn a_zero_backoff_is_not_taken_for_an_ack_timeout() {
    use s2_core::types::{AppendInput, AppendRecord};
    let server = Server::start(Peer::DrainFirstSession);
    let endpoint = format!("http://127.0.0.1:{}", server.port);
    let config = ClientConfig::new("token")
        .with_endpoints(Endpoints::single(&endpoint).expect("valid endpoint"));
    let client = crate::S2::with_runtime(config, ZeroSleepReady).expect("client");
    let stream = client
        .basin(s2_core::BasinName::new("drain-basin").expect("name"))
        .stream(s2_core::StreamName::new("s").expect("name"));
    let session = stream.append_session().expect("session");
    let input = AppendInput::new(vec![AppendRecord::new("x")]).expect("input");
    let _ack = session.submit(input).await.expect("handed over");
    assert!(
        eventually(|| server.requests() == 2).await,
        "no reconnect: {} requests",
        server.requests()
    );
    assert_eq!(
        server.accepted(),
        1,
        "the reconnect went out on a new connection: the shared one was evicted"
    );
}

/// The same for a read session: its zero backoff after `server_draining`
/// is no heartbeat timeout (the driver checks the silence against the last
/// frame heard), so the reconnect also goes out on the shared connection.
#[tokio::test]
async fn a_read_session_zero_backoff_is_not_taken_for_a_heartbeat_timeout() {
    use futures_util::StreamExt;
    use s2_core::types::{ReadRequest, ReadStart};
    let server = Server::start(Peer::DrainFirstSession);
    let endpoint = format!("http://127.0.0.1:{}", server.port);
    let config = ClientConfig::new("token")
        .with_endpoints(Endpoints::single(&endpoint).expect("valid endpoint"));
    let client = crate::S2::with_runtime(config, ZeroSleepReady).expect("client");
    let stream = client
        .basin(s2_core::BasinName::new("drain-basin").expect("name"))
        .stream(s2_core::StreamName::new("s").expect("name"));
    let mut session = stream.read_session(ReadRequest::new(ReadStart::SeqNum(0)));
    let reading = tokio::spawn(async move { while session.next().await.is_some() {} });
    assert!(
        eventually(|| server.requests() == 2).await,
        "no reconnect: {} requests",
        server.requests()
    );
    assert_eq!(server.accepted(), 1, "the shared connection was evicted");
    reading.abort();
}

/// A stream of a client of `server` on tokio.
fn stream_of(server: &Server) -> (crate::S2<Tokio>, crate::S2Stream<Tokio>) {
    stream_with(server, |config| config)
}

/// A stream of a client of `server` on tokio, configured by `configure`.
fn stream_with(
    server: &Server,
    configure: impl FnOnce(ClientConfig) -> ClientConfig,
) -> (crate::S2<Tokio>, crate::S2Stream<Tokio>) {
    let endpoint = format!("http://127.0.0.1:{}", server.port);
    let config = configure(
        ClientConfig::new("token")
            .with_endpoints(Endpoints::single(&endpoint).expect("valid endpoint")),
    );
    let client = crate::S2::with_runtime(config, Tokio).expect("client");
    let stream = client
        .basin(s2_core::BasinName::new("close-basin").expect("name"))
        .stream(s2_core::StreamName::new("s").expect("name"));
    (client, stream)
}

/// Starts closing `client` (every session is stopped at once, then the
/// drain is waited for) and returns the close, under way.
fn start_closing(client: &crate::S2<Tokio>) -> tokio::task::JoinHandle<Result<(), Error>> {
    let client = client.clone();
    let mut closing = Box::pin(async move { client.close().await });
    // Polled once here: the sessions are stopped before this returns.
    assert!(futures_util::FutureExt::now_or_never(closing.as_mut()).is_none());
    tokio::spawn(closing)
}

/// After `S2::close`, an append session's own close waits for the drain
/// that is running and reports its outcome: the batch is acknowledged, so
/// it closes Ok (it used to fail at once with `Closed { sent: true }`).
#[tokio::test]
async fn a_session_close_during_the_client_close_waits_for_the_drain() {
    use s2_core::types::{AppendInput, AppendRecord};
    let server = Server::start(Peer::AckLate);
    let (client, stream) = stream_of(&server);
    let session = stream.append_session().expect("session");
    let input = AppendInput::new(vec![AppendRecord::new("x")]).expect("input");
    let ack = session.submit(input).await.expect("handed over");
    let closing = start_closing(&client);
    let closed = session.close().await;
    assert!(closed.is_ok(), "{closed:?}");
    assert!(ack.await.is_ok());
    assert!(closing.await.expect("the client's close").is_ok());
}

/// A drain that ends in failure is reported as that failure: the batch
/// was never acknowledged within the ack timeout, and no retry is left.
#[tokio::test]
async fn a_session_close_during_the_client_close_reports_a_failed_drain() {
    use s2_core::types::{AppendInput, AppendRecord};
    let server = Server::start(Peer::Stall);
    let (client, stream) = stream_with(&server, |config| {
        config
            .with_ack_timeout(Duration::from_millis(200))
            .with_max_retries(0)
    });
    let session = stream.append_session().expect("session");
    let input = AppendInput::new(vec![AppendRecord::new("x")]).expect("input");
    let _ack = session.submit(input).await.expect("handed over");
    let closing = start_closing(&client);
    let closed = session.close().await;
    assert!(
        matches!(
            &closed,
            Err(Error::AppendSession { cause, maybe_applied, .. })
                if matches!(**cause, Error::Timeout(_)) && *maybe_applied == (0..1)
        ),
        "{closed:?}"
    );
    assert!(closing.await.expect("the client's close").is_ok());
}

/// The same for a producer's flush and close.
#[tokio::test]
async fn a_producer_flush_during_the_client_close_waits_for_the_drain() {
    use s2_core::{batcher::BatcherConfig, types::AppendRecord};
    let server = Server::start(Peer::AckLate);
    let (client, stream) = stream_of(&server);
    let producer = stream.producer(BatcherConfig::default()).expect("producer");
    let ack = producer
        .submit(AppendRecord::new("x"))
        .await
        .expect("taken");
    let closing = start_closing(&client);
    let flushed = producer.flush().await;
    assert!(flushed.is_ok(), "{flushed:?}");
    assert!(ack.await.is_ok());
    let closed = producer.close().await;
    assert!(closed.is_ok(), "{closed:?}");
    assert!(closing.await.expect("the client's close").is_ok());
}
