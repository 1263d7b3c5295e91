//! Append session with automatic batching: records of random sizes arrive
//! one at a time with random pauses; `append_inputs` groups them into
//! batches (at most 10 records, 5 ms linger) and an append session sends
//! them, printing `appended N records` per ack.
//!
//! ```text
//! cargo run -p s2-tokio --example append_session_with_auto_batching
//! ```
//! With no `S2_ACCOUNT_ENDPOINT` it starts an embedded s2-lite; the basin and
//! stream come from `S2_BASIN` and `S2_STREAM`; `S2_RECORDS` sets how many
//! records to send (default 200).

mod common;

use std::time::Duration;

use futures_util::StreamExt;
use rand::Rng;
use s2_tokio::{
    S2,
    config::BatcherConfig,
    session::append_inputs,
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
        StreamName::new(std::env::var("S2_STREAM").unwrap_or_else(|_| "auto-batching".into()))?;
    basin
        .ensure_stream(&stream_name, StreamConfig::default())
        .await?;
    let stream = basin.stream(stream_name);
    let count: usize = std::env::var("S2_RECORDS")
        .unwrap_or_else(|_| "200".into())
        .parse()?;

    // A stream of single records, as an application would produce them.
    let records = futures_util::stream::unfold(0, move |i| async move {
        if i == count {
            return None;
        }
        let (pause, len) = {
            let mut rng = rand::rng();
            let pause = rng.random_bool(0.1).then(|| rng.random_range(1..20));
            (pause, rng.random_range(1..=1024))
        };
        if let Some(ms) = pause {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let body: Vec<u8> = (0..len).map(|_| rand::random()).collect();
        Some((AppendRecord::new(body), i + 1))
    });

    // Batches close when full (10 records) or 5 ms after their first record.
    let batching = BatcherConfig::default()
        .with_max_records(10)
        .with_linger(Some(Duration::from_millis(5)));
    let inputs = append_inputs(Box::pin(records), batching)?
        .map(|input| input.expect("a record of at most 1 KiB fits a batch"));

    let mut acks = stream.append_all(inputs)?;
    let mut total = 0;
    while let Some(ack) = acks.next().await {
        let ack = ack?;
        total += ack.record_count();
        println!("appended {} records", ack.record_count());
    }
    println!("done: {total} records");
    Ok(())
}
