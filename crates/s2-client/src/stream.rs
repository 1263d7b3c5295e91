//! Stream-level operations: tail, append, read.

use std::sync::Arc;

use s2_core::{
    EncryptionKey, Error,
    api::{ReadBack, StreamOptions, resolve_read_back},
    names::{BasinName, StreamName},
    types::{
        AppendAck, AppendInput, ReadLimit, ReadOutput, ReadRequest, ReadStart, StreamConfig,
        StreamPosition,
    },
};

use futures_core::Stream as AsyncStream;

use s2_core::batcher::{Batcher, BatcherConfig};

use crate::{
    inner::ClientInner,
    producer::Producer,
    retry::{execute, execute_tracking},
    runtime::{Runtime, Task},
    session::{
        append::{AckStream, AppendSession, AppendSessionOptions, io::SessionIo, session_config},
        read::{ReadSession, ReadSessionOptions},
    },
};

/// A handle for the operations of one stream. Cheap to clone.
///
/// Options set on a handle ([`with_encryption_key`](Self::with_encryption_key),
/// [`with_create_config`](Self::with_create_config)) go with every append and
/// read made through it and through the sessions and producers it starts,
/// including the reads that resolve an unknown append outcome.
pub struct S2Stream<R: Runtime> {
    pub(crate) inner: Arc<ClientInner<R>>,
    pub(crate) basin: BasinName,
    pub(crate) name: StreamName,
    options: StreamOptions,
}

impl<R: Runtime> Clone for S2Stream<R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            basin: self.basin.clone(),
            name: self.name.clone(),
            options: self.options.clone(),
        }
    }
}

impl<R: Runtime> S2Stream<R> {
    pub(crate) fn new(inner: Arc<ClientInner<R>>, basin: BasinName, name: StreamName) -> Self {
        Self {
            inner,
            basin,
            name,
            options: StreamOptions::default(),
        }
    }

    /// This handle with the stream's encryption key: its appends store
    /// records encrypted under the basin's
    /// [`stream_cipher`](s2_core::types::BasinConfig::stream_cipher), and
    /// its reads decrypt them. A stream created with a cipher cannot be
    /// appended to or read without its key
    /// ([`EncryptionError::MissingKey`](s2_core::error::EncryptionError)),
    /// nor read with another key (`WrongKey`). The key is never logged.
    pub fn with_encryption_key(mut self, key: EncryptionKey) -> Self {
        self.options = self.options.with_encryption_key(key);
        self
    }

