//! End-to-end load tool with the flags and output of `s2 bench` (the
//! official CLI), so the two can run side by side against one server:
//! a paced writer (a `Producer`: per-record acks through one append
//! session), a live reader (a read session), then a catch-up read.
//!
//! ```text
//! cargo run --release -p s2-benches --bin bench -- my-basin -t 20 -d 30s -w 5s
//! ```
//! It reads the `S2_*` variables as `ClientConfig::from_env` does (against
//! a local `s2 lite --port 8080`: `S2_ACCOUNT_ENDPOINT=http://localhost:8080`
//! and any `S2_ACCESS_TOKEN`), creates the basin if missing and a temporary
//! stream `bench/<random>`, deleted at the end. Unlike the other examples it
//! embeds no server when none is set: the process it measures is the client
//! alone.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use bytes::{BufMut, BytesMut};
use clap::Parser;
use futures_util::{FutureExt, StreamExt};
use s2_tokio::{
    ClientConfig, S2,
    config::BatcherConfig,
    session::ReadItem,
    types::{
        AppendRecord, BasinConfig, BasinName, ReadLimit, ReadRequest, ReadStart, StorageClass,
        StreamConfig, StreamName,
    },
};

/// Benchmark a stream to measure throughput and latency.
#[derive(Parser, Clone)]
struct Args {
    /// Name of the basin to use for the test.
    basin: String,
    /// Storage class for the test stream (standard or express).
    #[arg(short = 'c', long)]
    storage_class: Option<String>,
    /// Total metered record size in bytes (includes headers and overhead).
    #[arg(short = 'b', long, default_value_t = 8192)]
    record_size: usize,
    /// Target write throughput in MiB/s.
    #[arg(short = 't', long, default_value_t = 1.0)]
    target_mibps: f64,
    /// Run test for this duration.
    #[arg(short = 'd', long, default_value = "60s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Delay before starting the catchup read.
    #[arg(short = 'w', long, default_value = "20s", value_parser = humantime::parse_duration)]
    catchup_delay: Duration,
}

/// Metered overhead of a record without headers.
const RECORD_OVERHEAD: usize = 8;
/// Bytes of the body that carry the send time.
const STAMP: usize = 8;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if args.record_size < RECORD_OVERHEAD + STAMP {
        return Err(format!("record size must be at least {}", RECORD_OVERHEAD + STAMP).into());
    }
    let s2 = S2::new(ClientConfig::from_env()?)?;
    let basin_name = BasinName::new(args.basin.clone())?;
    s2.ensure_basin(&basin_name, BasinConfig::default()).await?;
    let basin = s2.basin(basin_name.clone());
    let stream_name = StreamName::new(format!("bench/{:032x}", rand::random::<u128>()))?;
    let mut config = StreamConfig::new();
    if let Some(class) = &args.storage_class {
        config = config.with_storage_class(match class.as_str() {
            "standard" => StorageClass::Standard,
            "express" => StorageClass::Express,
            other => return Err(format!("unknown storage class {other}").into()),
        });
    }
    basin.create_stream(&stream_name, config).await?;
    println!(
        "Creating temporary stream s2://{basin_name}/{stream_name} (storage class: {})",
        args.storage_class.as_deref().unwrap_or("<default>")
    );
    println!(
        "Running for {} targeting {} MiB/s with {} byte records, Ctrl+C to end early",
        humantime::format_duration(args.duration),
        args.target_mibps,
        args.record_size
    );
    let stream = basin.stream(stream_name.clone());
    let epoch = Instant::now();

    let (total_tx, total_rx) = tokio::sync::oneshot::channel();
    // Both loops run as tasks on the runtime's workers, as in a service;
    // `main` runs outside them, and waking it takes a thread switch.
    let reader = tokio::spawn(read_live(stream.clone(), epoch, total_rx));
    let writer = tokio::spawn(write_paced(stream.clone(), args.clone(), epoch));
    let written = writer.await??;
    let _ = total_tx.send(written.records);
    let read = reader.await??;

    println!();
    println!(
        "{}",
        throughput_line("Write", written.bytes, written.records, written.elapsed)
    );
    println!(
        "{}",
        throughput_line("Read", read.bytes, read.records, read.elapsed)
    );
    println!();
    print_latencies(written.ack_latencies, read.latencies);

    println!();
    println!(
        "Waiting {} before catchup read...",
        humantime::format_duration(args.catchup_delay)
    );
    tokio::time::sleep(args.catchup_delay).await;
    let started = Instant::now();
    let mut session = stream.read_session(
        ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(written.records)),
    );
    let (mut bytes, mut records) = (0u64, 0u64);
    while let Some(item) = session.next().await {
        if let ReadItem::Batch(batch) = item? {
            records += batch.records.len() as u64;
            bytes += batch.records.iter().map(metered).sum::<u64>();
        }
    }
    println!(
        "{}",
        throughput_line("Catchup", bytes, records, started.elapsed())
    );
    basin.delete_stream(&stream_name).await?;
    Ok(())
}

