//! One world of the whole-client simulation: a model S2 server and several
//! clients on one seed, the clients running the linearizability workload
//! while the server, the network and the runtimes misbehave; then the
//! checks: a linearizable history, every call answered, and nothing left
//! running after `S2::close`.

use std::{
    collections::BTreeMap,
    fmt,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use futures_util::future::join_all;
use rand::{Rng, SeedableRng, rngs::SmallRng};
use s2_client::{
    ClientConfig, Runtime, S2,
    config::{AppendRetryPolicy, BackoffConfig, Endpoints},
    types::{BasinConfig, BasinName, ReadLimit, ReadRequest, ReadStart, StreamName},
};
use s2_sim::{
    NetCounts, SimRuntime, Stuck, World, WorldConfig,
    model::{FaultCounts, FaultKind, Faults, Model},
};

use super::injector::{FaultTally, inject};
use crate::lincheck::{
    Summary, Violation, check,
    history::{Recorder, sequenced_key},
    workload::{Stats, client::Client},
};

/// Where the model server listens in every world (host, port).
pub const HOST: &str = "s2.sim";
/// The port the model server listens on.
pub const PORT: u16 = 80;
/// How much virtual time a world may take.
const TIME_LIMIT: Duration = Duration::from_secs(3600);
/// How long the world waits after faults stop for what they set (refused
/// dials, stalls) to run out, and for the clients' keepalive (20 s pings,
/// 10 s timeout) to find the half-open connections a request has not.
const HEAL: Duration = Duration::from_secs(35);
/// How long a call may take once the world has healed.
const RECOVERY: Duration = Duration::from_secs(10);
/// How long after `S2::close` every task and connection of a client must
/// be gone.
const WIND_DOWN: Duration = Duration::from_secs(15);

/// What to simulate.
#[derive(Debug, Clone)]
pub struct WorldSpec {
    /// Every choice of the world comes from it.
    pub seed: u64,
    /// Concurrent clients, each an `S2` on a runtime of its own.
    pub clients: usize,
    /// Operations per client (a session or producer counts as one).
    pub ops_per_client: usize,
    /// Whether the server, network and runtimes misbehave.
    pub faults: bool,
}

impl WorldSpec {
    /// The CI world of `seed`: 4 clients of 25 operations, with faults.
    pub fn ci(seed: u64) -> Self {
        Self {
            seed,
            clients: 4,
            ops_per_client: 25,
            faults: true,
        }
    }

    /// The command that replays this world.
    pub fn replay_command(&self) -> String {
        format!(
            "SIM_SEED={} SIM_CLIENTS={} SIM_OPS={} SIM_FAULTS={} cargo test -p s2-conformance --lib sim::tests::replay -- --nocapture",
            self.seed, self.clients, self.ops_per_client, self.faults as u8
        )
    }
}

/// What a world did.
#[derive(Debug, Clone)]
pub struct WorldReport {
    /// Operations recorded in the history.
    pub ops: usize,
    /// Virtual time the world took.
    pub virtual_time: Duration,
    /// Events in the world's trace.
    pub events: u64,
    /// The world's trace hash.
    pub trace: u64,
    /// Faults the model server injected.
    pub server_faults: FaultCounts,
    /// What the network did (dials, cuts, stalls).
    pub net: NetCounts,
    /// Network and runtime faults injected from outside the server.
    pub injected: FaultTally,
    /// The workload's operation, outcome and error counts.
    pub stats: Stats,
    /// The checker's summary.
    pub summary: Summary,
}

/// How a world failed.
#[derive(Debug)]
pub enum WorldFailure {
    /// The history is not linearizable.
    Violation(Violation),
    /// Operations went unanswered for longer than the workload's bound.
    Hung(u64),
    /// The world could not finish.
    Stuck(Stuck),
    /// A client did not work again once faults stopped.
    NoRecovery(String),
    /// `S2::close` failed for a reason other than sessions cut short.
    Close(String),
    /// Tasks or connections of a client outlived its `close`.
    Leak {
        /// Tasks left on the clients' runtimes.
        tasks: usize,
        /// Connections the clients still had open.
        connections: usize,
    },
}

impl fmt::Display for WorldFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorldFailure::Violation(v) => write!(f, "not linearizable: {v}"),
            WorldFailure::Hung(n) => write!(f, "{n} operations were never answered"),
            WorldFailure::Stuck(s) => write!(f, "the world got stuck: {s}"),
            WorldFailure::NoRecovery(e) => write!(f, "no recovery after the faults: {e}"),
            WorldFailure::Close(e) => write!(f, "S2::close failed: {e}"),
            WorldFailure::Leak { tasks, connections } => write!(
                f,
                "{tasks} tasks and {connections} connections were left after S2::close"
            ),
        }
    }
}

