//! Inputs shared by the `s2-core` benchmarks (`cargo bench --bench
//! metering|batching|framing` from the workspace root).
//!
//! Record bodies are slices of one buffer of log-like text: distinct per
//! record, compressible about as well as real application logs, and built
//! without one allocation per record.

use bytes::Bytes;
use s2_core::types::{
    AppendInput, AppendRecord, Header, ReadBatch, SequencedRecord, StreamPosition,
};

/// One record size the benchmarks are run at.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// Label in the benchmark id.
    pub name: &'static str,
    /// Body length of every record, in bytes.
    pub body_len: usize,
    /// Records in one full batch of this size (within 1000 records and
    /// 1 MiB metered).
    pub batch_records: usize,
}

/// 100 B, 1 KiB and 64 KiB bodies. 64 KiB batches hold 15 records: 16 would
/// be 1 048 704 metered bytes, just over the 1 MiB batch limit.
pub const SIZES: [Size; 3] = [
    Size {
        name: "100B",
        body_len: 100,
        batch_records: 1000,
    },
    Size {
        name: "1KiB",
        body_len: 1024,
        batch_records: 1000,
    },
    Size {
        name: "64KiB",
        body_len: 64 * 1024,
        batch_records: 15,
    },
];

/// `count` distinct bodies of `len` bytes each, sliced from one buffer.
pub fn bodies(count: usize, len: usize) -> Vec<Bytes> {
    let mut text = Vec::with_capacity(count * len + 128);
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut line = 0u64;
    while text.len() < count * len {
        // xorshift64: cheap, deterministic field values.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        line += 1;
        let level = ["info", "debug", "warn"][(state % 3) as usize];
        text.extend_from_slice(
            format!(
                "ts=1717171717{line:06} level={level} svc=orders req={state:016x} \
                 latency_ms={} msg=\"processed order\"\n",
                state % 997
            )
            .as_bytes(),
        );
    }
    let text = Bytes::from(text);
    (0..count)
        .map(|i| text.slice(i * len..(i + 1) * len))
        .collect()
}

/// The header every benchmark record carries (8 metered bytes with its
/// 2-byte overhead).
pub fn header() -> Header {
    Header::new(Bytes::from_static(b"ct"), Bytes::from_static(b"json"))
}

/// `count` append records with `len`-byte bodies and one header.
pub fn append_records(count: usize, len: usize) -> Vec<AppendRecord> {
    bodies(count, len)
        .into_iter()
        .map(|body| AppendRecord::new(body).with_headers([header()]))
        .collect()
}

/// One full, valid append batch of `size`.
pub fn append_input(size: Size) -> AppendInput {
    AppendInput::new(append_records(size.batch_records, size.body_len))
        .expect("benchmark batches are within the limits")
        .with_match_seq_num(1_000_000)
}

/// A read batch of `size` as the service sends it.
pub fn read_batch(size: Size) -> ReadBatch {
    let records = bodies(size.batch_records, size.body_len)
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let at = StreamPosition::new(1_000_000 + i as u64, 1_717_171_717_000 + i as u64);
            SequencedRecord::new(at, body).with_headers([header()])
        })
        .collect();
    ReadBatch {
        records,
        tail: None,
    }
}

/// The measurement settings every bench uses: short, so the three benches
/// finish in a few minutes.
pub fn quick_criterion() -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3))
        .sample_size(20)
}

/// The batcher the batching benches feed: default limits, 5 ms linger,
/// conditioned batches.
pub fn bench_batcher() -> s2_core::batcher::Batcher {
    s2_core::batcher::Batcher::new(
        s2_core::batcher::BatcherConfig::default()
            .with_linger(Some(std::time::Duration::from_millis(5)))
            .with_match_seq_num(Some(0)),
    )
    .expect("valid batcher config")
}