fn metered(record: &s2_tokio::types::SequencedRecord) -> u64 {
    use s2_tokio::types::MeteredBytes;
    record.metered_bytes()
}

struct Written {
    bytes: u64,
    records: u64,
    elapsed: Duration,
    ack_latencies: Histogram,
}

/// Submits records at the target rate through a producer, timing each ack.
/// Acks are awaited in this task, oldest first, between submissions.
async fn write_paced(
    stream: s2_tokio::S2Stream,
    args: Args,
    epoch: Instant,
) -> Result<Written, s2_tokio::Error> {
    let producer =
        stream.producer(BatcherConfig::default().with_linger(Some(Duration::from_millis(5))))?;
    let filler: Vec<u8> = (0..args.record_size).map(|_| rand::random()).collect();
    let body_len = args.record_size - RECORD_OVERHEAD;
    let bytes_per_sec = args.target_mibps * 1024.0 * 1024.0;
    let mut latencies = Histogram::default();
    let mut pending: VecDeque<(Instant, s2_tokio::session::RecordAckFuture)> = VecDeque::new();
    let started = Instant::now();
    let mut records = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    loop {
        // One clock read per step: it paces, stamps the record and times
        // the acks found ready with the first one.
        let now = Instant::now();
        let elapsed = now - started;
        if elapsed >= args.duration {
            break;
        }
        let due = (elapsed.as_secs_f64() * bytes_per_sec) as u64 / args.record_size as u64;
        if records >= due {
            tokio::select! {
                biased;
                (sent, ack) = next_ack(&mut pending) => {
                    ack?;
                    time_ready_acks(sent, &mut pending, &mut latencies)?;
                }
                _ = tick.tick() => {}
            }
            continue;
        }
        let mut body = BytesMut::with_capacity(body_len);
        body.put_u64((now - epoch).as_nanos() as u64);
        body.put_slice(&filler[..body_len - STAMP]);
        // Acks are timed as they come, also while a submit waits for room
        // (a submit is cancel-safe: dropped, it submitted nothing).
        tokio::select! {
            biased;
            (sent, ack) = next_ack(&mut pending) => {
                ack?;
                time_ready_acks(sent, &mut pending, &mut latencies)?;
            }
            ack = producer.submit(AppendRecord::new(body.freeze())) => {
                pending.push_back((now, ack?));
                records += 1;
            }
        }
    }
    let elapsed = started.elapsed();
    producer.close().await?;
    for (sent, ack) in pending {
        ack.await?;
        latencies.record(sent.elapsed());
    }
    Ok(Written {
        bytes: records * args.record_size as u64,
        records,
        elapsed,
        ack_latencies: latencies,
    })
}

/// Times an ack just resolved (sent at `sent`), and the pending acks
/// after it that are ready too (a batch's records are acknowledged
/// together), with one clock read.
fn time_ready_acks(
    sent: Instant,
    pending: &mut VecDeque<(Instant, s2_tokio::session::RecordAckFuture)>,
    latencies: &mut Histogram,
) -> Result<(), s2_tokio::Error> {
    let now = Instant::now();
    latencies.record(now - sent);
    while let Some((sent, ack)) = pending.front_mut() {
        let Some(ack) = ack.now_or_never() else {
            break;
        };
        ack?;
        latencies.record(now - *sent);
        pending.pop_front();
    }
    Ok(())
}

/// The oldest pending ack, once it resolves (never, while there is none).
async fn next_ack(
    pending: &mut VecDeque<(Instant, s2_tokio::session::RecordAckFuture)>,
) -> (
    Instant,
    Result<s2_tokio::session::RecordAck, s2_tokio::Error>,
) {
    let Some((sent, ack)) = pending.front_mut() else {
        return std::future::pending().await;
    };
    let (sent, result) = (*sent, ack.await);
    pending.pop_front();
    (sent, result)
}

struct Read {
    bytes: u64,
    records: u64,
    elapsed: Duration,
    latencies: Histogram,
}

