//! The producer: submit single records, get each record's ack. Records are
//! batched by the sans-IO [`Batcher`] and sent through one append session,
//! so the session's retries and exactly-once resolution apply.

use std::{
    collections::VecDeque,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, Waker},
    time::Instant,
};

use futures_channel::{mpsc, oneshot};
use futures_util::{FutureExt, StreamExt, future::poll_fn};
use s2_core::{
    Error,
    batcher::{Batcher, BatcherConfig},
    session::append::InputId,
    types::{AppendAck, AppendInput, AppendRecord, MeteredBytes},
};

use crate::{
    runtime::{Deadline, Runtime},
    session::{
        BoxFuture,
        append::{AckFuture, AppendSessionHandle},
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

type RecordSender = oneshot::Sender<Result<RecordAck, Error>>;

/// One admitted record: its id, metered size and ack sender.
struct Slot {
    id: u64,
    bytes: u64,
    sender: RecordSender,
}

/// A closed batch, with its records' slots.
struct Batch {
    input: AppendInput,
    slots: Vec<Slot>,
}

/// Records admitted and not yet handed to the session. Records are batched
/// here, in the caller's task; the driver is woken once per batch (or when
/// the linger deadline moves).
struct Intake {
    batcher: Batcher,
    /// Slots of the batch the batcher is filling.
    open: Vec<Slot>,
    /// Closed batches for the driver.
    closed: VecDeque<Batch>,
    /// Batches closed so far.
    batches_closed: u64,
    /// The driver's waker.
    driver: Option<Waker>,
    /// The client is closing: end the input, send what is held, finish.
    stop_requested: bool,
}

impl Intake {
    /// Moves the batcher's closed batches to `closed`; says whether any.
    fn collect(&mut self) -> bool {
        let mut any = false;
        while let Some(input) = self.batcher.poll_output() {
            let slots = self.open.drain(..input.len()).collect();
            self.closed.push_back(Batch { input, slots });
            self.batches_closed += 1;
            any = true;
        }
        any
    }

    fn wake_driver(&self) {
        if let Some(waker) = &self.driver {
            waker.wake_by_ref();
        }
    }

    fn is_empty(&self) -> bool {
        self.batcher.is_empty() && self.open.is_empty() && self.closed.is_empty()
    }
}

impl Intake {
    /// Takes admitted record `id` into the batch being filled; returns the
    /// future of its ack.
    fn take(
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
            .admit(bytes, |intake, id| intake.take(id, record, bytes, now))
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
}

/// The runtime's clock, shared with permits.
type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// The acknowledgement of one submitted record.
///
/// Resolves to the record's [`RecordAck`], or, when the producer stopped
/// without acknowledging it, to an [`Error::AppendSession`] about this
/// record alone: its ranges hold only the record's [`id`](Self::id), in
/// `maybe_applied` when the record may have been applied, in `not_applied`
/// when it certainly was not, so `may_have_side_effect()` answers for this
/// record; `cause` says why the producer stopped.
pub struct RecordAckFuture {
    id: u64,
    receiver: oneshot::Receiver<Result<RecordAck, Error>>,
}

impl RecordAckFuture {
    /// The record's id: its position in submission order (0, 1, 2, …).
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl std::future::Future for RecordAckFuture {
    type Output = Result<RecordAck, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.receiver
            .poll_unpin(cx)
            .map(|r| r.unwrap_or_else(|_| Err(Error::Closed("the producer stopped".into()))))
    }
}

/// The error of one record of a failed producer, from the producer's
/// `cause`: see [`RecordAckFuture`].
fn record_error(cause: &Error, record: u64, may_have_landed: bool) -> Error {
    let (maybe_applied, not_applied) = if may_have_landed {
        (record..record + 1, record + 1..record + 1)
    } else {
        (record..record, record..record + 1)
    };
    Error::AppendSession {
        cause: Box::new(cause.clone()),
        maybe_applied,
        not_applied,
    }
}

/// Whether session input `batch` may have landed, given the error its ack
/// future (or an earlier one's) resolved to.
fn batch_may_have_landed(error: &Error, batch: InputId) -> bool {
    match error {
        // Inputs past both ranges reached the session after it stopped.
        Error::AppendSession { maybe_applied, .. } => {
            // Before the range: cannot be (acks come in order); say unknown.
            maybe_applied.contains(&batch) || batch < maybe_applied.start
        }
        other => other.may_have_side_effect(),
    }
}

fn closed() -> Error {
    Error::Closed("the producer is closed".into())
}

impl Producer {
    pub(crate) fn start<R: Runtime>(
        runtime: R,
        session: AppendSessionHandle,
        config: BatcherConfig,
        sessions: &crate::inner::Sessions,
    ) -> Result<Self, Error> {
        let batcher = Batcher::new(config.clone())?;
        // The session's cap covers everything the producer holds, batches
        // being filled included (as the official SDKs count it), so no more
        // is queued in front of the session than it would take. It is at
        // least two batches: a record that does not fit the open batch must
        // get in to close it (with no linger nothing else would), whatever
        // the session's cap.
        let limits = Limits {
            max_bytes: session
                .limits()
                .max_bytes
                .max(config.max_bytes.saturating_mul(2)),
            max_items: usize::MAX,
        };
        let gate = Arc::new(Gate::new(
            Intake {
                batcher,
                open: Vec::new(),
                closed: VecDeque::new(),
                batches_closed: 0,
                driver: None,
                stop_requested: false,
            },
            limits,
        ));
        let (commands, receiver) = mpsc::unbounded();
        let driver = Driver {
            runtime: runtime.clone(),
            gate: gate.clone(),
            session: Some(Arc::new(session)),
            commands: Some(receiver),
            queued: VecDeque::new(),
            submitting: None,
            in_flight: VecDeque::new(),
            batches_acked: 0,
            flushes: Vec::new(),
            closing: None,
            input_done: false,
            deadline: Deadline::new(),
        };
        let (over, over_rx) = oneshot::channel::<()>();
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
            over_rx,
        );
        runtime.spawn(Box::pin(async move {
            driver.run().await;
            drop(over);
        }));
        let clock = runtime;
        Ok(Self {
            gate,
            commands,
            now: Arc::new(move || clock.now()),
        })
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
        let mut record = Some(record);
        let mut place = self.gate.place();
        poll_fn(|cx| {
            self.gate.poll_admit(&mut place, bytes, cx, |intake, id| {
                let record = record.take().expect("admitted once");
                intake.take(id, record, bytes, (self.now)())
            })
        })
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
        let mut place = self.gate.place();
        let reserved = poll_fn(|cx| self.gate.poll_reserve(&mut place, bytes, cx)).await?;
        Ok(RecordPermit {
            reserved,
            now: self.now.clone(),
        })
    }

    /// Waits until every record submitted so far is durable.
    pub async fn flush(&self) -> Result<(), Error> {
        let (done, done_rx) = oneshot::channel();
        self.commands
            .unbounded_send(Command::Flush(done))
            .map_err(|_| self.stopped())?;
        done_rx.await.map_err(|_| self.stopped())?
    }

    /// Sends what is pending, waits for every ack, and stops.
    pub async fn close(self) -> Result<(), Error> {
        let (done, done_rx) = oneshot::channel();
        self.commands
            .unbounded_send(Command::Close(done))
            .map_err(|_| self.stopped())?;
        done_rx.await.map_err(|_| self.stopped())?
    }

    /// Why the producer stopped, for calls that find it stopped.
    fn stopped(&self) -> Error {
        self.gate.stopped().unwrap_or_else(closed)
    }
}

/// A batch being handed to the session, with its records' slots.
type Submitting = (BoxFuture<Result<AckFuture, Error>>, Vec<Slot>);

struct Driver<R: Runtime> {
    runtime: R,
    gate: Arc<Gate<Intake>>,
    session: Option<Arc<AppendSessionHandle>>,
    commands: Option<mpsc::UnboundedReceiver<Command>>,
    /// Closed batches taken from the intake, for the session.
    queued: VecDeque<Batch>,
    /// A batch being submitted to the session.
    submitting: Option<Submitting>,
    /// Batches submitted, awaiting their acks in order.
    in_flight: VecDeque<(AckFuture, Vec<Slot>)>,
    batches_acked: u64,
    /// Flush waiters and the batch count they wait for.
    flushes: Vec<(u64, oneshot::Sender<Result<(), Error>>)>,
    closing: Option<oneshot::Sender<Result<(), Error>>>,
    /// No more records come: the producer was closed or dropped.
    input_done: bool,
    deadline: Deadline,
}

impl<R: Runtime> Driver<R> {
    async fn run(mut self) {
        poll_fn(|cx| self.poll(cx)).await;
    }

    /// One pass over every job; `Ready` once the producer is over.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let progressed = self.drive_commands(cx)
                | self.drive_linger(cx)
                | self.drive_submit(cx)
                | self.drive_acks(cx);
            if self.session.is_none() {
                // Failed: everyone was answered.
                return Poll::Ready(());
            }
            self.answer_flushes();
            if self.input_done && self.drained() {
                // Everything is acked: dropping the session handle closes it.
                self.session = None;
                self.gate.stop(closed());
                if let Some(done) = self.closing.take() {
                    let _ = done.send(Ok(()));
                }
                return Poll::Ready(());
            }
            if !progressed {
                return Poll::Pending;
            }
        }
    }

    /// Flush and close requests.
    fn drive_commands(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(commands) = self.commands.as_mut() else {
            return false;
        };
        match commands.poll_next_unpin(cx) {
            Poll::Ready(Some(Command::Flush(done))) => {
                let target = self.gate.with(|intake| {
                    intake.batcher.flush();
                    intake.collect();
                    intake.batches_closed
                });
                self.flushes.push((target, done));
            }
            Poll::Ready(Some(Command::Close(done))) => {
                self.closing = Some(done);
                self.end_input();
            }
            // Every producer handle is gone: finish what was submitted.
            Poll::Ready(None) => self.end_input(),
            Poll::Pending => return false,
        }
        true
    }

    fn end_input(&mut self) {
        self.commands = None;
        self.input_done = true;
        // A permit outlives the handles: stopped first, the gate takes no
        // record after this flush, which nothing would flush again.
        self.gate.stop(closed());
        self.gate.with(|intake| {
            intake.batcher.flush();
            intake.collect();
        });
    }

    /// The batcher's linger timer; also takes closed batches.
    fn drive_linger(&mut self, cx: &mut Context<'_>) -> bool {
        let now = self.runtime.now();
        let (linger, taken, stop) = self.gate.with(|intake| {
            intake.driver = Some(cx.waker().clone());
            if intake
                .batcher
                .poll_timeout()
                .is_some_and(|linger| linger <= now)
            {
                intake.batcher.handle_timeout(now);
                intake.collect();
            }
            let taken = !intake.closed.is_empty();
            self.queued.extend(intake.closed.drain(..));
            (intake.batcher.poll_timeout(), taken, intake.stop_requested)
        });
        let fired = self.deadline.poll(&self.runtime, linger, cx).is_ready();
        if stop && !self.input_done {
            // The client is closing: what is held goes out, nothing more
            // comes in.
            self.end_input();
            return true;
        }
        taken || fired
    }

    /// Hands queued batches to the session, one at a time.
    fn drive_submit(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progressed = false;
        if self.submitting.is_none()
            && let Some(session) = self.session.clone()
            && let Some(Batch { input, slots }) = self.queued.pop_front()
        {
            let submit: BoxFuture<_> = Box::pin(async move { session.submit(input).await });
            self.submitting = Some((submit, slots));
            progressed = true;
        }
        if let Some((submit, _)) = self.submitting.as_mut()
            && let Poll::Ready(result) = submit.as_mut().poll(cx)
        {
            let (_, slots) = self.submitting.take().expect("polled just now");
            match result {
                Ok(ack) => self.in_flight.push_back((ack, slots)),
                // Refused (the session stopped): this batch was not submitted.
                Err(e) => self.fail(e, slots),
            }
            progressed = true;
        }
        progressed
    }

    /// Acks, in order.
    fn drive_acks(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progressed = false;
        while let Some((ack, _)) = self.in_flight.front_mut() {
            let result = match ack.poll_unpin(cx) {
                Poll::Ready(result) => result,
                Poll::Pending => break,
            };
            progressed = true;
            match result {
                Ok(ack) => {
                    let (_, slots) = self.in_flight.pop_front().expect("polled just now");
                    let bytes = slots.iter().map(|s| s.bytes).sum();
                    self.gate.release(bytes, slots.len());
                    for (index, slot) in slots.into_iter().enumerate() {
                        // A dropped ack future only discards that ack.
                        let _ = slot.sender.send(Ok(RecordAck::new(ack, index as u64)));
                    }
                    self.batches_acked += 1;
                }
                Err(e) => {
                    self.fail(e, Vec::new());
                    break;
                }
            }
        }
        progressed
    }

    fn answer_flushes(&mut self) {
        let acked = self.batches_acked;
        let mut i = 0;
        while i < self.flushes.len() {
            if self.flushes[i].0 <= acked {
                let (_, done) = self.flushes.swap_remove(i);
                let _ = done.send(Ok(()));
            } else {
                i += 1;
            }
        }
    }

    fn drained(&self) -> bool {
        self.queued.is_empty()
            && self.submitting.is_none()
            && self.in_flight.is_empty()
            && self.gate.with(|intake| intake.is_empty())
    }

    /// Stops: every record not acknowledged gets its own error (see
    /// [`RecordAckFuture`]), every waiter the cause. `unsubmitted`: slots
    /// of a batch the session refused.
    fn fail(&mut self, cause: Error, unsubmitted: Vec<Slot>) {
        self.gate.stop(cause.clone());
        for (ack, slots) in self.in_flight.drain(..) {
            let landed = batch_may_have_landed(&cause, ack.id());
            for slot in slots {
                let _ = slot.sender.send(Err(record_error(&cause, slot.id, landed)));
            }
        }
        // Never handed to the session (a dropped submit submits nothing).
        let submitting = self.submitting.take().map(|(_, slots)| slots);
        let queued = self.queued.drain(..).map(|b| b.slots);
        let intake = self.gate.with(|intake| {
            let mut slots: Vec<Slot> = intake.closed.drain(..).flat_map(|b| b.slots).collect();
            slots.append(&mut intake.open);
            slots
        });
        for slot in unsubmitted
            .into_iter()
            .chain(submitting.into_iter().flatten())
            .chain(queued.flatten())
            .chain(intake)
        {
            let _ = slot.sender.send(Err(record_error(&cause, slot.id, false)));
        }
        for (_, done) in self.flushes.drain(..) {
            let _ = done.send(Err(cause.clone()));
        }
        if let Some(done) = self.closing.take() {
            let _ = done.send(Err(cause.clone()));
        }
        self.commands = None;
        self.session = None;
    }
}
