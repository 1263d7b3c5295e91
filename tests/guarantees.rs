//! Delivery guarantees at the edges: unary appends whose first attempt's
//! outcome is unknown, submits cancelled at any moment, and per-record
//! errors of the producer. Every case compares what the client said with
//! what the stream holds.

use std::{collections::HashMap, future::Future, pin::Pin, time::Duration};

use bytes::Bytes;
use futures_util::{
    StreamExt,
    future::{Either, join, select},
};
use s2_client::{
    ClientConfig, Error, Runtime, S2, S2Stream,
    config::{AppendRetryPolicy, BackoffConfig, BatcherConfig, Endpoints},
    session::ReadItem,
    types::{
        AppendInput, AppendRecord, CommandRecord, FencingToken, ReadLimit, ReadRequest, ReadStart,
        SequencedRecord,
    },
};
use s2_test_server::FaultProxy;

use crate::{config, fresh_stream};

/// A client through `proxy` whose unary calls time out after 700 ms and are
/// retried after 50 ms.
fn stalled_client<R: Runtime + Default>(
    proxy: &FaultProxy,
    policy: AppendRetryPolicy,
    stream: &S2Stream<R>,
) -> S2Stream<R> {
    let config: ClientConfig = config()
        .with_endpoints(Endpoints::single(&proxy.endpoint()).expect("endpoint"))
        .with_request_timeout(Duration::from_millis(700))
        .with_append_retry_policy(policy)
        .with_retry(
            BackoffConfig::default()
                .with_max_retries(6)
                .with_base_delay(Duration::from_millis(50)),
        );
    S2::<R>::with_runtime(config, R::default())
        .expect("client")
        .basin(stream.basin_name().clone())
        .stream(stream.name().clone())
}

fn sleep<R: Runtime + Default>(duration: Duration) -> impl Future<Output = ()> {
    R::default().sleep(duration)
}

fn token(name: &str) -> FencingToken {
    FencingToken::new(name).expect("token")
}

fn fence(name: &str) -> AppendInput {
    AppendInput::new(vec![CommandRecord::fence(token(name))]).expect("fence batch")
}

async fn read_all<R: Runtime>(stream: &S2Stream<R>) -> Vec<SequencedRecord> {
    let tail = stream.check_tail().await.expect("tail").seq_num;
    let mut records = Vec::with_capacity(tail as usize);
    if tail == 0 {
        return records;
    }
    let mut session = stream
        .read_session(ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(tail)));
    while let Some(item) = session.next().await {
        if let ReadItem::Batch(batch) = item.expect("read back") {
            records.extend(batch.records);
        }
    }
    records
}

/// Holds the server's answers back for 1 s (the first attempt lands, its
/// response is lost, the retry follows at ~750 ms), and fences the stream
/// with another token at 300 ms, between the two attempts.
async fn append_fenced_meanwhile<R: Runtime + Default>(
    proxy: &FaultProxy,
    direct: &S2Stream<R>,
    faulty: &S2Stream<R>,
    input: &AppendInput,
) -> Result<s2_client::types::AppendAck, Error> {
    // Warm the connection up so the first attempt is sent at once.
    faulty.check_tail().await.expect("tail");
    proxy.stall_responses(Duration::from_millis(1000));
    let fence_meanwhile = async {
        sleep::<R>(Duration::from_millis(300)).await;
        direct.append(&fence("writer-2")).await.expect("fence");
    };
    join(faulty.append(input), fence_meanwhile).await.0
}

/// A unary append (fencing token, no `match_seq_num`) lands, its response is
/// lost, another writer fences, and the retry meets a fencing mismatch. The
/// batch is in the stream, so the client must not answer "condition failed,
/// nothing applied": it cannot tell, and says the outcome is unknown.
pub async fn fenced_retry_after_unknown_outcome_is_not_no_effect<R: Runtime + Default>(s2: S2<R>) {
    let Some(proxy) = crate::proxy() else { return };
    let direct = fresh_stream(&s2, "fenceuo").await;
    direct.append(&fence("writer-1")).await.expect("fence");
    let faulty = stalled_client(&proxy, AppendRetryPolicy::All, &direct);
    let input = AppendInput::new(vec![AppendRecord::new("mine")])
        .expect("batch")
        .with_fencing_token(token("writer-1"));
    let result = append_fenced_meanwhile(&proxy, &direct, &faulty, &input).await;
    // The situation is the one described: the batch landed before the fence.
    let bodies: Vec<Bytes> = read_all(&direct)
        .await
        .into_iter()
        .map(|r| r.into_body())
        .collect();
    assert_eq!(bodies[1], "mine", "the first attempt landed: {bodies:?}");
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    let error = result.expect_err("a fenced stream refuses the retry");
    assert!(
        error.may_have_side_effect(),
        "the batch landed, but the error claims nothing happened: {error:?}"
    );
    assert!(!matches!(error, Error::AppendCondition(_)), "{error:?}");
}

