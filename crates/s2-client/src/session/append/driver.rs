//! The append session driver: a background task that owns the append state
//! machine and moves its frames, events and acks.

use std::{
    collections::VecDeque,
    ops::Range,
    sync::Arc,
    task::{Context, Poll},
    time::Instant,
};

use futures_channel::{mpsc, oneshot};
use futures_util::{FutureExt, StreamExt, future::poll_fn};
use s2_core::{
    Error,
    api::{SessionKind, StreamOptions},
    names::{BasinName, StreamName},
    session::{
        ConnectionEvent, ConnectionId,
        append::{
            AppendEvent, AppendSession as Machine, AppendSessionConfig, Input, InputId, SubmitError,
        },
    },
    types::{AppendAck, ReadOutput, ReadRequest, StreamPosition},
};

use super::{AckSender, Command, Failure, gone_unanswered, refused};
use crate::{
    body::{FrameSender, RequestBody},
    inner::{ClientInner, Over},
    metrics::Resolution,
    retry::execute_within,
    runtime::{Deadline, Runtime, Task},
    session::{
        BoxFuture, Opening, SessionConnection,
        gate::{Gate, Limits},
    },
    transport::ConnectionHandle,
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
    /// The driver's task, for the caller to spawn or to poll from a task of
    /// its own.
    pub(super) task: Task,
}

/// A batch the machine took, awaiting its ack.
struct Awaiting {
    id: InputId,
    /// Its metered size, the room it holds in the gate.
    bytes: u64,
    /// When the machine took it, for the ack latency.
    submitted: Instant,
    ack: AckSender,
}

/// An exactly-once resolution under way: the inputs unacknowledged when it
/// started, and how many of them it found landed so far.
struct Resolving {
    unacked: Range<InputId>,
    landed: u64,
}

/// The request body of the current session connection.
struct Outgoing {
    connection: ConnectionId,
    body: FrameSender,
}

/// The unary call an exactly-once resolution is waiting on.
enum Unary {
    Tail(BoxFuture<Result<StreamPosition, Error>>),
    Read(BoxFuture<Result<ReadOutput, Error>>),
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
    let driver = Driver {
        _over: over,
        gate: gate.clone(),
        failure: failure.clone(),
        runtime: inner.transport.runtime().clone(),
        inner,
        basin,
        stream,
        options,
        ack_timeout: config.ack_timeout(),
        machine: Machine::new(config),
        commands: Some(receiver),
        acks: VecDeque::new(),
        close_waiters: Vec::new(),
        connection: SessionConnection::default(),
        outgoing: None,
        unary: None,
        deadline: Deadline::new(),
        timed_out: None,
        resolving: None,
        _open: crate::metrics::OpenSession::new(crate::metrics::Session::Append),
    };
    let span = crate::trace::session_span("append", &driver.basin, &driver.stream);
    Started {
        gate,
        failure,
        over: over_rx.shared(),
        task: Box::pin(tracing::Instrument::instrument(driver.run(), span)),
    }
}

