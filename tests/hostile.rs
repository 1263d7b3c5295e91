//! The hostile suite: the client against a server that misbehaves on
//! purpose ([`s2_test_server::HostileServer`]). Whatever the server does,
//! each call must end within a bounded time with a typed error (or recover
//! transparently), in bounded memory, without a panic.
//!
//! Cases are async functions generic over the [`Runtime`]; each adapter
//! crate runs them all with [`hostile_tests!`](crate::hostile_tests).
//! Every case runs on its own thread under a watchdog ([`run`]), so a hang
//! fails the case after [`CASE_LIMIT`] instead of stalling CI, and cases
//! that measure memory run alone (see [`crate::alloc`]).

use std::{
    future::Future,
    sync::mpsc::{self, RecvTimeoutError},
    time::{Duration, Instant},
};

use futures_util::{
    StreamExt,
    future::{Either, select},
};
use s2_client::{
    ClientConfig, Error, Runtime, S2, S2Stream,
    config::{BackoffConfig, Compression, Endpoints},
    error::ProtocolError,
    session::ReadItem,
    types::{
        AppendInput, AppendRecord, BasinName, ListRequest, ReadLimit, ReadRequest, ReadStart,
        StreamName,
    },
};
use s2_test_server::{AckFault, Cut, ErrorBody, HostileServer, Misbehaviour, Route};

use crate::alloc;

/// Longest any case may run before it is failed as hung.
pub const CASE_LIMIT: Duration = Duration::from_secs(20);
/// Extra heap a case may peak at (the client caps bodies at 16 MiB).
pub const MEMORY_LIMIT: usize = 64 * 1024 * 1024;
/// Longest an error's text may be.
pub const DISPLAY_LIMIT: usize = 2 * 1024;
/// Deadline of one attempt of a unary call in these cases.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// Grace on top of the deadlines a call is configured with.
const SLACK: Duration = Duration::from_secs(3);

/// Whether a case measures memory, and so must run alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Runs alongside other cases.
    Shared,
    /// Runs alone: it measures the process's heap.
    Exclusive,
}

/// Runs `case` on a thread of its own and fails if it does not finish within
/// [`CASE_LIMIT`]; a panic in the case is re-raised here.
pub fn run(name: &'static str, mode: Mode, case: impl FnOnce() + Send + 'static) {
    let _guard = match mode {
        Mode::Shared => Either::Left(alloc::shared()),
        Mode::Exclusive => Either::Right(alloc::exclusive()),
    };
    let (done, finished) = mpsc::channel();
    let worker = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            case();
            let _ = done.send(());
        })
        .expect("spawn the case's thread");
    match finished.recv_timeout(CASE_LIMIT) {
        Ok(()) => {}
        Err(RecvTimeoutError::Timeout) => {
            panic!("{name}: hung, no result within {CASE_LIMIT:?}")
        }
        Err(RecvTimeoutError::Disconnected) => {
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
    }
}

/// Expands to one `#[test]` per hostile case, each run by `$block_on` on
/// runtime `$runtime` under [`run`]'s watchdog. `$allocator` is the
/// binary's [`counting_allocator!`](crate::counting_allocator).
#[macro_export]
macro_rules! hostile_tests {
    ($runtime:ty, $block_on:path, $allocator:path) => {
        $crate::hostile_tests!(@cases $runtime, $block_on, $allocator, Shared;
            garbage_unary_bodies,
            garbage_session_frames,
            append_session_ack_with_wrong_count,
            append_session_ack_going_backwards,
            append_session_ack_for_batch_never_sent,
            unary_append_ack_at_wrong_position,
            unary_read_seq_num_max,
            read_session_seq_num_max,
            unary_read_records_backwards,
            read_session_records_backwards,
            endless_page_ends_listing,
            unanswered_requests_time_out_and_reconnect,
            zero_concurrent_streams_time_out_and_reconnect,
            read_session_through_goaway,
            read_session_through_reset,
            append_session_through_goaway,
            append_session_through_reset,
            read_session_reconnect_advice_is_rate_limited,
            append_session_reconnect_advice_is_rate_limited,
            huge_retry_after_is_bounded,
            hostile_json_error_is_sanitised,
            hostile_raw_error_is_sanitised,
            hostile_terminal_frame_is_sanitised,
        );
        $crate::hostile_tests!(@cases $runtime, $block_on, $allocator, Exclusive;
            oversize_unary_body,
            empty_records_unary_read,
            empty_records_read_session_frame,
            zstd_bomb_unary_read_asked,
            zstd_bomb_unary_read_not_asked,
            gzip_bomb_unary_read_asked,
            gzip_bomb_unary_read_not_asked,
            compression_bomb_read_session_frame,
        );
    };
    (@cases $runtime:ty, $block_on:path, $allocator:path, $mode:ident;
        $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::alloc::install(&$allocator);
                $crate::hostile::run(
                    stringify!($case),
                    $crate::hostile::Mode::$mode,
                    || $block_on($crate::hostile::$case::<$runtime>()),
                );
            }
        )*
    };
}

