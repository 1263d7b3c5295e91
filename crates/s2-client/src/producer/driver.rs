//! The producer's driver: batches from the intake to the append machine,
//! acks from the machine to each record.

use std::{
    collections::VecDeque,
    sync::Arc,
    task::{Context, Poll},
};

use futures_channel::{mpsc, oneshot};
use futures_util::{StreamExt, future::poll_fn};
use s2_core::{
    Error,
    session::append::{InputId, SubmitError},
    types::AppendAck,
};

use super::{
    Command, Ending,
    ack::BatchAcks,
    closed,
    intake::{Batch, Intake},
};
use crate::{
    runtime::{Deadline, Runtime},
    session::{
        append::io::{Answer, SessionIo, Taken, take_acked},
        gate::Gate,
    },
};

/// A batch the machine took, awaiting its ack: the acks of its records,
/// and the room they hold in the gate.
struct InFlight {
    taken: Taken,
    acks: BatchAcks,
    records: usize,
}

/// A flush waiting for every batch closed before it to be acknowledged.
struct Flush {
    /// How many batches must be acknowledged.
    batches: u64,
    done: oneshot::Sender<Result<(), Error>>,
}

/// Where the producer is in its life.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Taking records.
    Running,
    /// Taking nothing more, every waiter answered: the machine finishes
    /// the batches it holds (their records are answered by their acks, or
    /// by its failure), then ends its request body.
    Ending,
}

/// The producer's background task: takes closed batches from the intake,
/// hands them to the append machine as it has room, and answers each record
/// from its batch's ack. It owns the machine and its IO ([`SessionIo`]), so
/// a batch closed is sent, and an ack received answers its records, in this
/// one task.
///
/// Who keeps what: the producer's gate counts the records admitted and not
/// yet acknowledged (the caps apply to what the producer holds, batches
/// being filled included); the intake holds the open batch and the closed
/// ones; this driver, the batches queued for the machine and those the
/// machine took (with their records' acks), in order; the machine, the
/// batches to send, resend and resolve.
pub(super) struct Driver<R: Runtime> {
    gate: Arc<Gate<Intake>>,
    io: SessionIo<R>,
    commands: Option<mpsc::UnboundedReceiver<Command>>,
    /// Closed batches taken from the intake, waiting for room in the
    /// machine.
    queued: VecDeque<Batch>,
    /// Batches the machine took, in order (acks come in that order).
    in_flight: VecDeque<InFlight>,
    batches_acked: u64,
    flushes: Vec<Flush>,
    closing: Option<oneshot::Sender<Result<(), Error>>>,
    /// No more records come: the producer was closed or dropped.
    input_done: bool,
    stage: Stage,
    /// The batcher's linger timer.
    linger: Deadline,
    /// Where the producer's end is recorded, for the handles.
    ending: Ending,
}

impl<R: Runtime> Driver<R> {
    pub(super) fn new(
        gate: Arc<Gate<Intake>>,
        io: SessionIo<R>,
        commands: mpsc::UnboundedReceiver<Command>,
        ending: Ending,
    ) -> Self {
        Self {
            gate,
            io,
            commands: Some(commands),
            queued: VecDeque::new(),
            in_flight: VecDeque::new(),
            batches_acked: 0,
            flushes: Vec::new(),
            closing: None,
            input_done: false,
            stage: Stage::Running,
            linger: Deadline::new(),
            ending,
        }
    }

    /// The tracing span of the producer's session.
    pub(super) fn span(&self) -> tracing::Span {
        self.io.span()
    }

    pub(super) async fn run(mut self) {
        poll_fn(|cx| self.poll(cx)).await;
    }

