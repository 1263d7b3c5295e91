//! A runtime that shuts down drops the client's tasks under handles that
//! outlive it: those handles fail promptly rather than wait forever.

use std::time::Duration;

use s2_tokio::{
    BatcherConfig, TokioRuntime,
    types::{AppendInput, AppendRecord},
};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

#[test]
fn a_producer_whose_runtime_shut_down_answers_its_records_and_takes_no_more() {
    let first = runtime();
    let (producer, held) = first.block_on(async {
        let s2 = s2_conformance::client::<TokioRuntime>();
        let stream = s2_conformance::fresh_stream(&s2, "shutdown").await;
        // A long linger keeps the record in the batch being filled.
        let linger = BatcherConfig::default().with_linger(Some(Duration::from_secs(600)));
        let producer = stream.producer(linger).expect("producer");
        let held = producer
            .submit(AppendRecord::new("held"))
            .await
            .expect("submitted");
        (producer, held)
    });
    // Drops every task of the runtime, the producer's driver among them.
    drop(first);

    let second = runtime();
    second.block_on(async {
        let answer = tokio::time::timeout(Duration::from_secs(5), held).await;
        assert!(
            matches!(answer, Ok(Err(_))),
            "the held record is answered with an error, not left waiting: {answer:?}"
        );
        let submit = tokio::time::timeout(
            Duration::from_secs(5),
            producer.submit(AppendRecord::new("late")),
        )
        .await;
        assert!(
            matches!(submit, Ok(Err(_))),
            "a record submitted after the driver is gone is refused: {:?}",
            submit.map(|r| r.map(|f| f.id()))
        );
    });
}

#[test]
fn an_append_session_whose_runtime_shut_down_takes_no_more() {
    let first = runtime();
    let (session, acked) = first.block_on(async {
        let s2 = s2_conformance::client::<TokioRuntime>();
        let stream = s2_conformance::fresh_stream(&s2, "shutdown").await;
        let session = stream.append_session_handle();
        let input = AppendInput::new(vec![AppendRecord::new("first")]).expect("input");
        let ack = session.submit(input).await.expect("submitted");
        (session, ack.await)
    });
    assert!(acked.is_ok(), "acked before the shutdown: {acked:?}");
    drop(first);

    let second = runtime();
    second.block_on(async {
        let late = async {
            let input = AppendInput::new(vec![AppendRecord::new("late")]).expect("input");
            session.submit(input).await?.await
        };
        let answer = tokio::time::timeout(Duration::from_secs(5), late).await;
        assert!(
            matches!(answer, Ok(Err(_))),
            "an input submitted after the driver is gone fails: {answer:?}"
        );
    });
}