// ---------------------------------------------------------------------------
// Set-up and checks
// ---------------------------------------------------------------------------

fn server(misbehaviour: Misbehaviour) -> HostileServer {
    HostileServer::start(misbehaviour).expect("hostile server")
}

/// Short deadlines and a small retry budget, so every case is fast.
fn config(server: &HostileServer) -> ClientConfig {
    let endpoints = Endpoints::single(&server.endpoint()).expect("endpoint");
    ClientConfig::new("token")
        .with_endpoints(endpoints)
        .with_request_timeout(REQUEST_TIMEOUT)
        .with_connect_timeout(Duration::from_secs(1))
        .with_retry(
            BackoffConfig::default()
                .with_base_delay(Duration::from_millis(10))
                .with_max_delay(Duration::from_millis(100))
                .with_max_retries(2),
        )
        .with_ack_timeout(Duration::from_secs(1))
        .with_heartbeat_timeout(Duration::from_secs(1))
}

fn client<R: Runtime + Default>(config: ClientConfig) -> S2<R> {
    S2::with_runtime(config, R::default()).expect("client")
}

fn stream_of<R: Runtime>(s2: &S2<R>) -> S2Stream<R> {
    s2.basin(BasinName::new("hostile-basin").expect("valid name"))
        .stream(StreamName::new("stream").expect("valid name"))
}

fn input(records: usize) -> AppendInput {
    AppendInput::new(
        (0..records)
            .map(|i| AppendRecord::new(format!("body-{i}")))
            .collect::<Vec<_>>(),
    )
    .expect("valid batch")
}

fn read_from_zero() -> ReadRequest {
    ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(10))
}

/// `future`'s output, or `None` if `limit` passes first.
async fn within<R: Runtime + Default, F: Future>(limit: Duration, future: F) -> Option<F::Output> {
    let sleep = R::default().sleep(limit);
    match select(Box::pin(future), sleep).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(_) => None,
    }
}

/// The error an append session failure is about.
fn root(error: &Error) -> &Error {
    match error {
        Error::AppendSession { cause, .. } => root(cause),
        other => other,
    }
}

/// A short, printable description of an error for assertion messages:
/// hostile errors must not flood or garble the test output.
fn describe(error: &Error) -> String {
    let text = format!("{error:?}");
    let mut short: String = text
        .chars()
        .take(300)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.len() > short.len() {
        short.push_str(&format!("… ({} bytes)", text.len()));
    }
    short
}

#[track_caller]
fn expect_protocol<T: std::fmt::Debug>(result: Result<T, Error>, what: &str) {
    match result {
        Err(ref e) if matches!(root(e), Error::Protocol(_)) => {}
        Err(e) => panic!("{what}: expected a protocol error, got {}", describe(&e)),
        Ok(v) => panic!("{what}: expected a protocol error, got Ok({v:?})"),
    }
}

#[track_caller]
fn expect_sanitised(error: &Error, what: &str) {
    let text = error.to_string();
    assert!(
        text.len() < DISPLAY_LIMIT,
        "{what}: error text is {} bytes, over {DISPLAY_LIMIT}: {}",
        text.len(),
        describe(error)
    );
    let raw: Vec<char> = text.chars().filter(|c| c.is_control()).collect();
    assert!(
        raw.is_empty(),
        "{what}: error text carries raw control characters {raw:?}: {}",
        describe(error)
    );
}