    /// One pass over every job, in the order a record travels: commands
    /// and the linger timer close batches, which the machine takes and
    /// sends; its acks answer records and then flushes. `Ready` once the
    /// producer is over and its session has ended.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let mut progressed = false;
            if self.stage == Stage::Running {
                progressed |= self.drive_commands(cx) | self.drive_linger(cx);
                self.submit_queued();
            }
            self.drain();
            if self.stage == Stage::Running {
                self.answer_flushes();
                if self.input_done && self.drained() {
                    self.finish();
                    // The machine ends at once when it holds nothing.
                    self.drain();
                }
            }
            if self.io.is_finished() {
                return Poll::Ready(());
            }
            // First, while every event is acted on: a frame must not
            // overtake the `Connect` of its connection.
            self.io.drive_outgoing(cx);
            progressed |= self.io.poll_inputs(cx);
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
                let batches = self.gate.with(|intake| {
                    intake.batcher.flush();
                    intake.collect();
                    intake.batches_closed
                });
                self.flushes.push(Flush { batches, done });
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
        let now = self.io.now();
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
        let fired = self.linger.poll(self.io.runtime(), linger, cx).is_ready();
        if stop && !self.input_done {
            // The client is closing: what is held goes out, nothing more
            // comes in.
            self.end_input();
            return true;
        }
        taken || fired
    }

    /// Hands queued batches to the machine while it has room.
    fn submit_queued(&mut self) {
        while let Some(batch) = self.queued.front()
            && self.io.has_capacity(batch.input.metered_bytes())
        {
            let Some(Batch { input, acks }) = self.queued.pop_front() else {
                return;
            };
            let records = input.len();
            match self.io.try_submit(input) {
                Ok(taken) => self.in_flight.push_back(InFlight {
                    taken,
                    acks,
                    records,
                }),
                Err(refused) => {
                    let cause = match refused {
                        SubmitError::Invalid(_, error) => Error::Validation(error),
                        SubmitError::Full(_) | SubmitError::Closed(_) => closed(),
                    };
                    acks.fail(&cause, false);
                    return self.fail(cause);
                }
            }
        }
    }

    /// Acts on the machine's events, answering records from acks, and
    /// everyone from a failure.
    fn drain(&mut self) {
        while let Some(answer) = self.io.next_answer() {
            match answer {
                Answer::Ack(id, ack) => self.ack(id, ack),
                Answer::Failed(error) => self.fail(error),
            }
        }
    }

    /// Batch `id` is durable: answers its records and gives their room back.
    fn ack(&mut self, id: InputId, ack: AppendAck) {
        let Some(batch) = take_acked(&mut self.in_flight, id, |batch| &batch.taken) else {
            return;
        };
        self.gate.release(batch.taken.bytes, batch.records);
        batch.taken.count_ack(&ack, self.io.now());
        batch.acks.ack(ack);
        self.batches_acked += 1;
    }

    /// Every record is acknowledged: the producer is over; the session
    /// ends once its body is.
    fn finish(&mut self) {
        *self.ending.lock() = Some(Ok(()));
        self.gate.stop(closed());
        if let Some(done) = self.closing.take() {
            let _ = done.send(Ok(()));
        }
        self.stage = Stage::Ending;
        self.io.close();
    }

    /// Answers the flushes whose batches are all acknowledged.
    fn answer_flushes(&mut self) {
        let acked = self.batches_acked;
        let mut i = 0;
        while i < self.flushes.len() {
            if self.flushes[i].batches <= acked {
                let _ = self.flushes.swap_remove(i).done.send(Ok(()));
            } else {
                i += 1;
            }
        }
    }

    /// Nothing is held: no record in the intake, no batch queued or
    /// awaiting its ack.
    fn drained(&self) -> bool {
        self.queued.is_empty()
            && self.in_flight.is_empty()
            && self.gate.with(|intake| intake.is_empty())
    }

    /// Stops: every record not handed to the machine gets its own error
    /// (see [`RecordAckFuture`](super::RecordAckFuture)), every waiter the
    /// cause. The records the machine holds are answered by it: by their
    /// acks while it runs (the cause was a batch it refused), by its
    /// failure once it stopped.
    fn fail(&mut self, cause: Error) {
        if self.stage == Stage::Running {
            self.stop(&cause);
        }
        if !self.io.is_finished() {
            return;
        }
        for InFlight { taken, acks, .. } in self.in_flight.drain(..) {
            taken.count_unanswered();
            acks.fail(&cause, batch_may_have_landed(&cause, taken.id));
        }
    }

    /// Takes nothing more, answers what the machine does not hold and every
    /// waiter with `cause`, and lets the machine finish what it holds.
    fn stop(&mut self, cause: &Error) {
        *self.ending.lock() = Some(Err(cause.clone()));
        self.gate.stop(cause.clone());
        // Never handed to the machine.
        for batch in self.queued.drain(..) {
            batch.acks.fail(cause, false);
        }
        // Answered outside the gate's lock. The gate is stopped: no record
        // joins the open batch now.
        for acks in self.gate.with(Intake::take_unsent) {
            acks.fail(cause, false);
        }
        for flush in self.flushes.drain(..) {
            let _ = flush.done.send(Err(cause.clone()));
        }
        if let Some(done) = self.closing.take() {
            let _ = done.send(Err(cause.clone()));
        }
        self.commands = None;
        self.stage = Stage::Ending;
        self.io.close();
    }
}

impl<R: Runtime> Drop for Driver<R> {
    /// Over, or dropped with its task (its runtime shut down): records that
    /// never reached it are answered that the producer stopped, and no
    /// more are taken, rather than wait for a driver that is gone. After a
    /// normal end or a failure the gate is stopped and the intake empty.
    fn drop(&mut self) {
        // Nothing of what the gate refuses from now on, nor of what the
        // intake still holds, was sent.
        let stopped = Error::Closed {
            sent: false,
            reason: "the producer stopped".into(),
        };
        self.gate.stop(stopped.clone());
        // Answered outside the gate's lock.
        for acks in self.gate.with(Intake::take_unsent) {
            acks.fail(&stopped, false);
        }
        for batch in self.in_flight.drain(..) {
            batch.taken.count_unanswered();
        }
    }
}

/// Whether session input `batch` may have landed, given the error the
/// session failed with.
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
