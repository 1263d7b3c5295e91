//! A runtime that shuts down drops the client's tasks under handles that
//! outlive it: those handles fail promptly rather than wait forever.

use std::{future::Future, time::Duration};

use s2_tokio::{
    S2Stream, TokioRuntime,
    config::BatcherConfig,
    types::{AppendInput, AppendRecord},
};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Runs `setup` on a fresh stream on one runtime, shuts that runtime down
/// (dropping every task it ran, the client's among them), then runs
/// `check` on another with what `setup` returned.
fn across_a_shutdown<T, S, C>(setup: impl FnOnce(S2Stream) -> S, check: impl FnOnce(T) -> C)
where
    S: Future<Output = T>,
    C: Future<Output = ()>,
{
    let first = runtime();
    let kept = first.block_on(async {
        let s2 = s2_conformance::client::<TokioRuntime>();
        setup(s2_conformance::fresh_stream(&s2, "shutdown").await).await
    });
    drop(first);
    runtime().block_on(check(kept));
}

#[test]
fn a_producer_whose_runtime_shut_down_answers_its_records_and_takes_no_more() {
    across_a_shutdown(
        |stream| async move {
            // A long linger keeps the record in the batch being filled.
            let linger = BatcherConfig::default().with_linger(Some(Duration::from_secs(600)));
            let producer = stream.producer(linger).expect("producer");
            let held = producer
                .submit(AppendRecord::new("held"))
                .await
                .expect("submitted");
            (producer, held)
        },
        |(producer, held)| async move {
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
        },
    );
}

#[test]
fn an_append_session_whose_runtime_shut_down_takes_no_more() {
    across_a_shutdown(
        |stream| async move {
            let session = stream.append_session().expect("append session");
            let input = AppendInput::new(vec![AppendRecord::new("first")]).expect("input");
            let ack = session.submit(input).await.expect("submitted");
            let acked = ack.await;
            assert!(acked.is_ok(), "acked before the shutdown: {acked:?}");
            session
        },
        |session| async move {
            let late = async {
                let input = AppendInput::new(vec![AppendRecord::new("late")]).expect("input");
                session.submit(input).await?.await
            };
            let answer = tokio::time::timeout(Duration::from_secs(5), late).await;
            assert!(
                matches!(answer, Ok(Err(_))),
                "an input submitted after the driver is gone fails: {answer:?}"
            );
        },
    );
}
