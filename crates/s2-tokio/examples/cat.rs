//! Prints every record of a stream, from sequence number 0 to the tail, as
//! JSON lines in the `json-base64` format of the official `s2` CLI
//! (`s2 read --format json-base64`), so the two outputs can be diffed.
//!
//! ```text
//! S2_BASIN=my-basin S2_STREAM=my-stream cargo run -p s2-tokio --example cat
//! ```
//! With `S2_FOLLOW=N` it instead follows the stream live (a tailing read
//! session) until it has printed N records. `S2_ENCRYPTION_KEY` (as for
//! `s2 read`) reads an encrypted stream.

use base64::{Engine, engine::general_purpose::STANDARD};
use futures_util::StreamExt;
use s2_test_server::{Target, env_or};
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
    let target = Target::from_env()?;
    let s2 = S2::new(target.client_config())?;
    let stream = s2
        .basin(BasinName::new(env_or("S2_BASIN", "example-basin"))?)
        .stream(StreamName::new(env_or("S2_STREAM", "append-session"))?);
    let stream = match env_or("S2_ENCRYPTION_KEY", "").as_str() {
        "" => stream,
        key => stream.with_encryption_key(key.parse()?),
    };
    let follow: Option<usize> = match env_or("S2_FOLLOW", "").as_str() {
        "" => None,
        n => Some(n.parse()?),
    };
    let request = match follow {
        Some(_) => ReadRequest::new(ReadStart::SeqNum(0)),
        None => {
            let tail = match stream.check_tail().await {
                Ok(tail) => tail.seq_num,
                // A fresh embedded server has no streams yet.
                Err(Error::Service(e)) if e.status == 404 && target.server.is_some() => {
                    eprintln!(
                        "the embedded s2-lite starts empty ({}): nothing to print",
                        e.code
                    );
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
