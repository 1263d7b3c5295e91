//! The read session driver: an async stream of batches.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, Waker},
};

use futures_core::Stream as AsyncStream;
use s2_core::{
    Error,
    api::{SessionKind, StreamOptions},
    names::{BasinName, StreamName},
    retry::read_session_backoff,
    session::{
        ConnectionEvent, ConnectionId,
        read::{Input, ReadEvent, ReadSession as Machine, ReadSessionConfig},
    },
    types::{ReadBatch, ReadRequest, StreamPosition},
};

use super::{Opening, SessionConnection};
use crate::{
    body::RequestBody,
    config::ClientConfig,
    inner::ClientInner,
    runtime::{Deadline, Runtime},
    sync::Mutex,
};

/// What a read session yields.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ReadItem {
    /// New records, in order, none seen before.
    Batch(ReadBatch),
    /// The session reached the tail and now follows it live.
    CaughtUp(StreamPosition),
    /// The start was past the tail and `clamp` was off; the session is over.
    Tail(StreamPosition),
}

// Defined in the core beside `AppendRetryPolicy`, with the backoff it
// implies; re-exported here, its path since it was first published.
pub use s2_core::retry::ReadRetryPolicy;

/// Options of one read session, over the client's configuration (its
/// [`heartbeat_timeout`](crate::ClientConfig::heartbeat_timeout) and
/// [`retry`](crate::ClientConfig::retry) budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadSessionOptions {
    retry_policy: ReadRetryPolicy,
}

impl ReadSessionOptions {
    /// The defaults: a budgeted retry policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets how retryable failures are treated (default
    /// [`ReadRetryPolicy::Budgeted`]).
    pub fn with_retry_policy(mut self, policy: ReadRetryPolicy) -> Self {
        self.retry_policy = policy;
        self
    }

    /// How retryable failures are treated.
    pub fn retry_policy(&self) -> ReadRetryPolicy {
        self.retry_policy
    }

    /// The session machine's configuration: these options over `client`'s.
    /// Its [`validate`](ReadSessionConfig::validate) is the one check of
    /// the settings it takes from the client.
    pub(crate) fn resolve(&self, client: &ClientConfig) -> ReadSessionConfig {
        ReadSessionConfig::default()
            .with_heartbeat_timeout(client.heartbeat_timeout())
            .with_backoff(read_session_backoff(self.retry_policy, client.retry()))
    }
}

/// A read session: a stream of [`ReadItem`]s that resumes after connection
/// failures without gaps or duplicates. It ends when the request's bounds
/// are met, after a [`ReadItem::Tail`], or with an error.
///
/// The first connection is made when the session is first polled; to learn
/// at once whether it can be made (a missing stream, a refused token), await
/// [`connected`](Self::connected) first.
pub struct ReadSession<R: Runtime> {
    inner: Arc<ClientInner<R>>,
    basin: BasinName,
    stream: StreamName,
    /// Headers of every (re)connect (the stream's encryption key).
    options: StreamOptions,
    machine: Machine,
    connection: SessionConnection,
    deadline: Deadline,
    done: bool,
    /// Whether a connection of this session was ever opened.
    connected: bool,
    /// An item found while waiting for the first connection.
    pending: Option<ReadItem>,
    caught_up: Arc<Mutex<CaughtUpState>>,
    span: tracing::Span,
    _open: crate::metrics::OpenSession,
}

impl<R: Runtime> Drop for ReadSession<R> {
    fn drop(&mut self) {
        self.caught_up_mut().end(Ended::Cleanly);
    }
}

impl<R: Runtime> ReadSession<R> {
    pub(crate) fn new(
        inner: Arc<ClientInner<R>>,
        basin: BasinName,
        stream: StreamName,
        request: ReadRequest,
        options: ReadSessionOptions,
        stream_options: StreamOptions,
    ) -> Self {
        // The client's settings were checked when it was built; these
        // options add none that could fail.
        let config = options
            .resolve(&inner.config)
            .with_seed(inner.transport.runtime().random_u64());
        let machine = Machine::new(request, config, inner.transport.runtime().now());
        let (basin_for_span, stream_for_span) = (basin.to_string(), stream.to_string());
        Self {
            inner,
            basin,
            stream,
            options: stream_options,
            machine,
            connection: SessionConnection::default(),
            deadline: Deadline::new(),
            done: false,
            connected: false,
            pending: None,
            caught_up: Arc::default(),
            span: crate::trace::session_span("read", &basin_for_span, &stream_for_span),
            _open: crate::metrics::OpenSession::new(crate::metrics::Session::Read),
        }
    }

