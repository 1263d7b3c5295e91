//! Append session: random batches of random records pipelined through one
//! session, printing `appended N records` per ack.
//!
//! The first batch is conditioned on the tail from `check_tail`; the session
//! advances `match_seq_num` from there, so the appends are exactly-once even
//! when the connection fails: after a failure the session reads back what
//! may have landed instead of sending it twice.
//!
//! ```text
//! cargo run -p s2-tokio --example append_session
//! S2_CUT_EVERY_MS=200 RUST_LOG=s2_client=debug cargo run -p s2-tokio --example append_session
//! ```
//! With no `S2_ACCOUNT_ENDPOINT` it starts an embedded s2-lite; the basin and
//! stream come from `S2_BASIN` and `S2_STREAM`; `S2_BATCHES` sets how many
//! batches to send (default 100). `S2_CUT_EVERY_MS=N` cuts the connection
//! every N ms (through a loopback proxy): with `RUST_LOG=s2_client=debug`
//! each reconnect and exactly-once resolution is logged, and nothing is
//! lost or duplicated.

mod common;

use std::time::Duration;

use futures_util::StreamExt;
use rand::Rng;
use s2_tokio::{
    S2,
    types::{AppendInput, AppendRecord, BasinConfig, BasinName, StreamConfig, StreamName},
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    // Example only: ClientConfig::from_env(), or an s2-lite in this process
    // when S2_ACCOUNT_ENDPOINT is unset. In your code:
    //     let config = ClientConfig::from_env()?;
    let mut config = common::config_from_env_or_embedded_s2_lite()?;

    // Example only: optionally cut the connection every few ms (through a
    // test proxy, not part of the SDK), to watch the session recover.
    let mut cutter = None;
    if let Ok(ms) = std::env::var("S2_CUT_EVERY_MS") {
        let every = Duration::from_millis(ms.parse()?);
        let (proxy, through) = common::cutting_proxy(&config, every)?
            .ok_or("S2_CUT_EVERY_MS needs a plain-http endpoint")?;
        println!("cutting connections every {every:?}");
        // Cuts cost retries; give the session enough of them.
        config = through.with_max_retries(20);
        cutter = Some(proxy);
    }

    let s2 = S2::new(config)?;
    let basin_name =
        BasinName::new(std::env::var("S2_BASIN").unwrap_or_else(|_| "example-basin".into()))?;
    s2.ensure_basin(&basin_name, BasinConfig::default()).await?;
    let basin = s2.basin(basin_name);
    let stream_name =
        StreamName::new(std::env::var("S2_STREAM").unwrap_or_else(|_| "append-session".into()))?;
    basin
        .ensure_stream(&stream_name, StreamConfig::default())
        .await?;
    let stream = basin.stream(stream_name);
    let batches: usize = std::env::var("S2_BATCHES")
        .unwrap_or_else(|_| "100".into())
        .parse()?;

    // Condition the first batch on the current tail; the session carries
    // the condition forward, batch after batch.
    let tail = stream.check_tail().await?;
    println!("tail at {}", tail.seq_num);
    let inputs = (0..batches).map(move |i| {
        let input = random_batch();
        if i == 0 {
            input.with_match_seq_num(tail.seq_num)
        } else {
            input
        }
    });

    // Batches go out as fast as the session's unacknowledged-bytes cap
    // allows; acks come back in order.
    let mut acks = stream.append_all(futures_util::stream::iter(inputs))?;
    let mut total = 0;
    while let Some(ack) = acks.next().await {
        let ack = ack?;
        total += ack.record_count();
        println!(
            "appended {} records (seq nums {}..{})",
            ack.record_count(),
            ack.start.seq_num,
            ack.end.seq_num
        );
    }
    println!("done: {total} records in {batches} batches");
    if let Some(cutter) = cutter {
        println!("the connection was cut {} times", cutter.cuts());
    }
    Ok(())
}

/// A batch of 1–100 records with bodies of 1–1000 random letters.
fn random_batch() -> AppendInput {
    let mut rng = rand::rng();
    let records: Vec<AppendRecord> = (0..rng.random_range(1..=100))
        .map(|_| {
            let len = rng.random_range(1..=1000);
            let body: String = (0..len)
                .map(|_| char::from(rng.random_range(b'a'..=b'z')))
                .collect();
            AppendRecord::new(body)
        })
        .collect();
    AppendInput::new(records).expect("1..=100 records of at most 1 KiB fit a batch")
}
