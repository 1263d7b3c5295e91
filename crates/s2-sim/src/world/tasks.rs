//! The world's tasks: stored by id, woken into a ready list, polled one at a
//! time with the world's lock released.

use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Weak},
    task::{Context, Wake, Waker},
};

use s2_client::runtime::Task;

use super::Shared;

/// The id of the future given to `block_on` (not a stored task).
pub(crate) const MAIN: u64 = u64::MAX;

/// Tasks woken and not yet polled, in the order they were woken.
#[derive(Default)]
pub(crate) struct Ready {
    order: Vec<u64>,
    queued: HashSet<u64>,
}

impl Ready {
    pub(crate) fn wake(&mut self, id: u64) {
        if self.queued.insert(id) {
            self.order.push(id);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    /// Takes the `index`-th woken task (the rest keep their order).
    pub(crate) fn take(&mut self, index: usize) -> u64 {
        let id = self.order.remove(index);
        self.queued.remove(&id);
        id
    }
}

/// One stored task: its future (absent while it is being polled) and the
/// runtime it was spawned on.
struct Slot {
    future: Option<Task>,
    runtime: usize,
}

/// Every task alive in the world.
#[derive(Default)]
pub(crate) struct Tasks {
    slots: BTreeMap<u64, Slot>,
    next_id: u64,
    /// Per runtime: whether it is shut down (spawns are dropped).
    shut_down: Vec<bool>,
    /// Per runtime: whether it drops what is spawned on it for now.
    dropping: Vec<bool>,
}

impl Tasks {
    /// Registers a runtime, returning its id (the first is 0).
    pub(crate) fn new_runtime(&mut self) -> usize {
        if self.shut_down.is_empty() {
            self.shut_down.push(false);
        }
        self.shut_down.push(false);
        self.shut_down.len() - 1
    }

    fn is_shut_down(&self, runtime: usize) -> bool {
        self.shut_down.get(runtime).copied().unwrap_or(false)
            || self.dropping.get(runtime).copied().unwrap_or(false)
    }

    /// Makes `runtime` drop (or stop dropping) the tasks spawned on it.
    pub(crate) fn set_dropping(&mut self, runtime: usize, dropping: bool) {
        if self.dropping.len() <= runtime {
            self.dropping.resize(runtime + 1, false);
        }
        self.dropping[runtime] = dropping;
    }

    /// Stores `task`, returning its id; `None` (and the task back, to be
    /// dropped outside the lock) when its runtime is shut down.
    pub(crate) fn insert(&mut self, runtime: usize, task: Task) -> Result<u64, Task> {
        if self.is_shut_down(runtime) {
            return Err(task);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.slots.insert(
            id,
            Slot {
                future: Some(task),
                runtime,
            },
        );
        Ok(id)
    }

    /// Shuts `runtime` down: later spawns are dropped; returns its tasks,
    /// for the caller to drop outside the lock.
    pub(crate) fn shut_down(&mut self, runtime: usize) -> Vec<Task> {
        while self.shut_down.len() <= runtime {
            self.shut_down.push(false);
        }
        self.shut_down[runtime] = true;
        self.take_running(runtime)
    }

    /// Removes the tasks of `runtime`, for the caller to drop outside the
    /// lock; the runtime goes on.
    pub(crate) fn take_running(&mut self, runtime: usize) -> Vec<Task> {
        let ids: Vec<u64> = self
            .slots
            .iter()
            .filter(|(_, slot)| slot.runtime == runtime)
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter()
            .filter_map(|id| self.slots.remove(&id)?.future)
            .collect()
    }

    /// Tasks alive on `runtime`.
    pub(crate) fn live_on(&self, runtime: usize) -> usize {
        self.slots.values().filter(|s| s.runtime == runtime).count()
    }

    /// Every task, for the caller to drop outside the lock.
    pub(crate) fn take_all(&mut self) -> Vec<Task> {
        std::mem::take(&mut self.slots)
            .into_values()
            .filter_map(|slot| slot.future)
            .collect()
    }
}

/// Wakes task `id` of a world.
struct TaskWaker {
    id: u64,
    shared: Weak<Shared>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(shared) = self.shared.upgrade() {
            shared.ready().wake(self.id);
        }
    }
}

/// A waker for task `id`.
pub(crate) fn waker(shared: &Arc<Shared>, id: u64) -> Waker {
    Waker::from(Arc::new(TaskWaker {
        id,
        shared: Arc::downgrade(shared),
    }))
}

/// Spawns `task` on `runtime`: it runs at the next pick.
pub(crate) fn spawn(shared: &Arc<Shared>, runtime: usize, task: Task) {
    let inserted = {
        let mut state = shared.state();
        let inserted = state.tasks.insert(runtime, task);
        match &inserted {
            Ok(id) => state.record(("spawn", *id)),
            Err(_) => state.record(("spawn dropped", runtime)),
        }
        inserted
    };
    match inserted {
        Ok(id) => shared.ready().wake(id),
        // Dropped outside the lock: its destructor may touch the world.
        Err(task) => drop(task),
    }
}

/// Polls task `id` once, if it is still alive.
pub(crate) fn poll(shared: &Arc<Shared>, id: u64) {
    let future = {
        let mut state = shared.state();
        let Some(slot) = state.tasks.slots.get_mut(&id) else {
            return;
        };
        let Some(future) = slot.future.take() else {
            return;
        };
        state.record(("poll", id));
        future
    };
    let mut future = future;
    let waker = waker(shared, id);
    let mut cx = Context::from_waker(&waker);
    let done = future.as_mut().poll(&mut cx).is_ready();
    let finished = {
        let mut state = shared.state();
        match state.tasks.slots.get_mut(&id) {
            // Still stored: put it back, or remove it when done.
            Some(slot) if !done => {
                slot.future = Some(future);
                None
            }
            Some(_) => {
                state.tasks.slots.remove(&id);
                state.record(("done", id));
                Some(future)
            }
            // Its runtime shut down while it ran.
            None => Some(future),
        }
    };
    drop(finished);
}