/// The background task of one append session: owns the machine, the
/// session connection and the acks awaited.
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
    runtime: R,
    inner: Arc<ClientInner<R>>,
    basin: BasinName,
    stream: StreamName,
    /// Headers of every request for the stream (its encryption key).
    options: StreamOptions,
    /// The session's ack timeout, for the log line of a timeout.
    ack_timeout: std::time::Duration,
    machine: Machine,
    commands: Option<mpsc::UnboundedReceiver<Command>>,
    /// Batches the machine took, in order (acks come in that order).
    acks: VecDeque<Awaiting>,
    close_waiters: Vec<oneshot::Sender<Result<(), Error>>>,
    connection: SessionConnection,
    outgoing: Option<Outgoing>,
    unary: Option<Unary>,
    deadline: Deadline,
    /// The HTTP/2 connection of the session connection when the timer last
    /// fired: if the machine drops that session connection in response (its
    /// ack deadline passed), it is evicted.
    timed_out: Option<ConnectionHandle>,
    resolving: Option<Resolving>,
    _open: crate::metrics::OpenSession,
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
            if self.machine.is_finished() {
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
        for awaiting in self.acks.drain(..) {
            crate::metrics::unacked_bytes_removed(awaiting.bytes);
            let _ = awaiting
                .ack
                .send(Err(self.failure.stopped_with_or(gone_unanswered)));
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

    fn now(&self) -> Instant {
        self.runtime.now()
    }

    /// Acts on a command from the handles.
    fn accept(&mut self, command: Command) {
        match command {
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
            }
            Command::Submit { id, input, ack } => {
                let bytes = input.metered_bytes();
                match self.machine.try_submit(input) {
                    Ok(taken) => {
                        debug_assert_eq!(taken, id, "the gate numbers inputs as the machine");
                        crate::metrics::unacked_bytes_added(bytes);
                        let submitted = self.now();
                        self.acks.push_back(Awaiting {
                            id,
                            bytes,
                            submitted,
                            ack,
                        });
                    }
                    Err(SubmitError::Full(_)) => {
                        // The gate admits only what fits the machine's caps
                        // and frees room only after the machine's ack.
                        debug_assert!(false, "the gate admitted past the machine's caps");
                        let cause = Error::Closed {
                            sent: false,
                            reason: "the append session had no room for the batch".into(),
                        };
                        let _ = ack.send(Err(refused(id, cause)));
                    }
                    Err(SubmitError::Closed(_)) => {
                        let cause = self.failure.stopped_with();
                        let _ = ack.send(Err(refused(id, cause)));
                    }
                    Err(SubmitError::Invalid(_, error)) => {
                        // The next position would overflow, so no later batch
                        // can be placed either: take no more input and let
                        // what is in flight finish.
                        let error = Error::Validation(error);
                        let _ = ack.send(Err(error.clone()));
                        self.failure.set(error.clone());
                        self.stop_intake(error);
                        self.machine.close();
                    }
                }
            }
        }
    }

    /// Drains the machine's events, acting on each. Its frames go out in
    /// [`drive_outgoing`](Self::drive_outgoing), as the body takes them.
    fn drain(&mut self) {
        while let Some(event) = self.machine.poll_event() {
            self.handle_event(event);
        }
        // A timeout the machine did not drop the connection for.
        self.timed_out = None;
    }

    fn handle_event(&mut self, event: AppendEvent) {
        match event {
            AppendEvent::Connect(connection) => self.connect(connection),
            AppendEvent::Disconnect(connection) => self.disconnect(connection),
            AppendEvent::Advised(connection) => {
                let now = self.now();
                self.connection.advised(connection, now);
            }
            AppendEvent::Closed => {
                self.end_resolution(Resolution::Resent);
                // Everything is acknowledged: end the request body cleanly.
                self.outgoing = None;
            }
            AppendEvent::CheckTail => self.check_tail(),
            AppendEvent::Read(request) => self.read_back(request),
            AppendEvent::Ack { id, ack } => self.ack(id, ack),
            AppendEvent::Failed(error) => self.fail(error),
        }
    }

    /// Opens session connection `connection`, replacing the current one.
    fn connect(&mut self, connection: ConnectionId) {
        self.end_resolution(Resolution::Resent);
        let now = self.now();
        self.connection
            .log_connect(connection, crate::metrics::Session::Append, now);
        self.abort_connection();
        let (body, request_body) = RequestBody::frames();
        self.outgoing = Some(Outgoing { connection, body });
        let request = self.inner.api.session_request(
            &self.basin,
            &self.stream,
            SessionKind::Append,
            None,
            &self.options,
        );
        match request {
            Ok(request) => self.connection.open(Opening::new(
                self.inner.clone(),
                connection,
                request,
                request_body,
            )),
            Err(e) => {
                let event = ConnectionEvent::Failed(e.into());
                self.machine
                    .handle(Input::Connection(connection, event), now);
            }
        }
    }

    /// Drops session connection `connection`, if current; evicts its
    /// HTTP/2 connection when it is dropped for an overdue ack.
    fn disconnect(&mut self, connection: ConnectionId) {
        if self
            .outgoing
            .as_ref()
            .is_none_or(|outgoing| outgoing.connection != connection)
        {
            return;
        }
        if let Some(timed_out) = self.timed_out.take() {
            // No ack within the deadline: the reconnect must not go out on
            // the same HTTP/2 connection.
            tracing::warn!(ack_timeout = ?self.ack_timeout, "no ack within the ack timeout");
            let now = self.now();
            self.connection.note_failure("ack timeout", now);
            timed_out.evict();
        }
        self.abort_connection();
    }

    /// Asks for the stream's tail, for an exactly-once resolution.
    fn check_tail(&mut self) {
        self.start_resolution();
        let inner = self.inner.clone();
        let (basin, stream) = (self.basin.clone(), self.stream.clone());
        let window = self.machine.retry_window_start();
        self.unary = Some(Unary::Tail(Box::pin(async move {
            let call = inner.api.check_tail(&basin, &stream)?;
            execute_within(&inner, call, window).await
        })));
    }

    /// Reads back what may have landed, for an exactly-once resolution.
    fn read_back(&mut self, request: ReadRequest) {
        self.start_resolution();
        tracing::debug!(
            start = ?request.start,
            limit = ?request.limit,
            "exactly-once resolution: reading back"
        );
        let inner = self.inner.clone();
        let (basin, stream) = (self.basin.clone(), self.stream.clone());
        // The read-back must decrypt what the session wrote.
        let options = self.options.clone();
        let window = self.machine.retry_window_start();
        self.unary = Some(Unary::Read(Box::pin(async move {
            let call = inner.api.read(&basin, &stream, &request, &options)?;
            execute_within(&inner, call, window).await
        })));
    }

    /// Input `id` is durable: answers its ack and gives its room back.
    fn ack(&mut self, id: InputId, ack: AppendAck) {
        // Acks come in submission order: `id` is the oldest awaited.
        if self.acks.front().is_none_or(|awaiting| awaiting.id != id) {
            debug_assert!(false, "ack {id} out of order");
            return;
        }
        let Some(awaiting) = self.acks.pop_front() else {
            return;
        };
        self.gate.release(awaiting.bytes, 1);
        crate::metrics::unacked_bytes_removed(awaiting.bytes);
        crate::metrics::appended(1, ack.record_count(), awaiting.bytes);
        if cfg!(feature = "metrics") {
            let latency = self.now().saturating_duration_since(awaiting.submitted);
            crate::metrics::ack_latency(latency);
        }
        if let Some(resolving) = self.resolving.as_mut() {
            resolving.landed += 1;
            if self.acks.is_empty() {
                self.end_resolution(Resolution::Landed);
            }
        }
        // The caller may have dropped its ack future: fine.
        let _ = awaiting.ack.send(Ok(ack));
    }

    /// The session failed: everyone waiting gets the error.
    fn fail(&mut self, error: Error) {
        if is_conflict(&error) {
            self.end_resolution(Resolution::Conflict);
            tracing::warn!(
                error = %crate::trace::Chain(&error),
                "writer conflict: another writer appended first"
            );
            crate::metrics::writer_conflict();
        } else {
            tracing::warn!(error = %crate::trace::Chain(&error), "append session failed");
        }
        self.failure.set(error);
        self.finish();
        self.abort_connection();
    }

    /// Notes the start of an exactly-once resolution (once per resolution).
    fn start_resolution(&mut self) {
        if self.resolving.is_some() {
            return;
        }
        let first = self.acks.front().map_or(0, |awaiting| awaiting.id);
        let unacked = first..first + self.acks.len() as u64;
        tracing::debug!(?unacked, "exactly-once resolution: the outcome is unknown");
        self.resolving = Some(Resolving { unacked, landed: 0 });
    }

    /// Reports how the resolution under way (if any) ended: inputs found
    /// on the stream are `landed`; what remains was resent, or hit another
    /// writer's records.
    fn end_resolution(&mut self, then: Resolution) {
        let Some(Resolving { unacked, landed }) = self.resolving.take() else {
            return;
        };
        let outcome = match then {
            Resolution::Resent if landed > 0 => Resolution::Landed,
            other => other,
        };
        let landed_up_to = unacked.start + landed;
        tracing::debug!(
            landed = ?(unacked.start..landed_up_to),
            resent = ?(landed_up_to..unacked.end),
            outcome = outcome.label(),
            "exactly-once resolution"
        );
        crate::metrics::resolution(outcome);
    }

    /// Resets the current connection's stream, so the server stops taking
    /// batches from it, and drops it.
    fn abort_connection(&mut self) {
        if let Some(outgoing) = self.outgoing.take() {
            outgoing.body.abort();
        }
        self.connection.close();
    }

    /// Waits for anything: a command, the connection opening, response
    /// bytes, a unary answer, or the timer. Each step is polled, so each
    /// registers its waker, before any is acted on again by `drain`.
    fn poll_inputs(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // First, while every event is drained: a frame must not overtake
        // the `Connect` of its connection.
        self.drive_outgoing(cx);
        // The timer last: an ack that arrived before a late poll is read
        // before the deadline it beat is looked at.
        let ready = self.drive_commands(cx)
            | self.drive_connection(cx)
            | self.drive_unary(cx)
            | self.drive_timer(cx);
        if ready {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Hands the machine's frames to the session connection's body while it
    /// takes them. A frame is encoded only then, so a batch waiting behind
    /// HTTP/2's send buffer is held once (as its records), not twice. Makes
    /// no event for [`drain`](Self::drain), so it reports no progress.
    fn drive_outgoing(&mut self, cx: &mut Context<'_>) {
        let Some(Outgoing { connection, body }) = self.outgoing.as_mut() else {
            return;
        };
        let mut now = None;
        // A closed body is never ready: the connection is failing, and the
        // machine hears about it from the response side.
        while let Poll::Ready(Ok(())) = body.poll_ready(cx) {
            let now = *now.get_or_insert_with(|| self.runtime.now());
            let Some((to, frame)) = self.machine.poll_transmit(now) else {
                return;
            };
            debug_assert_eq!(to, *connection, "a Connect precedes its frames");
            if to == *connection {
                body.send(frame);
            }
        }
    }

    /// Submits and closes from the handles, while the machine has room.
    fn drive_commands(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(commands) = self.commands.as_mut() else {
            return false;
        };
        match commands.poll_next_unpin(cx) {
            Poll::Ready(Some(command)) => self.accept(command),
            Poll::Ready(None) => {
                // Every handle is gone: finish what was submitted.
                self.commands = None;
                self.machine.close();
            }
            Poll::Pending => return false,
        }
        true
    }

    /// The session connection: opened, its bytes, its end or failure.
    fn drive_connection(&mut self, cx: &mut Context<'_>) -> bool {
        let runtime = self.runtime.clone();
        let Poll::Ready((connection, event, now)) =
            self.connection.poll_event(|| runtime.now(), cx)
        else {
            return false;
        };
        self.machine
            .handle(Input::Connection(connection, event), now);
        true
    }

    /// The unary call of an exactly-once resolution (check tail, read back).
    fn drive_unary(&mut self, cx: &mut Context<'_>) -> bool {
        let now = self.now();
        match self.unary.as_mut() {
            Some(Unary::Tail(future)) => {
                let Poll::Ready(result) = future.as_mut().poll(cx) else {
                    return false;
                };
                self.unary = None;
                self.machine.handle(Input::Tail(result), now);
            }
            Some(Unary::Read(future)) => {
                let Poll::Ready(result) = future.as_mut().poll(cx) else {
                    return false;
                };
                self.unary = None;
                self.machine.handle(Input::ReadBack(result), now);
            }
            None => return false,
        }
        true
    }

    /// The machine's next deadline (ack timeout, backoff).
    fn drive_timer(&mut self, cx: &mut Context<'_>) -> bool {
        if self
            .deadline
            .poll(&self.runtime, self.machine.poll_timeout(), cx)
            .is_pending()
        {
            return false;
        }
        let now = self.now();
        // Only an overdue ack condemns the connection. The timer may as well
        // end a backoff, a zero one at once, started by a failure whose
        // `Disconnect` is not drained yet: that connection did not time out.
        self.timed_out = if self.machine.is_ack_overdue(now) {
            self.connection.http_connection()
        } else {
            None
        };
        self.machine.handle(Input::Timeout, now);
        true
    }
}

/// Whether a session failure is another writer's records in the way.
fn is_conflict(error: &Error) -> bool {
    match error {
        Error::WriterConflict { .. } => true,
        Error::AppendSession { cause, .. } => is_conflict(cause),
        _ => false,
    }
}
