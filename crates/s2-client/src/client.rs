//! The account-level client, [`S2`].

use std::{sync::Arc, time::Duration};

use futures_core::Stream;
use futures_util::TryStreamExt;
use s2_core::{
    AccessToken, Error,
    api::Api,
    names::{AccessTokenId, BasinName, FencingToken, StreamName},
    types::{
        AccessTokenInfo, AccountMetricSet, BasinConfig, BasinInfo, BasinMetricSet,
        BasinReconfiguration, BasinState, ListRequest, LocationInfo, LocationName, Metric,
        MetricsRange, Page, Provisioned, StreamMetricSet,
    },
};

use crate::{
    basin::S2Basin,
    config::ClientConfig,
    inner::{ClientInner, Sessions, new_request_token},
    pagination::paginate,
    retry::execute,
    runtime::Runtime,
    transport::Transport,
};

/// How long [`S2::close`] waits for open append sessions to be
/// acknowledged.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// A fresh random fencing token: 32 hex digits (128 random bits), for a
/// writer claiming a stream with a fence command.
pub fn generate_fencing_token() -> FencingToken {
    FencingToken::new(format!("{:032x}", crate::random::u128()))
        .expect("32 hex digits fit the 36-byte fencing token limit")
}

impl<R: Runtime> S2<R> {
    /// A client on a given runtime instance. Fails, before anything is
    /// sent, on a setting that cannot work
    /// ([`ClientConfig::validate`]: a zero timeout or cap, a window out of
    /// range, a protected default header, endpoints that would carry the
    /// token over plain http to a remote host unless allowed, ...), an
    /// access token that is not a valid header value, or a root
    /// certificate rustls refuses. Durations past
    /// [`MAX_DURATION`](crate::config::MAX_DURATION) are cut to it.
    pub fn with_runtime(config: ClientConfig, runtime: R) -> Result<Self, Error> {
        let config = config.saturated();
        config.validate()?;
        let mut api = Api::new(
            config.endpoints().clone(),
            config.access_token(),
            config.compression(),
        )?
        .with_default_headers(config.default_headers().clone());
        if let Some(user_agent) = config.user_agent() {
            api = api.with_user_agent(crate::config::user_agent_header(user_agent)?);
        }
        let config = Arc::new(config);
        let transport = Transport::new(runtime, config.clone())?;
        Ok(Self {
            inner: Arc::new(ClientInner {
                api,
                transport,
                config,
                sessions: Sessions::default(),
            }),
        })
    }

    /// The client's configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Closes the client (and every clone of it): waits up to
    /// [`DEFAULT_CLOSE_TIMEOUT`] for its open append sessions to be
    /// acknowledged, then closes its connections. See
    /// [`close_within`](Self::close_within).
    pub async fn close(&self) -> Result<(), Error> {
        self.close_within(DEFAULT_CLOSE_TIMEOUT).await
    }

    /// Closes the client (and every clone of it). Open append sessions,
    /// producers' included, take no more batches
    /// (submits fail with [`Error::Closed`]) and are waited for until every
    /// batch they hold is acknowledged or failed, up to `timeout`; then the
    /// pooled connections are closed: at once when idle, and once their
    /// last request ends otherwise (a read session still open keeps its
    /// connection until it ends or is dropped, and cannot reconnect). Every
    /// later request fails with [`Error::Closed`] before anything is sent.
    ///
    /// Producers are drained too: their lingering records are sent and
    /// acknowledged like the rest. A session's own
    /// [`close`](crate::session::AppendSession::close), and a producer's
    /// `flush` and `close`, called meanwhile wait for that drain and report
    /// how it ended.
    ///
    /// Fails with [`Error::Timeout`] when sessions were still running at
    /// the timeout (their unacknowledged batches may or may not land).
    pub async fn close_within(&self, timeout: Duration) -> Result<(), Error> {
        // Everything stops at once (a producer's own session ends when the
        // producer has sent what it holds), then the wait for the last acks.
        let ends = self.inner.sessions.close();
        let runtime = self.inner.transport.runtime();
        let drained =
            crate::runtime::timeout(runtime, timeout, futures_util::future::join_all(ends)).await;
        self.inner.transport.close();
        match drained {
            Some(_) => Ok(()),
            None => Err(Error::Timeout(timeout)),
        }
    }