#[track_caller]
fn expect_peak_bounded(peak: usize, what: &str) {
    eprintln!(
        "{what}: peak {:.1} MiB over the start",
        peak as f64 / 1048576.0
    );
    assert!(
        peak < MEMORY_LIMIT,
        "{what}: peak {peak} bytes over the start, limit {MEMORY_LIMIT}"
    );
}

/// Records of a read session, checked in order and without repeats, until
/// it ends or `limit` passes; with how it ended.
async fn drain_read_session<R: Runtime + Default>(
    session: s2_client::ReadSession<R>,
    limit: Duration,
) -> (Vec<u64>, Option<Result<(), Error>>) {
    let mut seq_nums: Vec<u64> = Vec::new();
    let mut session = Box::pin(session);
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(item) = within::<R, _>(left, session.next()).await else {
            return (seq_nums, None);
        };
        match item {
            None => return (seq_nums, Some(Ok(()))),
            Some(Err(e)) => return (seq_nums, Some(Err(e))),
            Some(Ok(ReadItem::Batch(batch))) => {
                for record in batch.records {
                    if let Some(&last) = seq_nums.last() {
                        assert!(
                            record.seq_num() > last,
                            "record {} yielded after {last}",
                            record.seq_num()
                        );
                    }
                    seq_nums.push(record.seq_num());
                }
            }
            Some(Ok(_)) => {}
        }
    }
}

// ---------------------------------------------------------------------------
// Bodies that are not what they claim
// ---------------------------------------------------------------------------

/// 200s with bytes that are neither JSON nor protobuf: every unary call
/// fails with a protocol error.
pub async fn garbage_unary_bodies<R: Runtime + Default>() {
    let server = server(Misbehaviour::GarbageBody);
    let s2 = client::<R>(config(&server));
    let stream = stream_of(&s2);
    expect_protocol(stream.check_tail().await, "check_tail");
    expect_protocol(stream.read(&read_from_zero()).await, "read");
    expect_protocol(stream.append(&input(2)).await, "append");
    expect_protocol(s2.list_basins(&ListRequest::new()).await, "list_basins");
    let error = stream.read(&read_from_zero()).await.expect_err("garbage");
    expect_sanitised(&error, "error about garbage");
}

/// A session whose body is not frames fails with a typed error in time.
pub async fn garbage_session_frames<R: Runtime + Default>() {
    let server = server(Misbehaviour::GarbageBody);
    let s2 = client::<R>(config(&server));
    let session = stream_of(&s2).read_session(read_from_zero());
    let (records, end) = drain_read_session(session, Duration::from_secs(10)).await;
    assert!(records.is_empty(), "records from garbage: {records:?}");
    match end {
        Some(Err(e)) => expect_protocol::<()>(Err(e), "read session"),
        Some(Ok(())) => panic!("read session of garbage ended without an error"),
        None => panic!("read session of garbage did not end within 10 s"),
    }
}

/// A 64 MiB body on a unary read: refused at the client's 16 MiB cap, in
/// bounded memory.
pub async fn oversize_unary_body<R: Runtime + Default>() {
    let server = server(Misbehaviour::OversizeBody { bytes: 64 << 20 });
    let s2 = client::<R>(config(&server));
    let stream = stream_of(&s2);
    let (result, peak) = alloc::peak_during(stream.read(&read_from_zero())).await;
    match result {
        Err(Error::Protocol(ProtocolError::BodyTooLarge { .. })) => {}
        Err(e) => panic!("expected BodyTooLarge, got {}", describe(&e)),
        Ok(_) => panic!("a 64 MiB body was accepted"),
    }
    expect_peak_bounded(peak, "oversize body");
}

/// A read whose protobuf is ~8 million empty records (`0a 00` repeated to
/// 16 MiB): a typed error, without allocating a record struct per pair of
/// bytes.
pub async fn empty_records_unary_read<R: Runtime + Default>() {
    let server = server(Misbehaviour::EmptyRecords { bytes: 16 << 20 });
    let s2 = client::<R>(config(&server));
    let stream = stream_of(&s2);
    let (result, peak) = alloc::peak_during(stream.read(&read_from_zero())).await;
    expect_protocol(result.map(|_| ()), "read of 8M empty records");
    expect_peak_bounded(peak, "empty records");
}

