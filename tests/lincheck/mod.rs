//! A linearizability checker for concurrent clients under faults.
//!
//! Several clients, each its own [`S2`](s2_client::S2) behind its own fault
//! proxy, run random operations on one stream ([`workload`]); every
//! invocation and completion goes into a [`History`]. At the end the stream
//! is read back: its content is the order of every append that landed. The
//! [`checker`] then decides whether the history is linearizable against the
//! sequential [`model`] of a stream — every operation taking effect at one
//! instant between its invocation and completion — and prints a minimal
//! counter-example when it is not.

pub mod checker;
pub mod history;
pub mod model;
pub mod workload;

#[cfg(test)]
mod oracle;
#[cfg(test)]
mod tests;

pub use checker::{Summary, Violation, check};
pub use history::{History, Op, OpKind, Recorder};
pub use workload::{Run, Stats, Workload, run};

use std::time::{Duration, Instant};

use s2_client::Runtime;

/// Runs `workload` on runtime `R`, prints what it did and the verdict, and
/// returns the counter-example if the history is not linearizable.
/// `Ok(false)` when the target cannot be reached through a proxy.
pub async fn verify<R: Runtime + Default>(workload: &Workload) -> Result<bool, Violation> {
    let started = Instant::now();
    let Some(run) = run::<R>(workload).await else {
        eprintln!("lincheck: the target is not reachable over plain TCP; skipped");
        return Ok(false);
    };
    let verdict = check(&run.history, &run.stream);
    eprintln!(
        "lincheck seed {} ({} clients x {} ops, faults {}): {} operations, final tail {}, {:.1?}\n  {}",
        workload.seed,
        workload.clients,
        workload.ops_per_client,
        workload.faults,
        run.history.ops.len(),
        run.stream.len(),
        started.elapsed(),
        run.stats,
    );
    match verdict {
        Ok(summary) => {
            tampered_copies_are_flagged(&run);
            eprintln!(
                "  verdict: LINEARIZABLE ({} batches landed ({} at-least-once repeats), {} unknown outcomes landed, {} did not, {} observations placed)",
                summary.landed,
                summary.repeats,
                summary.unknown_landed,
                summary.unknown_lost,
                summary.observations
            );
            Ok(true)
        }
        Err(violation) => {
            eprintln!("  verdict: {violation}");
            Err(violation)
        }
    }
}

/// The checker has teeth on this very history: a copy missing an
/// acknowledged batch, and a copy with an ack moved by one, both fail.
fn tampered_copies_are_flagged(run: &Run) {
    use history::AppendOutcome;
    let acked = run
        .history
        .ops
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, op)| match op.kind {
            OpKind::Append {
                outcome: AppendOutcome::Acked { start, end, .. },
                ..
            } => Some((i, start as usize, end as usize)),
            _ => None,
        });
    let Some((i, start, end)) = acked else {
        return;
    };
    let mut stream = run.stream.clone();
    stream.drain(start..end);
    assert!(
        check(&run.history, &stream).is_err(),
        "the checker missed an acknowledged batch removed from the stream"
    );
    let mut history = run.history.clone();
    if let OpKind::Append {
        outcome: AppendOutcome::Acked { start, end, .. },
        ..
    } = &mut history.ops[i].kind
    {
        *start += 1;
        *end += 1;
    }
    assert!(
        check(&history, &run.stream).is_err(),
        "the checker missed an ack moved by one"
    );
}

/// The soak: runs workloads with seeds `first_seed, first_seed + 1, …` for
/// `duration`. Stops at the first violation unless `keep_going`. Returns
/// the number of runs and the violations with their seeds.
pub async fn soak<R: Runtime + Default>(
    first_seed: u64,
    duration: Duration,
    keep_going: bool,
    template: Workload,
) -> (u64, Vec<(u64, Violation)>) {
    let started = Instant::now();
    let mut violations = Vec::new();
    let mut seed = first_seed;
    while started.elapsed() < duration && (keep_going || violations.is_empty()) {
        let workload = Workload {
            seed,
            ..template.clone()
        };
        match verify::<R>(&workload).await {
            Ok(true) => {}
            Ok(false) => break,
            Err(violation) => violations.push((seed, violation)),
        }
        seed += 1;
    }
    (seed - first_seed, violations)
}

/// Whether the soak goes on after a violation, `LINCHECK_KEEP_GOING=1`.
pub fn keep_going_from_env() -> bool {
    env_or("LINCHECK_KEEP_GOING", 0u8) == 1
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not valid")),
        Err(_) => default,
    }
}

/// The CI workload: `LINCHECK_SEED` (default `seed`), `LINCHECK_CLIENTS`
/// (4), `LINCHECK_OPS` (per client, 150).
pub fn workload_from_env(seed: u64) -> Workload {
    Workload {
        seed: env_or("LINCHECK_SEED", seed),
        clients: env_or("LINCHECK_CLIENTS", 4),
        ops_per_client: env_or("LINCHECK_OPS", 150),
        faults: true,
    }
}

/// The soak's duration, `LINCHECK_SOAK_SECS` (default 600).
pub fn soak_duration_from_env() -> Duration {
    Duration::from_secs(env_or("LINCHECK_SOAK_SECS", 600))
}

/// Expands to the linearizability tests on runtime `$runtime` run by
/// `$block_on`: a bounded run with seed `$seed` (overridable), and the
/// `#[ignore]`d soak.
#[macro_export]
macro_rules! linearizability_tests {
    ($runtime:ty, $block_on:path, $seed:expr) => {
        /// Concurrent clients under faults: the history must be
        /// linearizable.
        #[test]
        fn concurrent_clients_under_faults_are_linearizable() {
            let workload = $crate::lincheck::workload_from_env($seed);
            if let Err(violation) = $block_on($crate::lincheck::verify::<$runtime>(&workload)) {
                panic!(
                    "seed {} (rerun with LINCHECK_SEED={}):\n{violation}",
                    workload.seed, workload.seed
                );
            }
        }

        /// The soak: `LINCHECK_SOAK_SECS` of runs, seeds from
        /// `LINCHECK_SEED` on, past violations if `LINCHECK_KEEP_GOING=1`.
        /// Run with `--ignored --nocapture`.
        #[test]
        #[ignore = "soak: minutes of runs"]
        fn soak() {
            let first = $crate::lincheck::workload_from_env(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .expect("after 1970")
                    .as_secs(),
            );
            let duration = $crate::lincheck::soak_duration_from_env();
            let (runs, violations) = $block_on($crate::lincheck::soak::<$runtime>(
                first.seed,
                duration,
                $crate::lincheck::keep_going_from_env(),
                first.clone(),
            ));
            eprintln!(
                "soak: {runs} runs from seed {}, {} not linearizable",
                first.seed,
                violations.len()
            );
            for (seed, violation) in &violations {
                eprintln!("seed {seed} (rerun with LINCHECK_SEED={seed}):\n{violation}");
            }
            assert!(
                violations.is_empty(),
                "{} runs were not linearizable",
                violations.len()
            );
        }
    };
}
