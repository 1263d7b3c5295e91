//! Metered size of a whole batch (`MeteredBytes` on a `Vec<AppendRecord>`).

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use s2_benches::{SIZES, append_records};
use s2_core::types::MeteredBytes;

fn metering(c: &mut Criterion) {
    let mut group = c.benchmark_group("metering");
    for size in SIZES {
        let records = append_records(size.batch_records, size.body_len);
        group.throughput(Throughput::Bytes(records.metered_bytes()));
        group.bench_function(
            format!("metered_bytes/{}x{}", size.batch_records, size.name),
            |b| b.iter(|| black_box(&records).metered_bytes()),
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = s2_benches::quick_criterion();
    targets = metering
}
criterion_main!(benches);
