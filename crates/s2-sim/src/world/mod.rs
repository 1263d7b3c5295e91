//! A world: one seed, one virtual clock, one executor and one network.
//!
//! Everything runs on the thread that calls [`World::block_on`]. Tasks are
//! polled one at a time, picked at random (from the seed) among those that
//! are ready; when none is ready the clock jumps to the next timer. Nothing
//! reads the real clock or the operating system's randomness, so a seed
//! replays the same run, which [`World::trace_hash`] lets a test check.

mod tasks;
mod timers;

use std::{
    cell::RefCell,
    future::Future,
    hash::{Hash, Hasher},
    pin::pin,
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use rand::{Rng, SeedableRng, rngs::SmallRng};

use crate::{
    net::{NetConfig, Network},
    runtime::SimRuntime,
};
pub(crate) use tasks::spawn;
use tasks::{MAIN, Ready, Tasks};
pub(crate) use timers::Sleep;
use timers::Timers;

/// How the world schedules its tasks.
#[derive(Debug, Clone)]
pub struct WorldConfig {
    /// Chance that a task picked to run is put off instead, by up to
    /// [`late_by`](Self::late_by) of virtual time: tasks that run late.
    pub late_chance: f64,
    /// How late a task that runs late may be.
    pub late_by: Duration,
    /// The network's latencies and faults.
    pub net: NetConfig,
}

impl Default for WorldConfig {
    fn default() -> Self {
        Self {
            late_chance: 0.0,
            late_by: Duration::from_millis(5),
            net: NetConfig::default(),
        }
    }
}

/// Why [`World::block_on`] returned without the future's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stuck {
    /// Every task waits and no timer is set: nothing can ever happen.
    Deadlock {
        /// The virtual time it happened at.
        at: Duration,
    },
    /// The virtual time limit passed first.
    TimeLimit {
        /// The limit.
        limit: Duration,
    },
}

impl std::fmt::Display for Stuck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stuck::Deadlock { at } => write!(f, "deadlock at {at:?} of virtual time"),
            Stuck::TimeLimit { limit } => write!(f, "not done within {limit:?} of virtual time"),
        }
    }
}

impl std::error::Error for Stuck {}

/// A simulated world. Dropping it drops every task still in it.
pub struct World {
    shared: Arc<Shared>,
}

/// What every handle on the world shares.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Woken tasks. A lock of its own: wakers take only this one, so a waker
    /// may be called while `state` is held.
    pub(crate) ready: Mutex<Ready>,
}

/// The world's state, behind one lock never held while a task is polled.
pub(crate) struct State {
    /// Virtual time since the start.
    pub(crate) now: Duration,
    /// What virtual time zero is as an `Instant` (for [`Runtime::now`]).
    ///
    /// [`Runtime::now`]: s2_client::Runtime::now
    pub(crate) base: Instant,
    pub(crate) rng: SmallRng,
    pub(crate) tasks: Tasks,
    pub(crate) timers: Timers,
    pub(crate) net: Network,
    config: WorldConfig,
    /// A running hash of every event, in order.
    trace: u64,
    /// Events hashed into `trace`.
    pub(crate) events: u64,
}

impl State {
    /// Hashes an event into the trace.
    pub(crate) fn record(&mut self, event: impl Hash) {
        let mut hasher = std::hash::DefaultHasher::new();
        self.trace.hash(&mut hasher);
        event.hash(&mut hasher);
        self.now.hash(&mut hasher);
        self.trace = hasher.finish();
        self.events += 1;
    }

    /// A draw from the seed, recorded.
    pub(crate) fn random_u64(&mut self) -> u64 {
        let draw = self.rng.random();
        self.record(("random", draw));
        draw
    }
}

impl Shared {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn ready(&self) -> MutexGuard<'_, Ready> {
        self.ready.lock().unwrap_or_else(|p| p.into_inner())
    }
}

thread_local! {
    /// The world `block_on` is running on this thread, for
    /// [`SimRuntime::default`].
    static CURRENT: RefCell<Option<SimRuntime>> = const { RefCell::new(None) };
}

/// The runtime of the world running on this thread, if any.
pub(crate) fn current() -> Option<SimRuntime> {
    CURRENT.with(|c| c.borrow().clone())
}

