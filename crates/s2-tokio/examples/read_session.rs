//! Read session: tails a stream, printing `read N now, M so far` per batch
//! and when it has caught up with the tail. A read session resumes after
//! connection failures without gaps or duplicates, and notices a dead
//! connection by the server's heartbeats.
//!
//! ```text
//! cargo run -p s2-tokio --example read_session
//! ```
//! So that there is something to read, a task appends 10 batches of 50
//! records while the session follows. With no `S2_ACCOUNT_ENDPOINT` it
//! starts an embedded s2-lite. The basin and stream come from `S2_BASIN`
//! and `S2_STREAM`; `S2_READ_COUNT` stops after that many records (default
//! 500: what the writer appends).

mod common;

use std::time::Duration;

use futures_util::StreamExt;
use s2_tokio::{
    S2,
    session::ReadItem,
    types::{
        AppendInput, AppendRecord, BasinConfig, BasinName, ReadRequest, ReadStart, StreamConfig,
        StreamName,
    },
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
        StreamName::new(std::env::var("S2_STREAM").unwrap_or_else(|_| "read-session".into()))?;
    basin
        .ensure_stream(&stream_name, StreamConfig::default())
        .await?;
    let stream = basin.stream(stream_name);

    let limit: usize = std::env::var("S2_READ_COUNT")
        .unwrap_or_else(|_| "500".into())
        .parse()?;

    // A writer, so that the tail moves while we follow it.
    let writer = stream.clone();
    tokio::spawn(async move {
        for batch in 0..10 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let records: Vec<_> = (0..50)
                .map(|i| AppendRecord::new(format!("batch {batch} record {i}")))
                .collect();
            let input = AppendInput::new(records).expect("50 short records fit a batch");
            if let Err(e) = writer.append(&input).await {
                eprintln!("writer: {e}");
                return;
            }
        }
    });

    // Start at the tail (0 records back) and follow it: without a limit in
    // the request, the session never ends on its own.
    let mut session = stream.read_session(ReadRequest::new(ReadStart::TailOffset(0)));
    let mut so_far = 0;
    while let Some(item) = session.next().await {
        match item? {
            ReadItem::Batch(batch) => {
                so_far += batch.records.len();
                println!("read {} now, {so_far} so far", batch.records.len());
            }
            ReadItem::CaughtUp(tail) => println!("caught up with the tail at {}", tail.seq_num),
            ReadItem::Tail(tail) => println!("start is past the tail at {}", tail.seq_num),
            // An item newer than this example.
            _ => {}
        }
        if so_far >= limit {
            break;
        }
    }
    Ok(())
}
