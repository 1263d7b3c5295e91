//! Where the client's tasks run: on an executor the application hands in
//! (and runs on threads of its own), or on smol's global executor.

use std::{
    sync::{Arc, mpsc},
    thread,
    time::{Duration, Instant},
};

use futures_util::{
    StreamExt, TryStreamExt,
    future::{Either, select},
};
use s2_smol::{
    Error, S2, SmolRuntime,
    config::BatcherConfig,
    runtime::{ConnectTarget, Runtime},
    session::ReadItem,
    types::{AppendInput, AppendRecord, ReadLimit, ReadRequest, ReadStart, StreamName},
};
use smol::{Executor, Timer};

/// `future`, or `None` if it is still pending after `within`.
async fn within<F: Future>(within: Duration, future: F) -> Option<F::Output> {
    match select(std::pin::pin!(future), Timer::after(within)).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(_) => None,
    }
}

/// Threads of the test's own, named `runner-{i}`, that run an executor
/// until they are stopped.
struct Runners {
    stop: smol::channel::Sender<()>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Runners {
    fn start(executor: &Arc<Executor<'static>>, count: usize) -> Self {
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let threads = (0..count)
            .map(|i| {
                let executor = executor.clone();
                let stopped = stopped.clone();
                thread::Builder::new()
                    .name(format!("runner-{i}"))
                    .spawn(move || {
                        smol::block_on(executor.run(async move {
                            // Ends when `stop` is dropped.
                            let _ = stopped.recv().await;
                        }));
                    })
                    .expect("runner thread")
            })
            .collect();
        Self { stop, threads }
    }

    /// Stops the threads and waits for them: nobody runs the executor
    /// any more.
    fn stop(self) {
        drop(self.stop);
        for thread in self.threads {
            thread.join().expect("runner thread ended cleanly");
        }
    }
}

/// Appends 250 records through an append session fed by a batcher, then
/// one through a producer (sent by its linger alone), and reads all 251
/// back through a read session.
async fn session_and_producer(stream: &s2_smol::S2Stream) {
    let records = (0..250).map(|i| AppendRecord::new(format!("record {i}")));
    let config = BatcherConfig::default()
        .with_max_records(100)
        .with_linger(Some(Duration::from_millis(5)));
    let inputs = s2_smol::session::append_inputs(futures_util::stream::iter(records), config)
        .expect("batcher config");
    let acks: Vec<_> = stream
        .append_all(inputs.map(|input| input.expect("batch")))
        .expect("open the session")
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
    assert_eq!(ack.await.expect("record ack").seq_num, 250);

    let mut session = stream
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
}

#[test]
fn tasks_wait_on_the_chosen_executor_until_it_runs() {
    let executor = Arc::new(Executor::new());
    let runtime = SmolRuntime::with_executor(executor.clone());
    let (sender, ran_on) = mpsc::channel();
    runtime.spawn(Box::pin(async move {
        let _ = sender.send(thread::current().name().map(str::to_owned));
    }));
    assert!(
        ran_on.recv_timeout(Duration::from_millis(300)).is_err(),
        "the task ran although nobody runs its executor"
    );
    assert!(
        !executor.is_empty(),
        "the task waits on the chosen executor"
    );

    let runners = Runners::start(&executor, 2);
    let thread = ran_on
        .recv_timeout(Duration::from_secs(10))
        .expect("the task ran once the executor did");
    let thread = thread.expect("runner threads are named");
    assert!(thread.starts_with("runner-"), "ran on {thread}");
    runners.stop();
}

#[test]
fn a_session_and_a_producer_on_the_chosen_executor() {
    let executor = Arc::new(Executor::new());
    let s2 = S2::with_runtime(
        s2_conformance::config(),
        SmolRuntime::with_executor(executor.clone()),
    )
    .expect("client");

    // Nobody runs the executor yet: the first call's connection attempt,
    // a task of its own, waits there, and so does the call.
    let early = smol::block_on(within(
        Duration::from_millis(300),
        s2.list_basins(&Default::default()),
    ));
    assert!(early.is_none(), "a call completed: {early:?}");
    assert!(!executor.is_empty(), "the connection attempt waits there");

    let runners = Runners::start(&executor, 2);
    let stream = smol::block_on(s2_conformance::fresh_stream(&s2, "smolexec"));
    smol::block_on(session_and_producer(&stream));

    // With the executor stopped, a producer takes a record but never sends
    // it, and a unary call fails once its request timeout runs out.
    let producer = stream
        .producer(BatcherConfig::default().with_linger(Some(Duration::from_millis(5))))
        .expect("producer");
    runners.stop();
    let ack = smol::block_on(producer.submit(AppendRecord::new("held"))).expect("submit");
    let mut ack = std::pin::pin!(ack);
    let held = smol::block_on(within(Duration::from_millis(500), ack.as_mut()));
    assert!(held.is_none(), "acked with the executor stopped: {held:?}");
    let impatient = S2::with_runtime(
        s2_conformance::config()
            .with_request_timeout(Duration::from_millis(300))
            .with_max_retries(0),
        SmolRuntime::with_executor(executor.clone()),
    )
    .expect("client");
    let started = Instant::now();
    let stalled = smol::block_on(within(
        Duration::from_secs(20),
        impatient
            .basin(stream.basin_name().clone())
            .stream(stream.name().clone())
            .check_tail(),
    ));
    assert!(
        matches!(stalled, Some(Err(Error::Transport { sent: false, .. }))),
        "a call with no connection fails, unsent: {stalled:?} after {:?}",
        started.elapsed()
    );

    // Run again, the executor takes the producer on where it stopped.
    let runners = Runners::start(&executor, 1);
    let acked = smol::block_on(within(Duration::from_secs(10), ack)).expect("acked");
    assert_eq!(acked.expect("record ack").seq_num, 251);
    let tail = smol::block_on(stream.check_tail()).expect("check tail");
    assert_eq!(tail.seq_num, 252);
    runners.stop();
}

#[test]
fn the_calling_thread_can_run_the_executor() {
    let executor = Arc::new(Executor::new());
    let s2 = S2::with_runtime(
        s2_conformance::config(),
        SmolRuntime::with_executor(executor.clone()),
    )
    .expect("client");
    let tail = smol::block_on(executor.run(async {
        let stream = s2_conformance::fresh_stream(&s2, "smolhere").await;
        let input = AppendInput::new(vec![AppendRecord::new("one"), AppendRecord::new("two")])
            .expect("valid batch");
        stream.append(&input).await.expect("append");
        stream.check_tail().await.expect("check tail")
    }));
    assert_eq!(tail.seq_num, 2);
}

#[test]
fn a_session_and_a_producer_on_the_global_executor() {
    let s2 = S2::new(s2_conformance::config()).expect("client");
    // The test thread runs no executor: the client's tasks make progress
    // on smol's global executor threads.
    smol::block_on(async {
        let stream = s2_conformance::fresh_stream(&s2, "smolglobal").await;
        session_and_producer(&stream).await;
    });
}

#[test]
fn spawned_tasks_and_timers_run_on_their_own() {
    let runtime = SmolRuntime::default();
    let (sender, fired) = mpsc::channel();
    let started = Instant::now();
    let timer = runtime.clone();
    runtime.spawn(Box::pin(async move {
        timer.sleep(Duration::from_millis(50)).await;
        let _ = sender.send((Instant::now(), thread::current().id()));
    }));
    // This thread runs no executor at all, and keeps no handle to the
    // task: it is detached, not cancelled.
    let (at, on) = fired
        .recv_timeout(Duration::from_secs(10))
        .expect("the spawned task ran");
    assert!(at.duration_since(started) >= Duration::from_millis(50));
    assert_ne!(on, thread::current().id());

    let before = runtime.now();
    smol::block_on(runtime.sleep(Duration::from_millis(20)));
    assert!(runtime.now().duration_since(before) >= Duration::from_millis(20));
}

#[test]
fn connect_plain_tcp_and_fail_tls_against_a_plain_server() {
    let runtime = SmolRuntime::default();
    // A plain TCP server that answers anything with an HTTP/1.1 error.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("local addr").port();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            let _ = std::io::Write::write_all(&mut conn, b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    smol::block_on(async {
        let plain = ConnectTarget {
            host: "127.0.0.1".to_owned(),
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
        match within(Duration::from_secs(10), runtime.connect(tls)).await {
            Some(Err(_)) => {}
            Some(Ok(_)) => panic!("TLS handshake with a plain HTTP server succeeded"),
            None => panic!("TLS handshake hung"),
        }
    });
}

#[test]
fn unreachable_endpoint_is_a_transport_error() {
    // The error once a short retry window closes: the default minute of
    // retries is not what is under test.
    let config = s2_smol::ClientConfig::new("token")
        .with_endpoints(
            s2_smol::config::Endpoints::new("http://127.0.0.1:1", "http://127.0.0.1:1")
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
