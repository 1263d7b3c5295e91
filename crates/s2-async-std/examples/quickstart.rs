//! Quickstart: ensure a basin and a stream, append a few records, read them
//! back.
//!
//! With no `S2_ACCOUNT_ENDPOINT` set it starts an embedded s2-lite server;
//! otherwise it uses `S2_ACCESS_TOKEN`, `S2_ACCOUNT_ENDPOINT` and
//! `S2_BASIN_ENDPOINT`. The basin and stream come from `S2_BASIN` and
//! `S2_STREAM`.
//!
//! ```text
//! cargo run -p s2-async-std --example quickstart
//! ```

use s2_async_std::{
    BasinName, ClientConfig, Endpoints, S2, StreamName,
    types::{
        AppendInput, AppendRecord, BasinConfig, ReadOutput, ReadRequest, ReadStart, StreamConfig,
    },
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    async_std::task::block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let target = s2_test_server::Target::from_env()?;
    match &target.server {
        Some(server) => println!("started an embedded s2-lite at {}", server.endpoint()),
        None => println!("using {}", target.account_endpoint),
    }
    let config = ClientConfig::new(target.access_token.clone()).with_endpoints(Endpoints::new(
        &target.account_endpoint,
        &target.basin_endpoint,
    )?);
    let s2 = S2::new(config)?;

    let basin_name = BasinName::new(env_or("S2_BASIN", "quickstart-basin"))?;
    let stream_name = StreamName::new(env_or("S2_STREAM", "quickstart"))?;
    let ensured = s2.ensure_basin(&basin_name, BasinConfig::default()).await?;
    println!("basin {basin_name}: {:?}", ensured.result);
    let basin = s2.basin(basin_name);
    let ensured = basin
        .ensure_stream(&stream_name, StreamConfig::default())
        .await?;
    println!("stream {stream_name}: {:?}", ensured.result);
    let stream = basin.stream(stream_name);

    let records: Vec<AppendRecord> = ["hello", "durable", "streams"]
        .iter()
        .map(|word| AppendRecord::new(*word).with_header("source", "quickstart"))
        .collect();
    let ack = stream.append(&AppendInput::new(records)?).await?;
    println!(
        "appended records {}..{} (tail now {})",
        ack.start.seq_num, ack.end.seq_num, ack.tail.seq_num
    );

    let read = stream
        .read(&ReadRequest::new(ReadStart::SeqNum(ack.start.seq_num)))
        .await?;
    match read {
        ReadOutput::Batch(batch) => {
            for record in &batch.records {
                println!(
                    "read #{} @{}: {}",
                    record.seq_num,
                    record.timestamp,
                    String::from_utf8_lossy(&record.body)
                );
            }
        }
        ReadOutput::Tail(tail) => println!("nothing to read; tail at {}", tail.seq_num),
    }
    Ok(())
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}
