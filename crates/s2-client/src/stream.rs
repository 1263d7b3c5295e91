//! Stream-level operations: tail, append, read.

use std::sync::Arc;

use s2_core::{
    Error,
    error::AppendConditionFailed,
    names::{BasinName, StreamName},
    types::{
        AppendAck, AppendInput, ReadLimit, ReadOutput, ReadRequest, ReadStart, StreamPosition,
    },
};

use futures_core::Stream as AsyncStream;

use s2_core::batcher::BatcherConfig;

use crate::{
    client::ClientInner,
    producer::Producer,
    retry::{execute, execute_tracking},
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
    ///
    /// A batch conditioned with `match_seq_num` is exactly-once: when a retry
    /// after an unknown outcome finds the tail moved past it, the batch is
    /// read back and, if it is the one that landed, acknowledged.
    pub async fn append(&self, input: &AppendInput) -> Result<AppendAck, Error> {
        let call = self.inner.api.append(&self.basin, &self.name, input)?;
        let tracked = execute_tracking(&self.inner, call).await;
        match (
            tracked.result,
            input.match_seq_num(),
            tracked.unknown_outcome,
        ) {
            (
                Err(Error::AppendCondition(AppendConditionFailed::SeqNumMismatch { expected })),
                Some(start),
                Some(earlier),
            ) if expected >= start + input.len() as u64 => {
                self.confirm_landed(input, start, expected, earlier).await
            }
            (result, _, _) => result,
        }
    }

    /// Reads back where `input` was to land; acknowledges it if it is there.
    async fn confirm_landed(
        &self,
        input: &AppendInput,
        start: u64,
        tail: u64,
        earlier: Error,
    ) -> Result<AppendAck, Error> {
        let count = input.len() as u64;
        let read = ReadRequest::new(ReadStart::SeqNum(start)).with_limit(ReadLimit::count(count));
        // If the read-back fails, the outcome stays unknown: say so.
        let records = match self.read(&read).await {
            Ok(output) => output.into_records(),
            Err(_) => return Err(earlier),
        };
        let landed = records.len() == input.len()
            && records
                .iter()
                .zip(input.records())
                .all(|(got, sent)| got.headers == sent.headers && got.body == sent.body);
        match (landed, records.first(), records.last()) {
            (true, Some(first), Some(last)) => Ok(AppendAck {
                start: first.position(),
                end: StreamPosition {
                    seq_num: start + count,
                    timestamp: last.timestamp,
                },
                tail: StreamPosition {
                    seq_num: tail,
                    timestamp: last.timestamp,
                },
            }),
            _ => Err(Error::AppendCondition(
                AppendConditionFailed::SeqNumMismatch { expected: tail },
            )),
        }
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
