//! Encryption with a customer key: a basin whose streams are encrypted with
//! AEGIS-256, a stream handle that carries the key, and records written and
//! read back through it. The service stores the records encrypted and does
//! not keep the key: without it (or with another one) they cannot be read.
//!
//! ```text
//! cargo run -p s2-tokio --example encryption
//! ```
//! The key is the base64 of 32 bytes, taken from `S2_ENCRYPTION_KEY` like the
//! `s2` CLI takes it (`s2 read -k KEY`); when unset, one is generated and
//! printed. With no `S2_ACCOUNT_ENDPOINT` it starts an embedded s2-lite; the
//! basin and stream come from `S2_BASIN` and `S2_STREAM`, and `S2_RECORDS`
//! sets how many records to append (default 3).

mod common;

use futures_util::StreamExt;
use s2_tokio::{
    Error, S2,
    session::ReadItem,
    types::{
        AppendInput, AppendRecord, BasinConfig, BasinName, EncryptionKey, ReadLimit, ReadRequest,
        ReadStart, StreamCipher, StreamConfig, StreamName,
    },
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The key: the CLI's variable, or a new one to keep.
    let key = match std::env::var("S2_ENCRYPTION_KEY") {
        Ok(text) => EncryptionKey::from_base64(&text)?,
        Err(_) => {
            let key = EncryptionKey::new(rand::random());
            println!("generated a key; keep it to read these records again:");
            println!("export S2_ENCRYPTION_KEY={}", key.expose_secret());
            key
        }
    };

    // Example only: ClientConfig::from_env(), or an s2-lite in this process
    // when S2_ACCOUNT_ENDPOINT is unset. In your code:
    //     let config = ClientConfig::from_env()?;
    let config = common::config_from_env_or_embedded_s2_lite()?;
    let s2 = S2::new(config)?;

    // Streams created in this basin from now on are encrypted.
    let basin_name =
        BasinName::new(std::env::var("S2_BASIN").unwrap_or_else(|_| "encrypted-basin".into()))?;
    let basin_config = BasinConfig::new().with_stream_cipher(StreamCipher::Aegis256);
    s2.ensure_basin(&basin_name, basin_config).await?;
    let basin = s2.basin(basin_name);
    let stream_name =
        StreamName::new(std::env::var("S2_STREAM").unwrap_or_else(|_| "secrets".into()))?;
    basin
        .ensure_stream(&stream_name, StreamConfig::default())
        .await?;

    // Every append and read of this handle, and of the sessions it starts,
    // carries the key.
    let stream = basin.stream(stream_name.clone()).with_encryption_key(key);

    let count: usize = std::env::var("S2_RECORDS")
        .unwrap_or_else(|_| "3".into())
        .parse()?;
    if count > 0 {
        let records: Vec<AppendRecord> = (0..count)
            .map(|i| AppendRecord::new(format!("secret message {i}")))
            .collect();
        let ack = stream.append(&AppendInput::new(records)?).await?;
        println!(
            "appended records {}..{}, stored encrypted",
            ack.start.seq_num, ack.end.seq_num
        );
    }

    // Read the whole stream back, decrypted.
    let tail = stream.check_tail().await?.seq_num;
    let request = ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(tail));
    let mut session = stream.read_session(request);
    while let Some(item) = session.next().await {
        if let ReadItem::Batch(batch) = item? {
            for record in &batch.records {
                let body = String::from_utf8_lossy(record.body());
                println!("read #{}: {body}", record.seq_num());
            }
        }
    }

    // A handle without the key cannot read them.
    let keyless = basin.stream(stream_name);
    match keyless.read(&ReadRequest::new(ReadStart::SeqNum(0))).await {
        Err(Error::Encryption(e)) => println!("without the key: {e}"),
        Ok(_) if tail == 0 => println!("without the key: nothing to read yet"),
        other => return Err(format!("a read without the key gave {other:?}").into()),
    }
    Ok(())
}
