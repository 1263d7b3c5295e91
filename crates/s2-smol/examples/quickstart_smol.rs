//! Quickstart on smol: create a basin and a stream (if missing), append a
//! few records, read them back.
//!
//! ```text
//! cargo run -p s2-smol --example quickstart_smol
//! ```
//! With no `S2_ACCOUNT_ENDPOINT` it starts an embedded s2-lite; otherwise it
//! uses `S2_ACCOUNT_ENDPOINT`, `S2_BASIN_ENDPOINT` and `S2_ACCESS_TOKEN`.
//! The basin and stream come from `S2_BASIN` and `S2_STREAM`.

use s2_smol::{
    S2,
    types::{
        AppendInput, AppendRecord, BasinConfig, BasinName, ReadOutput, ReadRequest, ReadStart,
        StreamConfig, StreamName,
    },
};
use s2_test_server::{Target, env_or};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    // Keep `target` alive: it may hold the embedded server.
    let target = Target::from_env()?;
    println!("using {}", target.describe());
    // The client's own tasks run on smol's global executor; this thread
    // only drives the future below.
    smol::block_on(async {
        let s2 = S2::new(target.client_config())?;

        let basin_name = BasinName::new(env_or("S2_BASIN", "quickstart-basin"))?;
        let ensured = s2.ensure_basin(&basin_name, BasinConfig::default()).await?;
        println!("basin {basin_name}: {:?}", ensured.result);
        let basin = s2.basin(basin_name);

        let stream_name = StreamName::new(env_or("S2_STREAM", "quickstart"))?;
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
