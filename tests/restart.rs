//! A real s2-lite on local disk that crashes and comes back, against clients
//! with the default retry settings: sessions and unary calls ride out the
//! outage without the caller retrying, exactly once where they were, and
//! errors that retrying cannot fix still fail at once.
//!
//! Each case runs its own [`DiskServer`] (and ignores the shared target):
//! what it crashes must be its own.

use std::{
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use s2_client::{
    ClientConfig, Error, Runtime, S2, S2Stream,
    config::{BatcherConfig, Endpoints},
    session::ReadItem,
    types::{
        AppendRecord, BasinConfig, ReadLimit, ReadRequest, ReadStart, SequencedRecord,
        StreamConfig, StreamName,
    },
};
use s2_test_server::DiskServer;

use crate::{
    faults::{batch as input, lost_and_duplicated, record_body as body},
    unique_basin_name,
};

/// How long the server stays down in the long case: past the 30 s a
/// session must ride out with the defaults.
const LONG_OUTAGE: Duration = Duration::from_secs(32);

/// A client of `server` with every setting at its default.
fn default_client<R: Runtime + Default>(server: &DiskServer) -> S2<R> {
    let endpoints = Endpoints::single(&server.endpoint()).expect("endpoint");
    S2::with_runtime(
        ClientConfig::new("ignored").with_endpoints(endpoints),
        R::default(),
    )
    .expect("client")
}

/// A fresh basin on `s2` with the named streams.
async fn streams<R: Runtime>(s2: &S2<R>, names: &[&str]) -> Vec<S2Stream<R>> {
    let basin_name = unique_basin_name("restart");
    s2.create_basin(&basin_name, BasinConfig::default())
        .await
        .expect("create basin");
    let basin = s2.basin(basin_name);
    let mut streams = Vec::new();
    for name in names {
        let name = StreamName::new(*name).expect("valid name");
        basin
            .create_stream(&name, StreamConfig::default())
            .await
            .expect("create stream");
        streams.push(basin.stream(name));
    }
    streams
}

/// Checks that `read` is exactly `expected`, in order from seq num 0, and
/// says what was lost and duplicated.
fn check_exactly_once(what: &str, read: &[SequencedRecord], expected: &[String]) {
    let (lost, duplicated) = lost_and_duplicated(read, expected);
    eprintln!(
        "{what}: {} records expected, {} read: lost {lost}, duplicated {duplicated}",
        expected.len(),
        read.len()
    );
    assert_eq!((lost, duplicated), (0, 0), "{what}");
    for (i, (record, expected)) in read.iter().zip(expected).enumerate() {
        assert_eq!(record.seq_num(), i as u64, "{what}: position");
        assert_eq!(record.body(), expected.as_bytes(), "{what}: order");
    }
}

/// The whole stream, read back with unary reads once the dust settled.
async fn read_back<R: Runtime>(stream: &S2Stream<R>) -> Vec<SequencedRecord> {
    let tail = stream.check_tail().await.expect("tail").seq_num;
    let mut records = Vec::with_capacity(tail as usize);
    while (records.len() as u64) < tail {
        let from = records.len() as u64;
        let request = ReadRequest::new(ReadStart::SeqNum(from))
            .with_limit(ReadLimit::count((tail - from).min(1000)));
        match stream.read(&request).await.expect("read back") {
            s2_client::types::ReadOutput::Batch(batch) => records.extend(batch.records),
            other => panic!("read back ended early: {other:?}"),
        }
    }
    records
}

/// The server's crash and return, on a thread of its own (stopping and
/// starting block): it crashes when told, stays down for `down_for`, and
/// comes back on the same port and data.
struct Outage {
    crash: mpsc::Sender<()>,
    thread: thread::JoinHandle<(DiskServer, Duration)>,
}

impl Outage {
    fn new(mut server: DiskServer, down_for: Duration) -> Self {
        let (crash, crashed) = mpsc::channel();
        let thread = thread::spawn(move || {
            crashed.recv().expect("told to crash");
            server.stop();
            let down = Instant::now();
            thread::sleep(down_for);
            server.restart().expect("restart");
            // Down from the crash until the port was bound again.
            let outage = down.elapsed();
            (server, outage)
        });
        Self { crash, thread }
    }

    /// Crashes the server now.
    fn crash(&self) {
        self.crash.send(()).expect("the outage thread waits");
    }

    /// The server, back up, and how long it was down.
    fn over(self) -> (DiskServer, Duration) {
        self.thread.join().expect("the outage thread")
    }
}

/// With the default retry settings, an exactly-once append session, a
/// producer and a tailing read session ride out a server that crashes
/// mid-stream and stays down for 32 s: the session and the producer finish
/// with every record exactly once (read back), every ack where its records
/// are, and the read session delivers every record once, in order.
pub async fn sessions_ride_out_a_long_server_restart<R: Runtime + Default>() {
    let server = DiskServer::start_temp().expect("disk server");
    let s2 = default_client::<R>(&server);
    let [session_stream, producer_stream] =
        <[_; 2]>::try_from(streams(&s2, &["session", "producer"]).await)
            .unwrap_or_else(|_| unreachable!());
    let outage = Outage::new(server, LONG_OUTAGE);

    // Paced writes for a second and a half, then a burst the server crashes
    // under (so that batches are in flight: sent, maybe durable, not
    // acknowledged), then paced writes while it is down and after it is
    // back.
    const BATCHES: u64 = 600;
    const PER_BATCH: u64 = 5;
    const CRASH_AT: u64 = 50;
    const BURST: u64 = 20;
    const PACE: Duration = Duration::from_millis(50);
    let total = BATCHES * PER_BATCH;
    let expected: Vec<String> = (0..BATCHES)
        .flat_map(|b| (0..PER_BATCH).map(move |i| body(b, i)))
        .collect();

    let session = session_stream.append_session().expect("append session");
    let producer = producer_stream
        .producer(BatcherConfig::default().with_match_seq_num(Some(0)))
        .expect("producer");
    let mut reader = session_stream.read_session(ReadRequest::new(ReadStart::SeqNum(0)));
    let started = Instant::now();

    let write = async {
        let mut acks = Vec::new();
        let mut record_acks = Vec::new();
        for b in 0..BATCHES {
            let mut batch = input(b, PER_BATCH);
            if b == 0 {
                batch = batch.with_match_seq_num(0);
            }
            acks.push(session.submit(batch).await.expect("submit"));
            for i in 0..PER_BATCH {
                let record = AppendRecord::new(body(b, i));
                record_acks.push(producer.submit(record).await.expect("producer submit"));
            }
            if b == CRASH_AT {
                outage.crash();
            }
            if !(CRASH_AT - BURST..CRASH_AT).contains(&b) {
                R::default().sleep(PACE).await;
            }
        }
        session.close().await.expect("the session finishes");
        producer.close().await.expect("the producer finishes");
        for (b, ack) in acks.into_iter().enumerate() {
            let ack = ack.await.expect("ack");
            assert_eq!(ack.start.seq_num, b as u64 * PER_BATCH, "ack of batch {b}");
        }
        for (i, ack) in record_acks.into_iter().enumerate() {
            let ack = ack.await.expect("record ack");
            assert_eq!(ack.seq_num, i as u64, "producer ack of record {i}");
        }
    };
    let read = async {
        let mut records: Vec<SequencedRecord> = Vec::new();
        while (records.len() as u64) < total {
            match reader.next().await {
                Some(Ok(ReadItem::Batch(batch))) => records.extend(batch.records),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("the read session failed: {e:?}"),
                None => panic!("the read session ended"),
            }
        }
        records
    };
    let ((), delivered) = futures_util::join!(write, read);
    let elapsed = started.elapsed();
    let (server, outage) = outage.over();

    check_exactly_once("read session", &delivered, &expected);
    check_exactly_once(
        "append session",
        &read_back(&session_stream).await,
        &expected,
    );
    check_exactly_once("producer", &read_back(&producer_stream).await, &expected);
    eprintln!(
        "restart: server down {outage:.1?} (from the crash to the port bound again), \
         {total} records per stream in {elapsed:.1?}, {} requests served",
        server.requests()
    );
    assert!(outage >= Duration::from_secs(30), "{outage:?}");
}

/// With the default retry settings, a unary append (conditioned, so
/// exactly once) and an idempotent call issued while the server is down
/// succeed once it is back 5 s later, each applied once.
pub async fn unary_calls_ride_out_a_short_server_restart<R: Runtime + Default>() {
    let mut server = DiskServer::start_temp().expect("disk server");
    let s2 = default_client::<R>(&server);
    let [stream] =
        <[_; 1]>::try_from(streams(&s2, &["unary"]).await).unwrap_or_else(|_| unreachable!());
    let first = input(0, 3).with_match_seq_num(0);
    stream.append(&first).await.expect("append before");

    server.stop();
    let outage = Outage::new(server, Duration::from_secs(5));
    outage.crash();
    let second = input(1, 3).with_match_seq_num(3);
    let basin = s2.basin(stream.basin_name().clone());
    let (ack, config) = futures_util::join!(
        stream.append(&second),
        basin.get_stream_config(stream.name())
    );
    let ack = ack.expect("an append across the restart succeeds");
    config.expect("an idempotent call across the restart succeeds");
    let (server, outage) = outage.over();
    assert_eq!((ack.start.seq_num, ack.end.seq_num), (3, 6));
    let expected: Vec<String> = (0..2)
        .flat_map(|b| (0..3).map(move |i| body(b, i)))
        .collect();
    check_exactly_once("unary append", &read_back(&stream).await, &expected);
    assert!(outage >= Duration::from_secs(5), "{outage:?}");
    drop(server);
}

/// With the default retry settings (a minute of retries), errors that
/// retrying cannot fix end a call or a session at its first attempt: one
/// request each reaches the server.
pub async fn unfixable_errors_fail_at_the_first_attempt<R: Runtime + Default>() {
    let server = DiskServer::start_temp().expect("disk server");
    let s2 = default_client::<R>(&server);
    let [stream] =
        <[_; 1]>::try_from(streams(&s2, &["present"]).await).unwrap_or_else(|_| unreachable!());
    let basin = s2.basin(stream.basin_name().clone());
    let missing = basin.stream(StreamName::new("missing").expect("valid name"));
    // A session's error carries the one that ended it.
    let root = |e: &Error| match e {
        Error::AppendSession { cause, .. } => (**cause).clone(),
        e => e.clone(),
    };
    // Each case: its error, and the requests it made.
    let mut attempts = Vec::new();
    let mut count = |what: &'static str, error: Error, before: u64| {
        let requests = server.requests() - before;
        eprintln!("{what}: {requests} request(s): {error}");
        attempts.push((what, requests, error));
    };

    let before = server.requests();
    let error = missing.append(&input(0, 1)).await.expect_err("missing");
    count("unary append to a missing stream", error, before);

    let before = server.requests();
    let error = missing.check_tail().await.expect_err("missing");
    count("check_tail of a missing stream", error, before);

    let before = server.requests();
    let session = missing.append_session().expect("append session");
    let ack = session.submit(input(0, 1)).await.expect("submitted");
    let error = ack.await.expect_err("missing");
    count("append session to a missing stream", error, before);
    drop(session);

    let before = server.requests();
    let error = missing
        .read_session(ReadRequest::new(ReadStart::SeqNum(0)))
        .connected()
        .await
        .err()
        .expect("missing");
    count("read session of a missing stream", error, before);

    for (what, requests, error) in &attempts {
        let error = root(error);
        assert!(
            matches!(&error, Error::Service(e) if e.status == 404),
            "{what}: {error:?}"
        );
        assert!(!error.is_retryable(), "{what}: {error:?}");
        assert_eq!(*requests, 1, "{what}: attempts");
    }

    // A failed condition too, on a stream that is there.
    let before = server.requests();
    let error = stream
        .append(&input(0, 1).with_match_seq_num(7))
        .await
        .expect_err("the condition fails");
    assert!(matches!(error, Error::AppendCondition(_)), "{error:?}");
    assert_eq!(
        server.requests() - before,
        1,
        "a failed condition: attempts"
    );
}
