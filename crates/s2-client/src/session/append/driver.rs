//! The append session driver: a background task that owns the append state
//! machine and moves its frames, events and acks.

use std::{
    collections::VecDeque,
    sync::Arc,
    task::{Context, Poll},
};

use futures_channel::{mpsc, oneshot};
use futures_util::{FutureExt, StreamExt, future::poll_fn};
use s2_core::{
    Error,
    api::{SessionKind, StreamOptions},
    names::{BasinName, StreamName},
    session::{
        ConnectionId,
        append::{
            AppendEvent, AppendSession as Machine, AppendSessionConfig, InputId, SubmitError,
        },
    },
    types::{ReadOutput, StreamPosition},
};

use super::{Awaiting, Command, Failure, gone_unanswered, refused};
use crate::{
    body::{FrameSender, RequestBody},
    inner::{ClientInner, Over},
    retry::execute_within,
    runtime::{Deadline, Runtime, Task},
    session::{
        BoxFuture, ConnectionEvent, Opening, SessionConnection,
        gate::{Gate, Limits},
    },
    transport::ConnectionHandle,
};

/// The unary call an exactly-once resolution is waiting on.
enum Unary {
    Tail(BoxFuture<Result<StreamPosition, Error>>),
    Read(BoxFuture<Result<ReadOutput, Error>>),
}

/// The driver of a session with `config`, behind a gate of `limits`:
/// returns the gate and failure slot the handles share with it, a future
/// that resolves (cancelled) once the driver is over, and the driver's
/// task, for the caller to spawn or to poll from a task of its own.
pub(super) fn start<R: Runtime>(
    inner: Arc<ClientInner<R>>,
    basin: BasinName,
    stream: StreamName,
    options: StreamOptions,
    config: AppendSessionConfig,
    limits: Limits,
) -> (
    Arc<Gate<mpsc::UnboundedSender<Command>>>,
    Failure,
    Over,
    Task,
) {
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
        waiting: None,
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
    let task = Box::pin(tracing::Instrument::instrument(driver.run(), span));
    (gate, failure, over_rx.shared(), task)
}

