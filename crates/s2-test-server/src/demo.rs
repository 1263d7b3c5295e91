//! The examples' shared steps, written once for any runtime: the whole
//! `quickstart` (ensure a basin and a stream, append a few records, read
//! them back), and the set-up and ack printing of the session examples.

use s2_client::{
    BasinName, Runtime, S2, Stream, StreamName,
    types::{
        AppendAck, AppendInput, AppendRecord, BasinConfig, ReadOutput, ReadRequest, ReadStart,
        StreamConfig,
    },
};

use crate::{Target, env_or};

/// Runs the quickstart on runtime `R`. With no `S2_ACCOUNT_ENDPOINT` it
/// starts an embedded s2-lite; the basin and stream come from `S2_BASIN` and
/// `S2_STREAM`.
pub async fn quickstart<R: Runtime + Default>() -> Result<(), Box<dyn std::error::Error>> {
    let target = Target::from_env()?;
    println!("using {}", target.describe());
    let s2 = S2::<R>::new(target.client_config())?;

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

/// What the stream examples start with: the target (keep it alive: it may be
/// the embedded server), and the stream named by `S2_BASIN` / `S2_STREAM`
/// (defaults: `example-basin` / `default_stream`), created if missing.
pub async fn example_stream<R: Runtime + Default>(
    default_stream: &str,
) -> Result<(Target, Stream<R>), Box<dyn std::error::Error>> {
    let target = Target::from_env()?;
    println!("using {}", target.describe());
    let s2 = S2::<R>::new(target.client_config())?;
    let basin_name = BasinName::new(env_or("S2_BASIN", "example-basin"))?;
    let stream_name = StreamName::new(env_or("S2_STREAM", default_stream))?;
    s2.ensure_basin(&basin_name, BasinConfig::default()).await?;
    let basin = s2.basin(basin_name);
    basin
        .ensure_stream(&stream_name, StreamConfig::default())
        .await?;
    Ok((target, basin.stream(stream_name)))
}

/// Prints `appended N records` for each ack of an append session, as the
/// reference SDK's examples do; returns how many records were acked.
pub async fn print_acks(
    mut acks: impl futures_core::Stream<Item = Result<AppendAck, s2_client::Error>> + Unpin,
) -> Result<u64, s2_client::Error> {
    let mut total = 0;
    while let Some(ack) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut acks).poll_next(cx)).await
    {
        let ack = ack?;
        total += ack.record_count();
        println!(
            "appended {} records (seq nums {}..{})",
            ack.record_count(),
            ack.start.seq_num,
            ack.end.seq_num
        );
    }
    Ok(total)
}
