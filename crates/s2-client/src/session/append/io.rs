//! [`SessionIo`]: the append state machine with everything that moves its
//! bytes, answers and time. The append session's driver and the producer's
//! each own one, and see only what is theirs to answer: acks and the
//! failure.

use std::{
    collections::VecDeque,
    ops::Range,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

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
    types::{AppendAck, AppendInput, ReadOutput, ReadRequest, StreamPosition},
};

use crate::{
    body::{FrameSender, RequestBody},
    inner::ClientInner,
    metrics::Resolution,
    retry::execute_within,
    runtime::{Deadline, Runtime},
    session::{BoxFuture, Opening, SessionConnection},
    transport::ConnectionHandle,
};

/// What the machine tells the owner of a [`SessionIo`]; everything else it
/// asks for is done inside.
pub(crate) enum Answer {
    /// Input `id` is durable.
    Ack(InputId, AppendAck),
    /// The session stopped: nothing more comes.
    Failed(Error),
}

/// An input the machine took, for its owner to keep beside where its
/// answer goes, in submission order.
pub(crate) struct Taken {
    pub(crate) id: InputId,
    /// Its metered size.
    pub(crate) bytes: u64,
    /// When the machine took it, for the ack latency.
    submitted: Instant,
}

impl Taken {
    /// Counts its ack, at `now`, in the metrics.
    pub(crate) fn count_ack(&self, ack: &AppendAck, now: Instant) {
        crate::metrics::unacked_bytes_removed(self.bytes);
        crate::metrics::appended(1, ack.record_count(), self.bytes);
        if cfg!(feature = "metrics") {
            crate::metrics::ack_latency(now.saturating_duration_since(self.submitted));
        }
    }

    /// Counts it out of the unacknowledged bytes: it will not be acked.
    pub(crate) fn count_unanswered(&self) {
        crate::metrics::unacked_bytes_removed(self.bytes);
    }
}

