//! Exactly-once appends through a cut connection.
//!
//! A session whose first batch carries `match_seq_num` conditions every
//! batch on its expected position. When the connection is cut, batches in
//! flight have an unknown outcome; the session then reads back what may
//! have landed, acknowledges what it finds, and resends only the rest. This
//! example cuts the connection (through a loopback proxy) while appending,
//! then reads the stream and counts records lost and duplicated: both 0.
//!
//! ```text
//! RUST_LOG=s2_client=debug cargo run -p s2-tokio --example exactly_once
//! ```
//! With no `S2_ACCOUNT_ENDPOINT` it starts an embedded s2-lite. A TLS
//! endpoint cannot be proxied here: the example then runs without cuts.

mod common;

use std::{collections::HashSet, time::Duration};

use futures_util::StreamExt;
use s2_tokio::{
    S2,
    config::AppendRetryPolicy,
    session::ReadItem,
    types::{
        AppendInput, AppendRecord, BasinConfig, BasinName, ReadLimit, ReadRequest, ReadStart,
        StreamConfig, StreamName,
    },
};

const BATCHES: usize = 300;
const PER_BATCH: usize = 20;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    // Example only: ClientConfig::from_env(), or an s2-lite in this process
    // when S2_ACCOUNT_ENDPOINT is unset. In your code:
    //     let config = ClientConfig::from_env()?;
    let config = common::config_from_env_or_embedded_s2_lite()?;

    // A direct client to set up and check, and one whose connections go
    // through a proxy that we cut (test scaffolding, not part of the SDK).
    let direct = S2::new(config.clone())?;
    let (proxy, config) = match common::proxy(&config)? {
        Some((proxy, through)) => (Some(proxy), through),
        None => {
            println!("not a plain-http endpoint: running without cuts");
            (None, config)
        }
    };
    let config = config
        // The strictest policy: never resend what may have landed blindly.
        .with_append_retry_policy(AppendRetryPolicy::NoSideEffects)
        .with_max_retries(20);
    let faulty = S2::new(config)?;

    let basin_name =
        BasinName::new(std::env::var("S2_BASIN").unwrap_or_else(|_| "example-basin".into()))?;
    direct
        .ensure_basin(&basin_name, BasinConfig::default())
        .await?;
    // A new stream per run, so the check below sees only this run.
    let stream_name = StreamName::new(format!("exactly-once-{:08x}", rand::random::<u32>()))?;
    direct
        .basin(basin_name.clone())
        .create_stream(&stream_name, StreamConfig::default())
        .await?;
    let stream = faulty.basin(basin_name.clone()).stream(stream_name.clone());

    // Condition the first batch on the tail (0 on a new stream); the
    // session conditions each later batch on where the previous one ends.
    let session = stream.append_session()?;
    let mut acks = Vec::with_capacity(BATCHES);
    for b in 0..BATCHES {
        let records: Vec<AppendRecord> = (0..PER_BATCH)
            .map(|r| AppendRecord::new(format!("batch {b} record {r}")))
            .collect();
        let mut input = AppendInput::new(records)?;
        if b == 0 {
            input = input.with_match_seq_num(0);
        }
        acks.push(session.submit(input).await?);
        if b % 60 == 30
            && let Some(proxy) = &proxy
        {
            // Batches are in flight: their outcome is now unknown.
            proxy.cut();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    session.close().await?;
    for ack in acks {
        ack.await?;
    }
    if let Some(proxy) = &proxy {
        println!(
            "appended {BATCHES} batches; the connection was cut {} times",
            proxy.cuts()
        );
    }

    // Read everything back directly and count.
    let stream = direct.basin(basin_name).stream(stream_name);
    let tail = stream.check_tail().await?.seq_num;
    let mut session = stream
        .read_session(ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(tail)));
    let (mut seen, mut duplicated) = (HashSet::new(), 0);
    while let Some(item) = session.next().await {
        if let ReadItem::Batch(batch) = item? {
            for record in batch.records {
                if !seen.insert(record.into_body()) {
                    duplicated += 1;
                }
            }
        }
    }
    let lost = BATCHES * PER_BATCH - seen.len();
    println!("{tail} records on the stream: lost {lost}, duplicated {duplicated}");
    if lost + duplicated > 0 {
        return Err("exactly-once was violated".into());
    }
    Ok(())
}
