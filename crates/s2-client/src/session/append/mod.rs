//! Append sessions: the handle, ack futures and permits in front of the
//! background driver that owns the append state machine.
//!
//! * `io`: the machine with the IO that moves its bytes, answers and time,
//!   shared with the producer's driver;
//! * `driver`: the background task, handles to the machine and back;
//! * `acks`: the stream API, inputs in, acks out;
//! * `options`: per-session settings over the client's.

mod acks;
mod driver;
pub(crate) mod io;
mod options;

use std::{
    future::Future,
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use futures_channel::{mpsc, oneshot};
use futures_util::FutureExt;
use s2_core::{
    Error,
    api::StreamOptions,
    error::ValidationError,
    names::{BasinName, StreamName},
    session::append::{AppendSessionConfig, InputId},
    types::{AppendAck, AppendInput},
};

pub(crate) use acks::AckStream;
pub use options::AppendSessionOptions;
pub use s2_core::session::append::DEFAULT_MAX_UNACKED_BATCHES;

use super::gate::{Limits, Reserved};
use crate::{
    inner::{ClientInner, Over},
    runtime::{Runtime, Task},
    sync::Mutex,
};

type AckSender = oneshot::Sender<Result<AppendAck, Error>>;

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

/// A handle to an append session: submit batches as you go and await each
/// batch's ack. Submitting waits while the unacknowledged caps are reached
/// (backpressure). Dropping the handle closes the session gracefully in the
/// background; dropping an ack future only discards that ack.
pub struct AppendSession {
    /// Admission (capacity, ids) in front of the driver's command channel.
    gate: Arc<driver::SessionGate>,
    /// Why the session stopped, once it failed.
    failure: Failure,
    /// Resolves once the driver is over. Asserted unwind-safe: the handle
    /// only clones it to wait for the driver's end, so a panic cannot leave
    /// it half-updated (it would otherwise make the handle `!UnwindSafe`).
    over: AssertUnwindSafe<Over>,
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
            .map(|r| r.unwrap_or_else(|_| Err(gone_unanswered())))
    }
}

/// The error of a batch (or a close) whose session ended without answering
/// it (its driver was dropped with its runtime): it was handed over, so it
/// may have been sent.
fn gone_unanswered() -> Error {
    Error::Closed {
        sent: true,
        reason: "the append session stopped without acknowledging the batch".into(),
    }
}