/// The same with `match_seq_num`: the batch is read back where it had to
/// land and acknowledged, with the ack the service would have sent.
pub async fn fenced_retry_with_match_seq_num_is_resolved<R: Runtime + Default>(s2: S2<R>) {
    let Some(proxy) = crate::proxy() else { return };
    let direct = fresh_stream(&s2, "fencems").await;
    direct.append(&fence("writer-1")).await.expect("fence");
    let faulty = stalled_client(&proxy, AppendRetryPolicy::All, &direct);
    let input = AppendInput::new(vec![AppendRecord::new("one"), AppendRecord::new("two")])
        .expect("batch")
        .with_fencing_token(token("writer-1"))
        .with_match_seq_num(1);
    let ack = append_fenced_meanwhile(&proxy, &direct, &faulty, &input)
        .await
        .expect("the landed batch is confirmed");
    let read = read_all(&direct).await;
    let tail = direct.check_tail().await.expect("tail");
    assert_eq!(read.len(), 4);
    assert_eq!(
        (read[1].body().as_ref(), read[2].body().as_ref()),
        (&b"one"[..], &b"two"[..])
    );
    assert_eq!(ack.start, read[1].position());
    assert_eq!(
        (ack.end.seq_num, ack.end.timestamp),
        (3, read[2].timestamp())
    );
    assert_eq!(ack.tail, tail);
}

/// A conditioned unary append held back (with its retry) while another
/// writer takes its position: the read-back proves it never landed, so the
/// caller gets the condition failure, "nothing applied", which is true.
pub async fn conditioned_retry_behind_another_writer_is_not_applied<R: Runtime + Default>(
    s2: S2<R>,
) {
    let Some(proxy) = crate::proxy() else { return };
    let direct = fresh_stream(&s2, "behind").await;
    let faulty = stalled_client(&proxy, AppendRetryPolicy::All, &direct);
    faulty.check_tail().await.expect("tail");
    // Requests and answers held back: both attempts reach the server after
    // the other writer's append.
    proxy.stall(Duration::from_millis(1000));
    let input = AppendInput::new(vec![AppendRecord::new("mine")])
        .expect("batch")
        .with_match_seq_num(0);
    let theirs = async {
        sleep::<R>(Duration::from_millis(300)).await;
        let batch = AppendInput::new(vec![AppendRecord::new("theirs")]).expect("batch");
        direct.append(&batch).await.expect("other writer");
    };
    let error = join(faulty.append(&input), theirs)
        .await
        .0
        .expect_err("the position is taken");
    assert!(
        matches!(
            error,
            Error::AppendCondition(s2_client::error::AppendConditionFailed::SeqNumMismatch {
                expected: 1
            })
        ),
        "{error:?}"
    );
    assert!(!error.may_have_side_effect());
    let bodies: Vec<Bytes> = read_all(&direct)
        .await
        .into_iter()
        .map(|r| r.into_body())
        .collect();
    assert_eq!(bodies, vec![Bytes::from_static(b"theirs")]);
}

/// Under `NoSideEffects` a unary append whose outcome is unknown is not
/// retried: the caller hears "unknown", and the batch is there once.
pub async fn no_side_effects_unary_never_retries_unknown_outcome<R: Runtime + Default>(s2: S2<R>) {
    let Some(proxy) = crate::proxy() else { return };
    let direct = fresh_stream(&s2, "nseuo").await;
    let faulty = stalled_client(&proxy, AppendRetryPolicy::NoSideEffects, &direct);
    faulty.check_tail().await.expect("tail");
    proxy.stall_responses(Duration::from_millis(1000));
    let input = AppendInput::new(vec![AppendRecord::new("once")]).expect("batch");
    let error = faulty.append(&input).await.expect_err("the answer is lost");
    assert!(error.may_have_side_effect(), "{error:?}");
    // Give a retry, had there been one, time to land.
    sleep::<R>(Duration::from_millis(1200)).await;
    let bodies: Vec<Bytes> = read_all(&direct)
        .await
        .into_iter()
        .map(|r| r.into_body())
        .collect();
    assert_eq!(bodies, vec![Bytes::from_static(b"once")]);
}

