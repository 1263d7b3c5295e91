//! Records through the `Batcher`, every batch encoded as an `s2s` frame:
//! the client's whole append path short of the network.
//!
//! Each iteration feeds about 4 MiB of bodies with the default limits
//! (1000 records, 1 MiB) and a 5 ms linger that never expires (a producer
//! this fast fills batches first) and encodes each batch into one reused
//! `BytesMut`. Throughput is body bytes. No variant times dropping the
//! records (that is the caller's, once a batch is acknowledged). Records are cloned
//! from a template outside the timed section. `batch_only` runs the batcher
//! alone and returns the batches, so neither encoding nor dropping is timed.
//! `memcpy` copies the same bodies into the same reused buffer, one
//! `extend_from_slice` per record, cleared every 1 MiB: the machine's limit
//! for touching these bytes once, measured in the same run so the ratio
//! `batch_and_frame / memcpy` is visible.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::{hint::black_box, time::Instant};

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use s2_benches::{SIZES, append_records};
use s2_core::{
    batcher::Batcher,
    frame::{self, Compression},
    types::{AppendInput, AppendRecord},
};

const BODY_BYTES_PER_ITER: usize = 4 * 1024 * 1024;

fn batching(c: &mut Criterion) {
    let mut group = c.benchmark_group("batching");
    for size in SIZES {
        let count = BODY_BYTES_PER_ITER / size.body_len;
        let template = append_records(count, size.body_len);
        group.throughput(Throughput::Bytes((count * size.body_len) as u64));
        // One output buffer for the variants of a size, allocated after its
        // bodies: their placement relative to each other halved the speed
        // of encoding 64 KiB bodies when the buffer was made first.
        let mut out = BytesMut::with_capacity(2 * 1024 * 1024);
        group.bench_function(format!("batch_and_frame/{}", size.name), |b| {
            b.iter_batched(
                || template.clone(),
                |records| {
                    let mut frames = 0usize;
                    let batches = batch_all(records, |input| {
                        out.clear();
                        frame::encode_message(&mut out, input, Compression::None).unwrap();
                        frames += black_box(out.len());
                    });
                    (frames, batches)
                },
                BatchSize::LargeInput,
            )
        });
        // The floor: the same bodies copied once into the same buffer.
        group.bench_function(format!("memcpy/{}", size.name), |b| {
            b.iter_batched(
                || template.clone(),
                |records| {
                    let mut copied = 0usize;
                    for record in &records {
                        if out.len() + record.body().len() > 1024 * 1024 {
                            copied += black_box(out.len());
                            out.clear();
                        }
                        out.extend_from_slice(record.body());
                    }
                    copied += black_box(out.len());
                    out.clear();
                    // Returned, so dropping the records is not timed.
                    (copied, records)
                },
                BatchSize::LargeInput,
            )
        });
        // The batcher alone (no encoding), to tell its share of the cost.
        group.bench_function(format!("batch_only/{}", size.name), |b| {
            b.iter_batched(
                || template.clone(),
                |records| batch_all(records, |_| {}),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

/// Feeds `records` through a fresh bench batcher, calling `each` on every
/// batch as it closes. The batches are returned, so dropping the records is
/// not timed.
fn batch_all(records: Vec<AppendRecord>, mut each: impl FnMut(&AppendInput)) -> Vec<AppendInput> {
    let now = Instant::now();
    let mut batcher = s2_benches::bench_batcher();
    let mut batches = Vec::new();
    let mut drain = |batcher: &mut Batcher| {
        while let Some(input) = batcher.poll_output() {
            each(&input);
            batches.push(input);
        }
    };
    for record in records {
        batcher.handle_record(record, now).unwrap();
        drain(&mut batcher);
    }
    batcher.flush();
    drain(&mut batcher);
    batches
}

criterion_group! {
    name = benches;
    config = s2_benches::quick_criterion();
    targets = batching
}
criterion_main!(benches);
