//! Encryption with customer keys: a basin's `stream_cipher`, the cipher in
//! stream info, and the `s2-encryption-key` header on every append and read
//! path of a stream handle — unary calls, sessions, the producer, batches
//! from `append_inputs`, and the reads that resolve an unknown append
//! outcome. A missing or wrong key is a typed error.

use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use s2_client::{
    Error, Runtime, S2, S2Stream,
    config::{AppendRetryPolicy, BackoffConfig, Endpoints},
    error::EncryptionError,
    session::ReadItem,
    types::{
        AppendInput, AppendRecord, BasinConfig, BasinName, EncryptionKey, ListRequest, ReadLimit,
        ReadRequest, ReadStart, StreamCipher, StreamConfig, StreamInfo, StreamName,
    },
};

use crate::{config, unique_basin_name};

fn key(byte: u8) -> EncryptionKey {
    EncryptionKey::new([byte; 32])
}

fn stream_name() -> StreamName {
    StreamName::new("secret").expect("valid name")
}

/// A fresh basin whose streams are encrypted with `cipher`, and a handle
/// (without a key) on a stream created in it.
async fn encrypted_stream<R: Runtime>(s2: &S2<R>, cipher: StreamCipher) -> S2Stream<R> {
    let basin = unique_basin_name("enc");
    s2.create_basin(&basin, BasinConfig::new().with_stream_cipher(cipher))
        .await
        .expect("create basin");
    let basin = s2.basin(basin);
    let info = basin
        .create_stream(&stream_name(), StreamConfig::default())
        .await
        .expect("create stream");
    assert_eq!(info.cipher, Some(cipher));
    basin.stream(stream_name())
}

async fn stream_info<R: Runtime>(s2: &S2<R>, basin: &BasinName, name: &StreamName) -> StreamInfo {
    let page = s2
        .basin(basin.clone())
        .list_streams(&ListRequest::new().with_prefix(name.to_string()))
        .await
        .expect("list streams");
    page.items
        .into_iter()
        .find(|info| &info.name == name)
        .expect("the stream is listed")
}

/// Every record of `stream`, through a bounded read session.
async fn read_all<R: Runtime>(stream: &S2Stream<R>) -> Result<Vec<Vec<u8>>, Error> {
    let tail = stream.check_tail().await?.seq_num;
    let mut session = stream
        .read_session(ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(tail)));
    let mut bodies = Vec::new();
    while let Some(item) = session.next().await {
        if let ReadItem::Batch(batch) = item? {
            bodies.extend(batch.records.into_iter().map(|r| r.body().to_vec()));
        }
    }
    Ok(bodies)
}

fn batch(bodies: &[&str]) -> AppendInput {
    AppendInput::new(
        bodies
            .iter()
            .map(|b| AppendRecord::new(b.to_string()))
            .collect::<Vec<_>>(),
    )
    .expect("valid batch")
}

fn is_missing_key(result: &Result<impl std::fmt::Debug, Error>) -> bool {
    matches!(
        result,
        Err(Error::Encryption(EncryptionError::MissingKey { .. }))
    )
}

fn is_wrong_key(result: &Result<impl std::fmt::Debug, Error>) -> bool {
    matches!(
        result,
        Err(Error::Encryption(EncryptionError::WrongKey { .. }))
    )
}

