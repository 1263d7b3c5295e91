//! Basin-level operations: streams.

use std::sync::Arc;

use futures_core::Stream as AsyncStream;
use futures_util::TryStreamExt;
use s2_core::{
    Error,
    names::{BasinName, StreamName},
    types::{ListRequest, Page, Provisioned, StreamConfig, StreamInfo, StreamReconfiguration},
};

use crate::{
    inner::{ClientInner, new_request_token},
    pagination::paginate,
    retry::execute,
    runtime::Runtime,
    stream::S2Stream,
};

/// A handle for the operations of one basin. Cheap to clone.
pub struct S2Basin<R: Runtime> {
    pub(crate) inner: Arc<ClientInner<R>>,
    pub(crate) name: BasinName,
}

impl<R: Runtime> Clone for S2Basin<R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            name: self.name.clone(),
        }
    }
}

impl<R: Runtime> S2Basin<R> {
    pub(crate) fn new(inner: Arc<ClientInner<R>>, name: BasinName) -> Self {
        Self { inner, name }
    }

    /// The basin's name.
    pub fn name(&self) -> &BasinName {
        &self.name
    }

    /// A handle for the operations of one stream. Nothing is sent.
    pub fn stream(&self, name: StreamName) -> S2Stream<R> {
        S2Stream::new(self.inner.clone(), self.name.clone(), name)
    }

    /// One page of streams.
    pub async fn list_streams(&self, request: &ListRequest) -> Result<Page<StreamInfo>, Error> {
        execute(
            &self.inner,
            self.inner.api.list_streams(&self.name, request)?,
        )
        .await
    }

    /// Every stream matching `request`, across pages; streams being
    /// deleted only with [`ListRequest::with_include_deleted`].
    pub fn list_all_streams(
        &self,
        request: ListRequest,
    ) -> impl AsyncStream<Item = Result<StreamInfo, Error>> + Send + Unpin + 'static {
        let basin = self.clone();
        let include_deleted = request.include_deleted;
        paginate(
            request,
            move |page| {
                let basin = basin.clone();
                async move { basin.list_streams(&page).await }
            },
            |info: &StreamInfo| info.name.to_string(),
        )
        .try_filter(move |info| std::future::ready(include_deleted || info.deleted_at.is_none()))
    }

    /// Creates a stream. Retries are safe: they carry one request token.
    pub async fn create_stream(
        &self,
        name: &StreamName,
        config: StreamConfig,
    ) -> Result<StreamInfo, Error> {
        let token = new_request_token(self.inner.transport.runtime());
        let call = self
            .inner
            .api
            .create_stream(&self.name, name, Some(&config), &token)?;
        execute(&self.inner, call).await
    }

    /// Creates the stream if it is missing, or reconfigures it to match.
    pub async fn ensure_stream(
        &self,
        name: &StreamName,
        config: StreamConfig,
    ) -> Result<Provisioned<StreamInfo>, Error> {
        let call = self
            .inner
            .api
            .ensure_stream(&self.name, name, Some(&config))?;
        execute(&self.inner, call).await
    }

    /// The stream's configuration.
    pub async fn get_stream_config(&self, name: &StreamName) -> Result<StreamConfig, Error> {
        execute(
            &self.inner,
            self.inner.api.get_stream_config(&self.name, name)?,
        )
        .await
    }

    /// Sets or resets the settings `change` names and leaves the others;
    /// returns the new configuration. A [`StreamConfig`] converts into a
    /// change that sets what is `Some`.
    pub async fn reconfigure_stream(
        &self,
        name: &StreamName,
        change: impl Into<StreamReconfiguration>,
    ) -> Result<StreamConfig, Error> {
        let config = change.into();
        let call = self
            .inner
            .api
            .reconfigure_stream(&self.name, name, &config)?;
        execute(&self.inner, call).await
    }

    /// Starts deleting a stream.
    pub async fn delete_stream(&self, name: &StreamName) -> Result<(), Error> {
        execute(&self.inner, self.inner.api.delete_stream(&self.name, name)?).await
    }

    /// Starts deleting a stream, if there is one: a stream that does not
    /// exist (or no longer does, when a retry follows an attempt whose
    /// answer was lost) is not an error.
    pub async fn delete_stream_if_exists(&self, name: &StreamName) -> Result<(), Error> {
        let call = self.inner.api.delete_stream(&self.name, name)?;
        crate::retry::execute_unless_not_found(&self.inner, call, "stream_not_found").await
    }
}