/// A timer of up to `max_micros`, drawn at random.
fn random_timer<R: Runtime + Default>(max_micros: u64) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(sleep::<R>(Duration::from_micros(
        rand::random::<u64>() % max_micros,
    )))
}

/// A client whose sessions take at most ~3 small batches unacknowledged,
/// so submits wait for capacity most of the time.
fn cramped_client<R: Runtime + Default>() -> S2<R> {
    let config = config().with_max_unacked_bytes(24 * 1024);
    S2::with_runtime(config, R::default()).expect("client")
}

fn body(batch: usize, record: usize) -> String {
    format!("c{batch:05}-{record:02}-{}", "x".repeat(800))
}

/// Submits under backpressure, each one raced against a random timer that
/// wins whenever both are ready: a cancelled submit must not have submitted
/// anything. Every batch in the stream had its `AckFuture` handed out, and
/// lies where its ack says, once.
pub async fn cancelled_submits_never_land_unacknowledged<R: Runtime + Default>(_s2: S2<R>) {
    let s2 = cramped_client::<R>();
    let stream = fresh_stream(&s2, "cancelsub").await;
    let session = stream.append_session().expect("append session");
    let mut acks = Vec::new();
    let mut cancelled = 0;
    for b in 0..600 {
        let mut input = AppendInput::new(
            (0..8)
                .map(|r| AppendRecord::new(body(b, r)))
                .collect::<Vec<_>>(),
        )
        .expect("batch");
        if b == 0 {
            // Conditioned: a resubmission would land at the next position.
            input = input.with_match_seq_num(0);
        }
        match select(random_timer::<R>(3000), Box::pin(session.submit(input))).await {
            Either::Left(_) => cancelled += 1,
            Either::Right((submitted, _)) => acks.push((b, submitted.expect("submit"))),
        }
    }
    session.close().await.expect("close");
    let read = read_all(&stream).await;
    let mut landed: HashMap<String, usize> = HashMap::new();
    for record in &read {
        let batch = String::from_utf8_lossy(&record.body()[..6]).into_owned();
        *landed.entry(batch).or_default() += 1;
    }
    let mut next = 0;
    for (b, ack) in acks.iter_mut() {
        let ack = ack.await.expect("ack");
        assert_eq!(ack.start.seq_num, next, "acks are contiguous");
        next = ack.end.seq_num;
        let key = format!("c{b:05}");
        assert_eq!(landed.remove(&key), Some(8), "batch {b} landed once");
        assert_eq!(
            read[ack.start.seq_num as usize].body(),
            body(*b, 0).as_bytes()
        );
    }
    eprintln!(
        "cancelled submits: {} submitted, {cancelled} cancelled, {} landed without an ack",
        acks.len(),
        landed.len()
    );
    assert!(landed.is_empty(), "landed without an AckFuture: {landed:?}");
    assert!(cancelled > 0 && !acks.is_empty());
}

/// The producer's `submit` under the same races: every record in the stream
/// had its `RecordAckFuture` handed out, and its ack says where it is.
pub async fn cancelled_producer_submits_never_land_unacknowledged<R: Runtime + Default>(
    _s2: S2<R>,
) {
    let s2 = cramped_client::<R>();
    let stream = fresh_stream(&s2, "cancelprod").await;
    let producer = stream
        .producer(
            BatcherConfig::default()
                .with_max_records(8)
                .with_linger(Some(Duration::from_millis(1))),
        )
        .expect("producer");
    let mut acks = Vec::new();
    let mut cancelled = 0;
    for i in 0..3000 {
        let record = AppendRecord::new(body(i, 0));
        match select(random_timer::<R>(500), Box::pin(producer.submit(record))).await {
            Either::Left(_) => cancelled += 1,
            Either::Right((submitted, _)) => acks.push((i, submitted.expect("submit"))),
        }
    }
    producer.close().await.expect("close");
    let read = read_all(&stream).await;
    let mut landed: HashMap<Bytes, usize> = HashMap::new();
    for record in &read {
        *landed.entry(record.body().clone()).or_default() += 1;
    }
    for (i, ack) in acks.iter_mut() {
        let ack = ack.await.expect("record ack");
        let body = Bytes::from(body(*i, 0));
        assert_eq!(*read[ack.seq_num as usize].body(), body);
        assert_eq!(landed.remove(&body), Some(1), "record {i} landed once");
    }
    eprintln!(
        "cancelled producer submits: {} submitted, {cancelled} cancelled, {} landed without an ack",
        acks.len(),
        landed.len()
    );
    assert!(
        landed.is_empty(),
        "{} records landed without a future",
        landed.len()
    );
    assert!(cancelled > 0 && !acks.is_empty());
}

