//! The account-level client, [`S2`].

use std::sync::Arc;

use futures_core::Stream;
use futures_util::TryStreamExt;
use s2_core::{
    Error,
    api::Api,
    names::{AccessTokenId, BasinName, RequestToken, StreamName},
    types::{
        AccessTokenInfo, AccountMetricSet, BasinConfig, BasinInfo, BasinMetricSet, BasinScope,
        BasinState, ListRequest, Metric, MetricsRange, Page, Provisioned, StreamMetricSet,
    },
};

use crate::{
    basin::Basin, config::ClientConfig, pagination::paginate, retry::execute, runtime::Runtime,
    transport::Transport,
};

/// State shared by an [`S2`] client and every [`Basin`] and
/// [`Stream`](crate::Stream) handle made from it.
pub(crate) struct ClientInner<R: Runtime> {
    pub(crate) api: Api,
    pub(crate) transport: Transport<R>,
    pub(crate) config: Arc<ClientConfig>,
}

/// A client of an S2 account: basins and access tokens. Cheap to clone; all
/// clones share one set of connections.
pub struct S2<R: Runtime> {
    pub(crate) inner: Arc<ClientInner<R>>,
}

impl<R: Runtime> Clone for S2<R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<R: Runtime + Default> S2<R> {
    /// A client on the default instance of the runtime.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        Self::with_runtime(config, R::default())
    }

    /// A client configured from `S2_ACCESS_TOKEN`, `S2_ACCOUNT_ENDPOINT` and
    /// `S2_BASIN_ENDPOINT`.
    pub fn from_env() -> Result<Self, Error> {
        Self::new(ClientConfig::from_env()?)
    }
}

/// A fresh idempotency token for one logical create.
pub(crate) fn new_request_token() -> RequestToken {
    let token = format!("{:032x}", rand::random::<u128>());
    RequestToken::new(token).unwrap_or_else(|_| unreachable!("32 hex digits are a valid token"))
}

impl<R: Runtime> S2<R> {
    /// A client on a given runtime instance. Fails, before anything is
    /// sent, on endpoints that would carry the token over plain http to a
    /// remote host (unless allowed) or an access token that is not a valid
    /// header value. Durations past [`MAX_DURATION`](crate::MAX_DURATION)
    /// are cut to it.
    pub fn with_runtime(config: ClientConfig, runtime: R) -> Result<Self, Error> {
        let config = config.saturated();
        let api = Api::new(
            config.endpoints.clone(),
            &config.access_token,
            config.compression,
        )?;
        let config = Arc::new(config);
        let transport = Transport::new(runtime, config.clone())?;
        Ok(Self {
            inner: Arc::new(ClientInner {
                api,
                transport,
                config,
            }),
        })
    }

    /// The client's configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// A handle for the operations of one basin. Nothing is sent.
    pub fn basin(&self, name: BasinName) -> Basin<R> {
        Basin::new(self.inner.clone(), name)
    }

    /// One page of basins.
    pub async fn list_basins(&self, request: &ListRequest) -> Result<Page<BasinInfo>, Error> {
        execute(&self.inner, self.inner.api.list_basins(request)?).await
    }

