//! Helpers the conformance cases share.

use bytes::Bytes;
use futures_util::StreamExt;
use s2_client::{
    Error, Runtime,
    types::{
        AppendInput, AppendRecord, ReadLimit, ReadOutput, ReadRequest, ReadStart, SequencedRecord,
        StreamName,
    },
};

/// A mebibyte.
pub const MIB: u64 = 1024 * 1024;

/// A stream name, which must be valid.
pub fn stream_name(name: &str) -> StreamName {
    StreamName::new(name).expect("valid stream name")
}

/// The HTTP status and code of a service error; panics on any other error.
pub fn service_code(error: &Error) -> (u16, &str) {
    match error {
        Error::Service(e) => (e.status, e.code.as_str()),
        other => panic!("expected a service error, got {other:?}"),
    }
}

/// A batch of `records`, which must be a valid one.
pub fn batch(records: Vec<AppendRecord>) -> AppendInput {
    AppendInput::new(records).expect("valid batch")
}

/// A body that compresses well and is well over the 1 KiB threshold.
pub fn compressible(i: usize) -> Bytes {
    Bytes::from(format!("record {i}: {}", "compressible ".repeat(400)))
}

/// Appends `count` records `record-{i}`, timestamped 10 ms apart from
/// `timestamp_base`.
pub async fn append_numbered<R: Runtime + Default>(
    stream: &s2_client::S2Stream<R>,
    count: u64,
    timestamp_base: u64,
) {
    let records = (0..count)
        .map(|i| AppendRecord::new(format!("record-{i}")).with_timestamp(timestamp_base + i * 10))
        .collect::<Vec<_>>();
    stream.append(&batch(records)).await.expect("append");
}

/// The sequence numbers of a read's records.
pub fn seq_nums(output: &ReadOutput) -> Vec<u64> {
    output.records().iter().map(|r| r.seq_num()).collect()
}

/// `batches` batches of `per_batch` records, each named by its batch and
/// place.
pub fn numbered_batches(batches: u64, per_batch: u64) -> Vec<AppendInput> {
    (0..batches)
        .map(|b| {
            batch(
                (0..per_batch)
                    .map(|i| AppendRecord::new(format!("batch {b} record {i}")))
                    .collect(),
            )
        })
        .collect()
}

/// Every record of `stream` up to its tail, read with a read session.
pub async fn read_all<R: Runtime + Default>(
    stream: &s2_client::S2Stream<R>,
) -> Vec<SequencedRecord> {
    let tail = stream.check_tail().await.expect("tail").seq_num;
    let mut session = stream
        .read_session(ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(tail)));
    let mut records = Vec::new();
    while let Some(item) = session.next().await {
        if let s2_client::session::ReadItem::Batch(batch) = item.expect("read session") {
            records.extend(batch.records);
        }
    }
    records
}