/// A read session frame of 2 MiB that is all empty records (a million):
/// a typed error, in bounded memory.
pub async fn empty_records_read_session_frame<R: Runtime + Default>() {
    let server = server(Misbehaviour::EmptyRecords { bytes: 2 << 20 });
    let s2 = client::<R>(config(&server));
    let session = stream_of(&s2).read_session(read_from_zero());
    let ((records, end), peak) =
        alloc::peak_during(drain_read_session(session, Duration::from_secs(10))).await;
    assert!(
        records.len() <= 1,
        "{} records from empty records",
        records.len()
    );
    match end {
        Some(Err(e)) => expect_protocol::<()>(Err(e), "read session of empty records"),
        Some(Ok(())) => panic!("read session of empty records ended without an error"),
        None => panic!("read session of empty records did not end within 10 s"),
    }
    expect_peak_bounded(peak, "session of empty records");
}

async fn bomb_unary_read<R: Runtime + Default>(coding: Compression, asked: bool) {
    let server = server(Misbehaviour::CompressionBomb {
        coding,
        inflated: 2 << 30,
    });
    let config = config(&server).with_compression(if asked { coding } else { Compression::None });
    let s2 = client::<R>(config);
    let stream = stream_of(&s2);
    let (result, peak) = alloc::peak_during(stream.read(&read_from_zero())).await;
    expect_protocol(result.map(|_| ()), "read of a compression bomb");
    expect_peak_bounded(peak, "compression bomb");
}

/// A zstd body inflating to 2 GiB, after the client asked for zstd.
pub async fn zstd_bomb_unary_read_asked<R: Runtime + Default>() {
    bomb_unary_read::<R>(Compression::Zstd, true).await;
}

/// A zstd body inflating to 2 GiB, though the client asked for no
/// compression.
pub async fn zstd_bomb_unary_read_not_asked<R: Runtime + Default>() {
    bomb_unary_read::<R>(Compression::Zstd, false).await;
}

/// A gzip body inflating to 2 GiB, after the client asked for gzip.
pub async fn gzip_bomb_unary_read_asked<R: Runtime + Default>() {
    bomb_unary_read::<R>(Compression::Gzip, true).await;
}

/// A gzip body inflating to 2 GiB, though the client asked for no
/// compression.
pub async fn gzip_bomb_unary_read_not_asked<R: Runtime + Default>() {
    bomb_unary_read::<R>(Compression::Gzip, false).await;
}

/// A session frame under 2 MiB compressed that inflates to 2 GiB.
pub async fn compression_bomb_read_session_frame<R: Runtime + Default>() {
    let server = server(Misbehaviour::CompressionBomb {
        coding: Compression::Zstd,
        inflated: 2 << 30,
    });
    let config = config(&server).with_compression(Compression::Zstd);
    let s2 = client::<R>(config);
    let session = stream_of(&s2).read_session(read_from_zero());
    let ((records, end), peak) =
        alloc::peak_during(drain_read_session(session, Duration::from_secs(10))).await;
    assert!(records.is_empty(), "records from a bomb: {records:?}");
    match end {
        Some(Err(e)) => expect_protocol::<()>(Err(e), "read session bomb"),
        Some(Ok(())) => panic!("read session of a bomb ended without an error"),
        None => panic!("read session of a bomb did not end within 10 s"),
    }
    expect_peak_bounded(peak, "session compression bomb");
}

// ---------------------------------------------------------------------------
// Acks and records that contradict what was sent or seen
// ---------------------------------------------------------------------------

/// An ack covering one record more than the batch: the ack fails with a
/// protocol error.
pub async fn append_session_ack_with_wrong_count<R: Runtime + Default>() {
    let server = server(Misbehaviour::BadAck(AckFault::WrongCount));
    let s2 = client::<R>(config(&server));
    let session = stream_of(&s2).append_session().expect("append session");
    let ack = session.submit(input(2)).await.expect("submit");
    let result = within::<R, _>(Duration::from_secs(10), ack)
        .await
        .expect("ack resolved within 10 s");
    expect_protocol(result, "ack with a wrong count");
}

