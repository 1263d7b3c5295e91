//! Faults the world injects from outside the server: in the network and in
//! the clients' runtimes, each drawn from the world's seed.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use rand::{Rng, SeedableRng, rngs::SmallRng};
use s2_client::Runtime;
use s2_sim::{NetHandle, SimRuntime};

/// Faults injected, by kind.
pub type FaultTally = BTreeMap<&'static str, u64>;

/// Injects network and runtime faults until `stop` is set: a cut, stall or
/// half-open link, a window of refused or hanging dials, slow dials, a
/// client runtime that drops what is spawned on it for a while.
pub async fn inject(
    seed: u64,
    net: NetHandle,
    clock: SimRuntime,
    client_runtimes: Vec<SimRuntime>,
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<FaultTally>>,
) {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x0fa1_75ee_d5ee_d000);
    let count = |kind: &'static str| {
        *tally
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(kind)
            .or_default() += 1;
    };
    while !stop.load(Ordering::SeqCst) {
        clock
            .sleep(Duration::from_millis(rng.random_range(20..400)))
            .await;
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let links = net.links();
        let link = (!links.is_empty()).then(|| links[rng.random_range(0..links.len())]);
        match (rng.random_range(0..100), link) {
            (0..=39, Some(link)) => {
                net.cut(link);
                count("link cut");
            }
            (40..=59, Some(link)) => {
                net.stall(link, Duration::from_millis(rng.random_range(100..2500)));
                count("link stalled");
            }
            (60..=64, Some(link)) => {
                net.half_open(link);
                count("link half-open");
            }
            (65..=74, _) => {
                net.refuse_dials_for(Duration::from_millis(rng.random_range(50..3000)));
                count("dials refused");
            }
            (75..=79, _) => {
                net.black_hole_dials_for(Duration::from_millis(rng.random_range(50..1500)));
                count("dials unanswered");
            }
            (80..=84, _) => {
                let delay = Duration::from_millis(rng.random_range(0..400));
                net.slow_dials(delay);
                count("dials slowed");
            }
            (85..=89, _) if !client_runtimes.is_empty() => {
                let runtime = &client_runtimes[rng.random_range(0..client_runtimes.len())];
                runtime.drop_spawns(true);
                clock
                    .sleep(Duration::from_millis(rng.random_range(1..300)))
                    .await;
                runtime.drop_spawns(false);
                count("runtime dropped spawns");
            }
            _ => {}
        }
    }
    net.slow_dials(Duration::ZERO);
}
