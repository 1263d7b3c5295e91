//! Stream-level operations: tail, append, read.

use std::sync::Arc;

use s2_core::{
    Error,
    names::{BasinName, StreamName},
    types::{AppendAck, AppendInput, ReadOutput, ReadRequest, StreamPosition},
};

use futures_core::Stream as AsyncStream;

use s2_core::batcher::BatcherConfig;

use crate::{
    client::ClientInner,
    producer::Producer,
    retry::execute,
    runtime::Runtime,
    session::{
        append::{AppendSessionHandle, ack_stream},
        read::ReadSession,
    },
};

/// A handle for the operations of one stream. Cheap to clone.
pub struct Stream<R: Runtime> {
    pub(crate) inner: Arc<ClientInner<R>>,
    pub(crate) basin: BasinName,
    pub(crate) name: StreamName,
}

impl<R: Runtime> Clone for Stream<R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            basin: self.basin.clone(),
            name: self.name.clone(),
        }
    }
}

impl<R: Runtime> Stream<R> {
    pub(crate) fn new(inner: Arc<ClientInner<R>>, basin: BasinName, name: StreamName) -> Self {
        Self { inner, basin, name }
    }

    /// The stream's name.
    pub fn name(&self) -> &StreamName {
        &self.name
    }

    /// The basin's name.
    pub fn basin_name(&self) -> &BasinName {
        &self.basin
    }

    /// The stream's tail: the next sequence number and the last timestamp.
    pub async fn check_tail(&self) -> Result<StreamPosition, Error> {
        execute(
            &self.inner,
            self.inner.api.check_tail(&self.basin, &self.name)?,
        )
        .await
    }

    /// Appends one batch atomically. Retries follow the client's
    /// [`AppendRetryPolicy`](crate::AppendRetryPolicy).
    pub async fn append(&self, input: &AppendInput) -> Result<AppendAck, Error> {
        execute(
            &self.inner,
            self.inner.api.append(&self.basin, &self.name, input)?,
        )
        .await
    }

    /// Reads one batch, or returns the tail when `request.start` is at or
    /// past it (unless `clamp` is set).
    pub async fn read(&self, request: &ReadRequest) -> Result<ReadOutput, Error> {
        execute(
            &self.inner,
            self.inner.api.read(&self.basin, &self.name, request)?,
        )
        .await
    }

    /// Starts an append session: batches are pipelined on one connection
    /// and acknowledged in order; connection failures are recovered
    /// transparently when that is safe. See [`AppendSessionHandle`].
    ///
    /// When a batch carries `match_seq_num`, the session advances it for the
    /// following batches and resolves unknown outcomes exactly-once.
    pub fn append_session_handle(&self) -> AppendSessionHandle {
        AppendSessionHandle::start(self.inner.clone(), self.basin.clone(), self.name.clone())
    }

    /// Appends a stream of batches through one session, yielding each
    /// batch's ack in order. Ends after the last ack, or with the first
    /// error.
    pub fn append_session<S>(
        &self,
        inputs: S,
    ) -> impl AsyncStream<Item = Result<AppendAck, Error>> + Send + Unpin + 'static
    where
        S: AsyncStream<Item = AppendInput> + Send + 'static,
    {
        ack_stream(self.append_session_handle(), inputs)
    }

    /// Reads continuously: batches as they become available, resuming after
    /// failures without gaps or duplicates. Without bounds it follows the
    /// tail forever.
    pub fn read_session(&self, request: ReadRequest) -> ReadSession<R> {
        ReadSession::new(
            self.inner.clone(),
            self.basin.clone(),
            self.name.clone(),
            request,
        )
    }

    /// A producer for this stream: submit single records and get each
    /// one's ack; records are batched under `config` (limits, linger,
    /// `match_seq_num`, fencing token) and sent through one append session.
    pub fn producer(&self, config: BatcherConfig) -> Result<Producer, Error> {
        Producer::start(
            self.inner.transport.runtime().clone(),
            self.append_session_handle(),
            config,
        )
    }
}