    /// Opens the first connection and waits for the service to accept it:
    /// an error the session would otherwise yield as its first item (a
    /// missing stream, a refused token, retries spent) is returned here
    /// instead. Retryable failures are retried first, per the retry policy.
    /// Items that arrive meanwhile are kept for the stream.
    pub async fn connected(mut self) -> Result<Self, Error> {
        std::future::poll_fn(|cx| match self.poll_step(cx, Until::Connected) {
            Poll::Ready(Step::Item(Ok(item))) => {
                self.pending = Some(item);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Step::Item(Err(e))) => Poll::Ready(Err(e)),
            Poll::Ready(Step::End | Step::Connected) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        })
        .await?;
        Ok(self)
    }

    /// A future of the session's next catch-up: the tail it reached.
    /// Ready at once when the session is caught up; otherwise it resolves
    /// when the session yields its next [`ReadItem::CaughtUp`] (or reaches a
    /// tail while following it). Keep polling the session: the future does
    /// not drive it. It fails when the session ends or fails before.
    pub fn caught_up(&self) -> CaughtUp {
        CaughtUp {
            state: self.caught_up.clone(),
        }
    }

    fn caught_up_mut(&self) -> std::sync::MutexGuard<'_, CaughtUpState> {
        self.caught_up.lock()
    }

    /// Whether the session has caught up with the tail.
    pub fn is_caught_up(&self) -> bool {
        self.machine.is_caught_up()
    }

    /// Where the session would resume: the sequence number after the last
    /// record it yielded.
    pub fn next_seq_num(&self) -> Option<u64> {
        self.machine.next_seq_num()
    }

    fn now(&self) -> std::time::Instant {
        self.inner.transport.runtime().now()
    }

    /// Turns machine events into an item, performing connects on the way.
    fn next_item(&mut self) -> Option<Result<ReadItem, Error>> {
        while let Some(event) = self.machine.poll_event() {
            let item = match event {
                ReadEvent::Connect {
                    connection,
                    request,
                } => self.connect(connection, &request).err().map(Err),
                ReadEvent::Batch(batch) => Some(Ok(self.batch(batch))),
                ReadEvent::CaughtUp(tail) => {
                    self.caught_up_mut().reach(tail);
                    Some(Ok(ReadItem::CaughtUp(tail)))
                }
                ReadEvent::Tail(tail) => {
                    self.caught_up_mut().reach(tail);
                    Some(Ok(ReadItem::Tail(tail)))
                }
                ReadEvent::Finished => {
                    self.done = true;
                    None
                }
                ReadEvent::Advised(connection) => {
                    let now = self.now();
                    self.connection.advised(connection, now);
                    None
                }
                ReadEvent::Failed(e) => {
                    tracing::warn!(error = %crate::trace::Chain(&e), "read session failed");
                    self.caught_up_mut().end(Ended::Failed(e.clone()));
                    Some(Err(e))
                }
            };
            if let Some(item) = item {
                self.done |= item.is_err();
                return Some(item);
            }
        }
        None
    }

    /// Opens session connection `connection` for `request`; fails (the
    /// session is over) when the request cannot be built.
    fn connect(&mut self, connection: ConnectionId, request: &ReadRequest) -> Result<(), Error> {
        let now = self.now();
        self.connection
            .log_connect(connection, crate::metrics::Session::Read, now);
        let http = self.inner.api.session_request(
            &self.basin,
            &self.stream,
            SessionKind::Read,
            Some(request),
            &self.options,
        )?;
        self.connection.open(Opening::new(
            self.inner.clone(),
            connection,
            http,
            RequestBody::full(bytes::Bytes::new()),
        ));
        Ok(())
    }

    /// The item of a batch read, after noting whether it leaves the session
    /// caught up.
    fn batch(&mut self, batch: ReadBatch) -> ReadItem {
        let mut state = self.caught_up_mut();
        match (self.machine.is_caught_up(), batch.tail) {
            (true, Some(tail)) => state.reach(tail),
            (true, None) => {}
            (false, _) => state.fall_behind(),
        }
        drop(state);
        crate::metrics::read_batch(&batch);
        ReadItem::Batch(batch)
    }
}

