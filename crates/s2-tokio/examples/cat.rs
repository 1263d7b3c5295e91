//! Prints every record of a stream, from sequence number 0 to the tail, as
//! JSON lines in the `json-base64` format of the official `s2` CLI
//! (`s2 read --format json-base64`), so the two outputs can be diffed.
//!
//! ```text
//! S2_BASIN=my-basin S2_STREAM=my-stream cargo run -p s2-tokio --example cat
//! ```
//! With `S2_FOLLOW=N` it instead follows the stream live (a tailing read
//! session) until it has printed N records. `S2_ENCRYPTION_KEY` (as for
//! `s2 read`) reads an encrypted stream. With no `S2_ACCOUNT_ENDPOINT` it
//! reads from an s2-lite it starts in the same process, which is empty.

mod common;

use base64::{Engine, engine::general_purpose::STANDARD};
use futures_util::StreamExt;
use s2_tokio::{
    Error, S2,
    session::ReadItem,
    types::{BasinName, ReadLimit, ReadRequest, ReadStart, StreamName},
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Logs go to stderr, so stdout stays the records only.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    // Example only: ClientConfig::from_env(), or an s2-lite in this process
    // when S2_ACCOUNT_ENDPOINT is unset. In your code:
    //     let config = ClientConfig::from_env()?;
    let config = common::config_from_env_or_embedded_s2_lite()?;
    let s2 = S2::new(config)?;

    let basin = std::env::var("S2_BASIN").unwrap_or_else(|_| "example-basin".into());
    let stream = std::env::var("S2_STREAM").unwrap_or_else(|_| "append-session".into());
    let stream = s2
        .basin(BasinName::new(basin)?)
        .stream(StreamName::new(stream)?);
    let stream = match std::env::var("S2_ENCRYPTION_KEY") {
        Ok(key) => stream.with_encryption_key(key.parse()?),
        Err(_) => stream,
    };
    let follow: Option<usize> = match std::env::var("S2_FOLLOW") {
        Ok(n) => Some(n.parse()?),
        Err(_) => None,
    };
    let request = match follow {
        Some(_) => ReadRequest::new(ReadStart::SeqNum(0)),
        None => {
            let tail = match stream.check_tail().await {
                Ok(tail) => tail.seq_num,
                // No such basin or stream (as on a fresh s2-lite).
                Err(Error::Service(e)) if e.status == 404 => {
                    eprintln!("{}: nothing to print", e.code);
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            };
            ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(tail))
        }
    };
    let mut session = stream.read_session(request);
    let mut printed = 0;
    while let Some(item) = session.next().await {
        if let ReadItem::Batch(batch) = item? {
            for record in batch.records {
                let headers: Vec<String> = record
                    .headers()
                    .iter()
                    .map(|h| {
                        format!(
                            r#"["{}","{}"]"#,
                            STANDARD.encode(h.name()),
                            STANDARD.encode(h.value())
                        )
                    })
                    .collect();
                // Like the CLI: no "headers" key when there are none.
                let headers = if headers.is_empty() {
                    String::new()
                } else {
                    format!(r#""headers":[{}],"#, headers.join(","))
                };
                println!(
                    r#"{{"seq_num":{},"timestamp":{},{headers}"body":"{}"}}"#,
                    record.seq_num(),
                    record.timestamp(),
                    STANDARD.encode(record.body())
                );
                printed += 1;
            }
        }
        if follow.is_some_and(|n| printed >= n) {
            break;
        }
    }
    Ok(())
}
