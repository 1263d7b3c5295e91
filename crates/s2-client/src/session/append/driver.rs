//! The append session driver: a background task that owns the session's
//! [`SessionIo`] and answers its handles: batches in, acks out.

use std::{
    collections::VecDeque,
    sync::Arc,
    task::{Context, Poll},
};

use futures_channel::{mpsc, oneshot};
use futures_util::{FutureExt, StreamExt, future::poll_fn};
use s2_core::{
    Error,
    api::StreamOptions,
    names::{BasinName, StreamName},
    session::append::{AppendSessionConfig, InputId, SubmitError},
    types::AppendAck,
};

use super::{
    AckSender, Command, Failure, gone_unanswered,
    io::{Answer, SessionIo, Taken, take_acked},
    refused,
};
use crate::{
    inner::{ClientInner, Over},
    runtime::{Runtime, Task},
    session::gate::{Gate, Limits},
};

/// The gate in front of a session's driver: admission, then the channel of
/// commands to it.
pub(super) type SessionGate = Gate<mpsc::UnboundedSender<Command>>;

/// A started driver: what its session's handles share with it, and its
/// task.
pub(super) struct Started {
    /// Admission, shared with the handles.
    pub(super) gate: Arc<SessionGate>,
    /// How the session ended, once it did.
    pub(super) failure: Failure,
    /// Resolves (cancelled) once the driver is over.
    pub(super) over: Over,
    /// The driver's task, for the caller to spawn.
    pub(super) task: Task,
}

/// A batch the machine took, awaiting its ack.
struct Awaiting {
    taken: Taken,
    ack: AckSender,
}

/// The driver of a session with `config`, behind a gate of `limits`.
pub(super) fn start<R: Runtime>(
    inner: Arc<ClientInner<R>>,
    basin: BasinName,
    stream: StreamName,
    options: StreamOptions,
    config: AppendSessionConfig,
    limits: Limits,
) -> Started {
    let (commands, receiver) = mpsc::unbounded();
    let gate = Arc::new(Gate::new(commands, limits));
    let failure = Failure::default();
    let (over, over_rx) = oneshot::channel();
    let io = SessionIo::new(inner, basin, stream, options, config);
    let span = io.span();
    let driver = Driver {
        _over: over,
        gate: gate.clone(),
        failure: failure.clone(),
        io,
        commands: Some(receiver),
        acks: VecDeque::new(),
        close_waiters: Vec::new(),
    };
    Started {
        gate,
        failure,
        over: over_rx.shared(),
        task: Box::pin(tracing::Instrument::instrument(driver.run(), span)),
    }
}

/// The background task of one append session: owns the machine (in its
/// [`SessionIo`]) and the acks awaited.
///
/// Who keeps what: the gate counts the room of every batch admitted and not
/// yet acknowledged (those still in the command channel included) and
/// numbers them; the machine keeps the batches it took, to send, resend and
/// resolve; this driver keeps their ack senders, in the same order. The
/// gate admits only what fits the machine's own caps, and gives room back
/// only once the machine acknowledged, so the machine always has room for
/// what the gate lets through.
struct Driver<R: Runtime> {
    gate: Arc<SessionGate>,
    failure: Failure,
    io: SessionIo<R>,
    commands: Option<mpsc::UnboundedReceiver<Command>>,
    /// Batches the machine took, in order (acks come in that order).
    acks: VecDeque<Awaiting>,
    close_waiters: Vec<oneshot::Sender<Result<(), Error>>>,
    /// Dropped when the driver is over, which [`S2::close`](crate::S2::close)
    /// waits for.
    _over: oneshot::Sender<()>,
}

impl<R: Runtime> Driver<R> {
    async fn run(mut self) {
        loop {
            // Drain first: the last events (acks, `Closed`, `Failed`) come
            // with the machine already finished.
            self.drain();
            if self.io.is_finished() {
                break;
            }
            poll_fn(|cx| self.poll_inputs(cx)).await;
        }
        self.finish();
    }

    /// The one teardown: takes nothing more, and answers everyone still
    /// waiting by how the session ended. Batches handed over and never
    /// answered may have landed. Idempotent.
    fn finish(&mut self) {
        self.stop_intake(self.failure.stopped_with());
        let unanswered = !self.acks.is_empty();
        for Awaiting { taken, ack } in self.acks.drain(..) {
            taken.count_unanswered();
            let _ = ack.send(Err(self.failure.stopped_with_or(gone_unanswered)));
        }
        if !unanswered {
            self.failure.drained();
        }
        let outcome = self.failure.close_unanswered();
        for done in self.close_waiters.drain(..) {
            let _ = done.send(outcome.clone());
        }
    }

