//! A model S2 server: the routes the client uses, on HTTP/2 (the `h2`
//! crate's server) over any connection, with the wire protocol of s2-lite
//! 0.43.4 and faults drawn from a seeded source.
//!
//! The model is deterministic given its inputs: it reads time and spawns
//! tasks only through the [`Runtime`] it is given, and draws every random
//! decision (faults, heartbeat intervals) from the seeded source it is
//! given, so under the simulation's executor one seed gives one run.
//!
//! ```no_run
//! # async fn example(socket: tokio::net::TcpStream) {
//! use rand::{SeedableRng, rngs::SmallRng};
//! use s2_sim::model::{FaultKind, Faults, Model};
//!
//! let model = Model::new(s2_tokio::TokioRuntime, SmallRng::seed_from_u64(7))
//!     .with_faults(Faults::none().with(FaultKind::CutAfterApply, 0.01));
//! model.create_stream("my-basin", "my-stream");
//! tokio::spawn(model.serve(socket));
//! // ... run the client against it, then check what it holds:
//! let records = model.records("my-basin", "my-stream").unwrap_or_default();
//! let injected = model.fault_counts().get(FaultKind::CutAfterApply);
//! # let _ = (records, injected);
//! # }
//! ```
//!
//! Where it differs from s2-lite, on purpose: deletes take effect at once
//! (no "deletion pending"); trimmed records vanish from reads at once;
//! records that arrive while a read session follows the tail are sent in
//! batches of up to 1000 records rather than one batch per append; nothing
//! is compressed (responses and frames are always plain; compressed
//! request bodies are refused); access tokens, metrics, locations and
//! reconfiguration answer 501.

mod append_session;
mod connection;
mod control;
mod error;
mod faults;
mod handle;
mod json;
mod log;
mod read;
mod read_session;
mod respond;
mod route;
mod session;
mod state;
mod unary;

