//! Stream-level operations: tail, append, read.

use std::sync::Arc;

use s2_core::{
    Error,
    names::{BasinName, StreamName},
    types::{AppendAck, AppendInput, ReadOutput, ReadRequest, StreamPosition},
};

use crate::{client::ClientInner, retry::execute, runtime::Runtime};

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
        execute(&self.inner, self.inner.api.check_tail(&self.basin, &self.name)?).await
    }

    /// Appends one batch atomically. Retries follow the client's
    /// [`AppendRetryPolicy`](crate::AppendRetryPolicy).
    pub async fn append(&self, input: &AppendInput) -> Result<AppendAck, Error> {
        execute(&self.inner, self.inner.api.append(&self.basin, &self.name, input)?).await
    }

    /// Reads one batch, or returns the tail when `request.start` is at or
    /// past it (unless `clamp` is set).
    pub async fn read(&self, request: &ReadRequest) -> Result<ReadOutput, Error> {
        execute(&self.inner, self.inner.api.read(&self.basin, &self.name, request)?).await
    }
}