/// A second ack starting inside the first: the second batch's ack fails
/// with a protocol error.
pub async fn append_session_ack_going_backwards<R: Runtime + Default>() {
    let server = server(Misbehaviour::BadAck(AckFault::Backwards));
    let s2 = client::<R>(config(&server));
    let session = stream_of(&s2).append_session().expect("append session");
    let first = session.submit(input(2)).await.expect("submit");
    let second = session.submit(input(2)).await.expect("submit");
    let first = within::<R, _>(Duration::from_secs(10), first)
        .await
        .expect("first ack within 10 s");
    if let Err(e) = &first {
        panic!("the first ack was right, got {}", describe(e));
    }
    let second = within::<R, _>(Duration::from_secs(10), second)
        .await
        .expect("second ack within 10 s");
    expect_protocol(second, "ack going backwards");
}

/// Two acks for one batch: the second acks a batch never sent, and the
/// session must fail with a protocol error rather than ignore it.
pub async fn append_session_ack_for_batch_never_sent<R: Runtime + Default>() {
    let server = server(Misbehaviour::BadAck(AckFault::NeverSent));
    let s2 = client::<R>(config(&server));
    let session = stream_of(&s2).append_session().expect("append session");
    let ack = session.submit(input(2)).await.expect("submit");
    let ack = within::<R, _>(Duration::from_secs(10), ack)
        .await
        .expect("ack within 10 s");
    // Give the extra ack time to arrive before closing.
    R::default().sleep(Duration::from_millis(300)).await;
    let closed = within::<R, _>(Duration::from_secs(10), session.close())
        .await
        .expect("close within 10 s");
    match (ack, closed) {
        (Err(e), _) | (_, Err(e)) => expect_protocol::<()>(Err(e), "ack never sent"),
        (Ok(_), Ok(())) => panic!("an ack for a batch never sent was ignored"),
    }
}

/// A unary append with `match_seq_num = 5` acked at 12: a protocol error,
/// since a conditioned append can only land at its condition.
pub async fn unary_append_ack_at_wrong_position<R: Runtime + Default>() {
    let server = server(Misbehaviour::MisplacedUnaryAck);
    let s2 = client::<R>(config(&server));
    let result = stream_of(&s2).append(&input(2).with_match_seq_num(5)).await;
    expect_protocol(result, "unary ack at the wrong position");
}

/// A unary read batch with a record at `u64::MAX`: a protocol error, no
/// overflow.
pub async fn unary_read_seq_num_max<R: Runtime + Default>() {
    let server = server(Misbehaviour::SeqNumMax);
    let s2 = client::<R>(config(&server));
    let result = stream_of(&s2).read(&read_from_zero()).await;
    expect_protocol(result, "read of seq num u64::MAX");
}

/// A read session batch with a record at `u64::MAX`: the session ends with
/// a protocol error, no overflow.
pub async fn read_session_seq_num_max<R: Runtime + Default>() {
    let server = server(Misbehaviour::SeqNumMax);
    let s2 = client::<R>(config(&server));
    let session = stream_of(&s2).read_session(ReadRequest::new(ReadStart::SeqNum(0)));
    let (records, end) = drain_read_session(session, Duration::from_secs(10)).await;
    assert!(!records.contains(&u64::MAX), "yielded seq num u64::MAX");
    match end {
        Some(Err(e)) => expect_protocol::<()>(Err(e), "read session of seq num u64::MAX"),
        Some(Ok(())) => panic!("read session ended without an error"),
        None => panic!("read session did not end within 10 s"),
    }
}

/// A unary read batch whose records go 5, 6, 3: a protocol error.
pub async fn unary_read_records_backwards<R: Runtime + Default>() {
    let server = server(Misbehaviour::RecordsBackwards);
    let s2 = client::<R>(config(&server));
    let result = stream_of(&s2).read(&read_from_zero()).await;
    expect_protocol(result, "read of records going backwards");
}

/// A read session whose second batch repeats a record of the first: nothing
/// repeated is yielded, and the session ends with a protocol error.
pub async fn read_session_records_backwards<R: Runtime + Default>() {
    let server = server(Misbehaviour::RecordsBackwards);
    let s2 = client::<R>(config(&server));
    let session = stream_of(&s2).read_session(ReadRequest::new(ReadStart::SeqNum(0)));
    let (records, end) = drain_read_session(session, Duration::from_secs(10)).await;
    match end {
        Some(Err(e)) => expect_protocol::<()>(Err(e), "read session going backwards"),
        Some(Ok(())) => panic!("read session ended without an error"),
        None => panic!(
            "read session did not end within 10 s ({} records yielded, {} sessions)",
            records.len(),
            server.requests_on(Route::ReadSession)
        ),
    }
}

