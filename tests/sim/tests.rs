//! The simulation in CI: many worlds, each checked; a replay of one seed;
//! the soak.

use std::{
    collections::BTreeMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use super::world::{WorldFailure, WorldReport, WorldSpec, run_world};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not valid")),
        Err(_) => default,
    }
}

/// The spec of world `seed` from `SIM_CLIENTS`, `SIM_OPS` and `SIM_FAULTS`.
fn spec(seed: u64) -> WorldSpec {
    let ci = WorldSpec::ci(seed);
    WorldSpec {
        clients: env_or("SIM_CLIENTS", ci.clients),
        ops_per_client: env_or("SIM_OPS", ci.ops_per_client),
        faults: env_or("SIM_FAULTS", 1u8) == 1,
        ..ci
    }
}

/// Threads running worlds: `SIM_THREADS`, or one per core.
fn threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    env_or("SIM_THREADS", cores).max(1)
}

/// Totals over many worlds, for the report.
#[derive(Default)]
struct Totals {
    worlds: u64,
    ops: u64,
    virtual_time: Duration,
    faults: BTreeMap<String, u64>,
    outcomes: BTreeMap<String, u64>,
}

impl Totals {
    fn add(&mut self, report: &WorldReport) {
        self.worlds += 1;
        self.ops += report.ops as u64;
        self.virtual_time += report.virtual_time;
        for kind in s2_sim::model::FaultKind::ALL {
            let n = report.server_faults.get(kind);
            *self.faults.entry(format!("server: {kind:?}")).or_default() += n;
        }
        for (kind, n) in &report.injected {
            *self.faults.entry((*kind).to_owned()).or_default() += n;
        }
        for (kind, n) in &report.stats.outcomes {
            *self.outcomes.entry((*kind).to_owned()).or_default() += n;
        }
    }
}

/// Runs worlds `first..first + count` on `threads` threads, stopping at the
/// first failure unless `keep_going`; returns the totals and the failures.
fn run_worlds(
    first: u64,
    count: u64,
    threads: usize,
    deadline: Option<Instant>,
    keep_going: bool,
) -> (Totals, Vec<(WorldSpec, WorldFailure)>) {
    let next = AtomicU64::new(first);
    let totals = Mutex::new(Totals::default());
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::SeqCst);
                    let out_of_time = deadline.is_some_and(|d| Instant::now() >= d);
                    let stopped = !keep_going && !failures.lock().unwrap().is_empty();
                    if seed >= first + count || out_of_time || stopped {
                        return;
                    }
                    let spec = spec(seed);
                    match run_world(&spec) {
                        Ok(report) => totals.lock().unwrap().add(&report),
                        Err(failure) => failures.lock().unwrap().push((spec, failure)),
                    }
                }
            });
        }
    });
    (totals.into_inner().unwrap(), failures.into_inner().unwrap())
}

impl Totals {
    /// The run means something only if it was hostile: every kind of fault
    /// injected, and outcomes of every kind the checker tells apart.
    fn assert_the_worlds_were_hostile(&self) {
        if self.worlds < 100 {
            return;
        }
        for kind in s2_sim::model::FaultKind::ALL {
            let key = format!("server: {kind:?}");
            assert!(
                self.faults.get(&key).copied().unwrap_or(0) > 0,
                "{key} never injected"
            );
        }
        for kind in [
            "link cut",
            "link stalled",
            "link half-open",
            "dials refused",
            "dials unanswered",
            "runtime dropped spawns",
        ] {
            assert!(
                self.faults.get(kind).copied().unwrap_or(0) > 0,
                "{kind} never injected"
            );
        }
        let outcome = |kind: &str| self.outcomes.get(kind).copied().unwrap_or(0);
        let all: u64 = self.outcomes.values().sum();
        assert!(
            outcome("acked") * 2 > all,
            "most appends are acknowledged: {:?}",
            self.outcomes
        );
        for kind in [
            "unknown",
            "not applied",
            "seq_num mismatch",
            "fencing mismatch",
        ] {
            assert!(outcome(kind) > 0, "no {kind} outcome: {:?}", self.outcomes);
        }
    }
}

