//! Quickstart on smol: create a basin and a stream (if missing), append a
//! few records, read them back.
//!
//! ```text
//! cargo run -p s2-smol --example quickstart_smol
//! ```
//! It connects where `S2_ACCOUNT_ENDPOINT`, `S2_BASIN_ENDPOINT` and
//! `S2_ACCESS_TOKEN` say, or, with no `S2_ACCOUNT_ENDPOINT`, to an s2-lite
//! it starts in the same process. The basin and stream come from `S2_BASIN`
//! and `S2_STREAM`.

mod common;

use s2_smol::{
    S2,
    types::{
        AppendInput, AppendRecord, BasinConfig, BasinName, ReadOutput, ReadRequest, ReadStart,
        StreamConfig, StreamName,
    },
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    // Example only: ClientConfig::from_env(), or an s2-lite in this process
    // when S2_ACCOUNT_ENDPOINT is unset. In your code:
    //     let config = ClientConfig::from_env()?;
    let config = common::config_from_env_or_embedded_s2_lite()?;
    // The client's own tasks run on smol's global executor; this thread
    // only drives the future below.
    smol::block_on(async {
        let s2 = S2::new(config)?;

        let basin_name = BasinName::new(
            std::env::var("S2_BASIN").unwrap_or_else(|_| "quickstart-basin".into()),
        )?;
        let ensured = s2.ensure_basin(&basin_name, BasinConfig::default()).await?;
        println!("basin {basin_name}: {:?}", ensured.result);
        let basin = s2.basin(basin_name);

        let stream_name =
            StreamName::new(std::env::var("S2_STREAM").unwrap_or_else(|_| "quickstart".into()))?;
        let ensured = basin
            .ensure_stream(&stream_name, StreamConfig::default())
            .await?;
        println!("stream {stream_name}: {:?}", ensured.result);
        let stream = basin.stream(stream_name);

        let records: Vec<AppendRecord> = ["hello", "durable", "streams"]
            .into_iter()
            .map(|word| AppendRecord::new(word).with_header("source", "quickstart"))
            .collect();
        let ack = stream.append(&AppendInput::new(records)?).await?;
        println!(
            "appended records {}..{} (tail now {})",
            ack.start.seq_num, ack.end.seq_num, ack.tail.seq_num
        );

        match stream
            .read(&ReadRequest::new(ReadStart::SeqNum(ack.start.seq_num)))
            .await?
        {
            ReadOutput::Batch(batch) => {
                for record in &batch.records {
                    println!(
                        "read #{} @{}: {}",
                        record.seq_num(),
                        record.timestamp(),
                        String::from_utf8_lossy(record.body())
                    );
                }
            }
            ReadOutput::Tail(tail) => println!("nothing to read; tail at {}", tail.seq_num),
        }
        Ok(())
    })
}
