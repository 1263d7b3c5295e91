//! The producer: a sequence number per record, flush and close, and a
//! small cap without linger.

use std::time::Duration;

use s2_client::{
    Error, Runtime, S2,
    config::{AppendSessionOptions, BatcherConfig},
    types::AppendRecord,
};

use crate::{
    fresh_stream,
    support::{MIB, read_all},
};

/// The producer acks every record with its own sequence number; flush waits
/// for durability; close drains.
pub async fn producer_acks_each_record<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "prod").await;
    let producer = stream
        .producer(
            s2_client::config::BatcherConfig::default()
                .with_max_records(10)
                .with_linger(Some(Duration::from_millis(5))),
        )
        .expect("producer");
    let mut acks = Vec::new();
    for i in 0..95 {
        acks.push(
            producer
                .submit(AppendRecord::new(format!("p{i}")))
                .await
                .expect("submit"),
        );
    }
    producer.flush().await.expect("flush");
    assert_eq!(stream.check_tail().await.expect("tail").seq_num, 95);
    for (i, ack) in acks.into_iter().enumerate() {
        let ack = ack.await.expect("record ack");
        assert_eq!(ack.seq_num, i as u64);
        assert!(ack.batch.record_count() <= 10);
    }
    // Linger sends a lone record without a flush.
    let lone = producer
        .submit(AppendRecord::new("lone"))
        .await
        .expect("submit");
    assert_eq!(lone.await.expect("lingered ack").seq_num, 95);
    // A record that can never be sent is refused; the producer goes on.
    let err = producer
        .submit(AppendRecord::new(vec![0u8; 2 * 1024 * 1024]))
        .await
        .expect_err("oversize record refused");
    assert!(matches!(err, Error::Validation(_)));
    let last = producer
        .submit(AppendRecord::new("last"))
        .await
        .expect("submit");
    producer.close().await.expect("close");
    assert_eq!(last.await.expect("ack").seq_num, 96);
    let records = read_all(&stream).await;
    assert_eq!(records.len(), 97);
}

/// A producer on a session cap of one full batch, with no linger, and
/// records so big that two never share a batch: every record is acknowledged. (A
/// producer capped at the session's 1 MiB alone would wait forever for room
/// for the record that closes the open batch.)
pub async fn a_producer_on_a_small_cap_without_linger_never_waits_forever<R: Runtime + Default>(
    s2: S2<R>,
) {
    let stream = crate::fresh_stream(&s2, "small-cap").await;
    let options = AppendSessionOptions::new().with_max_unacked_bytes(MIB);
    let producer = stream
        .producer_with(BatcherConfig::default().with_linger(None), &options)
        .expect("producer");
    let body = bytes::Bytes::from(vec![b'x'; 600 * 1024]);
    let acks = async {
        let mut acks = Vec::new();
        for _ in 0..3 {
            acks.push(
                producer
                    .submit(AppendRecord::new(body.clone()))
                    .await
                    .expect("submit"),
            );
        }
        producer.flush().await.expect("flush");
        let mut seq_nums = Vec::new();
        for ack in acks {
            seq_nums.push(ack.await.expect("ack").seq_num);
        }
        seq_nums
    };
    let timer = R::default().sleep(Duration::from_secs(20));
    match futures_util::future::select(std::pin::pin!(acks), timer).await {
        futures_util::future::Either::Left((seq_nums, _)) => assert_eq!(seq_nums, [0, 1, 2]),
        futures_util::future::Either::Right(_) => panic!("the producer waited forever for room"),
    }
}
