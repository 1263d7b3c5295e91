use s2_tokio::{types::{BasinName, StreamName, AppendInput, AppendRecord, BasinConfig, ReadOutput, ReadRequest, ReadStart, StreamConfig}, ClientConfig, S2};

#[tokio::main]
async fn main() -> Result<(), s2_tokio::Error> {
    let s2 = S2::new(ClientConfig::from_env()?)?;
    let basin_name = BasinName::new("packaged-user")?;
    s2.ensure_basin(&basin_name, BasinConfig::default()).await?;
    let basin = s2.basin(basin_name);
    let stream_name = StreamName::new("hello")?;
    basin.ensure_stream(&stream_name, StreamConfig::default()).await?;
    let stream = basin.stream(stream_name);
    let ack = stream.append(&AppendInput::new(vec![AppendRecord::new("hello")])?).await?;
    if let ReadOutput::Batch(batch) = stream.read(&ReadRequest::new(ReadStart::SeqNum(ack.start.seq_num))).await? {
        println!("read {} record(s)", batch.records.len());
    }
    s2.close().await?;
    Ok(())
}