/// `list_basins` answering the same page with `has_more` forever: listing
/// everything ends with a protocol error instead of looping.
pub async fn endless_page_ends_listing<R: Runtime + Default>() {
    const MAX_ITEMS: usize = 10_000;
    let server = server(Misbehaviour::EndlessPage);
    let s2 = client::<R>(config(&server));
    let mut listing = s2.list_all_basins(ListRequest::new());
    let mut items = 0;
    let end = loop {
        match listing.next().await {
            Some(Ok(_)) if items < MAX_ITEMS => items += 1,
            Some(Ok(_)) => break None,
            Some(Err(e)) => break Some(Err(e)),
            None => break Some(Ok(())),
        }
    };
    match end {
        Some(Err(e)) => expect_protocol::<()>(Err(e), "endless listing"),
        Some(Ok(())) => panic!("endless listing ended as if complete"),
        None => panic!(
            "listing went on past {MAX_ITEMS} items from {} pages of the same 2",
            server.requests_on(Route::ListBasins)
        ),
    }
}

// ---------------------------------------------------------------------------
// Connections that stop answering
// ---------------------------------------------------------------------------

/// Calls on a connection that takes requests but never answers them end
/// within their deadline with a typed error (a timeout, or a transport
/// error when the server refuses the stream outright), and a call after a
/// timeout goes out on a new connection.
async fn times_out_and_reconnects<R: Runtime + Default>(misbehaviour: Misbehaviour) {
    let server = server(misbehaviour);
    let config = config(&server)
        .with_max_retries(0)
        // PINGs flow and are answered all along: a live connection is not a
        // working one.
        .with_keepalive_interval(Some(Duration::from_millis(200)));
    let s2 = client::<R>(config);
    let stream = stream_of(&s2);
    let mut timeouts = 0;
    let mut after_timeout: Option<u64> = None;
    for call in 1..=3 {
        let started = Instant::now();
        let result = stream.check_tail().await;
        let took = started.elapsed();
        assert!(
            took < REQUEST_TIMEOUT + SLACK,
            "call {call} took {took:?}, deadline {REQUEST_TIMEOUT:?}"
        );
        if let Some(before) = after_timeout.take() {
            assert!(
                server.connections() > before,
                "call {call} reused the connection on which call {} timed out",
                call - 1
            );
        }
        match result {
            Err(Error::Timeout(_)) => {
                timeouts += 1;
                after_timeout = Some(server.connections());
            }
            // h2 refuses a stream that arrives before the client has seen
            // SETTINGS; the request was not processed.
            Err(Error::Transport { .. }) if misbehaviour == Misbehaviour::NoStreams => {}
            Err(e) => panic!("call {call}: expected a timeout, got {}", describe(&e)),
            Ok(tail) => panic!("call {call}: answered {tail:?}"),
        }
    }
    assert!(timeouts >= 1, "no call timed out");
}

/// Requests accepted and never answered, PINGs answered.
pub async fn unanswered_requests_time_out_and_reconnect<R: Runtime + Default>() {
    times_out_and_reconnects::<R>(Misbehaviour::Unresponsive).await;
}

/// SETTINGS with `max_concurrent_streams = 0`.
pub async fn zero_concurrent_streams_time_out_and_reconnect<R: Runtime + Default>() {
    times_out_and_reconnects::<R>(Misbehaviour::NoStreams).await;
}

// ---------------------------------------------------------------------------
// Sessions cut mid-way
// ---------------------------------------------------------------------------

