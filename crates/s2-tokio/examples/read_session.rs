//! Read session: follows a stream from its tail, printing
//! `read N now, M so far` per batch.
//!
//! ```text
//! cargo run -p s2-tokio --example read_session
//! ```
//! With no `S2_ACCOUNT_ENDPOINT` it starts an embedded s2-lite and, so that
//! there is something to read, appends a few batches itself while reading.
//! The basin and stream come from `S2_BASIN` and `S2_STREAM`;
//! `S2_READ_COUNT` stops after that many records (default: follow forever
//! against a real endpoint, 500 records against the embedded server).

use futures_util::StreamExt;
use s2_test_server::{demo::example_stream, env_or};
use s2_tokio::{
    ReadItem, TokioRuntime,
    types::{AppendInput, AppendRecord, ReadRequest, ReadStart},
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (target, stream) = example_stream::<TokioRuntime>("read-session").await?;

    let embedded = target.is_embedded();
    let default_count = if embedded { "500" } else { "" };
    let limit: Option<usize> = match env_or("S2_READ_COUNT", default_count).as_str() {
        "" => None,
        n => Some(n.parse()?),
    };

    if embedded {
        let writer = stream.clone();
        tokio::spawn(async move {
            for batch in 0..10 {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                let records: Vec<_> = (0..50)
                    .map(|i| AppendRecord::new(format!("batch {batch} record {i}")))
                    .collect();
                let input = AppendInput::new(records).expect("valid batch");
                if let Err(e) = writer.append(&input).await {
                    eprintln!("writer: {e}");
                    return;
                }
            }
        });
    }

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
        }
        if limit.is_some_and(|limit| so_far >= limit) {
            break;
        }
    }
    Ok(())
}