/// Records written with the key through every append path (unary, session,
/// producer, `append_inputs` batches) come back byte-exact through both
/// read paths, on both ciphers; the stream reports its cipher.
pub async fn encrypted_stream_round_trips_on_every_path<R: Runtime + Default>(s2: S2<R>) {
    for (cipher, byte) in [(StreamCipher::Aegis256, 1), (StreamCipher::Aes256Gcm, 2)] {
        let plain = encrypted_stream(&s2, cipher).await;
        let info = stream_info(&s2, plain.basin_name(), plain.name()).await;
        assert_eq!(info.cipher, Some(cipher));
        let stream = plain.with_encryption_key(key(byte));

        stream
            .append(&batch(&["unary-0", "unary-1"]))
            .await
            .expect("append");
        let acks: Vec<_> = stream
            .append_all(futures_util::stream::iter(vec![batch(&["session-2"])]))
            .expect("append session")
            .try_collect()
            .await
            .expect("append session");
        assert_eq!(acks[0].end.seq_num, 3);
        let producer = stream
            .producer(s2_client::config::BatcherConfig::default())
            .expect("producer");
        let ack = producer
            .submit(AppendRecord::new("producer-3"))
            .await
            .expect("submit");
        producer.flush().await.expect("flush");
        assert_eq!(ack.await.expect("record ack").seq_num, 3);
        let records = (4..6).map(|i| AppendRecord::new(format!("inputs-{i}")));
        let inputs: Vec<_> = s2_client::session::append_inputs(
            R::default(),
            futures_util::stream::iter(records),
            s2_client::config::BatcherConfig::default().with_match_seq_num(Some(4)),
        )
        .expect("config")
        .try_collect()
        .await
        .expect("batches");
        let acks: Vec<_> = stream
            .append_all(futures_util::stream::iter(inputs))
            .expect("append session")
            .try_collect()
            .await
            .expect("append session of batches");
        assert_eq!(acks.last().map(|a| a.end.seq_num), Some(6));

        let expected: Vec<Vec<u8>> = [
            "unary-0",
            "unary-1",
            "session-2",
            "producer-3",
            "inputs-4",
            "inputs-5",
        ]
        .iter()
        .map(|b| b.as_bytes().to_vec())
        .collect();
        let unary = stream
            .read(&ReadRequest::new(ReadStart::SeqNum(0)))
            .await
            .expect("unary read");
        let unary: Vec<_> = unary.records().iter().map(|r| r.body().to_vec()).collect();
        assert_eq!(unary, expected, "{cipher:?} unary read");
        assert_eq!(
            read_all(&stream).await.expect("read session"),
            expected,
            "{cipher:?} read session"
        );
    }
}

/// Without the key, every append and read path of an encrypted stream
/// fails with `MissingKey`; with another key, reads fail with `WrongKey`.
/// Neither is retried nor said to have had an effect.
pub async fn encrypted_stream_refuses_missing_and_wrong_keys<R: Runtime + Default>(s2: S2<R>) {
    let plain = encrypted_stream(&s2, StreamCipher::Aegis256).await;
    let keyed = plain.clone().with_encryption_key(key(3));
    keyed.append(&batch(&["secret"])).await.expect("append");

    let appended = plain.append(&batch(&["no key"])).await;
    assert!(is_missing_key(&appended), "{appended:?}");
    let session: Result<Vec<_>, _> = plain
        .append_all(futures_util::stream::iter(vec![batch(&["no key"])]))
        .expect("append session")
        .try_collect()
        .await;
    assert!(
        matches!(&session, Err(Error::AppendSession { cause, .. })
            if matches!(**cause, Error::Encryption(EncryptionError::MissingKey { .. }))),
        "{session:?}"
    );
    // Refused as a whole: nothing of the session may have been applied.
    assert!(session.is_err_and(|e| !e.may_have_side_effect()));
    let read = plain.read(&ReadRequest::new(ReadStart::SeqNum(0))).await;
    assert!(is_missing_key(&read), "{read:?}");
    let read = read_all(&plain).await;
    assert!(is_missing_key(&read), "{read:?}");

    let wrong = plain.with_encryption_key(key(4));
    let read = wrong.read(&ReadRequest::new(ReadStart::SeqNum(0))).await;
    assert!(is_wrong_key(&read), "{read:?}");
    if let Err(e) = &read {
        assert!(!e.is_retryable() && !e.may_have_side_effect(), "{e}");
    }
    let read = read_all(&wrong).await;
    assert!(is_wrong_key(&read), "{read:?}");
    // Nothing of the refused appends landed.
    assert_eq!(
        read_all(&keyed).await.expect("read"),
        vec![b"secret".to_vec()]
    );
}