/// A producer whose session fails (cuts with unconditioned batches in
/// flight under `NoSideEffects`): each record's own future says whether
/// that record may have been applied. A record said not applied is not in
/// the stream; an acked record is where its ack says.
pub async fn producer_record_errors_say_what_landed<R: Runtime + Default>(s2: S2<R>) {
    let Some(proxy) = crate::proxy() else { return };
    let direct = fresh_stream(&s2, "precerr").await;
    let config: ClientConfig = config()
        .with_endpoints(Endpoints::single(&proxy.endpoint()).expect("endpoint"))
        .with_append_retry_policy(AppendRetryPolicy::NoSideEffects)
        .with_retry(BackoffConfig::default().with_base_delay(Duration::from_millis(10)));
    let faulty = S2::<R>::with_runtime(config, R::default())
        .expect("client")
        .basin(direct.basin_name().clone())
        .stream(direct.name().clone());
    // No linger: a batch closes when full, so records cut off mid-batch
    // stay in the producer until the session's failure answers them.
    let producer = faulty
        .producer(
            BatcherConfig::default()
                .with_max_records(10)
                .with_linger(None),
        )
        .expect("producer");
    let mut futures = Vec::new();
    for i in 0..20_000 {
        match producer.submit(AppendRecord::new(format!("r{i:06}"))).await {
            Ok(ack) => futures.push((i, ack)),
            Err(_) => break,
        }
        if i == 0 {
            // The connection is up before the first cut.
            producer.flush().await.expect("first record");
        }
        // Mid-batch: the open batch holds records when the session fails.
        if i % 500 == 255 {
            // Submits do not wait while there is room: give the driver time
            // to put batches on the wire, then cut under them.
            sleep::<R>(Duration::from_millis(1)).await;
            proxy.cut();
            // Nothing more joins the open batch (records 250.. of this
            // round) before the session has heard of the cut: if it fails
            // for it, they were certainly not applied.
            sleep::<R>(Duration::from_millis(200)).await;
        }
    }
    let _ = producer.close().await;
    let read = read_all(&direct).await;
    let in_stream: HashMap<Bytes, u64> = read
        .iter()
        .map(|r| (r.body().clone(), r.seq_num()))
        .collect();
    let (mut acked, mut maybe, mut not_applied) = (0, 0, 0);
    for (i, ack) in futures {
        let body = Bytes::from(format!("r{i:06}"));
        match ack.await {
            Ok(ack) => {
                acked += 1;
                assert_eq!(in_stream.get(&body), Some(&ack.seq_num), "record {i}");
            }
            Err(e) if e.may_have_side_effect() => maybe += 1,
            Err(e) => {
                not_applied += 1;
                assert!(
                    !in_stream.contains_key(&body),
                    "record {i} is in the stream, but its error says not applied: {e}"
                );
            }
        }
    }
    eprintln!(
        "producer record errors: {acked} acked, {maybe} maybe applied, {not_applied} not applied"
    );
    assert!(maybe + not_applied > 0, "the session never failed");
    assert!(
        not_applied > 0,
        "records queued behind the failure were not applied"
    );
}

/// A refused input in an append session's input stream ends the stream with
/// its error only after the acks of every batch submitted before it: a
/// caller never loses the ack of a batch that landed.
pub async fn refused_input_comes_after_the_acks_before_it<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "refused-input").await;
    let mut inputs: Vec<AppendInput> = (0..5)
        .map(|i| AppendInput::new(vec![AppendRecord::new(format!("r{i}"))]).expect("valid"))
        .collect();
    inputs.push(
        AppendInput::new(vec![AppendRecord::new("overflows")])
            .expect("valid")
            .with_match_seq_num(u64::MAX),
    );
    let items: Vec<_> = stream
        .append_all(futures_util::stream::iter(inputs))
        .expect("append session")
        .collect()
        .await;
    let acked: Vec<u64> = items
        .iter()
        .filter_map(|item| item.as_ref().ok().map(|ack| ack.start.seq_num))
        .collect();
    assert_eq!(
        acked,
        vec![0, 1, 2, 3, 4],
        "every landed batch is acked: {items:?}"
    );
    assert!(
        matches!(items.last(), Some(Err(Error::Validation(_)))),
        "the refusal ends the stream: {items:?}"
    );
    assert_eq!(stream.check_tail().await.expect("tail").seq_num, 5);
}