impl World {
    /// A world whose every choice comes from `seed`.
    pub fn new(seed: u64, config: WorldConfig) -> Self {
        let net = Network::new(config.net.clone());
        let state = State {
            now: Duration::ZERO,
            base: Instant::now(),
            rng: SmallRng::seed_from_u64(seed),
            tasks: Tasks::default(),
            timers: Timers::default(),
            net,
            config,
            trace: seed,
            events: 0,
        };
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                ready: Mutex::new(Ready::default()),
            }),
        }
    }

    /// The world's first runtime (a world may hold several: see
    /// [`new_runtime`](Self::new_runtime)).
    pub fn runtime(&self) -> SimRuntime {
        SimRuntime::new(self.shared.clone(), 0)
    }

    /// Another runtime in the same world: its tasks can be shut down
    /// ([`SimRuntime::shut_down`]) without touching the others', as when one
    /// of two tokio runtimes in a process is dropped.
    pub fn new_runtime(&self) -> SimRuntime {
        let id = self.shared.state().tasks.new_runtime();
        SimRuntime::new(self.shared.clone(), id)
    }

    /// Virtual time since the world started.
    pub fn elapsed(&self) -> Duration {
        self.shared.state().now
    }

    /// A hash of every event so far (task polls, timers, network, draws):
    /// two runs of one seed must agree on it.
    pub fn trace_hash(&self) -> u64 {
        self.shared.state().trace
    }

    /// Events so far.
    pub fn events(&self) -> u64 {
        self.shared.state().events
    }

    /// A draw from the world's seed.
    pub fn random_u64(&self) -> u64 {
        self.shared.state().random_u64()
    }

    /// Runs the world until `future` completes, or until nothing can happen
    /// any more, or until `limit` of virtual time has passed.
    pub fn block_on<F: Future>(&self, future: F, limit: Duration) -> Result<F::Output, Stuck> {
        let previous = CURRENT.with(|c| c.borrow_mut().replace(self.runtime()));
        let result = self.run(future, limit);
        CURRENT.with(|c| *c.borrow_mut() = previous);
        result
    }

    fn run<F: Future>(&self, future: F, limit: Duration) -> Result<F::Output, Stuck> {
        let mut future = pin!(future);
        let main_waker = tasks::waker(&self.shared, MAIN);
        self.shared.ready().wake(MAIN);
        loop {
            let next = self.pick();
            match next {
                Some(MAIN) => {
                    self.shared.state().record(("poll", MAIN));
                    let mut cx = Context::from_waker(&main_waker);
                    if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                        return Ok(output);
                    }
                }
                Some(id) => tasks::poll(&self.shared, id),
                None => {
                    let mut state = self.shared.state();
                    let Some(at) = state.timers.next_deadline() else {
                        return Err(Stuck::Deadlock { at: state.now });
                    };
                    if at > limit {
                        return Err(Stuck::TimeLimit { limit });
                    }
                    state.now = state.now.max(at);
                    let now = state.now;
                    let due = state.timers.take_due(now);
                    state.record(("timers", due.len()));
                    drop(state);
                    for waker in due {
                        waker.wake();
                    }
                }
            }
        }
    }

    /// The next task to poll: a random one of those ready, unless it is
    /// chosen to run late (then a timer wakes it again).
    fn pick(&self) -> Option<u64> {
        loop {
            let mut state = self.shared.state();
            let id = {
                let mut ready = self.shared.ready();
                if ready.is_empty() {
                    return None;
                }
                let index = state.rng.random_range(0..ready.len());
                ready.take(index)
            };
            let chance = state.config.late_chance;
            let late = chance > 0.0 && id != MAIN && state.rng.random_bool(chance);
            if !late {
                return Some(id);
            }
            let by = state.config.late_by;
            let delay = Duration::from_nanos(state.rng.random_range(1..=by.as_nanos() as u64));
            let at = state.now + delay;
            state.record(("late", id));
            let waker = tasks::waker(&self.shared, id);
            state.timers.insert(at, waker);
        }
    }

    /// Tasks alive on runtime `runtime` (0 for [`runtime`](Self::runtime)).
    pub fn live_tasks(&self, runtime: &SimRuntime) -> usize {
        self.shared.state().tasks.live_on(runtime.id())
    }

    /// The network: faults, listeners, counts.
    pub fn net(&self) -> crate::net::NetHandle {
        crate::net::NetHandle::new(self.shared.clone())
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Tasks hold runtimes, which hold the world: break the cycle. A
        // task's destructor may touch the world, so none runs under the lock.
        loop {
            let (tasks, timers) = {
                let mut state = self.shared.state();
                (state.tasks.take_all(), state.timers.take_all())
            };
            if tasks.is_empty() && timers.is_empty() {
                break;
            }
            drop(tasks);
            drop(timers);
        }
        let unaccepted = self.shared.state().net.clear();
        drop(unaccepted);
    }
}