/// The background task of one append session: owns the machine, the
/// session connection and the acks awaited.
struct Driver<R: Runtime> {
    gate: Arc<Gate<mpsc::UnboundedSender<Command>>>,
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
    /// A submit the machine has no room for yet (the gate admits only what
    /// fits, so this is a safety net).
    waiting: Option<Command>,
    /// Ack senders of submitted inputs, with their metered sizes.
    acks: VecDeque<Awaiting>,
    close_waiters: Vec<oneshot::Sender<Result<(), Error>>>,
    connection: SessionConnection,
    outgoing: Option<(ConnectionId, FrameSender)>,
    unary: Option<Unary>,
    deadline: Deadline,
    /// The HTTP/2 connection of the session connection when the timer last
    /// fired: if the machine drops that session connection in response (its
    /// ack deadline passed), it is evicted.
    timed_out: Option<ConnectionHandle>,
    /// The inputs unacknowledged when an exactly-once resolution started,
    /// and how many of them it found landed so far.
    resolving: Option<(std::ops::Range<InputId>, u64)>,
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
            if self.finished() {
                break;
            }
            poll_fn(|cx| self.poll_inputs(cx)).await;
        }
        let error = self.failure.stopped_with();
        self.gate.stop(error.clone());
        // Submits admitted before the stop never reached the machine.
        if let Some(mut commands) = self.commands.take() {
            while let Ok(command) = commands.try_recv() {
                self.refuse(command, error.clone());
            }
        }
        // Batches handed over and never answered may have landed.
        let unanswered = !self.acks.is_empty();
        for (_, bytes, _, ack) in self.acks.drain(..) {
            crate::metrics::unacked_bytes_removed(bytes);
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

    /// Answers a command that comes after the end of the session.
    fn refuse(&mut self, command: Command, cause: Error) {
        match command {
            Command::Submit { id, ack, .. } => {
                let _ = ack.send(Err(refused(id, cause)));
            }
            Command::Close { done } => self.close_waiters.push(done),
        }
    }

    fn finished(&self) -> bool {
        self.machine.is_finished()
    }

    fn now(&self) -> std::time::Instant {
        self.runtime.now()
    }

    /// Accepts a command if there is room for it.
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
                let now = self.now();
                match self.machine.try_submit(input) {
                    Ok(machine_id) => {
                        debug_assert_eq!(machine_id, id, "the gate numbers inputs as the machine");
                        crate::metrics::unacked_bytes_added(bytes);
                        self.acks.push_back((machine_id, bytes, now, ack));
                    }
                    Err(SubmitError::Full(input)) => {
                        self.waiting = Some(Command::Submit { id, input, ack })
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
                        self.gate.stop(error.clone());
                        if let Some(mut commands) = self.commands.take() {
                            while let Ok(command) = commands.try_recv() {
                                self.refuse(command, error.clone());
                            }
                        }
                        self.machine.close();
                    }
                }
            }
        }
    }

    /// Drains the machine's events, acting on each. Its frames go out in
    /// [`drive_outgoing`](Self::drive_outgoing), as the body takes them.
    fn drain(&mut self) {
        loop {
            if let Some(command) = self.waiting.take() {
                self.accept(command);
            }
            let mut progressed = false;
            while let Some(event) = self.machine.poll_event() {
                progressed = true;
                self.handle_event(event);
            }
            if !progressed {
                // A timeout the machine did not drop the connection for.
                self.timed_out = None;
                return;
            }
        }
    }

    fn handle_event(&mut self, event: AppendEvent) {
        match event {
            AppendEvent::Connect(connection) => {
                self.end_resolution(crate::metrics::Resolution::Resent);
                let now = self.now();
                self.connection
                    .log_connect(connection, crate::metrics::Session::Append, now);
                self.abort_connection();
                let (sender, body) = RequestBody::frames();
                self.outgoing = Some((connection, sender));
                match self.inner.api.session_request(
                    &self.basin,
                    &self.stream,
                    SessionKind::Append,
                    None,
                    &self.options,
                ) {
                    Ok(request) => self.connection.open(Opening::new(
                        self.inner.clone(),
                        connection,
                        request,
                        body,
                    )),
                    Err(e) => {
                        let now = self.now();
                        self.machine.handle_error(connection, e.into(), now);
                    }
                }
            }
            AppendEvent::Disconnect(connection) => {
                if self
                    .outgoing
                    .as_ref()
                    .is_some_and(|(c, _)| *c == connection)
                {
                    if let Some(timed_out) = self.timed_out.take() {
                        // No ack within the deadline: the reconnect must not
                        // go out on the same HTTP/2 connection.
                        tracing::warn!(
                            ack_timeout = ?self.ack_timeout,
                            "no ack within the ack timeout"
                        );
                        let now = self.now();
                        self.connection.note_failure("ack timeout", now);
                        timed_out.evict();
                    }
                    self.abort_connection();
                }
            }
            AppendEvent::Advised(connection) => {
                let now = self.now();
                self.connection.advised(connection, now);
            }
            AppendEvent::Closed => {
                self.end_resolution(crate::metrics::Resolution::Resent);
                // Everything is acknowledged: end the request body cleanly.
                self.outgoing = None;
            }
            AppendEvent::CheckTail => {
                self.start_resolution();
                let inner = self.inner.clone();
                let (basin, stream) = (self.basin.clone(), self.stream.clone());
                let window = self.machine.retry_window_start();
                self.unary = Some(Unary::Tail(Box::pin(async move {
                    let call = inner.api.check_tail(&basin, &stream)?;
                    execute_within(&inner, call, window).await
                })));
            }
            AppendEvent::Read(request) => {
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
            AppendEvent::Ack { id, ack } => {
                if let Some(position) = self.acks.iter().position(|(i, _, _, _)| *i == id) {
                    let (_, bytes, submitted, sender) = self
                        .acks
                        .remove(position)
                        .expect("the position was just found");
                    self.gate.release(bytes, 1);
                    crate::metrics::unacked_bytes_removed(bytes);
                    crate::metrics::appended(1, ack.record_count(), bytes);
                    if cfg!(feature = "metrics") {
                        let latency = self.runtime.now().saturating_duration_since(submitted);
                        crate::metrics::ack_latency(latency);
                    }
                    if let Some((_, landed)) = self.resolving.as_mut() {
                        *landed += 1;
                        if self.acks.is_empty() {
                            self.end_resolution(crate::metrics::Resolution::Landed);
                        }
                    }
                    // The caller may have dropped its ack future: fine.
                    let _ = sender.send(Ok(ack));
                }
            }
            AppendEvent::Failed(error) => {
                if is_conflict(&error) {
                    self.end_resolution(crate::metrics::Resolution::Conflict);
                    tracing::warn!(
                        error = %crate::trace::Chain(&error),
                        "writer conflict: another writer appended first"
                    );
                    crate::metrics::writer_conflict();
                } else {
                    tracing::warn!(error = %crate::trace::Chain(&error), "append session failed");
                }
                self.failure.set(error.clone());
                self.gate.stop(error.clone());
                for (_, bytes, _, sender) in self.acks.drain(..) {
                    crate::metrics::unacked_bytes_removed(bytes);
                    let _ = sender.send(Err(error.clone()));
                }
                if let Some(command) = self.waiting.take() {
                    self.refuse(command, error.clone());
                }
                for done in self.close_waiters.drain(..) {
                    let _ = done.send(Err(error.clone()));
                }
                self.abort_connection();
            }
        }
    }

    /// Notes the start of an exactly-once resolution (once per resolution).
    fn start_resolution(&mut self) {
        if self.resolving.is_some() {
            return;
        }
        let first = self.acks.front().map_or(0, |(id, ..)| *id);
        let unacked = first..first + self.acks.len() as u64;
        tracing::debug!(?unacked, "exactly-once resolution: the outcome is unknown");
        self.resolving = Some((unacked, 0));
    }

    /// Reports how the resolution under way (if any) ended: inputs found
    /// on the stream are `landed`; what remains was resent, or hit another
    /// writer's records.
    fn end_resolution(&mut self, then: crate::metrics::Resolution) {
        let Some((unacked, landed)) = self.resolving.take() else {
            return;
        };
        let outcome = match then {
            crate::metrics::Resolution::Resent if landed > 0 => crate::metrics::Resolution::Landed,
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
        if let Some((_, sender)) = self.outgoing.take() {
            sender.abort();
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
        let Some((connection, body)) = self.outgoing.as_mut() else {
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
        if self.waiting.is_some() {
            return false;
        }
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
        let machine = &mut self.machine;
        match event {
            // An append session learns it is connected from its first ack.
            ConnectionEvent::Connected => {}
            ConnectionEvent::Data(data) => machine.handle_data(connection, data, now),
            ConnectionEvent::End => machine.handle_end(connection, now),
            ConnectionEvent::Error(error) => machine.handle_error(connection, error, now),
            ConnectionEvent::Rejected(rejection) => {
                machine.handle_rejected(connection, rejection.into_error(), now)
            }
        }
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
                self.machine.handle_tail(result, now);
            }
            Some(Unary::Read(future)) => {
                let Poll::Ready(result) = future.as_mut().poll(cx) else {
                    return false;
                };
                self.unary = None;
                self.machine.handle_read(result, now);
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
        self.machine.handle_timeout(now);
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
