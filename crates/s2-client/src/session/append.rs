//! The append session driver: a background task that owns the append state
//! machine, and the handle and stream APIs in front of it.

use std::{
    collections::VecDeque,
    future::Future,
    num::NonZeroUsize,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use futures_channel::{mpsc, oneshot};
use futures_core::Stream as AsyncStream;
use futures_util::{FutureExt, StreamExt, future::poll_fn};
use s2_core::{
    Error,
    api::{SessionKind, StreamOptions},
    error::ValidationError,
    frame::Compression,
    names::{BasinName, StreamName},
    session::{
        ConnectionId,
        append::{
            AppendEvent, AppendSession as Machine, AppendSessionConfig, InputId, SubmitError,
        },
    },
    types::{AppendAck, AppendInput, MAX_BATCH_METERED_BYTES, ReadOutput, StreamPosition},
};

use super::{
    BoxFuture, Deadline, Opening, SessionConnection,
    gate::{Gate, Limits, Reserved},
};
use crate::{
    body::RequestBody, client::ClientInner, config::ClientConfig, retry::execute, runtime::Runtime,
    sync::lock, transport::ConnectionHandle,
};

type AckSender = oneshot::Sender<Result<AppendAck, Error>>;

/// A submitted input awaiting its ack: id, metered bytes, when it was
/// accepted (for the ack latency), and where its ack goes.
type Awaiting = (InputId, u64, std::time::Instant, AckSender);

enum Command {
    Submit {
        id: InputId,
        input: AppendInput,
        ack: AckSender,
    },
    Close {
        done: oneshot::Sender<Result<(), Error>>,
    },
}

/// What [`S2::close`](crate::S2::close) stops to end an append session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseStops {
    /// The session itself: it takes no more batches.
    Session,
    /// Its producer, which ends the session once drained.
    Producer,
}

/// A handle to an append session: submit batches as you go and await each
/// batch's ack. Submitting waits while the unacknowledged caps are reached
/// (backpressure). Dropping the handle closes the session gracefully in the
/// background; dropping an ack future only discards that ack.
pub struct AppendSessionHandle {
    /// Admission (capacity, ids) in front of the driver's command channel.
    gate: Arc<Gate<mpsc::UnboundedSender<Command>>>,
    limits: Limits,
    /// Why the session stopped, once it failed.
    failure: Arc<Mutex<Option<Error>>>,
}

/// The acknowledgement of one submitted batch.
pub struct AckFuture {
    id: InputId,
    receiver: oneshot::Receiver<Result<AppendAck, Error>>,
}

impl AckFuture {
    /// The id of the batch: its position in submission order (0, 1, 2, …),
    /// as used by the ranges of [`Error::AppendSession`].
    pub fn id(&self) -> InputId {
        self.id
    }
}

impl Future for AckFuture {
    type Output = Result<AppendAck, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.receiver
            .poll_unpin(cx)
            .map(|r| r.unwrap_or_else(|_| Err(session_gone())))
    }
}

fn session_gone() -> Error {
    Error::Closed("the append session stopped".into())
}

/// The error of an input the driver received once the session was over:
/// it was not applied.
fn refused(id: InputId, cause: Error) -> Error {
    Error::AppendSession {
        cause: Box::new(cause),
        maybe_applied: id..id,
        not_applied: id..id + 1,
    }
}

/// Settings of one append session (or producer) that override the
/// client's: its unacknowledged caps, ack timeout and frame compression.
/// What is not set comes from the [`ClientConfig`].
///
/// ```
/// # use s2_client::{AppendSessionOptions, Compression};
/// # use std::{num::NonZeroUsize, time::Duration};
/// let options = AppendSessionOptions::new()
///     .with_max_unacked_bytes(8 * 1024 * 1024)?
///     .with_max_unacked_batches(NonZeroUsize::new(100).expect("not zero"))
///     .with_ack_timeout(Duration::from_secs(30))?
///     .with_compression(Compression::Zstd);
/// # Ok::<(), s2_client::ValidationError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppendSessionOptions {
    max_unacked_bytes: Option<u64>,
    max_unacked_batches: Option<NonZeroUsize>,
    ack_timeout: Option<Duration>,
    compression: Option<Compression>,
}

/// Default of the most batches an append session keeps unacknowledged.
pub const DEFAULT_MAX_UNACKED_BATCHES: usize = 1000;

