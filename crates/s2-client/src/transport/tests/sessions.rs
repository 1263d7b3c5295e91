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