fn report(totals: &Totals, elapsed: Duration) {
    let per_minute = totals.worlds as f64 / elapsed.as_secs_f64() * 60.0;
    eprintln!(
        "simulation: {} worlds in {elapsed:.1?} ({per_minute:.0} worlds/min), {:.1} operations per world, {:.1?} of virtual time per world",
        totals.worlds,
        totals.ops as f64 / totals.worlds.max(1) as f64,
        totals.virtual_time / totals.worlds.max(1) as u32,
    );
    eprintln!("  faults injected: {:?}", totals.faults);
    eprintln!("  append outcomes: {:?}", totals.outcomes);
}

fn fail_on(failures: &[(WorldSpec, WorldFailure)]) {
    for (spec, failure) in failures {
        eprintln!(
            "world {} failed: {failure}\n  replay: {}",
            spec.seed,
            spec.replay_command()
        );
    }
    if let Some((spec, failure)) = failures.first() {
        panic!(
            "{} worlds failed; first, seed {}: {failure}\n  replay: {}",
            failures.len(),
            spec.seed,
            spec.replay_command()
        );
    }
}

/// The CI run: `SIM_WORLDS` worlds (1000) from `SIM_FIRST_SEED` (0), each
/// linearizable, live and leak-free.
#[test]
fn worlds_are_linearizable_live_and_leave_nothing_behind() {
    let count = env_or("SIM_WORLDS", 1000u64);
    let first = env_or("SIM_FIRST_SEED", 0u64);
    let started = Instant::now();
    let (totals, failures) = run_worlds(first, count, threads(), None, false);
    report(&totals, started.elapsed());
    fail_on(&failures);
    assert_eq!(totals.worlds, count);
    assert!(
        totals.ops >= 100 * count,
        "every world runs at least 100 operations"
    );
    totals.assert_the_worlds_were_hostile();
}

/// One seed twice: the same trace, the same history.
#[test]
fn a_seed_replays_exactly() {
    for seed in [3, 17] {
        let first = run_world(&spec(seed)).expect("world");
        let second = run_world(&spec(seed)).expect("world");
        assert_eq!(first.trace, second.trace, "seed {seed}");
        assert_eq!(first.events, second.events, "seed {seed}");
        assert_eq!(first.virtual_time, second.virtual_time, "seed {seed}");
        assert_eq!(first.stats.outcomes, second.stats.outcomes, "seed {seed}");
    }
    let other = run_world(&spec(4)).expect("world");
    assert_ne!(other.trace, run_world(&spec(3)).expect("world").trace);
}

/// Replays world `SIM_SEED` and prints what it did.
#[test]
#[ignore = "replays one world: SIM_SEED=<seed>"]
fn replay() {
    // Virtual time is in the world, not in the log lines: they carry none.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .with_test_writer()
        .try_init();
    let spec = spec(env_or("SIM_SEED", 0u64));
    match run_world(&spec) {
        Ok(report) => eprintln!("world {}: {report:#?}", spec.seed),
        Err(failure) => panic!("world {} failed: {failure}", spec.seed),
    }
}

/// The soak: worlds from `SIM_FIRST_SEED` (the clock) for `SIM_SOAK_SECS`
/// (3600), past failures when `SIM_KEEP_GOING=1`.
#[test]
#[ignore = "soak: hours of worlds"]
fn soak() {
    let first = env_or(
        "SIM_FIRST_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs()
            << 20,
    );
    let duration = Duration::from_secs(env_or("SIM_SOAK_SECS", 3600));
    let keep_going = env_or("SIM_KEEP_GOING", 0u8) == 1;
    let started = Instant::now();
    let (totals, failures) = run_worlds(
        first,
        u64::MAX - first,
        threads(),
        Some(started + duration),
        keep_going,
    );
    report(&totals, started.elapsed());
    fail_on(&failures);
}
