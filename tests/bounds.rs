//! Bounds that need a real server: deadlines of unary reads that long-poll.

use std::time::{Duration, Instant};

use s2_client::{
    Runtime, S2,
    types::{AppendInput, AppendRecord, ReadOutput, ReadRequest, ReadStart},
};

use crate::{config, fresh_stream};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// A client with a short request timeout and no retries, so a read that
/// outlives its deadline shows as `Timeout` instead of being retried.
fn short_timeout_client<R: Runtime + Default>() -> S2<R> {
    let config = config()
        .with_request_timeout(REQUEST_TIMEOUT)
        .with_max_retries(0);
    S2::with_runtime(config, R::default()).expect("client")
}

/// A read at the tail whose `wait` is twice the request timeout comes back
/// empty when nothing is appended, instead of timing out.
pub async fn unary_read_waits_past_the_request_timeout<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "wait").await;
    let stream = short_timeout_client::<R>()
        .basin(stream.basin_name().clone())
        .stream(stream.name().clone());
    let wait = 2 * REQUEST_TIMEOUT;
    let started = Instant::now();
    let out = stream
        .read(&ReadRequest::new(ReadStart::SeqNum(0)).with_wait_secs(wait.as_secs() as u32))
        .await
        .expect("a long poll that finds nothing is not an error");
    match out {
        ReadOutput::Batch(batch) => assert!(batch.records.is_empty(), "{batch:?}"),
        ReadOutput::Tail(tail) => assert_eq!(tail.seq_num, 0),
    }
    assert!(
        started.elapsed() >= REQUEST_TIMEOUT,
        "the server answered after {:?}, before the plain deadline: the case proves nothing",
        started.elapsed()
    );
}

/// A record appended while a unary read long-polls at the tail is
/// returned by that read, even after the plain request timeout passed.
pub async fn unary_read_wait_returns_a_record_appended_meanwhile<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "wait-append").await;
    let reader = short_timeout_client::<R>()
        .basin(stream.basin_name().clone())
        .stream(stream.name().clone());
    let request = ReadRequest::new(ReadStart::SeqNum(0)).with_wait_secs(4);
    let read = reader.read(&request);
    let append = async {
        R::default()
            .sleep(REQUEST_TIMEOUT + REQUEST_TIMEOUT / 2)
            .await;
        stream
            .append(&AppendInput::new(vec![AppendRecord::new("late")]).expect("batch"))
            .await
            .expect("append during the wait")
    };
    let (out, ack) = futures_util::future::join(read, append).await;
    assert_eq!(ack.start.seq_num, 0);
    let records = out
        .expect("the read returns the appended record")
        .into_records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].seq_num(), 0);
    assert_eq!(&records[0].body()[..], b"late");
}
