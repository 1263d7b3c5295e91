//! The producer's intake: records admitted, batched in the caller's task,
//! and closed batches waiting for the driver.

use std::{collections::VecDeque, task::Waker, time::Instant};

use futures_channel::oneshot;
use s2_core::{
    Error,
    batcher::Batcher,
    types::{AppendInput, AppendRecord},
};

use super::{RecordAck, RecordAckFuture};

pub(super) type RecordSender = oneshot::Sender<Result<RecordAck, Error>>;

/// One admitted record: its id, metered size and ack sender.
pub(super) struct Slot {
    pub(super) id: u64,
    pub(super) bytes: u64,
    pub(super) sender: RecordSender,
}

/// A closed batch, with its records' slots.
pub(super) struct Batch {
    pub(super) input: AppendInput,
    pub(super) slots: Vec<Slot>,
}

/// Records admitted and not yet handed to the session. Records are batched
/// here, in the caller's task; the driver is woken once per batch (or when
/// the linger deadline moves).
pub(super) struct Intake {
    pub(super) batcher: Batcher,
    /// Slots of the batch the batcher is filling.
    pub(super) open: Vec<Slot>,
    /// Closed batches for the driver.
    pub(super) closed: VecDeque<Batch>,
    /// Batches closed so far.
    pub(super) batches_closed: u64,
    /// The driver's waker.
    pub(super) driver: Option<Waker>,
    /// The client is closing: end the input, send what is held, finish.
    pub(super) stop_requested: bool,
}

impl Intake {
    /// An intake batching with `batcher`, holding nothing yet.
    pub(super) fn new(batcher: Batcher) -> Self {
        Self {
            batcher,
            open: Vec::new(),
            closed: VecDeque::new(),
            batches_closed: 0,
            driver: None,
            stop_requested: false,
        }
    }

    /// Moves the batcher's closed batches to `closed`; says whether any.
    pub(super) fn collect(&mut self) -> bool {
        let mut any = false;
        while let Some(input) = self.batcher.poll_output() {
            let slots = self.open.drain(..input.len()).collect();
            self.closed.push_back(Batch { input, slots });
            self.batches_closed += 1;
            any = true;
        }
        any
    }

    pub(super) fn wake_driver(&self) {
        if let Some(waker) = &self.driver {
            waker.wake_by_ref();
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.batcher.is_empty() && self.open.is_empty() && self.closed.is_empty()
    }

    /// Takes admitted record `id` into the batch being filled; returns the
    /// future of its ack.
    pub(super) fn take(
        &mut self,
        id: u64,
        record: AppendRecord,
        bytes: u64,
        now: Instant,
    ) -> Result<RecordAckFuture, Error> {
        let linger = self.batcher.poll_timeout();
        self.batcher.handle_record(record, now)?;
        let (sender, receiver) = oneshot::channel();
        self.open.push(Slot { id, bytes, sender });
        if self.collect() || self.batcher.poll_timeout() != linger {
            self.wake_driver();
        }
        Ok(RecordAckFuture { id, receiver })
    }
}
