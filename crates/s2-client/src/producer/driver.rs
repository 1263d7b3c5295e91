//! The producer's driver: batches from the intake to the append session,
//! acks from the session to each record.

use std::{
    collections::VecDeque,
    sync::Arc,
    task::{Context, Poll},
};

use futures_channel::{mpsc, oneshot};
use futures_util::{FutureExt, StreamExt, future::poll_fn};
use s2_core::{Error, session::append::InputId};

use super::{
    Command, Ending,
    ack::BatchAcks,
    closed,
    intake::{Batch, Intake},
};
use crate::{
    runtime::{Deadline, Runtime, Task},
    session::{
        BoxFuture,
        append::{AckFuture, AppendSession},
        gate::Gate,
    },
};

/// A batch's records once its input is handed over: their acks, and the
/// room they hold in the gate.
struct Records {
    acks: BatchAcks,
    bytes: u64,
    count: usize,
}

/// A batch being handed to the session, with its records.
type Submitting = (BoxFuture<Result<AckFuture, Error>>, Records);

/// The producer's background task: takes closed batches from the intake,
/// hands them to the session, and answers each record from its batch's ack.
///
/// It also polls the session's driver, which would otherwise be a task of
/// its own: a batch submitted is then sent, and an ack received answers its
/// records, in the same task, with no wakeup of another task in between.
pub(super) struct Driver<R: Runtime> {
    runtime: R,
    gate: Arc<Gate<Intake>>,
    session: Option<Arc<AppendSession>>,
    /// The session's driver, until it is over.
    session_task: Option<Task>,
    commands: Option<mpsc::UnboundedReceiver<Command>>,
    /// Closed batches taken from the intake, for the session.
    queued: VecDeque<Batch>,
    /// A batch being submitted to the session.
    submitting: Option<Submitting>,
    /// Batches submitted, awaiting their acks in order.
    in_flight: VecDeque<(AckFuture, Records)>,
    batches_acked: u64,
    /// Flush waiters and the batch count they wait for.
    flushes: Vec<(u64, oneshot::Sender<Result<(), Error>>)>,
    closing: Option<oneshot::Sender<Result<(), Error>>>,
    /// No more records come: the producer was closed or dropped.
    input_done: bool,
    deadline: Deadline,
    /// Where the producer's end is recorded, for the handles.
    ending: Ending,
}

impl<R: Runtime> Driver<R> {
    pub(super) fn new(
        runtime: R,
        gate: Arc<Gate<Intake>>,
        session: AppendSession,
        session_task: Task,
        commands: mpsc::UnboundedReceiver<Command>,
        ending: Ending,
    ) -> Self {
        Self {
            runtime,
            gate,
            session: Some(Arc::new(session)),
            session_task: Some(session_task),
            commands: Some(commands),
            queued: VecDeque::new(),
            submitting: None,
            in_flight: VecDeque::new(),
            batches_acked: 0,
            flushes: Vec::new(),
            closing: None,
            input_done: false,
            deadline: Deadline::new(),
            ending,
        }
    }

    pub(super) async fn run(mut self) {
        poll_fn(|cx| self.poll(cx)).await;
        // The session closes once the producer lets go of its handle (or
        // has failed): its driver still sends the end of the stream.
        if let Some(session_task) = self.session_task.take() {
            session_task.await;
        }
    }

    /// One pass over every job, in the order a record travels: commands
    /// and the linger timer close batches, which are submitted, sent by the
    /// session, whose acks answer records and then flushes. `Ready` once
    /// the producer is over.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let progressed = self.drive_commands(cx)
                | self.drive_linger(cx)
                | self.drive_submit(cx)
                | self.drive_session(cx)
                | self.drive_acks(cx);
            if self.session.is_none() {
                // Failed: everyone was answered.
                return Poll::Ready(());
            }
            self.answer_flushes();
            if self.input_done && self.drained() {
                self.finish();
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
            && let Some(Batch { input, acks }) = self.queued.pop_front()
        {
            let records = Records {
                acks,
                bytes: input.metered_bytes(),
                count: input.len(),
            };
            let submit: BoxFuture<_> = Box::pin(async move { session.submit(input).await });
            self.submitting = Some((submit, records));
            progressed = true;
        }
        if let Some((submit, _)) = self.submitting.as_mut()
            && let Poll::Ready(result) = submit.as_mut().poll(cx)
        {
            let (_, records) = self.submitting.take().expect("polled just now");
            match result {
                Ok(ack) => self.in_flight.push_back((ack, records)),
                // Refused (the session stopped): this batch was not submitted.
                Err(e) => self.fail(e, Some(records)),
            }
            progressed = true;
        }
        progressed
    }

    /// The session's driver: it has taken what `drive_submit` handed over
    /// and its acks are ready for `drive_acks` when this returns. Its own
    /// progress needs no second pass: it polls until it has nothing to do.
    fn drive_session(&mut self, cx: &mut Context<'_>) -> bool {
        if let Some(task) = self.session_task.as_mut()
            && task.as_mut().poll(cx).is_ready()
        {
            self.session_task = None;
        }
        false
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
                    let (_, records) = self.in_flight.pop_front().expect("polled just now");
                    self.gate.release(records.bytes, records.count);
                    records.acks.ack(ack);
                    self.batches_acked += 1;
                }
                Err(e) => {
                    self.fail(e, None);
                    break;
                }
            }
        }
        progressed
    }

    /// Everything is acked: dropping the session handle closes it.
    fn finish(&mut self) {
        self.session = None;
        *self.ending.lock() = Some(Ok(()));
        self.gate.stop(closed());
        if let Some(done) = self.closing.take() {
            let _ = done.send(Ok(()));
        }
    }

    /// Answers the flushes whose batches are all acknowledged.
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

    /// Nothing is held: no record in the intake, no batch queued, being
    /// submitted or awaiting its ack.
    fn drained(&self) -> bool {
        self.queued.is_empty()
            && self.submitting.is_none()
            && self.in_flight.is_empty()
            && self.gate.with(|intake| intake.is_empty())
    }

    /// Stops: every record not acknowledged gets its own error (see
    /// [`RecordAckFuture`](super::RecordAckFuture)), every waiter the
    /// cause. `unsubmitted`: a batch the session refused.
    fn fail(&mut self, cause: Error, unsubmitted: Option<Records>) {
        *self.ending.lock() = Some(Err(cause.clone()));
        self.gate.stop(cause.clone());
        for (ack, records) in self.in_flight.drain(..) {
            records
                .acks
                .fail(&cause, batch_may_have_landed(&cause, ack.id()));
        }
        // Never handed to the session (a dropped submit submits nothing).
        let submitting = self.submitting.take().map(|(_, records)| records.acks);
        let queued = self.queued.drain(..).map(|batch| batch.acks);
        for acks in unsubmitted
            .map(|records| records.acks)
            .into_iter()
            .chain(submitting)
            .chain(queued)
        {
            acks.fail(&cause, false);
        }
        // Answered outside the gate's lock. The gate is stopped: no record
        // joins the open batch now.
        for acks in self.gate.with(Intake::take_unsent) {
            acks.fail(&cause, false);
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