/// A read session cut after each batch of 2: it yields records 0..10 once
/// each and in order, or ends with a typed error; it never hangs.
async fn read_session_through<R: Runtime + Default>(cut: Cut) {
    let server = server(Misbehaviour::SessionCut(cut));
    let s2 = client::<R>(config(&server));
    let session = stream_of(&s2).read_session(read_from_zero());
    let (records, end) = drain_read_session(session, Duration::from_secs(15)).await;
    eprintln!(
        "read session through {cut:?}: {} records, {} session requests, {} connections",
        records.len(),
        server.requests_on(Route::ReadSession),
        server.connections()
    );
    match end {
        Some(Ok(())) => assert_eq!(records, (0..10).collect::<Vec<_>>()),
        Some(Err(e)) => assert!(
            !matches!(e, Error::Closed { .. }),
            "untyped end: {}",
            describe(&e)
        ),
        None => panic!("read session hung after {} records", records.len()),
    }
}

/// GOAWAY (and the connection closed) after each read session batch.
pub async fn read_session_through_goaway<R: Runtime + Default>() {
    read_session_through::<R>(Cut::GoAway).await;
}

/// RST_STREAM after each read session batch.
pub async fn read_session_through_reset<R: Runtime + Default>() {
    read_session_through::<R>(Cut::Reset).await;
}

/// An append session cut on each connection's second input: every ack
/// resolves, each either at its place or with a typed error; no hang.
async fn append_session_through<R: Runtime + Default>(cut: Cut) {
    let server = server(Misbehaviour::SessionCut(cut));
    let s2 = client::<R>(config(&server));
    let session = stream_of(&s2).append_session().expect("append session");
    let mut acks = Vec::new();
    for _ in 0..4 {
        match session.submit(input(2)).await {
            Ok(ack) => acks.push(ack),
            Err(e) => {
                assert!(
                    !matches!(e, Error::Closed { .. }),
                    "submit: {}",
                    describe(&e)
                );
                break;
            }
        }
    }
    let mut landed = 0;
    for (i, ack) in acks.into_iter().enumerate() {
        let result = within::<R, _>(Duration::from_secs(10), ack)
            .await
            .unwrap_or_else(|| panic!("ack {i} hung"));
        match result {
            Ok(ack) => {
                assert_eq!(ack.start.seq_num, 2 * i as u64, "ack {i} position");
                landed += 1;
            }
            // The first input is acked before the cut: it must land.
            Err(e) if i == 0 => panic!("ack 0 was sent before the cut: {}", describe(&e)),
            Err(e) => {
                eprintln!("ack {i}: {}", describe(&e));
                assert!(
                    e.is_retryable()
                        || matches!(root(&e), Error::Transport { .. } | Error::Timeout(_)),
                    "ack {i}: {}",
                    describe(&e)
                );
            }
        }
    }
    let _ = within::<R, _>(Duration::from_secs(5), session.close())
        .await
        .expect("close hung");
    eprintln!(
        "append session through {cut:?}: {landed} of 4 acked, {} session requests, {} connections",
        server.requests_on(Route::AppendSession),
        server.connections()
    );
}

/// GOAWAY (and the connection closed) on each append session's second
/// input.
pub async fn append_session_through_goaway<R: Runtime + Default>() {
    append_session_through::<R>(Cut::GoAway).await;
}

/// RST_STREAM on each append session's second input.
pub async fn append_session_through_reset<R: Runtime + Default>() {
    append_session_through::<R>(Cut::Reset).await;
}

// ---------------------------------------------------------------------------
// Reconnect advice on every frame
// ---------------------------------------------------------------------------

/// Most session requests allowed in [`ADVICE_WINDOW`] when every frame
/// advises reconnecting: a reconnect every few hundred milliseconds at most.
const MAX_ADVISED_SESSIONS: u64 = 10;
const ADVICE_WINDOW: Duration = Duration::from_secs(3);

/// A read session told to reconnect on every frame keeps yielding records
/// in order without reconnecting in a tight loop.
pub async fn read_session_reconnect_advice_is_rate_limited<R: Runtime + Default>() {
    let server = server(Misbehaviour::ReconnectAdvice);
    let s2 = client::<R>(config(&server));
    let session = stream_of(&s2).read_session(ReadRequest::new(ReadStart::SeqNum(0)));
    let (records, end) = drain_read_session(session, ADVICE_WINDOW).await;
    let sessions = server.requests_on(Route::ReadSession);
    eprintln!(
        "reconnect advice: {} records, {sessions} read sessions, {} connections in {ADVICE_WINDOW:?}",
        records.len(),
        server.connections()
    );
    if let Some(end) = end {
        panic!("read session ended: {:?}", end.map_err(|e| describe(&e)));
    }
    assert_eq!(records, (0..records.len() as u64).collect::<Vec<_>>());
    assert!(!records.is_empty(), "no records while advised to reconnect");
    assert!(
        sessions <= MAX_ADVISED_SESSIONS,
        "{sessions} read sessions in {ADVICE_WINDOW:?}: reconnecting in a tight loop"
    );
}

