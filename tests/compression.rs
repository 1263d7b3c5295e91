//! Compression: compressed reads and compressed request bodies (unary
//! appends and session frames) round-trip byte-exact.

use bytes::Bytes;
use futures_util::StreamExt;
use s2_client::{
    Runtime, S2,
    config::{AppendSessionOptions, Compression},
    types::{AppendRecord, ReadRequest, ReadStart},
};

use crate::{
    fresh_stream,
    support::{batch, compressible},
};

/// With compression on, large reads come back compressed and intact.
pub async fn compressed_reads_round_trip<R: Runtime + Default>(_s2: S2<R>) {
    let s2 = S2::<R>::with_runtime(
        crate::config().with_compression(s2_client::config::Compression::Zstd),
        R::default(),
    )
    .expect("client");
    let stream = fresh_stream(&s2, "zstd").await;
    let body = Bytes::from("compressible ".repeat(5_000));
    stream
        .append(&batch(vec![AppendRecord::new(body.clone()); 10]))
        .await
        .expect("append");
    let records = stream
        .read(&ReadRequest::new(ReadStart::SeqNum(0)))
        .await
        .expect("read")
        .into_records();
    assert_eq!(records.len(), 10);
    assert!(records.iter().all(|r| *r.body() == body));
}

/// Gzip and zstd request bodies reach s2-lite and read back byte-exact:
/// unary appends (the client's compression) and session frames (the
/// client's, or the session's own).
pub async fn compressed_appends_round_trip<R: Runtime + Default>(_: S2<R>) {
    for compression in [Compression::Gzip, Compression::Zstd] {
        let s2 = S2::<R>::with_runtime(crate::config().with_compression(compression), R::default())
            .expect("client");
        let stream = crate::fresh_stream(&s2, "compressed").await;
        let unary: Vec<_> = (0..5).map(compressible).collect();
        stream
            .append(&batch(
                unary.iter().cloned().map(AppendRecord::new).collect(),
            ))
            .await
            .expect("compressed unary append");

        // The client compresses as `compression`; this session the other way.
        let other = match compression {
            Compression::Gzip => Compression::Zstd,
            _ => Compression::Gzip,
        };
        let sessions: Vec<_> = (5..10).map(compressible).collect();
        let inputs = vec![
            batch(
                sessions[..2]
                    .iter()
                    .cloned()
                    .map(AppendRecord::new)
                    .collect(),
            ),
            batch(
                sessions[2..]
                    .iter()
                    .cloned()
                    .map(AppendRecord::new)
                    .collect(),
            ),
        ];
        let options = AppendSessionOptions::new().with_compression(other);
        let acks: Vec<_> = stream
            .append_all_with(futures_util::stream::iter(inputs), &options)
            .expect("client open")
            .collect()
            .await;
        assert!(acks.iter().all(Result::is_ok), "{acks:?}");

        let read = stream
            .read(&ReadRequest::new(ReadStart::SeqNum(0)))
            .await
            .expect("read")
            .into_records();
        let bodies: Vec<_> = read.iter().map(|r| r.body().clone()).collect();
        let expected: Vec<_> = unary.into_iter().chain(sessions).collect();
        assert_eq!(bodies, expected, "{compression:?}");
    }
}