/// The server's faults in a world with faults: each kind at a rate drawn
/// from the seed, some worlds without one kind or another.
fn server_faults(rng: &mut SmallRng) -> Faults {
    let mut faults = Faults::none()
        .with_slow_ack_delay(Duration::from_millis(rng.random_range(10..2000)))
        .with_stall(Duration::from_millis(rng.random_range(500..4000)));
    for kind in FaultKind::ALL {
        if rng.random_bool(0.7) {
            faults = faults.with(kind, rng.random_range(0.0..0.03));
        }
    }
    faults
}

/// A client of the model: short timeouts so that stalls become unknown
/// outcomes within the operation bound; the retry settings vary by seed,
/// including a zero base delay.
fn client_config(rng: &mut SmallRng, policy: AppendRetryPolicy, tight: bool) -> ClientConfig {
    let endpoint = format!("http://{HOST}:{PORT}");
    let base = [0, 1, 10, 50][rng.random_range(0..4)];
    // A quarter of the clients keep the default retry budget (a minute,
    // no count), so that the window is what ends their retries.
    let retry = if rng.random_bool(0.25) {
        BackoffConfig::default()
    } else {
        BackoffConfig::default()
            .with_max_retries(rng.random_range(1..8))
            .with_base_delay(Duration::from_millis(base))
            .with_max_delay(Duration::from_millis(300))
    };
    let mut config = ClientConfig::new("sim-token")
        .with_endpoints(Endpoints::single(&endpoint).expect("endpoint"))
        // The simulated network has no TLS.
        .with_insecure_http_to_remote_hosts()
        .with_append_retry_policy(policy)
        .with_request_timeout(Duration::from_millis(rng.random_range(300..1500)))
        .with_retry(retry)
        .with_ack_timeout(Duration::from_millis(rng.random_range(500..3000)))
        .with_heartbeat_timeout(Duration::from_millis(rng.random_range(1000..5000)))
        .with_connect_timeout(Duration::from_millis(rng.random_range(200..1500)));
    if tight {
        config = config.with_max_unacked_bytes(100);
    }
    config
}

/// Serves `model` at [`HOST`]:[`PORT`] of `world`, on `runtime`.
pub fn serve(world: &World, runtime: &SimRuntime, model: &Model<SimRuntime>) {
    let listener = world.net().listen(HOST, PORT);
    let (model, spawner) = (model.clone(), runtime.clone());
    runtime.spawn(Box::pin(async move {
        loop {
            let conn = listener.accept().await;
            spawner.spawn(Box::pin(model.serve(conn)));
        }
    }));
}

/// Once faults stop and the network heals, every client works again: a
/// tail check and a read succeed within [`RECOVERY`] each (a client wedged
/// by what it went through fails here, though it answered every call).
async fn recover(
    clients: &[(S2<SimRuntime>, AppendRetryPolicy)],
    basin: &BasinName,
    stream: &StreamName,
) -> Result<(), String> {
    for (c, (s2, _)) in clients.iter().enumerate() {
        let stream = s2.basin(basin.clone()).stream(stream.clone());
        let clock = SimRuntime::default();
        let tail = within(&clock, stream.check_tail()).await;
        let tail = match tail {
            Some(Ok(tail)) => tail,
            Some(Err(e)) => return Err(format!("client {c}: check_tail failed: {e:?}")),
            None => return Err(format!("client {c}: check_tail hung")),
        };
        let request = ReadRequest::new(ReadStart::SeqNum(tail.seq_num.saturating_sub(1)))
            .with_limit(ReadLimit::count(1));
        match within(&clock, stream.read(&request)).await {
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("client {c}: read failed: {e:?}")),
            None => return Err(format!("client {c}: read hung")),
        }
    }
    Ok(())
}

async fn within<F: std::future::Future>(clock: &SimRuntime, future: F) -> Option<F::Output> {
    use futures_util::future::{Either, select};
    match select(std::pin::pin!(future), clock.sleep(RECOVERY)).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(_) => None,
    }
}

