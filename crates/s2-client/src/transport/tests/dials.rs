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

/// Tokio, but connection attempts wait until the test lets them through,
/// and the tasks the client spawns can be aborted, as a runtime shutting
/// down drops them.
#[derive(Clone, Default)]
struct Gated {
    open: Arc<AtomicBool>,
    /// Drops every task at once instead of running it.
    drops_tasks: Arc<AtomicBool>,
    attempts: Arc<AtomicUsize>,
    spawned: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Gated {
    fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }

    /// Lets every connection attempt through, now and from now on.
    fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
    }

    /// Drops every task spawned so far, wherever it stands.
    fn abort_spawned(&self) {
        for task in self.spawned.lock().drain(..) {
            task.abort();
        }
    }

    fn transport(&self, server: &Server) -> Transport<Gated> {
        let endpoint = format!("http://127.0.0.1:{}", server.port);
        let config = ClientConfig::new("token")
            .with_endpoints(Endpoints::single(&endpoint).expect("valid endpoint"));
        Transport::new(self.clone(), Arc::new(config)).expect("transport")
    }
}

impl Runtime for Gated {
    fn spawn(&self, task: Task) {
        if self.drops_tasks.load(Ordering::SeqCst) {
            return drop(task);
        }
        self.spawned.lock().push(tokio::spawn(task).abort_handle());
    }

    fn sleep(&self, duration: Duration) -> SleepFuture {
        Tokio.sleep(duration)
    }

    fn now(&self) -> Instant {
        Tokio.now()
    }

    fn connect(&self, target: ConnectTarget) -> ConnectFuture {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let open = self.open.clone();
        Box::pin(async move {
            while !open.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Tokio.connect(target).await
        })
    }
}

/// A dial task dropped mid-dial (its runtime shut down, or a custom runtime
/// dropped it) leaves no attempt behind that callers would wait on forever:
/// the caller waiting on it dials again, and later calls are answered.
#[tokio::test]
async fn a_dial_task_dropped_unfinished_wedges_nothing() {
    let server = Server::start(Peer::Answer);
    let runtime = Gated::default();
    let transport = runtime.transport(&server);
    let uri = server.request().uri;
    let waiting = tokio::spawn({
        let transport = transport.clone();
        async move { transport.checkout(&uri).await.map(drop) }
    });
    assert!(eventually(|| runtime.attempts() == 1).await);
    runtime.abort_spawned();
    runtime.open();
    let waited = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the caller waiting on the dropped attempt is answered")
        .expect("the caller's task");
    assert!(waited.is_ok(), "{waited:?}");
    let later = transport.send(&server.request(), Duration::ZERO).await;
    assert_eq!(later.expect("a later call is answered").status, 200);
    assert_eq!(runtime.attempts(), 2);
}

/// On a runtime that drops every task before it runs, a checkout fails
/// (nothing sent) after a few attempts instead of waiting forever, and
/// leaves no entry behind.
#[tokio::test]
async fn attempts_dropped_before_they_run_fail_the_checkout() {
    let server = Server::start(Peer::Answer);
    let runtime = Gated::default();
    runtime.drops_tasks.store(true, Ordering::SeqCst);
    runtime.open();
    let transport = runtime.transport(&server);
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        transport.checkout(&server.request().uri),
    )
    .await
    .expect("the checkout ends")
    .map(drop);
    assert!(
        matches!(result, Err(Error::Transport { sent: false, .. })),
        "{result:?}"
    );
    assert_eq!(transport.host_count(), 0);
}

/// A dial that finishes after the transport was closed shuts its
/// connection down rather than leave it open in a fresh pool; the caller
/// waiting on it is refused, nothing sent.
#[tokio::test]
async fn a_dial_that_ends_after_close_shuts_its_connection_down() {
    let server = Server::start(Peer::Answer);
    let runtime = Gated::default();
    let transport = runtime.transport(&server);
    let uri = server.request().uri;
    let waiting = tokio::spawn({
        let transport = transport.clone();
        async move { transport.checkout(&uri).await.map(drop) }
    });
    assert!(eventually(|| runtime.attempts() == 1).await);
    transport.close();
    runtime.open();
    let waited = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the caller is answered")
        .expect("the caller's task");
    assert!(
        matches!(waited, Err(Error::Closed { sent: false, .. })),
        "{waited:?}"
    );
    assert!(eventually(|| server.accepted() == 1).await);
    assert!(
        eventually(|| server.closed() == 1).await,
        "a connection left open after close"
    );
    assert_eq!(transport.connection_count(), 0);
    assert_eq!(transport.host_count(), 0);
}
