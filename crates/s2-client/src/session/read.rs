//! The read session driver: an async stream of batches.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use futures_core::Stream as AsyncStream;
use s2_core::{
    Error,
    api::{SessionKind, StreamOptions},
    names::{BasinName, StreamName},
    session::read::{ReadEvent, ReadSession as Machine, ReadSessionConfig},
    types::{ReadBatch, ReadRequest, StreamPosition},
};

use super::{Deadline, Opening, SessionConnection};
use crate::{body::RequestBody, client::ClientInner, runtime::Runtime};

/// What a read session yields.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadItem {
    /// New records, in order, none seen before.
    Batch(ReadBatch),
    /// The session reached the tail and now follows it live.
    CaughtUp(StreamPosition),
    /// The start was past the tail and `clamp` was off; the session is over.
    Tail(StreamPosition),
}

/// A read session: a stream of [`ReadItem`]s that resumes after connection
/// failures without gaps or duplicates. It ends when the request's bounds
/// are met, after a [`ReadItem::Tail`], or with an error.
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
}

impl<R: Runtime> ReadSession<R> {
    pub(crate) fn new(
        inner: Arc<ClientInner<R>>,
        basin: BasinName,
        stream: StreamName,
        request: ReadRequest,
        options: StreamOptions,
    ) -> Self {
        let config = ReadSessionConfig {
            heartbeat_timeout: inner.config.heartbeat_timeout,
            backoff: inner.config.retry,
            seed: rand::random(),
        };
        let machine = Machine::new(request, config, inner.transport.runtime().now());
        Self {
            inner,
            basin,
            stream,
            options,
            machine,
            connection: SessionConnection::default(),
            deadline: Deadline::new(),
            done: false,
        }
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
            match event {
                ReadEvent::Connect {
                    connection,
                    request,
                } => {
                    let http = match self.inner.api.session_request(
                        &self.basin,
                        &self.stream,
                        SessionKind::Read,
                        Some(&request),
                        &self.options,
                    ) {
                        Ok(http) => http,
                        Err(e) => {
                            self.done = true;
                            return Some(Err(e.into()));
                        }
                    };
                    self.connection.open(Opening::new(
                        self.inner.clone(),
                        connection,
                        http,
                        RequestBody::full(bytes::Bytes::new()),
                    ));
                }
                ReadEvent::Batch(batch) => return Some(Ok(ReadItem::Batch(batch))),
                ReadEvent::CaughtUp(tail) => return Some(Ok(ReadItem::CaughtUp(tail))),
                ReadEvent::Tail(tail) => return Some(Ok(ReadItem::Tail(tail))),
                ReadEvent::Finished => self.done = true,
                ReadEvent::Advised(connection) => self.connection.evict_advised(connection),
                ReadEvent::Failed(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

impl<R: Runtime> AsyncStream for ReadSession<R> {
    type Item = Result<ReadItem, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(item) = this.next_item() {
                return Poll::Ready(Some(item));
            }
            if this.done || this.machine.is_finished() {
                this.connection.close();
                return Poll::Ready(None);
            }
            let runtime = this.inner.transport.runtime().clone();
            let mut progressed = this
                .connection
                .poll_into(&mut this.machine, || runtime.now(), cx)
                .is_ready();
            if this
                .deadline
                .poll(&runtime, this.machine.poll_timeout(), cx)
                .is_ready()
            {
                progressed = true;
                let now = this.now();
                // A connection silent past the heartbeat timeout is dead:
                // the reconnect must not go out on it again.
                this.connection
                    .evict_if_silent(this.inner.config.heartbeat_timeout, now);
                this.machine.handle_timeout(now);
            }
            if !progressed {
                return Poll::Pending;
            }
        }
    }
}
