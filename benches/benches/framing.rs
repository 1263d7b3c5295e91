//! The `s2s` frame codec with protobuf payloads: `AppendInput` encode
//! (client to service) and `ReadBatch` decode (service to client, with the
//! bounds check every read does), for full batches, uncompressed and
//! zstd-compressed. Throughput is the uncompressed protobuf message size.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use s2_benches::{SIZES, Size, append_input, read_batch};
use s2_core::{
    frame::{self, Compression, Frame, FrameDecoder, WireMessage},
    types::ReadBatch,
};

/// HTTP/2's default largest DATA frame: how a session's bytes usually arrive.
const H2_CHUNK: usize = 16 * 1024;

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("framing/encode");
    let cases = SIZES
        .iter()
        .map(|&size| (size, Compression::None))
        .chain([(SIZES[1], Compression::Zstd)]);
    for (size, compression) in cases {
        let input = append_input(size);
        group.throughput(Throughput::Bytes(input.encoded_len() as u64));
        let mut out = BytesMut::with_capacity(4 * 1024 * 1024);
        group.bench_function(bench_id("append_input", size, compression), |b| {
            b.iter(|| {
                out.clear();
                frame::encode_message(&mut out, black_box(&input), compression).unwrap();
                out.len()
            })
        });
    }
    group.finish();
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("framing/decode");
    let cases = SIZES
        .iter()
        .map(|&size| (size, Compression::None, None))
        .chain([
            (SIZES[1], Compression::Zstd, None),
            (SIZES[1], Compression::None, Some(H2_CHUNK)),
        ]);
    for (size, compression, chunk) in cases {
        let batch = read_batch(size);
        let mut wire = BytesMut::new();
        frame::encode_message(&mut wire, &batch, compression).unwrap();
        if compression != Compression::None {
            assert_ne!(wire[3] & 0x60, 0, "benchmark data should compress");
        }
        let wire = wire.freeze();
        let chunks: Vec<Bytes> = match chunk {
            Some(n) => (0..wire.len())
                .step_by(n)
                .map(|at| wire.slice(at..(at + n).min(wire.len())))
                .collect(),
            None => vec![wire],
        };
        let mut id = bench_id("read_batch", size, compression);
        if let Some(n) = chunk {
            id.push_str(&format!("/chunks_{}KiB", n / 1024));
        }
        group.throughput(Throughput::Bytes(batch.encoded_len() as u64));
        group.bench_function(id, |b| {
            b.iter(|| {
                let mut decoder = FrameDecoder::default();
                for chunk in &chunks {
                    decoder.handle_data(chunk.clone());
                }
                let Some(Frame::Message { payload, .. }) = decoder.poll_frame().unwrap() else {
                    panic!("expected a message frame");
                };
                let batch = ReadBatch::decode(payload).unwrap();
                black_box(batch.records.len())
            })
        });
    }
    group.finish();
}

fn bench_id(message: &str, size: Size, compression: Compression) -> String {
    let compression = match compression {
        Compression::None => "none",
        Compression::Zstd => "zstd",
        Compression::Gzip => "gzip",
    };
    format!(
        "{message}/{}x{}/{compression}",
        size.batch_records, size.name
    )
}

criterion_group! {
    name = benches;
    config = s2_benches::quick_criterion();
    targets = encode, decode
}
criterion_main!(benches);
