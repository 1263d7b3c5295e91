//! The workload: concurrent clients on one stream, each its own `S2` behind
//! its own fault proxy, doing random operations while a fault thread cuts
//! and stalls their connections. Every operation goes into the history;
//! every record carries a unique key, so the final stream says which
//! operation put it there.

pub(crate) mod client;
mod stats;

use std::{
    net::ToSocketAddrs,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread,
    time::Duration,
};

use futures_util::{StreamExt, future::join_all};
use rand::{Rng, SeedableRng, rngs::SmallRng};
use s2_client::{
    ClientConfig, Runtime, S2, S2Stream,
    config::{AppendRetryPolicy, BackoffConfig, Endpoints},
    session::ReadItem,
    types::{ReadLimit, ReadRequest, ReadStart},
};
use s2_test_server::FaultProxy;

use super::history::{History, RecordKey, Recorder, sequenced_key};
use crate::{config, fresh_stream};
use client::Client;
pub use stats::Stats;

/// What to run.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Seeds every client's choices and the fault schedule.
    pub seed: u64,
    /// Concurrent clients.
    pub clients: usize,
    /// Operations each client runs (a session or producer counts as one).
    pub ops_per_client: usize,
    /// Whether the fault thread cuts and stalls connections.
    pub faults: bool,
}

impl Default for Workload {
    fn default() -> Self {
        Self {
            seed: 0,
            clients: 4,
            ops_per_client: 150,
            faults: true,
        }
    }
}

/// What a run produced.
#[derive(Debug)]
pub struct Run {
    /// Every operation.
    pub history: History,
    /// The final content of the stream.
    pub stream: Vec<RecordKey>,
    /// Counts for the report.
    pub stats: Stats,
}

/// Runs `workload` against the test target on runtime `R` and reads the
/// stream back once every client is done. Returns `None` when the target
/// is not reachable through a proxy.
pub async fn run<R: Runtime + Default>(workload: &Workload) -> Option<Run> {
    let upstream = upstream()?;
    let direct = fresh_stream(&S2::<R>::with_runtime(config(), R::default()).ok()?, "lin").await;
    let proxies: Arc<Vec<FaultProxy>> = Arc::new(
        (0..workload.clients)
            .map(|_| FaultProxy::start(upstream).expect("proxy"))
            .collect(),
    );
    let recorder = Recorder::default();
    let stop = Arc::new(AtomicBool::new(false));
    let fault_stats = Arc::new(Mutex::new(Stats::default()));
    let injector = workload.faults.then(|| {
        let (proxies, stop) = (proxies.clone(), stop.clone());
        let (stats, seed) = (fault_stats.clone(), workload.seed);
        thread::spawn(move || inject_faults(seed, &proxies, &stop, &stats))
    });
    let next_session = AtomicU64::new(0);
    let clients = proxies.iter().enumerate().map(|(c, proxy)| {
        // Half the clients at-least-once, half with tight unacknowledged
        // caps (so submits wait, and cancelling them means something).
        let policy = if c % 2 == 0 {
            AppendRetryPolicy::NoSideEffects
        } else {
            AppendRetryPolicy::All
        };
        let tight = (c / 2) % 2 == 1;
        let stream = client_through::<R>(proxy, policy, tight)
            .basin(direct.basin_name().clone())
            .stream(direct.name().clone());
        let rng = SmallRng::seed_from_u64(
            workload.seed ^ (c as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        Client::new(c, policy, stream, rng, &recorder, &next_session).run(workload.ops_per_client)
    });
    let client_stats = join_all(clients).await;
    stop.store(true, Ordering::SeqCst);
    if let Some(injector) = injector {
        injector.join().expect("fault thread");
    }
    let mut stats = Stats::default();
    for s in client_stats {
        stats.merge(s);
    }
    stats.merge(
        fault_stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
    );
    stats.connections = proxies.iter().map(FaultProxy::connections).sum();
    // Drop the proxies (cutting what is still open) so nothing held back
    // lands after the read-back.
    drop(proxies);
    let stream = read_all(&direct).await;
    Some(Run {
        history: recorder.history(),
        stream,
        stats,
    })
}

/// The server's address, when it is reachable over plain TCP.
fn upstream() -> Option<std::net::SocketAddr> {
    let target = crate::target();
    match &target.server {
        Some(server) => Some(server.addr()),
        None => {
            let host = target.account_endpoint.strip_prefix("http://")?;
            host.to_socket_addrs().ok()?.next()
        }
    }
}

/// A client through `proxy`: short timeouts so stalls turn into unknown
/// outcomes; `tight` caps unacknowledged session bytes at one small batch.
fn client_through<R: Runtime + Default>(
    proxy: &FaultProxy,
    policy: AppendRetryPolicy,
    tight: bool,
) -> S2<R> {
    let mut config: ClientConfig = config()
        .with_endpoints(Endpoints::single(&proxy.endpoint()).expect("endpoint"))
        .with_append_retry_policy(policy)
        .with_request_timeout(Duration::from_millis(800));
    if tight {
        config = config.with_max_unacked_bytes(100);
    }
    config = config
        .with_retry(
            BackoffConfig::default()
                .with_max_retries(5)
                .with_base_delay(Duration::from_millis(10))
                .with_max_delay(Duration::from_millis(200)),
        )
        .with_ack_timeout(Duration::from_millis(1500))
        .with_heartbeat_timeout(Duration::from_millis(1500))
        .with_connect_timeout(Duration::from_secs(1));
    S2::with_runtime(config, R::default()).expect("client")
}

fn inject_faults(seed: u64, proxies: &[FaultProxy], stop: &AtomicBool, stats: &Mutex<Stats>) {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0xfa17);
    while !stop.load(Ordering::SeqCst) {
        thread::sleep(Duration::from_millis(rng.random_range(20..250)));
        let k = rng.random_range(0..proxies.len());
        let stall = Duration::from_millis(rng.random_range(100..2000));
        let kind = match rng.random_range(0..10) {
            0..=3 => {
                proxies[k].cut();
                "cut"
            }
            4 | 5 => {
                proxies[k].stall(stall);
                "stall"
            }
            _ => {
                proxies[k].stall_responses(stall);
                "stalled responses"
            }
        };
        Stats::count(
            &mut stats.lock().unwrap_or_else(|p| p.into_inner()).faults,
            kind,
        );
    }
}

/// Reads the whole stream once the tail stops moving.
async fn read_all<R: Runtime + Default>(stream: &S2Stream<R>) -> Vec<RecordKey> {
    loop {
        let tail = stream.check_tail().await.expect("tail").seq_num;
        if tail == 0 {
            return Vec::new();
        }
        let mut keys = Vec::with_capacity(tail as usize);
        let mut session = stream.read_session(
            ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(tail)),
        );
        while let Some(item) = session.next().await {
            if let ReadItem::Batch(batch) = item.expect("read back") {
                keys.extend(batch.records.iter().map(sequenced_key));
            }
        }
        if stream.check_tail().await.expect("tail").seq_num == tail {
            return keys;
        }
    }
}
