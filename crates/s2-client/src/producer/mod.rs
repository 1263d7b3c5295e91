//! The producer: submit single records, get each record's ack. Records are
//! batched by the sans-IO [`Batcher`] and sent through one append session,
//! so the session's retries and exactly-once resolution apply.

mod ack;
mod driver;
mod intake;

use std::{sync::Arc, time::Instant};

use futures_channel::{mpsc, oneshot};
use futures_util::FutureExt;
use s2_core::{
    Error,
    batcher::Batcher,
    types::{AppendAck, AppendRecord, MeteredBytes},
};

pub use self::ack::RecordAckFuture;
use self::{driver::Driver, intake::Intake};
use crate::{
    inner::Over,
    runtime::Runtime,
    session::{
        append::io::SessionIo,
        gate::{Gate, Limits, Reserved},
    },
};

/// The acknowledgement of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordAck {
    /// The record's sequence number.
    pub seq_num: u64,
    /// The record's timestamp, when the ack determines it: for the first and
    /// last record of its batch, or when the whole batch got one timestamp.
    pub timestamp: Option<u64>,
    /// The ack of the batch the record went in.
    pub batch: AppendAck,
}

impl RecordAck {
    fn new(batch: AppendAck, index: u64) -> Self {
        let seq_num = batch.start.seq_num + index;
        let timestamp = if batch.start.timestamp == batch.end.timestamp || index == 0 {
            Some(batch.start.timestamp)
        } else if seq_num + 1 == batch.end.seq_num {
            Some(batch.end.timestamp)
        } else {
            None
        };
        Self {
            seq_num,
            timestamp,
            batch,
        }
    }
}

/// Room for one record in a producer, from [`Producer::reserve`].
pub struct RecordPermit {
    reserved: Reserved<Intake>,
    now: Clock,
}

impl RecordPermit {
    /// Submits a record in the room held, at once, with no capacity wait. A
    /// record up to the reserved size always fits; a bigger one only when
    /// its excess fits in the room left, else it is refused with
    /// `ValidationError::ExceedsReservation` (so permits never stretch the
    /// cap). It also fails for a record the service could never take, or a
    /// producer that has stopped; the room is then given back.
    pub fn submit(self, record: AppendRecord) -> Result<RecordAckFuture, Error> {
        let bytes = record.metered_bytes();
        let now = (self.now)();
        self.reserved
            .admit(bytes, |intake, id| intake.take(id, record, now))
    }
}

enum Command {
    Flush(oneshot::Sender<Result<(), Error>>),
    Close(oneshot::Sender<Result<(), Error>>),
}

/// Submits records one by one and acknowledges each. Submitting waits while
/// the unacknowledged records, those still being batched included, reach
/// the session's cap (backpressure).
pub struct Producer {
    gate: Arc<Gate<Intake>>,
    commands: mpsc::UnboundedSender<Command>,
    now: Clock,
    /// Resolves once the driver is over.
    over: Over,
    /// How the producer ended, once its driver said.
    ending: Ending,
}

/// How a producer ended, as its driver recorded it: every record
/// acknowledged, or the error that stopped it. `None` while it runs, and
/// when its driver was dropped (with its runtime) before it could say.
type Ending = Arc<crate::sync::Mutex<Option<Result<(), Error>>>>;

/// The runtime's clock, shared with permits.
type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// The error of a call refused because the producer is over: nothing of
/// it was taken.
fn closed() -> Error {
    Error::Closed {
        sent: false,
        reason: "the producer is closed".into(),
    }
}