/// An append session whose every ack advises reconnecting keeps acking in
/// order without reconnecting in a tight loop.
pub async fn append_session_reconnect_advice_is_rate_limited<R: Runtime + Default>() {
    let server = server(Misbehaviour::ReconnectAdvice);
    let s2 = client::<R>(config(&server));
    let session = stream_of(&s2).append_session().expect("append session");
    let started = Instant::now();
    let mut acks = Vec::new();
    while started.elapsed() < ADVICE_WINDOW {
        acks.push(session.submit(input(1)).await.expect("submit"));
        R::default().sleep(Duration::from_millis(20)).await;
    }
    for (i, ack) in acks.into_iter().enumerate() {
        let ack = within::<R, _>(Duration::from_secs(5), ack)
            .await
            .unwrap_or_else(|| panic!("ack {i} hung"))
            .unwrap_or_else(|e| panic!("ack {i}: {}", describe(&e)));
        assert_eq!(ack.start.seq_num, i as u64, "ack {i} position");
    }
    let sessions = server.requests_on(Route::AppendSession);
    eprintln!(
        "reconnect advice: {sessions} append sessions, {} connections",
        server.connections()
    );
    assert!(
        sessions <= MAX_ADVISED_SESSIONS,
        "{sessions} append sessions in {ADVICE_WINDOW:?}: reconnecting in a tight loop"
    );
}

// ---------------------------------------------------------------------------
// Hostile error responses
// ---------------------------------------------------------------------------

/// A 503 asking to retry after `u64::MAX` ms: the call neither sleeps
/// forever nor overflows; it ends within the retry budget's time.
pub async fn huge_retry_after_is_bounded<R: Runtime + Default>() {
    let server = server(Misbehaviour::RetryAfter { millis: u64::MAX });
    let s2 = client::<R>(config(&server));
    let started = Instant::now();
    let result = within::<R, _>(Duration::from_secs(10), stream_of(&s2).check_tail())
        .await
        .expect("a huge retry-after made the call wait past 10 s");
    match result {
        Err(Error::Service(e)) => assert_eq!(e.status, 503),
        Err(e) => panic!("expected the 503, got {}", describe(&e)),
        Ok(tail) => panic!("answered {tail:?}"),
    }
    eprintln!("huge retry-after: ended after {:?}", started.elapsed());
}

async fn hostile_unary_error<R: Runtime + Default>(shape: ErrorBody) {
    let server = server(Misbehaviour::HostileErrorBody(shape));
    let s2 = client::<R>(config(&server));
    let error = stream_of(&s2)
        .check_tail()
        .await
        .expect_err("a 400 is an error");
    expect_sanitised(&error, "unary error");
}

/// A JSON error with a 1 MB message full of CR, LF and ANSI escapes: the
/// error's text is short and has no control characters.
pub async fn hostile_json_error_is_sanitised<R: Runtime + Default>() {
    hostile_unary_error::<R>(ErrorBody::Json).await;
}

/// The same text as a raw (non-JSON) error body.
pub async fn hostile_raw_error_is_sanitised<R: Runtime + Default>() {
    hostile_unary_error::<R>(ErrorBody::Raw).await;
}

/// The same text in a session's terminal frame.
pub async fn hostile_terminal_frame_is_sanitised<R: Runtime + Default>() {
    let server = server(Misbehaviour::HostileErrorBody(ErrorBody::Json));
    let s2 = client::<R>(config(&server));
    let session = stream_of(&s2).read_session(read_from_zero());
    let (_, end) = drain_read_session(session, Duration::from_secs(10)).await;
    match end {
        Some(Err(e)) => expect_sanitised(&e, "terminal frame error"),
        other => panic!(
            "expected the terminal frame's error, got {:?}",
            other.map(|r| r.map_err(|e| describe(&e)))
        ),
    }
}
