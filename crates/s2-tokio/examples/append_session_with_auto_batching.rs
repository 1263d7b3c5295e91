//! Append session with automatic batching: records of random sizes arrive
//! with random pauses; `append_inputs` batches them (at most 10 records per
//! batch, 5 ms linger) and the session prints `appended N records` per ack.
//!
//! ```text
//! cargo run -p s2-tokio --example append_session_with_auto_batching
//! ```
//! With no `S2_ACCOUNT_ENDPOINT` it starts an embedded s2-lite; the basin and
//! stream come from `S2_BASIN` and `S2_STREAM`; `S2_RECORDS` sets how many
//! records to send (default 200).

use std::time::Duration;

use futures_util::StreamExt;
use rand::Rng;
use s2_test_server::{
    demo::{example_stream, print_acks},
    env_or,
};
use s2_tokio::{BatcherConfig, TokioRuntime, append_inputs, types::AppendRecord};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `_target` keeps the embedded server (if any) alive.
    let (_target, stream) = example_stream::<TokioRuntime>("auto-batching").await?;
    let count: usize = env_or("S2_RECORDS", "200").parse()?;

    let records = futures_util::stream::unfold(0, move |i| async move {
        if i == count {
            return None;
        }
        let (pause, len) = {
            let mut rng = rand::rng();
            let pause = rng.random_bool(0.1).then(|| rng.random_range(1..20));
            (pause, rng.random_range(1..=1024))
        };
        if let Some(ms) = pause {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let body: Vec<u8> = (0..len).map(|_| rand::random()).collect();
        Some((AppendRecord::new(body), i + 1))
    });
    let config = BatcherConfig {
        max_records: 10,
        linger: Some(Duration::from_millis(5)),
        ..BatcherConfig::default()
    };
    let inputs = append_inputs(Box::pin(records), config)?
        .map(|input| input.expect("every record fits a batch"));

    let acks = stream.append_session(inputs);
    let total = print_acks(acks).await?;
    println!("done: {total} records");
    Ok(())
}