/// Follows the stream live, timing each record from its send time, until
/// it has seen as many records as the writer reports it wrote.
async fn read_live(
    stream: s2_tokio::S2Stream,
    epoch: Instant,
    mut total: tokio::sync::oneshot::Receiver<u64>,
) -> Result<Read, s2_tokio::Error> {
    let mut session = stream.read_session(ReadRequest::new(ReadStart::SeqNum(0)));
    let mut expected: Option<u64> = None;
    let (mut bytes, mut records) = (0u64, 0u64);
    let mut latencies = Histogram::default();
    let mut first: Option<Instant> = None;
    let mut last = Instant::now();
    while expected.is_none_or(|expected| records < expected) {
        tokio::select! {
            item = session.next() => match item {
                Some(Ok(ReadItem::Batch(batch))) => {
                    let now = Instant::now();
                    first.get_or_insert(now);
                    last = now;
                    for record in &batch.records {
                        if let Some(stamp) = record.body().get(..STAMP) {
                            let sent = u64::from_be_bytes(stamp.try_into().unwrap_or_default());
                            latencies.record(now.saturating_duration_since(epoch + Duration::from_nanos(sent)));
                        }
                        bytes += metered(record);
                    }
                    records += batch.records.len() as u64;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => break,
            },
            written = &mut total, if expected.is_none() => {
                expected = Some(written.unwrap_or(0));
            }
        }
    }
    Ok(Read {
        bytes,
        records,
        elapsed: first.map_or(Duration::ZERO, |first| last - first),
        latencies,
    })
}

fn throughput_line(label: &str, bytes: u64, records: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(f64::EPSILON);
    format!(
        "{label}: {:.2} MiB/s, {:.0} records/s ({bytes} bytes, {records} records in {secs:.2}s)",
        bytes as f64 / secs / (1024.0 * 1024.0),
        records as f64 / secs
    )
}

fn print_latencies(ack: Histogram, end_to_end: Histogram) {
    let left = format!("Ack Latency Statistics (n={})", ack.count);
    println!(
        "{left:<48}End-to-End Latency Statistics (n={})",
        end_to_end.count
    );
    for (name, q) in [
        ("min", 0.0),
        ("p50", 0.5),
        ("p90", 0.9),
        ("p99", 0.99),
        ("max", 1.0),
    ] {
        let left = format!("{name:<7}: {:>8}", ms(ack.quantile(q)));
        println!("{left:<48}{name:<7}: {:>8}", ms(end_to_end.quantile(q)));
    }
}

/// Latencies in log-linear buckets (each power of two split in 64 equal
/// steps, exact below 128 ns): constant memory however many records are
/// timed, and no floating point per sample, so the tool's own bookkeeping
/// stays out of the client's figures. Quantiles are accurate to 1%.
struct Histogram {
    buckets: Vec<u64>,
    count: u64,
    min: Duration,
    max: Duration,
}

/// Sub-buckets per power of two (and the first exact values, twice that).
const STEPS: u64 = 64;

impl Default for Histogram {
    fn default() -> Self {
        Self {
            // Every u64 of nanoseconds has a bucket.
            buckets: vec![0; bucket(u64::MAX) + 1],
            count: 0,
            min: Duration::MAX,
            max: Duration::ZERO,
        }
    }
}

/// The bucket of `nanos`: the value itself below `2 * STEPS`, else its
/// power of two and its top bits below the leading one.
fn bucket(nanos: u64) -> usize {
    if nanos < 2 * STEPS {
        return nanos as usize;
    }
    let shift = u64::from(63 - nanos.leading_zeros()) - STEPS.trailing_zeros() as u64;
    (2 * STEPS + (shift - 1) * STEPS + ((nanos >> shift) - STEPS)) as usize
}

/// The middle of bucket `index`, in nanoseconds.
fn bucket_middle(index: usize) -> u64 {
    let index = index as u64;
    if index < 2 * STEPS {
        return index;
    }
    let step = index - 2 * STEPS;
    let shift = step / STEPS + 1;
    ((step % STEPS + STEPS) << shift) + (1 << (shift - 1))
}

impl Histogram {
    fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[bucket(nanos)] += 1;
        self.count += 1;
        self.min = self.min.min(latency);
        self.max = self.max.max(latency);
    }

    fn quantile(&self, q: f64) -> Option<Duration> {
        let last_rank = self.count.checked_sub(1)?;
        let rank = ((last_rank as f64) * q).round() as u64;
        if rank == 0 {
            return Some(self.min);
        }
        if rank == last_rank {
            return Some(self.max);
        }
        let mut seen = 0;
        for (bucket, count) in self.buckets.iter().enumerate() {
            seen += count;
            if seen > rank {
                // The bucket's middle, within its bounds [min, max].
                let nanos = bucket_middle(bucket);
                return Some(Duration::from_nanos(nanos).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(
        || "-".into(),
        |d| format!("{:.2}ms", d.as_secs_f64() * 1000.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_their_middles_within_one_percent() {
        let within_one_percent = |nanos: u64| {
            let middle = bucket_middle(bucket(nanos)) as f64;
            let error = (middle - nanos as f64).abs() / (nanos as f64).max(1.0);
            assert!(error <= 0.01, "{nanos} ns read back as {middle}");
        };
        let mut last = 0;
        for nanos in 0..100_000u64 {
            let index = bucket(nanos);
            assert!(index >= last, "{nanos} ns went back to bucket {index}");
            last = index;
            within_one_percent(nanos);
        }
        for nanos in (0..64).map(|i| 1u64 << i).chain([u64::MAX]) {
            within_one_percent(nanos);
        }
    }
}