impl Producer {
    /// A producer batching with `batcher` into the session of `io`, whose
    /// cap is `max_unacked_bytes`; its driver is spawned on `runtime`.
    pub(crate) fn start<R: Runtime>(
        runtime: R,
        io: SessionIo<R>,
        max_unacked_bytes: u64,
        batcher: Batcher,
        sessions: &crate::inner::Sessions,
    ) -> Self {
        let max_batch_bytes = batcher.config().max_bytes();
        // The session's cap covers everything the producer holds, batches
        // being filled included (as the official SDKs count it), so no more
        // is queued in front of the session than it would take. It is at
        // least two batches: a record that does not fit the open batch must
        // get in to close it (with no linger nothing else would), whatever
        // the session's cap.
        let limits = Limits {
            max_bytes: max_unacked_bytes.max(max_batch_bytes.saturating_mul(2)),
            max_items: usize::MAX,
        };
        let gate = Arc::new(Gate::new(Intake::new(batcher), limits));
        let (commands, receiver) = mpsc::unbounded();
        let ending = Ending::default();
        let driver = Driver::new(gate.clone(), io, receiver, ending.clone());
        let span = driver.span();
        let (over, over_rx) = oneshot::channel::<()>();
        let over_rx = over_rx.shared();
        let stop = Arc::downgrade(&gate);
        sessions.register(
            Box::new(move || {
                if let Some(gate) = stop.upgrade() {
                    gate.with(|intake| {
                        intake.stop_requested = true;
                        intake.wake_driver();
                    });
                }
            }),
            over_rx.clone(),
        );
        runtime.spawn(Box::pin(tracing::Instrument::instrument(
            async move {
                driver.run().await;
                drop(over);
            },
            span,
        )));
        let clock = runtime;
        Self {
            gate,
            commands,
            now: Arc::new(move || clock.now()),
            over: over_rx,
            ending,
        }
    }

    /// Submits one record: waits while the caps are reached, then resolves
    /// to the future of its ack. A record that can never be sent is refused
    /// with a validation error; the producer goes on.
    ///
    /// Cancel-safe: if this future is dropped before it completes, the
    /// record was not submitted. Waiting for room is its only await; the
    /// record joins a batch in the same poll that returns its
    /// [`RecordAckFuture`].
    pub async fn submit(&self, record: AppendRecord) -> Result<RecordAckFuture, Error> {
        let bytes = record.metered_bytes();
        self.gate
            .admit(bytes, |intake, id| intake.take(id, record, (self.now)()))
            .await
    }

    /// Waits for room for a record of `bytes` metered bytes and takes it:
    /// the returned permit submits a record without waiting or failing for
    /// capacity. For `select!` loops that must not hold a record in a
    /// cancelled future: wait on `reserve`, then submit through the permit.
    ///
    /// Cancel-safe: if this future is dropped before it completes, no room
    /// was taken. Dropping the permit unused gives the room back.
    pub async fn reserve(&self, bytes: u64) -> Result<RecordPermit, Error> {
        let reserved = self.gate.reserve(bytes).await?;
        Ok(RecordPermit {
            reserved,
            now: self.now.clone(),
        })
    }

    /// Waits until every record submitted so far is durable.
    pub async fn flush(&self) -> Result<(), Error> {
        let (done, done_rx) = oneshot::channel();
        if self.commands.unbounded_send(Command::Flush(done)).is_ok()
            && let Ok(result) = done_rx.await
        {
            return result;
        }
        self.ended().await
    }

    /// Sends what is pending, waits for every ack, and stops.
    pub async fn close(self) -> Result<(), Error> {
        let (done, done_rx) = oneshot::channel();
        if self.commands.unbounded_send(Command::Close(done)).is_ok()
            && let Ok(result) = done_rx.await
        {
            return result;
        }
        self.ended().await
    }

    /// The answer to a flush or close that the producer's driver takes no
    /// more (it is over, or [`S2::close`](crate::S2::close) is draining
    /// it): how it ends, once it has. Every record acknowledged is `Ok`;
    /// a failure is its error; a driver that vanished (with its runtime)
    /// without saying leaves the records submitted unknown. Unlike a
    /// refused submit, a flush or close stands for records already handed
    /// over, so it never claims that nothing was sent.
    async fn ended(&self) -> Result<(), Error> {
        let _ = self.over.clone().await;
        match &*self.ending.lock() {
            Some(outcome) => outcome.clone(),
            None => Err(Error::Closed {
                sent: true,
                reason: "the producer stopped before answering".into(),
            }),
        }
    }
}