    /// Admits nothing more, and refuses the submits admitted before the
    /// stop that are still in the channel (they never reached the machine);
    /// closes found there wait for the end.
    fn stop_intake(&mut self, cause: Error) {
        self.gate.stop(cause.clone());
        let Some(mut commands) = self.commands.take() else {
            return;
        };
        while let Ok(command) = commands.try_recv() {
            match command {
                Command::Submit { id, ack, .. } => {
                    let _ = ack.send(Err(refused(id, cause.clone())));
                }
                Command::Close { done } => self.close_waiters.push(done),
            }
        }
    }

    /// Acts on a command from the handles.
    fn accept(&mut self, command: Command) {
        let (id, input, ack) = match command {
            Command::Submit { id, input, ack } => (id, input, ack),
            Command::Close { done } => {
                self.close_waiters.push(done);
                // A permit outlives the handle: a batch it handed over after
                // the close was sent is still in the channel and must be
                // appended, not dropped. Later permits fail at submit; the
                // machine closes once the channel is drained (`None`).
                self.gate.stop(Error::Closed {
                    sent: false,
                    reason: "the append session is closing".into(),
                });
                if let Some(commands) = self.commands.as_mut() {
                    commands.close();
                }
                return;
            }
        };
        let refusal = match self.io.try_submit(input) {
            Ok(taken) => {
                debug_assert_eq!(taken.id, id, "the gate numbers inputs as the machine");
                self.acks.push_back(Awaiting { taken, ack });
                return;
            }
            Err(SubmitError::Full(_)) => {
                // The gate admits only what fits the machine's caps and
                // frees room only after the machine's ack.
                debug_assert!(false, "the gate admitted past the machine's caps");
                Error::Closed {
                    sent: false,
                    reason: "the append session had no room for the batch".into(),
                }
            }
            Err(SubmitError::Closed(_)) => self.failure.stopped_with(),
            Err(SubmitError::Invalid(_, error)) => {
                // The next position would overflow, so no later batch can be
                // placed either: take no more input and let what is in
                // flight finish.
                let error = Error::Validation(error);
                let _ = ack.send(Err(error.clone()));
                self.failure.set(error.clone());
                self.stop_intake(error);
                self.io.close();
                return;
            }
        };
        let _ = ack.send(Err(refused(id, refusal)));
    }

    /// Acts on the machine's events, answering acks and the failure. Its
    /// frames go out in [`poll_inputs`](Self::poll_inputs), as the body
    /// takes them.
    fn drain(&mut self) {
        while let Some(answer) = self.io.next_answer() {
            match answer {
                Answer::Ack(id, ack) => self.ack(id, ack),
                Answer::Failed(error) => {
                    self.failure.set(error);
                    self.finish();
                }
            }
        }
    }

    /// Input `id` is durable: answers its ack and gives its room back.
    fn ack(&mut self, id: InputId, ack: AppendAck) {
        let Some(Awaiting { taken, ack: sender }) = take_acked(&mut self.acks, id, |a| &a.taken)
        else {
            return;
        };
        self.gate.release(taken.bytes, 1);
        taken.count_ack(&ack, self.io.now());
        // The caller may have dropped its ack future: fine.
        let _ = sender.send(Ok(ack));
    }

    /// Waits for anything: a command, the connection opening, response
    /// bytes, a unary answer, or the timer. Each step is polled, so each
    /// registers its waker, before any is acted on again by `drain`.
    fn poll_inputs(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // First, while every event is drained: a frame must not overtake
        // the `Connect` of its connection.
        self.io.drive_outgoing(cx);
        if self.drive_commands(cx) | self.io.poll_inputs(cx) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Submits and closes from the handles.
    fn drive_commands(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(commands) = self.commands.as_mut() else {
            return false;
        };
        match commands.poll_next_unpin(cx) {
            Poll::Ready(Some(command)) => self.accept(command),
            Poll::Ready(None) => {
                // Every handle is gone: finish what was submitted.
                self.commands = None;
                self.io.close();
            }
            Poll::Pending => return false,
        }
        true
    }
}

impl<R: Runtime> Drop for Driver<R> {
    /// Over, or dropped with its task (its runtime shut down): batches
    /// still awaited leave the unacknowledged bytes (their ack futures say
    /// that the session stopped without answering).
    fn drop(&mut self) {
        for awaiting in &self.acks {
            awaiting.taken.count_unanswered();
        }
    }
}