    /// This handle with the configuration the stream gets if one of its
    /// appends or reads creates it (in a basin with create-on-append or
    /// create-on-read), over the basin's default. Ignored once the stream
    /// exists.
    pub fn with_create_config(mut self, config: StreamConfig) -> Self {
        self.options = self.options.with_create_config(config);
        self
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
    /// [`AppendRetryPolicy`](crate::config::AppendRetryPolicy).
    ///
    /// What a retry after an unknown outcome (a timeout, a cut connection,
    /// a 5xx) may do:
    ///
    /// * A batch without `match_seq_num`, under `NoSideEffects`, is not
    ///   sent again: the error of the attempt whose outcome is unknown is
    ///   returned (`may_have_side_effect() == true`).
    /// * A batch without `match_seq_num`, under `All`, is sent again: it is
    ///   appended at least once and **may be duplicated** (a fencing token
    ///   alone does not prevent that).
    /// * A batch conditioned with `match_seq_num` is exactly-once under
    ///   either policy, since a repeat cannot land twice: when the retry's
    ///   condition fails (the tail moved, or another writer fenced the
    ///   stream meanwhile), the batch is read back at `match_seq_num` and,
    ///   if it is the one that landed, acknowledged.
    ///
    /// After an unknown outcome, an append condition failure (which says
    /// "nothing was applied") is returned only when the read-back proves it
    /// (another writer's records at `match_seq_num`). Otherwise — no
    /// `match_seq_num`, records trimmed, a failed read-back — the earlier
    /// error is returned, which says the outcome is unknown
    /// (`may_have_side_effect() == true`).
    pub async fn append(&self, input: &AppendInput) -> Result<AppendAck, Error> {
        let call = self
            .inner
            .api
            .append(&self.basin, &self.name, input, &self.options)?;
        let tracked = execute_tracking(&self.inner, call).await;
        let result = match (tracked.result, tracked.unknown_outcome) {
            (Err(condition @ Error::AppendCondition(_)), Some(earlier)) => {
                match input.match_seq_num() {
                    Some(start) => self.resolve(input, start, condition, earlier).await,
                    // Only `match_seq_num` pins where the batch would be.
                    None => Err(earlier),
                }
            }
            (result, _) => result,
        };
        if let Ok(ack) = &result {
            crate::metrics::appended(1, ack.record_count(), input.metered_bytes());
        }
        result
    }

    /// Finds out whether `input` landed at `start` after an unknown outcome
    /// and a failed condition: its ack if it is there, `condition` if it
    /// provably never will be, `earlier` (the outcome stays unknown)
    /// otherwise.
    async fn resolve(
        &self,
        input: &AppendInput,
        start: u64,
        condition: Error,
        earlier: Error,
    ) -> Result<AppendAck, Error> {
        // The tail first: the ack reports it, and where it stands bounds
        // what the read-back can prove.
        let Ok(tail) = self.check_tail().await else {
            return Err(earlier);
        };
        let count = input.len() as u64;
        let read = ReadRequest::new(ReadStart::SeqNum(start)).with_limit(ReadLimit::count(count));
        let Ok(output) = self.read(&read).await else {
            return Err(earlier);
        };
        let read_back = resolve_read_back(input, start, output.records(), tail);
        tracing::debug!(
            range = ?(start..start + count),
            outcome = ?read_back,
            "exactly-once resolution of a unary append"
        );
        match read_back {
            ReadBack::Landed(ack) => {
                crate::metrics::resolution(crate::metrics::Resolution::Landed);
                Ok(ack)
            }
            ReadBack::NotApplied => {
                crate::metrics::resolution(crate::metrics::Resolution::Conflict);
                Err(condition)
            }
            ReadBack::Unknown => Err(earlier),
        }
    }

    /// Reads one batch, or returns the tail when `request.start` is at or
    /// past it (unless `clamp` is set).
    pub async fn read(&self, request: &ReadRequest) -> Result<ReadOutput, Error> {
        let output = execute(
            &self.inner,
            self.inner
                .api
                .read(&self.basin, &self.name, request, &self.options)?,
        )
        .await?;
        if let ReadOutput::Batch(batch) = &output {
            crate::metrics::read_batch(batch);
        }
        Ok(output)
    }

    /// Starts an append session: batches are pipelined on one connection
    /// and acknowledged in order; connection failures are recovered
    /// transparently when that is safe. See [`AppendSession`].
    ///
    /// When a batch carries `match_seq_num`, the session advances it for the
    /// following batches and resolves unknown outcomes exactly-once.
    ///
    /// Fails, before anything is sent, once the client is
    /// [closed](crate::S2::close): as
    /// [`append_session_with`](Self::append_session_with)
    /// with the default options.
    pub fn append_session(&self) -> Result<AppendSession, Error> {
        self.append_session_with(&AppendSessionOptions::default())
    }

    /// [`append_session`](Self::append_session) with its own
    /// caps, ack timeout and compression over the client's. Fails, before
    /// anything is sent, once the client is [closed](crate::S2::close) or
    /// when `options` hold a setting that cannot work
    /// ([`ValidationError::InvalidSetting`](crate::error::ValidationError::InvalidSetting)).
    pub fn append_session_with(
        &self,
        options: &AppendSessionOptions,
    ) -> Result<AppendSession, Error> {
        let (handle, task) = self.start_session(options)?;
        self.inner.transport.runtime().spawn(task);
        Ok(handle)
    }

    /// An append session's handle and its driver's task, or why it cannot
    /// start.
    fn start_session(
        &self,
        options: &AppendSessionOptions,
    ) -> Result<(AppendSession, Task), Error> {
        AppendSession::start(
            self.inner.clone(),
            self.basin.clone(),
            self.name.clone(),
            self.options.clone(),
            options,
        )
    }

    /// Appends a stream of batches through one session, yielding each
    /// batch's ack in order. Ends after the last ack, or with the first
    /// error. Fails, before anything is sent, as
    /// [`append_session`](Self::append_session) does.
    pub fn append_all<S>(
        &self,
        inputs: S,
    ) -> Result<
        impl AsyncStream<Item = Result<AppendAck, Error>> + Send + Unpin + 'static + use<R, S>,
        Error,
    >
    where
        S: AsyncStream<Item = AppendInput> + Send + 'static,
    {
        self.append_all_with(inputs, &AppendSessionOptions::default())
    }

    /// [`append_all`](Self::append_all) with its own caps, ack
    /// timeout and compression over the client's; for the batches of
    /// [`append_inputs`](crate::session::append_inputs), too. Fails, before anything
    /// is sent, as
    /// [`append_session_with`](Self::append_session_with)
    /// does.
    pub fn append_all_with<S>(
        &self,
        inputs: S,
        options: &AppendSessionOptions,
    ) -> Result<
        impl AsyncStream<Item = Result<AppendAck, Error>> + Send + Unpin + 'static + use<R, S>,
        Error,
    >
    where
        S: AsyncStream<Item = AppendInput> + Send + 'static,
    {
        Ok(AckStream::new(self.append_session_with(options)?, inputs))
    }

    /// Reads continuously: batches as they become available, resuming after
    /// failures without gaps or duplicates. Without bounds it follows the
    /// tail forever. With `wait_secs`, it waits up to that long between
    /// records (a reconnect keeps what is left of the wait), then ends.
    pub fn read_session(&self, request: ReadRequest) -> ReadSession<R> {
        self.read_session_with(request, ReadSessionOptions::default())
    }

    /// [`read_session`](Self::read_session) with options, such as a retry
    /// policy that never gives up.
    pub fn read_session_with(
        &self,
        request: ReadRequest,
        options: ReadSessionOptions,
    ) -> ReadSession<R> {
        ReadSession::new(
            self.inner.clone(),
            self.basin.clone(),
            self.name.clone(),
            request,
            options,
            self.options.clone(),
        )
    }

    /// A producer for this stream: submit single records and get each
    /// one's ack; records are batched under `config` (limits, linger,
    /// `match_seq_num`, fencing token) and sent through one append session.
    /// Fails, before anything is sent, as
    /// [`producer_with`](Self::producer_with) with the default options.
    pub fn producer(&self, config: BatcherConfig) -> Result<Producer, Error> {
        self.producer_with(config, &AppendSessionOptions::default())
    }

    /// [`producer`](Self::producer) whose append session has its own caps,
    /// ack timeout and compression over the client's. Fails, before
    /// anything is sent, once the client is [closed](crate::S2::close), or
    /// when `config` or `options` hold a setting that cannot work
    /// ([`ValidationError::InvalidSetting`](crate::error::ValidationError::InvalidSetting)).
    pub fn producer_with(
        &self,
        config: BatcherConfig,
        options: &AppendSessionOptions,
    ) -> Result<Producer, Error> {
        // Refused before any session starts.
        let batcher = Batcher::new(config)?;
        let config = session_config(&self.inner, options)?;
        let max_unacked_bytes = config.max_unacked_bytes();
        let io = SessionIo::new(
            self.inner.clone(),
            self.basin.clone(),
            self.name.clone(),
            self.options.clone(),
            config,
        );
        Ok(Producer::start(
            self.inner.transport.runtime().clone(),
            io,
            max_unacked_bytes,
            batcher,
            &self.inner.sessions,
        ))
    }
}
