//! The client's [`Runtime`] in a simulated world.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use s2_client::runtime::{ConnectFuture, ConnectTarget, Runtime, SleepFuture, Task};

use crate::world::{Shared, Sleep};

/// A runtime of a simulated [`World`](crate::World): tasks run on the
/// world's executor, timers on its virtual clock, connections over its
/// network, and random draws come from its seed.
///
/// `Default` gives the first runtime of the world running on this thread
/// (inside [`World::block_on`](crate::World::block_on)); it panics
/// elsewhere.
#[derive(Clone)]
pub struct SimRuntime {
    shared: Arc<Shared>,
    id: usize,
}

impl SimRuntime {
    pub(crate) fn new(shared: Arc<Shared>, id: usize) -> Self {
        Self { shared, id }
    }

    pub(crate) fn id(&self) -> usize {
        self.id
    }

    /// Drops every task of this runtime, and every task spawned on it
    /// later, as a shut-down tokio runtime does.
    pub fn shut_down(&self) {
        let dropped = {
            let mut state = self.shared.state();
            state.record(("shut down", self.id));
            state.tasks.shut_down(self.id)
        };
        drop(dropped);
    }

    /// Drops every task running on this runtime now, unfinished, and keeps
    /// running what is spawned later: a custom runtime that loses tasks.
    pub fn drop_running_tasks(&self) {
        let dropped = {
            let mut state = self.shared.state();
            state.record(("drop running", self.id));
            state.tasks.take_running(self.id)
        };
        drop(dropped);
    }

    /// While `dropping`, every task spawned on this runtime is dropped
    /// unpolled, as a runtime shutting down (or a custom runtime out of
    /// room) does; tasks already running go on.
    pub fn drop_spawns(&self, dropping: bool) {
        let mut state = self.shared.state();
        state.record(("drop spawns", self.id, dropping));
        state.tasks.set_dropping(self.id, dropping);
    }

    /// Virtual time since the world started.
    pub fn elapsed(&self) -> Duration {
        self.shared.state().now
    }
}

impl Default for SimRuntime {
    fn default() -> Self {
        crate::world::current().expect("SimRuntime::default is for code running in World::block_on")
    }
}

impl std::fmt::Debug for SimRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimRuntime").field("id", &self.id).finish()
    }
}

impl Runtime for SimRuntime {
    fn spawn(&self, task: Task) {
        crate::world::spawn(&self.shared, self.id, task);
    }

    fn sleep(&self, duration: Duration) -> SleepFuture {
        let now = self.shared.state().now;
        Box::pin(Sleep::until(
            self.shared.clone(),
            now.saturating_add(duration),
        ))
    }

    fn sleep_until(&self, deadline: Instant) -> SleepFuture {
        let base = self.shared.state().base;
        Box::pin(Sleep::until(
            self.shared.clone(),
            deadline.saturating_duration_since(base),
        ))
    }

    fn now(&self) -> Instant {
        let state = self.shared.state();
        state.base + state.now
    }

    fn connect(&self, target: ConnectTarget) -> ConnectFuture {
        Box::pin(crate::net::dial(self.shared.clone(), target))
    }

    fn random_u64(&self) -> u64 {
        self.shared.state().random_u64()
    }
}