    /// Every basin matching `request`, across pages; basins being deleted
    /// only with [`ListRequest::with_include_deleted`].
    pub fn list_all_basins(
        &self,
        request: ListRequest,
    ) -> impl Stream<Item = Result<BasinInfo, Error>> + Send + Unpin + 'static {
        let client = self.clone();
        let include_deleted = request.include_deleted;
        paginate(
            request,
            move |page| {
                let client = client.clone();
                async move { client.list_basins(&page).await }
            },
            |info: &BasinInfo| info.name.to_string(),
        )
        .try_filter(move |info| {
            std::future::ready(include_deleted || info.state() != BasinState::Deleting)
        })
    }

    /// Creates a basin. Retries are safe: they carry one request token.
    pub async fn create_basin(
        &self,
        name: &BasinName,
        config: BasinConfig,
    ) -> Result<BasinInfo, Error> {
        self.create_basin_in_scope(name, config, None).await
    }

    /// Creates a basin in a given scope (cloud region).
    pub async fn create_basin_in_scope(
        &self,
        name: &BasinName,
        config: BasinConfig,
        scope: Option<BasinScope>,
    ) -> Result<BasinInfo, Error> {
        let token = new_request_token();
        let call = self
            .inner
            .api
            .create_basin(name, Some(&config), scope, &token)?;
        execute(&self.inner, call).await
    }

    /// Creates the basin if it is missing, or reconfigures it to match.
    pub async fn ensure_basin(
        &self,
        name: &BasinName,
        config: BasinConfig,
    ) -> Result<Provisioned<BasinInfo>, Error> {
        let call = self.inner.api.ensure_basin(name, Some(&config), None)?;
        execute(&self.inner, call).await
    }

    /// The basin's configuration.
    pub async fn get_basin_config(&self, name: &BasinName) -> Result<BasinConfig, Error> {
        execute(&self.inner, self.inner.api.get_basin_config(name)?).await
    }

    /// Changes the settings of `config` that are `Some`; returns the new
    /// configuration.
    pub async fn reconfigure_basin(
        &self,
        name: &BasinName,
        config: BasinConfig,
    ) -> Result<BasinConfig, Error> {
        execute(
            &self.inner,
            self.inner.api.reconfigure_basin(name, &config)?,
        )
        .await
    }

    /// Starts deleting a basin (deletion completes in the background).
    pub async fn delete_basin(&self, name: &BasinName) -> Result<(), Error> {
        execute(&self.inner, self.inner.api.delete_basin(name)?).await
    }

    /// Starts deleting a basin, if there is one: a basin that does not
    /// exist (or no longer does, when a retry follows an attempt whose
    /// answer was lost) is not an error.
    pub async fn delete_basin_if_exists(&self, name: &BasinName) -> Result<(), Error> {
        match self.delete_basin(name).await {
            Err(e) if e.code() == Some("basin_not_found") => Ok(()),
            other => other,
        }
    }

    /// Issues an access token; returns its secret.
    pub async fn issue_access_token(&self, info: &AccessTokenInfo) -> Result<String, Error> {
        execute(&self.inner, self.inner.api.issue_access_token(info)?).await
    }

    /// One page of access tokens.
    pub async fn list_access_tokens(
        &self,
        request: &ListRequest,
    ) -> Result<Page<AccessTokenInfo>, Error> {
        execute(&self.inner, self.inner.api.list_access_tokens(request)?).await
    }

    /// Every access token matching `request`, across pages.
    pub fn list_all_access_tokens(
        &self,
        request: ListRequest,
    ) -> impl Stream<Item = Result<AccessTokenInfo, Error>> + Send + Unpin + 'static {
        let client = self.clone();
        paginate(
            request,
            move |page| {
                let client = client.clone();
                async move { client.list_access_tokens(&page).await }
            },
            |info: &AccessTokenInfo| info.id.to_string(),
        )
    }

    /// Revokes an access token.
    pub async fn revoke_access_token(&self, id: &AccessTokenId) -> Result<(), Error> {
        execute(&self.inner, self.inner.api.revoke_access_token(id)?).await
    }

    /// An account-level metric set.
    pub async fn account_metrics(
        &self,
        set: AccountMetricSet,
        range: &MetricsRange,
    ) -> Result<Vec<Metric>, Error> {
        execute(&self.inner, self.inner.api.account_metrics(set, range)?).await
    }

    /// A basin-level metric set.
    pub async fn basin_metrics(
        &self,
        basin: &BasinName,
        set: BasinMetricSet,
        range: &MetricsRange,
    ) -> Result<Vec<Metric>, Error> {
        execute(
            &self.inner,
            self.inner.api.basin_metrics(basin, set, range)?,
        )
        .await
    }

    /// A stream-level metric set (`storage`: the bytes the stream stores).
    pub async fn stream_metrics(
        &self,
        basin: &BasinName,
        stream: &StreamName,
        set: StreamMetricSet,
        range: &MetricsRange,
    ) -> Result<Vec<Metric>, Error> {
        execute(
            &self.inner,
            self.inner.api.stream_metrics(basin, stream, set, range)?,
        )
        .await
    }
}