/// A basin reconfigured with a cipher encrypts the streams created after,
/// not those before; its configuration reports the cipher.
pub async fn basin_cipher_reconfiguration<R: Runtime + Default>(s2: S2<R>) {
    let basin_name = unique_basin_name("encrecfg");
    s2.create_basin(&basin_name, BasinConfig::default())
        .await
        .expect("create basin");
    assert_eq!(
        s2.get_basin_config(&basin_name)
            .await
            .expect("config")
            .stream_cipher,
        None
    );
    let basin = s2.basin(basin_name.clone());
    let before = StreamName::new("before").expect("name");
    basin
        .create_stream(&before, StreamConfig::default())
        .await
        .expect("create");
    let reconfigured = s2
        .reconfigure_basin(
            &basin_name,
            BasinConfig::new().with_stream_cipher(StreamCipher::Aes256Gcm),
        )
        .await
        .expect("reconfigure");
    assert_eq!(reconfigured.stream_cipher, Some(StreamCipher::Aes256Gcm));
    assert_eq!(
        s2.get_basin_config(&basin_name)
            .await
            .expect("config")
            .stream_cipher,
        Some(StreamCipher::Aes256Gcm)
    );
    let after = StreamName::new("after").expect("name");
    basin
        .create_stream(&after, StreamConfig::default())
        .await
        .expect("create");
    assert_eq!(stream_info(&s2, &basin_name, &before).await.cipher, None);
    assert_eq!(
        stream_info(&s2, &basin_name, &after).await.cipher,
        Some(StreamCipher::Aes256Gcm)
    );
    // The plain stream needs no key; the new one does.
    basin
        .stream(before)
        .append(&batch(&["plain"]))
        .await
        .expect("plain append");
    let refused = basin.stream(after).append(&batch(&["no key"])).await;
    assert!(is_missing_key(&refused), "{refused:?}");
}

/// A client through a proxy whose unary calls time out after 700 ms, and
/// whose sessions wait 700 ms for an ack.
fn stalled_client<R: Runtime + Default>(proxy: &s2_test_server::FaultProxy) -> S2<R> {
    let config = config()
        .with_endpoints(Endpoints::single(&proxy.endpoint()).expect("endpoint"))
        .with_request_timeout(Duration::from_millis(700))
        .with_append_retry_policy(AppendRetryPolicy::All)
        .with_retry(
            BackoffConfig::default()
                .with_max_retries(6)
                .with_base_delay(Duration::from_millis(50)),
        )
        .with_ack_timeout(Duration::from_millis(700));
    S2::with_runtime(config, R::default()).expect("client")
}

/// A conditioned unary append whose answer is held back lands, times out
/// and is retried; the retry's condition fails and the batch is read back
/// — with the key, or the read-back could not decrypt it — and
/// acknowledged. Likewise for an append session whose connection is cut
/// after its batch landed.
pub async fn exactly_once_read_backs_carry_the_key<R: Runtime + Default>(s2: S2<R>) {
    let Some(proxy) = crate::proxy() else { return };
    let direct = encrypted_stream(&s2, StreamCipher::Aegis256)
        .await
        .with_encryption_key(key(5));
    let faulty = stalled_client::<R>(&proxy)
        .basin(direct.basin_name().clone())
        .stream(direct.name().clone())
        .with_encryption_key(key(5));

    faulty.check_tail().await.expect("warm up");
    proxy.stall_responses(Duration::from_millis(1200));
    let input = batch(&["once", "only"]).with_match_seq_num(0);
    let ack = faulty.append(&input).await.expect("resolved, not failed");
    assert_eq!((ack.start.seq_num, ack.end.seq_num), (0, 2));

    let session = faulty.append_session().expect("append session");
    let warm = session
        .submit(batch(&["warm"]).with_match_seq_num(2))
        .await
        .expect("submit");
    assert_eq!(warm.await.expect("ack").start.seq_num, 2);
    proxy.stall_responses(Duration::from_millis(400));
    let held = session
        .submit(batch(&["held", "back"]).with_match_seq_num(3))
        .await
        .expect("submit");
    // Long enough for the batch to land; its ack is still held back.
    R::default().sleep(Duration::from_millis(200)).await;
    proxy.cut();
    let ack = held.await.expect("resolved by the read-back");
    assert_eq!((ack.start.seq_num, ack.end.seq_num), (3, 5));
    session.close().await.expect("close");

    let expected: Vec<Vec<u8>> = ["once", "only", "warm", "held", "back"]
        .iter()
        .map(|b| b.as_bytes().to_vec())
        .collect();
    assert_eq!(read_all(&direct).await.expect("read"), expected);
}