impl AppendSessionOptions {
    /// Options that take everything from the client's configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the most metered bytes the session keeps unacknowledged before
    /// submitting waits; at least 1 MiB (the largest batch), as in the
    /// official SDKs. Default: [`ClientConfig::max_unacked_bytes`] (5 MiB).
    pub fn with_max_unacked_bytes(mut self, bytes: u64) -> Result<Self, ValidationError> {
        if bytes < MAX_BATCH_METERED_BYTES {
            return Err(ValidationError::InvalidConfig {
                reason: format!(
                    "max_unacked_bytes must be at least {MAX_BATCH_METERED_BYTES} (one full \
                     batch), got {bytes}"
                )
                .into(),
            });
        }
        self.max_unacked_bytes = Some(bytes);
        Ok(self)
    }

    /// Sets the most batches the session keeps unacknowledged before
    /// submitting waits. Default: [`DEFAULT_MAX_UNACKED_BATCHES`].
    pub fn with_max_unacked_batches(mut self, batches: NonZeroUsize) -> Self {
        self.max_unacked_batches = Some(batches);
        self
    }

    /// Sets how long a sent batch may wait for its ack before the
    /// connection is presumed broken (more than zero; longer than
    /// [`MAX_DURATION`](crate::MAX_DURATION) is cut to it). Default:
    /// [`ClientConfig::ack_timeout`] (10 s).
    pub fn with_ack_timeout(mut self, timeout: Duration) -> Result<Self, ValidationError> {
        if timeout.is_zero() {
            return Err(ValidationError::InvalidConfig {
                reason: "the ack timeout must be more than zero".into(),
            });
        }
        self.ack_timeout = Some(timeout.min(crate::MAX_DURATION));
        Ok(self)
    }

    /// Sets the compression of the session's frames (those of 1 KiB or
    /// more). Default: [`ClientConfig::compression`].
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = Some(compression);
        self
    }

    /// The most unacknowledged metered bytes, if set here.
    pub fn max_unacked_bytes(&self) -> Option<u64> {
        self.max_unacked_bytes
    }

    /// The most unacknowledged batches, if set here.
    pub fn max_unacked_batches(&self) -> Option<NonZeroUsize> {
        self.max_unacked_batches
    }

    /// The ack timeout, if set here.
    pub fn ack_timeout(&self) -> Option<Duration> {
        self.ack_timeout
    }

    /// The frame compression, if set here.
    pub fn compression(&self) -> Option<Compression> {
        self.compression
    }

    /// The session machine's configuration: these options over `client`'s.
    pub(crate) fn resolve(&self, client: &ClientConfig) -> AppendSessionConfig {
        // Settings the core may add later keep their defaults.
        #[allow(clippy::needless_update)]
        AppendSessionConfig {
            max_unacked_bytes: self.max_unacked_bytes.unwrap_or(client.max_unacked_bytes),
            max_unacked_batches: self
                .max_unacked_batches
                .map_or(DEFAULT_MAX_UNACKED_BATCHES, NonZeroUsize::get),
            ack_timeout: self.ack_timeout.unwrap_or(client.ack_timeout),
            retry_policy: client.append_retry_policy,
            backoff: client.retry,
            seed: rand::random(),
            compression: self.compression.unwrap_or(client.compression),
            ..AppendSessionConfig::default()
        }
    }
}