/// What [`ReadSession::poll_step`] stops at.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Until {
    /// The next item (or the end).
    Item,
    /// The first connection accepted (or an item, or the end).
    Connected,
}

enum Step {
    Item(Result<ReadItem, Error>),
    End,
    Connected,
}

impl<R: Runtime> ReadSession<R> {
    /// Drives the session until `until`.
    fn poll_step(&mut self, cx: &mut Context<'_>, until: Until) -> Poll<Step> {
        let _entered = self.span.clone().entered();
        if let Some(item) = self.pending.take() {
            return Poll::Ready(Step::Item(Ok(item)));
        }
        loop {
            if let Some(item) = self.next_item() {
                return Poll::Ready(Step::Item(item));
            }
            if self.done || self.machine.is_finished() {
                self.connection.close();
                self.caught_up_mut().end(Ended::Cleanly);
                return Poll::Ready(Step::End);
            }
            if until == Until::Connected && self.connected {
                return Poll::Ready(Step::Connected);
            }
            let runtime = self.inner.transport.runtime().clone();
            let mut progressed = false;
            if let Poll::Ready((connection, event, now)) =
                self.connection.poll_event(|| runtime.now(), cx)
            {
                progressed = true;
                // A refused read ends at the tail when it starts past it,
                // and is a failure like any other otherwise: the machine's
                // retry policy decides.
                self.connected |= matches!(event, ConnectionEvent::Connected);
                self.machine
                    .handle(Input::Connection(connection, event), now);
            }
            if self
                .deadline
                .poll(&runtime, self.machine.poll_timeout(), cx)
                .is_ready()
            {
                progressed = true;
                let now = self.now();
                // A connection silent past the heartbeat timeout is dead:
                // the reconnect must not go out on it again.
                self.connection
                    .evict_if_silent(self.inner.config.heartbeat_timeout(), now);
                self.machine.handle(Input::Timeout, now);
            }
            if !progressed {
                return Poll::Pending;
            }
        }
    }
}

impl<R: Runtime> AsyncStream for ReadSession<R> {
    type Item = Result<ReadItem, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_step(cx, Until::Item).map(|step| match step {
            Step::Item(item) => Some(item),
            Step::End => None,
            Step::Connected => unreachable!("`Step::Connected` answers only `Until::Connected`"),
        })
    }
}

/// How a read session ended, for the [`CaughtUp`] futures still waiting.
enum Ended {
    /// Its bounds were met, it reached a tail, or it was dropped.
    Cleanly,
    /// It failed with this error.
    Failed(Error),
}

/// What [`CaughtUp`] futures watch.
#[derive(Default)]
struct CaughtUpState {
    /// The tail last reached, while the session stays caught up.
    tail: Option<StreamPosition>,
    /// Set when the session is over.
    ended: Option<Ended>,
    wakers: Vec<Waker>,
}

impl CaughtUpState {
    fn reach(&mut self, tail: StreamPosition) {
        self.tail = Some(tail);
        self.wakers.drain(..).for_each(Waker::wake);
    }

    fn fall_behind(&mut self) {
        self.tail = None;
    }

    fn end(&mut self, ended: Ended) {
        self.ended.get_or_insert(ended);
        self.wakers.drain(..).for_each(Waker::wake);
    }
}

/// The future of a read session's next catch-up, from
/// [`ReadSession::caught_up`]: the tail the session reached.
#[must_use = "futures do nothing unless polled"]
pub struct CaughtUp {
    state: Arc<Mutex<CaughtUpState>>,
}

impl Future for CaughtUp {
    type Output = Result<StreamPosition, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.state.lock();
        if let Some(tail) = state.tail {
            return Poll::Ready(Ok(tail));
        }
        match &state.ended {
            Some(Ended::Failed(error)) => Poll::Ready(Err(error.clone())),
            // This future sends nothing of its own.
            Some(Ended::Cleanly) => Poll::Ready(Err(Error::Closed {
                sent: false,
                reason: "the read session ended before catching up".into(),
            })),
            None => {
                let waker = cx.waker();
                if !state.wakers.iter().any(|w| w.will_wake(waker)) {
                    state.wakers.push(waker.clone());
                }
                Poll::Pending
            }
        }
    }
}