    /// A handle for the operations of one basin. Nothing is sent.
    pub fn basin(&self, name: BasinName) -> S2Basin<R> {
        S2Basin::new(self.inner.clone(), name)
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

    /// Creates a basin in the account's default location. Retries are safe:
    /// they carry one request token.
    pub async fn create_basin(
        &self,
        name: &BasinName,
        config: BasinConfig,
    ) -> Result<BasinInfo, Error> {
        self.create_basin_in(name, config, None).await
    }

    /// Creates a basin in a given location (`None`: the account's default).
    pub async fn create_basin_in(
        &self,
        name: &BasinName,
        config: BasinConfig,
        location: Option<&LocationName>,
    ) -> Result<BasinInfo, Error> {
        let token = new_request_token(self.inner.transport.runtime());
        let call = self
            .inner
            .api
            .create_basin(name, Some(&config), location, &token)?;
        execute(&self.inner, call).await
    }

    /// Creates the basin if it is missing, or reconfigures it to match.
    pub async fn ensure_basin(
        &self,
        name: &BasinName,
        config: BasinConfig,
    ) -> Result<Provisioned<BasinInfo>, Error> {
        self.ensure_basin_in(name, config, None).await
    }

    /// Creates the basin in a given location if it is missing (`None`: the
    /// account's default), or reconfigures it to match. The location of an
    /// existing basin cannot change.
    pub async fn ensure_basin_in(
        &self,
        name: &BasinName,
        config: BasinConfig,
        location: Option<&LocationName>,
    ) -> Result<Provisioned<BasinInfo>, Error> {
        let call = self.inner.api.ensure_basin(name, Some(&config), location)?;
        execute(&self.inner, call).await
    }

    /// The basin's configuration.
    pub async fn get_basin_config(&self, name: &BasinName) -> Result<BasinConfig, Error> {
        execute(&self.inner, self.inner.api.get_basin_config(name)?).await
    }

    /// Sets or resets the settings `change` names and leaves the others;
    /// returns the new configuration. A [`BasinConfig`] converts into a
    /// change that sets what is `Some`.
    pub async fn reconfigure_basin(
        &self,
        name: &BasinName,
        change: impl Into<BasinReconfiguration>,
    ) -> Result<BasinConfig, Error> {
        execute(
            &self.inner,
            self.inner.api.reconfigure_basin(name, &change.into())?,
        )
        .await
    }

    /// The locations the account may place basins in.
    pub async fn list_locations(&self) -> Result<Vec<LocationInfo>, Error> {
        execute(&self.inner, self.inner.api.list_locations()?).await
    }

    /// Where basins created without a location go.
    pub async fn get_default_location(&self) -> Result<LocationInfo, Error> {
        execute(&self.inner, self.inner.api.get_default_location()?).await
    }

    /// Changes where basins created without a location go; returns the new
    /// default.
    pub async fn set_default_location(
        &self,
        location: &LocationName,
    ) -> Result<LocationInfo, Error> {
        execute(&self.inner, self.inner.api.set_default_location(location)?).await
    }

    /// Starts deleting a basin (deletion completes in the background).
    pub async fn delete_basin(&self, name: &BasinName) -> Result<(), Error> {
        execute(&self.inner, self.inner.api.delete_basin(name)?).await
    }

    /// Starts deleting a basin, if there is one: a basin that does not
    /// exist (or no longer does, when a retry follows an attempt whose
    /// answer was lost) is not an error.
    pub async fn delete_basin_if_exists(&self, name: &BasinName) -> Result<(), Error> {
        let call = self.inner.api.delete_basin(name)?;
        crate::retry::execute_unless_not_found(&self.inner, call, "basin_not_found").await
    }

    /// Issues an access token; returns its secret (whose `Debug` is
    /// redacted: [`AccessToken::expose_secret`] gives its text).
    pub async fn issue_access_token(&self, info: &AccessTokenInfo) -> Result<AccessToken, Error> {
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
