//! Append session: random batches of random records through one session,
//! printing `appended N records` per ack.
//!
//! The first batch is conditioned on the tail from `check_tail`; the session
//! advances `match_seq_num` from there, so the appends are exactly-once even
//! if the connection fails.
//!
//! ```text
//! cargo run -p s2-tokio --example append_session
//! ```
//! With no `S2_ACCOUNT_ENDPOINT` it starts an embedded s2-lite; the basin and
//! stream come from `S2_BASIN` and `S2_STREAM`; `S2_BATCHES` sets how many
//! batches to send (default 100); `S2_CUT_EVERY_MS=1000` cuts the connection
//! every second (through a loopback proxy) to show that nothing is lost or
//! duplicated.

use rand::Rng;
use s2_test_server::{
    demo::{example_stream, print_acks},
    env_or,
};
use s2_tokio::{
    TokioRuntime,
    types::{AppendInput, AppendRecord},
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `guard` keeps the embedded server (if any) alive.
    let (guard, stream) = example_stream::<TokioRuntime>("append-session").await?;
    let batches: usize = env_or("S2_BATCHES", "100").parse()?;

    let tail = stream.check_tail().await?;
    println!("tail at {}", tail.seq_num);
    let inputs = random_batches(batches)?
        .into_iter()
        .enumerate()
        .map(move |(i, input)| {
            if i == 0 {
                input.with_match_seq_num(tail.seq_num)
            } else {
                input
            }
        });

    let acks = stream.append_session(futures_util::stream::iter(inputs));
    let total = print_acks(acks).await?;
    println!("done: {total} records in {batches} batches");
    if guard.cuts() > 0 {
        println!("the connection was cut {} times", guard.cuts());
    }
    Ok(())
}

/// Batches of 1–100 records with bodies of 1–1000 random letters.
fn random_batches(count: usize) -> Result<Vec<AppendInput>, s2_tokio::ValidationError> {
    let mut rng = rand::rng();
    (0..count)
        .map(|_| {
            let records = (0..rng.random_range(1..=100))
                .map(|_| {
                    let len = rng.random_range(1..=1000);
                    let body: String = (0..len)
                        .map(|_| char::from(rng.random_range(b'a'..=b'z')))
                        .collect();
                    AppendRecord::new(body)
                })
                .collect::<Vec<_>>();
            AppendInput::new(records)
        })
        .collect()
}
