//! The model in a simulated world: the real client on the world's runtime
//! and network, the model on the same runtime, faults drawn from the seed.
//! One seed gives one run: the same records, timestamps and fault counts.

use std::time::Duration;

use futures_util::StreamExt;
use rand::{SeedableRng, rngs::SmallRng};
use s2_client::{
    ClientConfig, Runtime, S2,
    config::{BackoffConfig, Endpoints},
    session::ReadItem,
    types::{AppendInput, AppendRecord, ReadLimit, ReadRequest, ReadStart, SequencedRecord},
};
use s2_sim::{
    World, WorldConfig,
    model::{FaultCounts, FaultKind, Faults, Model},
};

const LIMIT: Duration = Duration::from_secs(3600);

/// What one run leaves: the stream, as read back by the client and as the
/// model holds it, and the faults injected.
#[derive(Debug, PartialEq)]
struct Run {
    read: Vec<(u64, u64, bytes::Bytes)>,
    held: Vec<SequencedRecord>,
    faults: FaultCounts,
    trace: u64,
}

fn run(seed: u64) -> Run {
    let world = World::new(seed, WorldConfig::default());
    let runtime = world.runtime();
    let faults = Faults::none()
        .with(FaultKind::CutAfterApply, 0.05)
        .with(FaultKind::Unavailable, 0.05)
        .with(FaultKind::ReconnectAdvice, 0.05)
        .with(FaultKind::SlowAck, 0.1)
        .with(FaultKind::Stall, 0.02)
        .with_slow_ack_delay(Duration::from_millis(200))
        .with_stall(Duration::from_secs(15));
    let model = Model::new(runtime.clone(), SmallRng::seed_from_u64(seed)).with_faults(faults);
    model.create_stream("world-basin", "s");
    let listener = world.net().listen("model.s2", 80);
    let (serving, spawner) = (model.clone(), runtime.clone());
    runtime.spawn(Box::pin(async move {
        loop {
            let conn = listener.accept().await;
            spawner.spawn(Box::pin(serving.serve(conn)));
        }
    }));

    let config = ClientConfig::new("token")
        .with_endpoints(Endpoints::single("http://model.s2:80").expect("endpoint"))
        .with_insecure_http_to_remote_hosts()
        .with_retry(BackoffConfig::default().with_max_retries(20))
        .with_ack_timeout(Duration::from_secs(5));
    let s2 = S2::with_runtime(config, runtime.clone()).expect("client");
    let stream = s2
        .basin("world-basin".parse().expect("basin"))
        .stream("s".parse().expect("stream"));
    let read = world
        .block_on(
            async {
                let session = stream.append_session().expect("session");
                let mut acks = Vec::new();
                for i in 0..100u64 {
                    let records: Vec<_> = (0..3)
                        .map(|j| AppendRecord::new(format!("{seed}-{i}-{j}")))
                        .collect();
                    let mut input = AppendInput::new(records).expect("batch");
                    if i == 0 {
                        input = input.with_match_seq_num(0);
                    }
                    acks.push(session.submit(input).await.expect("submit"));
                }
                session.close().await.expect("close");
                for (i, ack) in acks.into_iter().enumerate() {
                    assert_eq!(ack.await.expect("ack").start.seq_num, 3 * i as u64);
                }
                let request =
                    ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(300));
                let mut session = stream.read_session(request);
                let mut read = Vec::new();
                while let Some(item) = session.next().await {
                    if let ReadItem::Batch(batch) = item.expect("read") {
                        read.extend(
                            batch
                                .records
                                .into_iter()
                                .map(|r| (r.seq_num(), r.timestamp(), r.body().clone())),
                        );
                    }
                }
                read
            },
            LIMIT,
        )
        .expect("the run ends");
    Run {
        read,
        held: model.records("world-basin", "s").expect("stream"),
        faults: model.fault_counts(),
        trace: world.trace_hash(),
    }
}

#[test]
fn a_seed_replays_the_same_run() {
    let first = run(7);
    assert_eq!(first.read.len(), 300);
    assert_eq!(first.held.len(), 300, "nothing lost or duplicated");
    for (i, (record, held)) in first.read.iter().zip(&first.held).enumerate() {
        assert_eq!(record.0, i as u64);
        assert_eq!((record.1, &record.2), (held.timestamp(), held.body()));
    }
    assert!(first.faults.total() > 0, "{:?}", first.faults);
    eprintln!("seed 7: {:?}", first.faults);
    assert_eq!(run(7), first);
    assert_ne!(run(8).faults, first.faults, "another seed, other faults");
}