/// The error of a call refused because the session stopped: nothing of it
/// was handed over.
fn stopped() -> Error {
    Error::Closed {
        sent: false,
        reason: "the append session stopped".into(),
    }
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

impl AppendSession {
    /// A session's handle and its driver's task, which the caller spawns.
    /// Fails, before anything starts, when the client is closed or
    /// `session` holds a setting that cannot work.
    pub(crate) fn start<R: Runtime>(
        inner: Arc<ClientInner<R>>,
        basin: BasinName,
        stream: StreamName,
        options: StreamOptions,
        session: &AppendSessionOptions,
    ) -> Result<(Self, Task), Error> {
        let config = session_config(&inner, session)?;
        // The machine's own caps: whatever the gate admits, it accepts.
        let limits = Limits {
            max_bytes: config.max_unacked_bytes(),
            max_items: config.max_unacked_batches(),
        };
        let driver::Started {
            gate,
            failure,
            over,
            task,
        } = driver::start(inner.clone(), basin, stream, options, config, limits);
        let stop = Arc::downgrade(&gate);
        inner.sessions.register(
            Box::new(move || {
                if let Some(gate) = stop.upgrade() {
                    gate.with(|commands| commands.close_channel());
                }
            }),
            over.clone(),
        );
        let handle = Self {
            gate,
            failure,
            over: AssertUnwindSafe(over),
        };
        Ok((handle, task))
    }

    /// Submits a batch: waits while the unacknowledged caps are reached,
    /// then resolves to the future of the batch's ack.
    ///
    /// Cancel-safe: if this future is dropped before it completes, the
    /// batch was not submitted. Waiting for capacity is its only await; the
    /// batch is handed to the session in the same poll that returns its
    /// [`AckFuture`]. Submits waiting together are served in order.
    pub async fn submit(&self, input: AppendInput) -> Result<AckFuture, Error> {
        check_input(&input)?;
        let bytes = input.metered_bytes();
        self.gate
            .admit(bytes, |commands, id| {
                hand_over(commands, id, input, &self.failure)
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
        let reserved = self.gate.reserve(bytes).await?;
        Ok(AppendPermit {
            reserved,
            failure: self.failure.clone(),
        })
    }

    /// Stops accepting batches and waits until every submitted batch is
    /// acknowledged (or the session failed).
    pub async fn close(self) -> Result<(), Error> {
        let (done, done_rx) = oneshot::channel();
        let sent = self
            .gate
            .with(|commands| commands.unbounded_send(Command::Close { done }));
        if sent.is_ok()
            && let Ok(result) = done_rx.await
        {
            return result;
        }
        // The session takes no more commands: it is over, or it is being
        // drained ([`S2::close`](crate::S2::close) stopped it), or its
        // driver was dropped (with its runtime) before it answered. It is
        // answered by how it ends: a driver that vanished without saying
        // leaves what it held unknown.
        let _ = self.over.0.clone().await;
        self.failure.close_unanswered()
    }
}

/// Room for one batch in an append session, from
/// [`AppendSession::reserve`].
pub struct AppendPermit {
    reserved: Reserved<mpsc::UnboundedSender<Command>>,
    failure: Failure,
}

impl AppendPermit {
    /// Submits a batch in the room held, at once, with no capacity wait. A
    /// batch up to the reserved size always fits; a bigger one only when its
    /// excess fits in the room left, else it is refused with
    /// `ValidationError::ExceedsReservation` (so permits never stretch the
    /// cap). It also fails for a batch the service could never take, or a
    /// session that has stopped; the room is then given back.
    pub fn submit(self, input: AppendInput) -> Result<AckFuture, Error> {
        check_input(&input)?;
        let bytes = input.metered_bytes();
        let failure = self.failure;
        self.reserved.admit(bytes, |commands, id| {
            hand_over(commands, id, input, &failure)
        })
    }
}

/// The settings of a new append session with `options` over the client's,
/// checked, with a seed from the runtime; fails when the client is closed.
pub(crate) fn session_config<R: Runtime>(
    inner: &ClientInner<R>,
    options: &AppendSessionOptions,
) -> Result<AppendSessionConfig, Error> {
    inner.check_open()?;
    let config = options.resolve(&inner.config);
    config.validate()?;
    Ok(config.with_seed(inner.transport.runtime().random_u64()))
}

/// Refuses, before it reaches the session, a batch the session would refuse
/// and stop for: one out of the batch limits (a decoded input is not checked
/// by `AppendInput::new`), or whose `match_seq_num` would run past the last
/// sequence number.
fn check_input(input: &AppendInput) -> Result<(), Error> {
    input.check_limits()?;
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
    failure: &Failure,
) -> Result<AckFuture, Error> {
    let (ack, receiver) = oneshot::channel();
    commands
        .unbounded_send(Command::Submit { id, input, ack })
        .map_err(|_| failure.stopped_with())?;
    Ok(AckFuture { id, receiver })
}

/// How the session ended, once it did: set by the driver, read by the
/// handle and permits that find it stopped.
#[derive(Clone, Default)]
struct Failure(Arc<Mutex<Ending>>);

/// How a session ended, as its driver recorded it.
#[derive(Clone, Default)]
enum Ending {
    /// Not yet, or its driver was dropped (with its runtime) before it could
    /// say: what it held may or may not have landed.
    #[default]
    Unknown,
    /// Every batch it took was answered, none with an error.
    Drained,
    /// It failed with this error.
    Failed(Error),
}

impl Failure {
    fn set(&self, error: Error) {
        *self.0.lock() = Ending::Failed(error);
    }

    /// Records a clean end: every batch taken was acknowledged.
    fn drained(&self) {
        let mut ending = self.0.lock();
        if matches!(*ending, Ending::Unknown) {
            *ending = Ending::Drained;
        }
    }

    /// The error that stopped the session, or a plain "stopped" (nothing
    /// of the refused call was handed over).
    fn stopped_with(&self) -> Error {
        self.stopped_with_or(stopped)
    }

    /// The error that stopped the session, or `otherwise`.
    fn stopped_with_or(&self, otherwise: fn() -> Error) -> Error {
        match &*self.0.lock() {
            Ending::Failed(error) => error.clone(),
            Ending::Unknown | Ending::Drained => otherwise(),
        }
    }

    /// The outcome of a close: how the session ended, or, when its driver
    /// ended (or vanished) without every batch answered, that what was
    /// submitted may have landed.
    fn close_unanswered(&self) -> Result<(), Error> {
        match &*self.0.lock() {
            Ending::Failed(error) => Err(error.clone()),
            Ending::Drained => Ok(()),
            Ending::Unknown => Err(gone_unanswered()),
        }
    }
}

impl Drop for AppendSession {
    fn drop(&mut self) {
        // The driver finishes what was submitted once the channel is closed;
        // the gate (shared with the driver) would keep it open.
        self.gate.with(|commands| commands.close_channel());
    }
}