use std::{
    collections::BTreeMap,
    future::Future,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use rand::RngCore;
use s2_client::runtime::Runtime;
use s2_core::types::{
    AppendAck, AppendInput, BasinConfig, SequencedRecord, StreamConfig, StreamPosition,
};
use tokio::io::{AsyncRead, AsyncWrite};

pub use faults::{FaultCounts, FaultKind, Faults};

use self::{
    connection::{ConnectionHandle, Control},
    error::ServiceError,
    faults::Dice,
    route::Target,
    state::{AutoCreate, Mode, State},
};

/// The model clock's reading at construction, in milliseconds since the
/// Unix epoch (2024-01-01T00:00:00Z): record timestamps and creation
/// times count from it, by the runtime's clock.
pub const CLOCK_ORIGIN_MS: u64 = 1_704_067_200_000;

/// Locks `mutex`, whether or not a panicking holder poisoned it: the model
/// keeps no invariant across a panic that a later reader could trip on.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Windows during which a test asked the model to refuse or stay silent.
#[derive(Debug, Default)]
struct Windows {
    refuse_connections_until: Option<Instant>,
    refuse_streams_until: Option<Instant>,
    silent_until: Option<Instant>,
}

/// What every connection and handler of one model shares.
pub(crate) struct Shared<R> {
    runtime: R,
    origin: Instant,
    state: Mutex<State>,
    dice: Dice,
    connections: Mutex<BTreeMap<u64, ConnectionHandle>>,
    next_connection: AtomicU64,
    accepted: AtomicU64,
    requests: AtomicU64,
    windows: Mutex<Windows>,
}

impl<R: Runtime> Shared<R> {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// The model clock, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64 {
        let elapsed = self.runtime.now().saturating_duration_since(self.origin);
        CLOCK_ORIGIN_MS.saturating_add(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
    }

    async fn sleep(&self, duration: Duration) {
        self.runtime.sleep(duration).await;
    }

    /// Waits out a silence a test asked for.
    async fn silence(&self) {
        loop {
            let until = lock(&self.windows).silent_until;
            let now = self.runtime.now();
            match until {
                Some(until) if until > now => self.sleep(until - now).await,
                _ => return,
            }
        }
    }

    fn open_until(&self, until: Option<Instant>) -> bool {
        until.is_some_and(|until| until > self.runtime.now())
    }

    fn refusing_connections(&self) -> bool {
        self.open_until(lock(&self.windows).refuse_connections_until)
    }

    fn refusing_streams(&self) -> bool {
        self.open_until(lock(&self.windows).refuse_streams_until)
    }

    fn connection_accepted(&self) {
        self.accepted.fetch_add(1, Ordering::SeqCst);
    }

    fn request_received(&self) {
        self.requests.fetch_add(1, Ordering::SeqCst);
    }

    fn register(&self, handle: ConnectionHandle) -> u64 {
        let id = self.next_connection.fetch_add(1, Ordering::SeqCst);
        lock(&self.connections).insert(id, handle);
        id
    }

    fn unregister(&self, id: u64) {
        lock(&self.connections).remove(&id);
    }

    /// Sends `control` to every open connection; returns how many.
    fn control_all(&self, control: Control) -> usize {
        let connections = lock(&self.connections);
        for handle in connections.values() {
            handle.send(control);
        }
        connections.len()
    }

    /// Checks that `target` can take appends (creating it if its basin
    /// creates streams on append).
    fn open_for_append(&self, target: &Target) -> Result<(), ServiceError> {
        let now_ms = self.now_ms();
        self.state()
            .stream_mut(&target.basin, &target.stream, AutoCreate::OnAppend, now_ms)
            .map(|_| ())
    }

    /// Applies `input` to `target`, if its conditions hold.
    fn append(&self, target: &Target, input: &AppendInput) -> Result<AppendAck, ServiceError> {
        let now_ms = self.now_ms();
        let mut state = self.state();
        let stream =
            state.stream_mut(&target.basin, &target.stream, AutoCreate::OnAppend, now_ms)?;
        stream.log.append(input, now_ms)
    }

    /// Ready once `target`'s tail is past `seen`, or the stream is gone.
    fn poll_tail_moved(&self, target: &Target, seen: u64, cx: &mut Context<'_>) -> Poll<()> {
        let now_ms = self.now_ms();
        let mut state = self.state();
        match state.stream_mut(&target.basin, &target.stream, AutoCreate::Never, now_ms) {
            Ok(stream) if stream.log.tail().seq_num <= seen => {
                stream.log.wait(cx.waker());
                Poll::Pending
            }
            _ => Poll::Ready(()),
        }
    }
}

/// A model S2 server. Clones share one state.
pub struct Model<R: Runtime> {
    shared: Arc<Shared<R>>,
}

impl<R: Runtime> Clone for Model<R> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<R: Runtime> std::fmt::Debug for Model<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("connections", &self.connections())
            .field("requests", &self.requests())
            .field("faults", &self.fault_counts())
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> Model<R> {
    /// A model with no basins and no faults, on `runtime`'s clock and
    /// tasks, drawing its random decisions from `rng`.
    pub fn new(runtime: R, rng: impl RngCore + Send + 'static) -> Self {
        let origin = runtime.now();
        Self {
            shared: Arc::new(Shared {
                runtime,
                origin,
                state: Mutex::default(),
                dice: Dice::new(Box::new(rng), Faults::none()),
                connections: Mutex::default(),
                next_connection: AtomicU64::new(0),
                accepted: AtomicU64::new(0),
                requests: AtomicU64::new(0),
                windows: Mutex::default(),
            }),
        }
    }

    /// The model with `faults`.
    pub fn with_faults(self, faults: Faults) -> Self {
        self.set_faults(faults);
        self
    }

    /// Serves one connection (HTTP/2 with prior knowledge) until it closes
    /// or the model cuts it. Requests are served on tasks of their own,
    /// spawned on the model's runtime; spawn the returned future too.
    pub fn serve<T>(&self, io: T) -> impl Future<Output = ()> + Send + 'static
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        connection::serve(self.shared.clone(), io)
    }

    // Setting up.

    /// Creates basin `basin` with `config`, unless it exists.
    pub fn create_basin(&self, basin: &str, config: BasinConfig) {
        let now_ms = self.shared.now_ms();
        let mut state = self.shared.state();
        if state.basin(basin).is_err() {
            state
                .provision_basin(basin, config, Mode::Ensure, now_ms)
                .expect("an ensure of a missing basin creates it");
        }
    }

    /// Creates stream `stream` (and its basin, with the default
    /// configuration), unless it exists.
    pub fn create_stream(&self, basin: &str, stream: &str) {
        self.create_basin(basin, BasinConfig::default());
        let now_ms = self.shared.now_ms();
        let mut state = self.shared.state();
        if state.stream(basin, stream).is_err() {
            state
                .provision_stream(basin, stream, StreamConfig::default(), Mode::Ensure, now_ms)
                .expect("the basin was just ensured");
        }
    }

    /// Replaces the fault probabilities and timings.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.dice.set_faults(faults);
    }

    // Inspecting.

    /// Every record ever appended to the stream, trimmed ones included,
    /// straight from the model's state; `None` if there is no such stream.
    pub fn records(&self, basin: &str, stream: &str) -> Option<Vec<SequencedRecord>> {
        let state = self.shared.state();
        state
            .stream(basin, stream)
            .ok()
            .map(|s| s.log.records().to_vec())
    }

    /// Forgets the records of a stream from sequence number `len` on, acked
    /// or not: a server that lost acknowledged records (S2 never does; the
    /// client must not take it for proof of anything).
    pub fn lose_records_from(&self, basin: &str, stream: &str, len: u64) {
        let mut state = self.shared.state();
        if let Ok(stream) = state.stream_mut(basin, stream, AutoCreate::Never, 0) {
            stream.log.truncate(len);
        }
    }

    /// The stream's tail: the next sequence number and the last record's
    /// timestamp.
    pub fn tail(&self, basin: &str, stream: &str) -> Option<StreamPosition> {
        let state = self.shared.state();
        state.stream(basin, stream).ok().map(|s| s.log.tail())
    }

    /// The stream's fencing token (empty until a fence command sets one).
    pub fn fencing_token(&self, basin: &str, stream: &str) -> Option<String> {
        let state = self.shared.state();
        state
            .stream(basin, stream)
            .ok()
            .map(|s| s.log.fencing_token().to_owned())
    }

    /// The stream's trim point: records below it are no longer read.
    pub fn trim_point(&self, basin: &str, stream: &str) -> Option<u64> {
        let state = self.shared.state();
        state.stream(basin, stream).ok().map(|s| s.log.trim_point())
    }

    /// The fault probabilities and timings in force.
    pub fn faults(&self) -> Faults {
        self.shared.dice.faults()
    }

    /// How many faults of each kind were injected so far.
    pub fn fault_counts(&self) -> FaultCounts {
        self.shared.dice.counts()
    }

    /// Connections served so far (refused ones not included).
    pub fn connections(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Requests received so far, on every connection.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    // Faults on demand.

    /// Injects `kind` at its next `n` opportunities, whatever the
    /// probabilities (e.g. the next append is cut after it is applied).
    pub fn force(&self, kind: FaultKind, n: u64) {
        self.shared.dice.force(kind, n);
    }

    /// Drops every open connection now; returns how many (each counted as
    /// a [`FaultKind::Cut`]).
    pub fn cut_connections(&self) -> usize {
        let n = self.shared.control_all(Control::Cut);
        for _ in 0..n {
            self.shared.dice.count(FaultKind::Cut);
        }
        n
    }

    /// Sends GOAWAY on every open connection (gracefully: what was accepted
    /// is served, then the connection closes); returns how many (each
    /// counted as a [`FaultKind::GoAway`]).
    pub fn go_away_all(&self) -> usize {
        let n = self.shared.control_all(Control::GoAway);
        for _ in 0..n {
            self.shared.dice.count(FaultKind::GoAway);
        }
        n
    }

    /// Drops every new connection at once for `duration` (each counted as
    /// a [`FaultKind::RefusedConnection`]).
    pub fn refuse_connections_for(&self, duration: Duration) {
        lock(&self.shared.windows).refuse_connections_until = Some(self.until(duration));
    }

    /// Resets every new request with REFUSED_STREAM for `duration` (each
    /// counted as a [`FaultKind::RefusedStream`]).
    pub fn refuse_streams_for(&self, duration: Duration) {
        lock(&self.shared.windows).refuse_streams_until = Some(self.until(duration));
    }

    /// Holds back every answer, ack, batch and heartbeat for `duration`
    /// (counted once as a [`FaultKind::Stall`]); connections stay up and
    /// answer PINGs.
    pub fn stall_for(&self, duration: Duration) {
        lock(&self.shared.windows).silent_until = Some(self.until(duration));
        self.shared.dice.count(FaultKind::Stall);
    }

    fn until(&self, duration: Duration) -> Instant {
        let now = self.shared.runtime.now();
        now.checked_add(duration)
            .unwrap_or(now + Duration::from_secs(100 * 365 * 24 * 3600))
    }
}