/// Takes the entry of input `id` off the front of `queue`, in which an
/// owner of a [`SessionIo`] keeps what the machine took, in submission
/// order: acks come in that order.
pub(crate) fn take_acked<T>(
    queue: &mut VecDeque<T>,
    id: InputId,
    taken: impl Fn(&T) -> &Taken,
) -> Option<T> {
    if queue.front().is_none_or(|entry| taken(entry).id != id) {
        debug_assert!(false, "ack {id} out of order");
        return None;
    }
    queue.pop_front()
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

/// The append machine and its IO: the session connection and its request
/// body, the unary calls of a resolution, and the timer.
pub(crate) struct SessionIo<R: Runtime> {
    machine: Machine,
    runtime: R,
    inner: Arc<ClientInner<R>>,
    basin: BasinName,
    stream: StreamName,
    /// Headers of every request for the stream (its encryption key).
    options: StreamOptions,
    /// The session's ack timeout, for the log line of a timeout.
    ack_timeout: Duration,
    connection: SessionConnection,
    outgoing: Option<Outgoing>,
    unary: Option<Unary>,
    deadline: Deadline,
    /// The HTTP/2 connection of the session connection when the timer last
    /// fired: if the machine drops that session connection in response (its
    /// ack deadline passed), it is evicted.
    timed_out: Option<ConnectionHandle>,
    /// The oldest input not acknowledged, and the next to be taken.
    unacked: Range<InputId>,
    resolving: Option<Resolving>,
    _open: crate::metrics::OpenSession,
}

impl<R: Runtime> SessionIo<R> {
    pub(crate) fn new(
        inner: Arc<ClientInner<R>>,
        basin: BasinName,
        stream: StreamName,
        options: StreamOptions,
        config: AppendSessionConfig,
    ) -> Self {
        Self {
            runtime: inner.transport.runtime().clone(),
            inner,
            basin,
            stream,
            options,
            ack_timeout: config.ack_timeout(),
            machine: Machine::new(config),
            connection: SessionConnection::default(),
            outgoing: None,
            unary: None,
            deadline: Deadline::new(),
            timed_out: None,
            unacked: 0..0,
            resolving: None,
            _open: crate::metrics::OpenSession::new(crate::metrics::Session::Append),
        }
    }

    /// The tracing span of the session.
    pub(crate) fn span(&self) -> tracing::Span {
        crate::trace::session_span("append", &self.basin, &self.stream)
    }

    pub(crate) fn runtime(&self) -> &R {
        &self.runtime
    }

    pub(crate) fn now(&self) -> Instant {
        self.runtime.now()
    }

    /// Whether the machine would take an input of `metered_bytes` now.
    pub(crate) fn has_capacity(&self, metered_bytes: u64) -> bool {
        self.machine.has_capacity(metered_bytes)
    }

    /// Whether the session is over (closed or failed).
    pub(crate) fn is_finished(&self) -> bool {
        self.machine.is_finished()
    }

    /// Hands an input to the machine.
    pub(crate) fn try_submit(&mut self, input: AppendInput) -> Result<Taken, SubmitError> {
        let bytes = input.metered_bytes();
        let id = self.machine.try_submit(input)?;
        crate::metrics::unacked_bytes_added(bytes);
        self.unacked.end = id + 1;
        Ok(Taken {
            id,
            bytes,
            submitted: self.now(),
        })
    }

    /// No more inputs: the session ends once every input is acknowledged.
    pub(crate) fn close(&mut self) {
        self.machine.close();
    }

    /// Acts on the machine's events up to the next one for the owner. Call
    /// until `None` after every input: a `Connect` must be acted on before
    /// [`drive_outgoing`](Self::drive_outgoing), and the last acks come
    /// with the machine already finished.
    pub(crate) fn next_answer(&mut self) -> Option<Answer> {
        while let Some(event) = self.machine.poll_event() {
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
                AppendEvent::Ack { id, ack } => {
                    self.acked(id);
                    return Some(Answer::Ack(id, ack));
                }
                AppendEvent::Failed(error) => {
                    self.failed(&error);
                    return Some(Answer::Failed(error));
                }
            }
        }
        // A timeout the machine did not drop the connection for.
        self.timed_out = None;
        None
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

    /// Resets the current connection's stream, so the server stops taking
    /// batches from it, and drops it.
    fn abort_connection(&mut self) {
        if let Some(outgoing) = self.outgoing.take() {
            outgoing.body.abort();
        }
        self.connection.close();
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

    /// Input `id` is durable: the resolution under way, if any, found it.
    fn acked(&mut self, id: InputId) {
        debug_assert_eq!(id, self.unacked.start, "acks come in submission order");
        self.unacked.start = id + 1;
        if let Some(resolving) = self.resolving.as_mut() {
            resolving.landed += 1;
            if self.unacked.is_empty() {
                self.end_resolution(Resolution::Landed);
            }
        }
    }

    /// The session failed: logged, and its connection dropped.
    fn failed(&mut self, error: &Error) {
        if is_conflict(error) {
            self.end_resolution(Resolution::Conflict);
            tracing::warn!(
                error = %crate::trace::Chain(error),
                "writer conflict: another writer appended first"
            );
            crate::metrics::writer_conflict();
        } else {
            tracing::warn!(error = %crate::trace::Chain(error), "append session failed");
        }
        self.abort_connection();
    }

    /// Notes the start of an exactly-once resolution (once per resolution).
    fn start_resolution(&mut self) {
        if self.resolving.is_some() {
            return;
        }
        let unacked = self.unacked.clone();
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

    /// Hands the machine's frames to the session connection's body while it
    /// takes them. A frame is encoded only then, so a batch waiting behind
    /// HTTP/2's send buffer is held once (as its records), not twice. Makes
    /// no event, so it reports no progress. Call it first, once every
    /// event is acted on: a frame must not overtake the `Connect` of its
    /// connection.
    pub(crate) fn drive_outgoing(&mut self, cx: &mut Context<'_>) {
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

    /// Waits for the session connection, a unary answer or the timer, and
    /// hands what came to the machine: `true` if anything did (then call
    /// [`next_answer`](Self::next_answer) until `None`). Each is polled, so
    /// each registers its waker. The timer last: an ack that arrived before
    /// a late poll is read before the deadline it beat is looked at.
    pub(crate) fn poll_inputs(&mut self, cx: &mut Context<'_>) -> bool {
        self.drive_connection(cx) | self.drive_unary(cx) | self.drive_timer(cx)
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
        let input = match self.unary.as_mut() {
            Some(Unary::Tail(future)) => match future.as_mut().poll(cx) {
                Poll::Ready(tail) => Input::Tail(tail),
                Poll::Pending => return false,
            },
            Some(Unary::Read(future)) => match future.as_mut().poll(cx) {
                Poll::Ready(output) => Input::ReadBack(output),
                Poll::Pending => return false,
            },
            None => return false,
        };
        self.unary = None;
        let now = self.now();
        self.machine.handle(input, now);
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