impl AppendSessionHandle {
    pub(crate) fn start<R: Runtime>(
        inner: Arc<ClientInner<R>>,
        basin: BasinName,
        stream: StreamName,
        options: StreamOptions,
        session: &AppendSessionOptions,
        stops: CloseStops,
    ) -> Self {
        let config = session.resolve(&inner.config);
        // The machine's own caps: whatever the gate admits, it accepts.
        let limits = Limits {
            max_bytes: config.max_unacked_bytes,
            max_items: config.max_unacked_batches,
        };
        let (commands, receiver) = mpsc::unbounded();
        let gate = Arc::new(Gate::new(commands, limits));
        let failure = Arc::new(Mutex::new(None));
        let (over, over_rx) = oneshot::channel();
        let stop = Arc::downgrade(&gate);
        inner.sessions.register(
            Box::new(move || {
                // A producer's session finishes when its producer has sent
                // what it holds and lets go of it.
                if stops == CloseStops::Session
                    && let Some(gate) = stop.upgrade()
                {
                    gate.with(|commands| commands.close_channel());
                }
            }),
            over_rx,
        );
        let driver = Driver {
            _over: over,
            gate: gate.clone(),
            failure: failure.clone(),
            runtime: inner.transport.runtime().clone(),
            inner,
            basin,
            stream,
            options,
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
        let runtime = driver.runtime.clone();
        let span = crate::trace::session_span("append", &driver.basin, &driver.stream);
        runtime.spawn(Box::pin(tracing::Instrument::instrument(
            driver.run(),
            span,
        )));
        Self {
            gate,
            limits,
            failure,
        }
    }

    /// The session's unacknowledged caps.
    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    /// Submits a batch: waits while the unacknowledged caps are reached,
    /// then resolves to the future of the batch's ack.
    ///
    /// Cancel-safe: if this future is dropped before it completes, the
    /// batch was not submitted. Waiting for capacity is its only await; the
    /// batch is handed to the session in the same poll that returns its
    /// [`AckFuture`]. Submits waiting together are served in order.
    pub async fn submit(&self, input: AppendInput) -> Result<AckFuture, Error> {
        check_seq_nums(&input)?;
        let bytes = input.metered_bytes();
        let mut input = Some(input);
        let mut place = self.gate.place();
        poll_fn(|cx| {
            self.gate.poll_admit(&mut place, bytes, cx, |commands, id| {
                let input = input.take().expect("admitted once");
                hand_over(commands, id, input, &self.failure)
            })
        })
        .await
    }

    /// Waits for room for a batch of `bytes` metered bytes and takes it:
    /// the returned permit submits a batch without waiting or failing for
    /// capacity. For `select!` loops that must not hold a batch in a
    /// cancelled future: wait on `reserve`, then submit through the permit.
    ///
    /// Cancel-safe: if this future is dropped before it completes, no room
    /// was taken. Dropping the permit unused gives the room back. Reserves
    /// and submits waiting together are served in order.
    pub async fn reserve(&self, bytes: u64) -> Result<AppendPermit, Error> {
        let mut place = self.gate.place();
        let reserved = poll_fn(|cx| self.gate.poll_reserve(&mut place, bytes, cx)).await?;
        Ok(AppendPermit {
            reserved,
            failure: self.failure.clone(),
        })
    }

    /// Stops accepting batches and waits until every submitted batch is
    /// acknowledged (or the session failed).
    pub async fn close(self) -> Result<(), Error> {
        let (done, done_rx) = oneshot::channel();
        self.gate
            .with(|commands| commands.unbounded_send(Command::Close { done }))
            .map_err(|_| stopped_with(&self.failure))?;
        match done_rx.await {
            Ok(result) => result,
            Err(_) => match lock(&self.failure).clone() {
                Some(error) => Err(error),
                None => Ok(()),
            },
        }
    }
}

/// Room for one batch in an append session, from
/// [`AppendSessionHandle::reserve`].
pub struct AppendPermit {
    reserved: Reserved<mpsc::UnboundedSender<Command>>,
    failure: Arc<Mutex<Option<Error>>>,
}

impl AppendPermit {
    /// Submits a batch in the room held, at once, with no capacity wait. A
    /// batch up to the reserved size always fits; a bigger one only when its
    /// excess fits in the room left, else it is refused with
    /// `ValidationError::ExceedsReservation` (so permits never stretch the
    /// cap). It also fails for a batch the service could never take, or a
    /// session that has stopped; the room is then given back.
    pub fn submit(self, input: AppendInput) -> Result<AckFuture, Error> {
        check_seq_nums(&input)?;
        let bytes = input.metered_bytes();
        let failure = self.failure;
        self.reserved.admit(bytes, |commands, id| {
            hand_over(commands, id, input, &failure)
        })
    }
}

/// Refuses a batch whose `match_seq_num` would run past the last sequence
/// number.
fn check_seq_nums(input: &AppendInput) -> Result<(), Error> {
    match input.match_seq_num() {
        Some(m) if m.checked_add(input.len() as u64).is_none() => {
            Err(ValidationError::MatchSeqNumOverflow {
                match_seq_num: m,
                records: input.len(),
            }
            .into())
        }
        _ => Ok(()),
    }
}

/// Hands an admitted batch to the driver; returns the future of its ack.
fn hand_over(
    commands: &mut mpsc::UnboundedSender<Command>,
    id: InputId,
    input: AppendInput,
    failure: &Mutex<Option<Error>>,
) -> Result<AckFuture, Error> {
    let (ack, receiver) = oneshot::channel();
    commands
        .unbounded_send(Command::Submit { id, input, ack })
        .map_err(|_| stopped_with(failure))?;
    Ok(AckFuture { id, receiver })
}

/// The error that stopped the session, or a plain "stopped".
fn stopped_with(failure: &Mutex<Option<Error>>) -> Error {
    lock(failure).clone().unwrap_or_else(session_gone)
}

impl Drop for AppendSessionHandle {
    fn drop(&mut self) {
        // The driver finishes what was submitted once the channel is closed;
        // the gate (shared with the driver) would keep it open.
        self.gate.with(|commands| commands.close_channel());
    }
}

enum Unary {
    Tail(BoxFuture<Result<StreamPosition, Error>>),
    Read(BoxFuture<Result<ReadOutput, Error>>),
}

struct Driver<R: Runtime> {
    gate: Arc<Gate<mpsc::UnboundedSender<Command>>>,
    failure: Arc<Mutex<Option<Error>>>,
    runtime: R,
    inner: Arc<ClientInner<R>>,
    basin: BasinName,
    stream: StreamName,
    /// Headers of every request for the stream (its encryption key).
    options: StreamOptions,
    machine: Machine,
    commands: Option<mpsc::UnboundedReceiver<Command>>,
    /// A submit the machine has no room for yet (the gate admits only what
    /// fits, so this is a safety net).
    waiting: Option<Command>,
    /// Ack senders of submitted inputs, with their metered sizes.
    acks: VecDeque<Awaiting>,
    close_waiters: Vec<oneshot::Sender<Result<(), Error>>>,
    connection: SessionConnection,
    outgoing: Option<(
        ConnectionId,
        mpsc::UnboundedSender<Result<Bytes, std::io::Error>>,
    )>,
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
        let error = stopped_with(&self.failure);
        self.gate.stop(error.clone());
        // Submits admitted before the stop never reached the machine.
        if let Some(mut commands) = self.commands.take() {
            while let Ok(command) = commands.try_recv() {
                self.refuse(command, error.clone());
            }
        }
        for (_, bytes, _, ack) in self.acks.drain(..) {
            crate::metrics::unacked_bytes_removed(bytes);
            let _ = ack.send(Err(error.clone()));
        }
        let outcome = match lock(&self.failure).clone() {
            Some(error) => Err(error),
            None => Ok(()),
        };
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
                self.gate
                    .stop(Error::Closed("the append session is closing".into()));
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
                        let cause = stopped_with(&self.failure);
                        let _ = ack.send(Err(refused(id, cause)));
                    }
                    Err(SubmitError::Invalid(_, error)) => {
                        // The next position would overflow, so no later batch
                        // can be placed either: take no more input and let
                        // what is in flight finish.
                        let error = Error::Validation(error);
                        let _ = ack.send(Err(error.clone()));
                        *lock(&self.failure) = Some(error.clone());
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

    /// Drains the machine's events and frames, acting on each.
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
            let now = self.now();
            while let Some((connection, frame)) = self.machine.poll_transmit(now) {
                progressed = true;
                if let Some((c, sender)) = &self.outgoing
                    && *c == connection
                {
                    // A closed body means the connection is failing; the
                    // machine hears about it from the response side.
                    let _ = sender.unbounded_send(Ok(frame));
                }
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
                let (sender, receiver) = mpsc::unbounded();
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
                        RequestBody::Channel(receiver),
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
                            ack_timeout = ?self.inner.config.ack_timeout,
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
                self.unary = Some(Unary::Tail(Box::pin(async move {
                    execute(&inner, inner.api.check_tail(&basin, &stream)?).await
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
                self.unary = Some(Unary::Read(Box::pin(async move {
                    execute(&inner, inner.api.read(&basin, &stream, &request, &options)?).await
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
                    tracing::warn!(%error, "writer conflict: another writer appended first");
                    crate::metrics::writer_conflict();
                } else {
                    tracing::warn!(%error, "append session failed");
                }
                *lock(&self.failure) = Some(error.clone());
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
            let _ = sender.unbounded_send(Err(std::io::Error::other("connection abandoned")));
        }
        self.connection.close();
    }

    /// Waits for anything: a command, the connection opening, response
    /// bytes, a unary answer, or the timer.
    fn poll_inputs(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut ready = false;
        if self.waiting.is_none()
            && let Some(commands) = self.commands.as_mut()
        {
            match commands.poll_next_unpin(cx) {
                Poll::Ready(Some(command)) => {
                    self.accept(command);
                    ready = true;
                }
                Poll::Ready(None) => {
                    // Every handle is gone: finish what was submitted.
                    self.commands = None;
                    self.machine.close();
                    ready = true;
                }
                Poll::Pending => {}
            }
        }
        let runtime = self.runtime.clone();
        if self
            .connection
            .poll_into(&mut self.machine, || runtime.now(), cx)
            .is_ready()
        {
            ready = true;
        }
        let now = self.now();
        if let Some(unary) = self.unary.as_mut() {
            match unary {
                Unary::Tail(future) => {
                    if let Poll::Ready(result) = future.as_mut().poll(cx) {
                        self.unary = None;
                        self.machine.handle_tail(result, now);
                        ready = true;
                    }
                }
                Unary::Read(future) => {
                    if let Poll::Ready(result) = future.as_mut().poll(cx) {
                        self.unary = None;
                        self.machine.handle_read(result, now);
                        ready = true;
                    }
                }
            }
        }
        if self
            .deadline
            .poll(&self.runtime, self.machine.poll_timeout(), cx)
            .is_ready()
        {
            let now = self.now();
            self.timed_out = self.connection.http_connection();
            self.machine.handle_timeout(now);
            ready = true;
        }
        if ready {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
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

/// The stream API: submits inputs as they come (waiting while the caps are
/// reached) and yields their acks in order. Ends after the last ack, or
/// with the first error.
pub(crate) fn ack_stream<S>(
    handle: AppendSessionHandle,
    inputs: S,
) -> impl AsyncStream<Item = Result<AppendAck, Error>> + Send + Unpin + 'static
where
    S: AsyncStream<Item = AppendInput> + Send + 'static,
{
    struct State<S> {
        handle: Option<Arc<AppendSessionHandle>>,
        inputs: Option<Pin<Box<S>>>,
        submitting: Option<BoxFuture<Result<AckFuture, Error>>>,
        acks: VecDeque<AckFuture>,
        /// A refused submit, reported once the acks before it are out.
        refused: Option<Error>,
        closing: Option<BoxFuture<Result<(), Error>>>,
        failed: bool,
    }
    let state = State {
        handle: Some(Arc::new(handle)),
        inputs: Some(Box::pin(inputs)),
        submitting: None,
        acks: VecDeque::new(),
        refused: None,
        closing: None,
        failed: false,
    };
    futures_util::stream::unfold(state, |mut state| async move {
        if state.failed {
            return None;
        }
        let item = poll_fn(|cx| {
            loop {
                let mut progressed = false;
                if let Some(submitting) = state.submitting.as_mut()
                    && let Poll::Ready(result) = submitting.as_mut().poll(cx)
                {
                    state.submitting = None;
                    progressed = true;
                    match result {
                        Ok(ack) => state.acks.push_back(ack),
                        // Batches submitted before this one may have landed:
                        // their acks come first, then this error ends the
                        // stream.
                        Err(e) => {
                            state.refused = Some(e);
                            state.inputs = None;
                        }
                    }
                }
                if state.submitting.is_none()
                    && let Some(inputs) = state.inputs.as_mut()
                    && let Poll::Ready(next) = inputs.as_mut().poll_next(cx)
                {
                    progressed = true;
                    match (next, state.handle.clone()) {
                        (Some(input), Some(handle)) => {
                            state.submitting =
                                Some(Box::pin(async move { handle.submit(input).await }));
                        }
                        _ => state.inputs = None,
                    }
                }
                if let Some(front) = state.acks.front_mut()
                    && let Poll::Ready(result) = Pin::new(front).poll(cx)
                {
                    state.acks.pop_front();
                    return Poll::Ready(Some(result));
                }
                if state.inputs.is_none() && state.submitting.is_none() && state.acks.is_empty() {
                    if let Some(e) = state.refused.take() {
                        return Poll::Ready(Some(Err(e)));
                    }
                    if state.closing.is_none() {
                        let handle = state.handle.take().and_then(|h| Arc::try_unwrap(h).ok());
                        state.closing = Some(Box::pin(async move {
                            match handle {
                                Some(handle) => handle.close().await,
                                None => Ok(()),
                            }
                        }));
                    }
                    if let Some(closing) = state.closing.as_mut() {
                        return match closing.as_mut().poll(cx) {
                            Poll::Ready(Ok(())) => Poll::Ready(None),
                            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
                            Poll::Pending => Poll::Pending,
                        };
                    }
                }
                if !progressed {
                    return Poll::Pending;
                }
            }
        })
        .await;
        match item {
            Some(Ok(ack)) => Some((Ok(ack), state)),
            Some(Err(e)) => {
                state.failed = true;
                Some((Err(e), state))
            }
            None => None,
        }
    })
    .boxed()
}