/// Runs the world of `spec` and checks it.
pub fn run_world(spec: &WorldSpec) -> Result<WorldReport, WorldFailure> {
    let mut rng = SmallRng::seed_from_u64(spec.seed);
    let late_chance = if spec.faults && rng.random_bool(0.5) {
        rng.random_range(0.0..0.1)
    } else {
        0.0
    };
    let world = World::new(
        spec.seed,
        WorldConfig {
            late_chance,
            ..WorldConfig::default()
        },
    );
    let faults = if spec.faults {
        server_faults(&mut rng)
    } else {
        Faults::none()
    };
    let server_runtime = world.new_runtime();
    let model = Model::new(
        server_runtime.clone(),
        SmallRng::seed_from_u64(rng.random()),
    )
    .with_faults(faults);
    let (basin, stream) = (
        BasinName::new("sim-basin").expect("name"),
        StreamName::new("lin").expect("name"),
    );
    model.create_basin(&basin, BasinConfig::default());
    model.create_stream(&basin, &stream);
    serve(&world, &server_runtime, &model);

    let runtimes: Vec<SimRuntime> = (0..spec.clients).map(|_| world.new_runtime()).collect();
    let clients: Vec<(S2<SimRuntime>, AppendRetryPolicy)> = runtimes
        .iter()
        .enumerate()
        .map(|(c, runtime)| {
            let policy = if c % 2 == 0 {
                AppendRetryPolicy::NoSideEffects
            } else {
                AppendRetryPolicy::All
            };
            let config = client_config(&mut rng, policy, (c / 2) % 2 == 1);
            let s2 = S2::with_runtime(config, runtime.clone()).expect("client");
            (s2, policy)
        })
        .collect();

    let recorder = Recorder::default();
    let next_session = AtomicU64::new(0);
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(FaultTally::new()));
    if spec.faults {
        let injector = inject(
            spec.seed,
            world.net(),
            world.runtime(),
            runtimes.clone(),
            stop.clone(),
            tally.clone(),
        );
        world.runtime().spawn(Box::pin(injector));
    }
    let workload = async {
        let runs = clients.iter().enumerate().map(|(c, (s2, policy))| {
            let stream = s2.basin(basin.clone()).stream(stream.clone());
            let rng = SmallRng::seed_from_u64(
                spec.seed ^ (c as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            );
            Client::new(c, *policy, stream, rng, &recorder, &next_session).run(spec.ops_per_client)
        });
        let stats = join_all(runs).await;
        // Faults stop; the network heals once what was set runs out.
        stop.store(true, Ordering::SeqCst);
        model.set_faults(Faults::none());
        world.runtime().sleep(HEAL).await;
        let recovered = recover(&clients, &basin, &stream).await;
        let mut closes = Vec::new();
        for (s2, _) in &clients {
            closes.push(s2.close().await);
        }
        world.runtime().sleep(WIND_DOWN).await;
        (stats, recovered, closes)
    };
    let (client_stats, recovered, closes) = world
        .block_on(workload, TIME_LIMIT)
        .map_err(WorldFailure::Stuck)?;
    recovered.map_err(WorldFailure::NoRecovery)?;

    let mut stats = Stats::default();
    for s in client_stats {
        stats.merge(s);
    }
    if let Some(&hung) = stats.ops.get("hung") {
        return Err(WorldFailure::Hung(hung));
    }
    for close in closes {
        match close {
            Ok(()) => {}
            // Sessions still unacknowledged at close: allowed under faults.
            Err(s2_client::Error::Timeout(_)) if spec.faults => {}
            Err(e) => return Err(WorldFailure::Close(e.to_string())),
        }
    }
    let tasks: usize = runtimes.iter().map(|r| world.live_tasks(r)).sum();
    let connections = world.net().open_dialled();
    drop(clients);
    if tasks > 0 || connections > 0 {
        return Err(WorldFailure::Leak { tasks, connections });
    }
    let history = recorder.history();
    let content: Vec<_> = model
        .records(&basin, &stream)
        .unwrap_or_default()
        .iter()
        .map(sequenced_key)
        .collect();
    let summary = check(&history, &content).map_err(WorldFailure::Violation)?;
    let injected: BTreeMap<_, _> = tally.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok(WorldReport {
        ops: history.ops.len(),
        virtual_time: world.elapsed(),
        events: world.events(),
        trace: world.trace_hash(),
        server_faults: model.fault_counts(),
        net: world.net().counts(),
        injected,
        stats,
        summary,
    })
}
