//! Connection attempts: how many run at once, and what callers waiting on
//! them get.

use super::*;

/// Tokio, but every connection takes a while to open; counts the attempts
/// under way at once.
#[derive(Clone, Default)]
struct SlowDials {
    dialling: Arc<AtomicUsize>,
    most_at_once: Arc<AtomicUsize>,
}

impl Runtime for SlowDials {
    fn spawn(&self, task: Task) {
        Tokio.spawn(task);
    }

    fn sleep(&self, duration: Duration) -> SleepFuture {
        Tokio.sleep(duration)
    }

    fn now(&self) -> Instant {
        Tokio.now()
    }

    fn connect(&self, target: ConnectTarget) -> ConnectFuture {
        let (dialling, most) = (self.dialling.clone(), self.most_at_once.clone());
        Box::pin(async move {
            let now = dialling.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            let io = Tokio.connect(target).await;
            dialling.fetch_sub(1, Ordering::SeqCst);
            io
        })
    }
}

/// A burst of sessions (requests holding their place) opened at once
/// against an endpoint whose connections are slow to open: every one gets
/// a place, the connections they need are dialled side by side, and a
/// unary call made during the burst is answered.
#[tokio::test]
async fn a_burst_of_sessions_dials_its_connections_in_parallel() {
    let server = Server::start(Peer::Answer);
    let runtime = SlowDials::default();
    let config = ClientConfig::new("token")
        .with_endpoints(
            Endpoints::single(&format!("http://127.0.0.1:{}", server.port)).expect("endpoint"),
        )
        .with_request_timeout(Duration::from_secs(30))
        .with_max_concurrent_requests_per_connection(2);
    let transport = Transport::new(runtime.clone(), Arc::new(config)).expect("transport");
    let uri = server.request().uri;
    let sessions = futures_util::future::join_all((0..200).map(|_| transport.checkout(&uri)));
    let request = server.request();
    let unary = transport.send(&request, Duration::ZERO);
    let (sessions, unary) = futures_util::future::join(sessions, unary).await;
    let failed: Vec<_> = sessions.iter().filter_map(|s| s.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} of 200 sessions failed, first: {:?}",
        failed.len(),
        failed.first()
    );
    assert_eq!(unary.expect("the unary call during the burst").status, 200);
    // Two places each: 200 sessions and the call need 101 connections, no
    // more, dialled side by side rather than one after another.
    assert_eq!(transport.connection_count(), 101);
    let most = runtime.most_at_once.load(Ordering::SeqCst);
    assert!(most > 50, "at most {most} connections dialled at once");
}
