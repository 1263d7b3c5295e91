//! Producer: submit single records and await each one's own ack (its
//! sequence number). The producer batches records (by count, size and a
//! linger) and sends the batches through one append session.
//!
//! ```text
//! cargo run -p s2-tokio --example producer
//! ```
//! With no `S2_ACCOUNT_ENDPOINT` it starts an embedded s2-lite; the basin and
//! stream come from `S2_BASIN` and `S2_STREAM`; `S2_RECORDS` sets how many
//! records to send (default 1000).

mod common;

use std::time::Duration;

use s2_tokio::{
    S2,
    config::BatcherConfig,
    types::{AppendRecord, BasinConfig, BasinName, StreamConfig, StreamName},
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    // Example only: ClientConfig::from_env(), or an s2-lite in this process
    // when S2_ACCOUNT_ENDPOINT is unset. In your code:
    //     let config = ClientConfig::from_env()?;
    let config = common::config_from_env_or_embedded_s2_lite()?;
    let s2 = S2::new(config)?;
    let basin_name =
        BasinName::new(std::env::var("S2_BASIN").unwrap_or_else(|_| "example-basin".into()))?;
    s2.ensure_basin(&basin_name, BasinConfig::default()).await?;
    let basin = s2.basin(basin_name);
    let stream_name =
        StreamName::new(std::env::var("S2_STREAM").unwrap_or_else(|_| "producer".into()))?;
    basin
        .ensure_stream(&stream_name, StreamConfig::default())
        .await?;
    let stream = basin.stream(stream_name);
    let count: usize = std::env::var("S2_RECORDS")
        .unwrap_or_else(|_| "1000".into())
        .parse()?;

    // Batches of up to 100 records, sent at most 2 ms after their first.
    let batching = BatcherConfig::default()
        .with_max_records(100)
        .with_linger(Some(Duration::from_millis(2)));
    let producer = stream.producer(batching)?;

    // `submit` waits only while the session's unacknowledged cap is
    // reached (backpressure); the ack futures resolve as batches land.
    let mut acks = Vec::with_capacity(count);
    for i in 0..count {
        let record = AppendRecord::new(format!("event {i}")).with_header("kind", "example");
        acks.push(producer.submit(record).await?);
    }
    // Everything submitted goes out now, without waiting for the linger.
    producer.flush().await?;

    let mut batches = std::collections::BTreeSet::new();
    for (i, ack) in acks.into_iter().enumerate() {
        let ack = ack.await?;
        batches.insert(ack.batch.start.seq_num);
        if i % 250 == 0 {
            println!("record {i} is seq num {}", ack.seq_num);
        }
    }
    println!(
        "{count} records acknowledged, sent in {} batches",
        batches.len()
    );
    producer.close().await?;
    Ok(())
}
