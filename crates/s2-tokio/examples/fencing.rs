//! Fencing: a leader handover. Writers that append with a fencing token
//! are rejected once another writer fenced the stream with its own token,
//! so a deposed leader cannot append after its successor took over, even if
//! it does not know yet that it was deposed.
//!
//! ```text
//! cargo run -p s2-tokio --example fencing
//! ```
//! With no `S2_ACCOUNT_ENDPOINT` it starts an embedded s2-lite; the basin
//! comes from `S2_BASIN`; each run uses a new stream.

mod common;

use s2_tokio::{
    Error, S2,
    error::AppendConditionFailed,
    types::{
        AppendInput, AppendRecord, BasinConfig, BasinName, CommandRecord, FencingToken,
        StreamConfig, StreamName,
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
    let stream_name = StreamName::new(format!("fencing-{:08x}", rand::random::<u32>()))?;
    basin
        .create_stream(&stream_name, StreamConfig::default())
        .await?;
    // Two handles on one stream: the old leader and the new one.
    let old_leader = basin.stream(stream_name.clone());
    let new_leader = basin.stream(stream_name);

    // The first leader fences the stream with its token, then appends with it.
    let old_token = FencingToken::new("leader-1")?;
    old_leader
        .append(&AppendInput::new(vec![CommandRecord::fence(
            old_token.clone(),
        )])?)
        .await?;
    let ack = old_leader
        .append(
            &AppendInput::new(vec![AppendRecord::new("leader-1: work item 1")])?
                .with_fencing_token(old_token.clone()),
        )
        .await?;
    println!("leader-1 appended at {}", ack.start.seq_num);

    // Handover: the new leader fences with its own token. The fence command
    // itself carries no token, so it cannot be refused.
    let new_token = FencingToken::new("leader-2")?;
    new_leader
        .append(&AppendInput::new(vec![CommandRecord::fence(
            new_token.clone(),
        )])?)
        .await?;
    println!("leader-2 fenced the stream");

    // The old leader, unaware, tries again: refused, with the current token.
    let late = AppendInput::new(vec![AppendRecord::new("leader-1: work item 2")])?
        .with_fencing_token(old_token);
    match old_leader.append(&late).await {
        Err(Error::AppendCondition(AppendConditionFailed::FencingTokenMismatch { expected })) => {
            println!("leader-1 was refused: the stream is fenced by {expected:?}");
        }
        Ok(_) => return Err("a deposed leader appended".into()),
        Err(other) => return Err(other.into()),
    }

    // The new leader appends with its token.
    let ack = new_leader
        .append(
            &AppendInput::new(vec![AppendRecord::new("leader-2: work item 2")])?
                .with_fencing_token(new_token),
        )
        .await?;
    println!("leader-2 appended at {}", ack.start.seq_num);
    Ok(())
}
