//! Configuration: of the client ([`ClientConfig`]), of one append session
//! or producer ([`AppendSessionOptions`]), of one read session
//! ([`ReadSessionOptions`]), and of batching ([`BatcherConfig`]).
//!
//! All follow one pattern: private fields, a `with_*` setter per setting
//! that never fails, a getter of the same name, and one check of the
//! values that cannot work (zero timeouts, zero caps, windows out of
//! range), made when the client is built or the session opens, before
//! anything is sent: a [`ValidationError::InvalidSetting`] that names the
//! setting.

use std::{fmt, num::NonZeroU32, sync::Arc, time::Duration};

use http::{HeaderMap, HeaderValue};

pub use crate::{
    auth::{AccessTokenProvider, AccessTokenProviderError, TokenFuture},
    client::DEFAULT_CLOSE_TIMEOUT,
    session::{
        append::{AppendSessionOptions, DEFAULT_MAX_UNACKED_BATCHES},
        read::{ReadRetryPolicy, ReadSessionOptions},
    },
};
/// A DER-encoded certificate, for [`ClientConfig::with_root_certificate`].
pub use rustls::pki_types::CertificateDer;
use s2_core::{
    AccessToken,
    api::is_protected_header,
    error::ValidationError,
    session::{append::AppendSessionConfig, read::ReadSessionConfig},
};
pub use s2_core::{
    api::{Endpoints, PlainHttp},
    backoff::BackoffConfig,
    batcher::BatcherConfig,
    frame::Compression,
    session::append::AppendRetryPolicy,
};

/// Environment variable holding the access token.
pub const ENV_ACCESS_TOKEN: &str = "S2_ACCESS_TOKEN";
/// Environment variable overriding the account endpoint.
pub const ENV_ACCOUNT_ENDPOINT: &str = "S2_ACCOUNT_ENDPOINT";
/// Environment variable overriding the basin endpoint (`{basin}.` prefix for
/// one host per basin).
pub const ENV_BASIN_ENDPOINT: &str = "S2_BASIN_ENDPOINT";
/// Environment variable that, set to `1` or `true`, allows plain `http://`
/// to hosts other than loopback: the access token then crosses the network
/// in clear text.
pub const ENV_ALLOW_INSECURE_HTTP: &str = "S2_ALLOW_INSECURE_HTTP";

/// The longest any timeout, interval or backoff delay of a client lasts:
/// longer ones (up to `Duration::MAX`) are cut to this, which in practice
/// means "never", without overflowing the clock. The core's bound, so that
/// the client and the session machines cut at the same point.
pub use s2_core::time::MAX_DURATION;

/// Configuration of an [`S2`](crate::S2) client: every setting has a
/// setter `with_x` and a getter `x`.
///
/// Setters take any value; the client refuses, when it is built
/// ([`S2::new`](crate::S2::new)), settings that cannot work, with a
/// [`ValidationError::InvalidSetting`] naming the setting
/// ([`validate`](Self::validate) runs the same checks). The settings that
/// append sessions inherit (`max_unacked_bytes`, `ack_timeout`) are checked
/// by the same rule as their per-session overrides
/// ([`AppendSessionOptions`]).
///
/// Durations are taken as given up to [`MAX_DURATION`]; longer ones are cut
/// to it when the client is built.
///
/// Its `Debug` output shows no secret: not the access token, not the
/// values of the default headers, not the access token provider.
///
/// ```
/// # use s2_client::ClientConfig;
/// # use std::time::Duration;
/// let config = ClientConfig::new("token")
///     .with_request_timeout(Duration::from_secs(10))
///     .with_connect_timeout(Duration::from_secs(2))
///     .with_max_retries(5);
/// assert!(config.validate().is_ok());
/// assert!(config.with_request_timeout(Duration::ZERO).validate().is_err());
/// ```
#[derive(Clone)]
pub struct ClientConfig {
    access_token: AccessToken,
    endpoints: Endpoints,
    request_timeout: Duration,
    connect_timeout: Duration,
    retry: BackoffConfig,
    append_retry_policy: AppendRetryPolicy,
    compression: Compression,
    keepalive_interval: Option<Duration>,
    keepalive_timeout: Duration,
    /// `None`: [`DEFAULT_STREAM_RECEIVE_WINDOW`].
    stream_receive_window: Option<u32>,
    /// `None`: room for the window of every request of a connection.
    connection_receive_window: Option<u32>,
    native_roots: bool,
    root_certificates: Vec<rustls::pki_types::CertificateDer<'static>>,
    max_unacked_bytes: u64,
    ack_timeout: Duration,
    heartbeat_timeout: Duration,
    max_concurrent_requests_per_connection: usize,
    access_token_provider: Option<Arc<dyn AccessTokenProvider>>,
    user_agent: Option<String>,
    default_headers: HeaderMap,
}

/// Largest HTTP/2 window.
const MAX_WINDOW: u32 = (1 << 31) - 1;

/// Smallest HTTP/2 connection window (the protocol's initial one).
const MIN_CONNECTION_WINDOW: u32 = 65_535;

/// Default HTTP/2 receive window of each request: 2 MiB.
pub const DEFAULT_STREAM_RECEIVE_WINDOW: u32 = 2 * 1024 * 1024;

/// Default of [`ClientConfig::request_timeout`].
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Default of [`ClientConfig::connect_timeout`].
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Default of [`ClientConfig::keepalive_interval`].
const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);
/// Default of [`ClientConfig::keepalive_timeout`].
const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Default of [`ClientConfig::max_concurrent_requests_per_connection`]:
/// half of what s2-lite allows (200), so a connection is never full on the
/// server's side before it is on ours.
const DEFAULT_MAX_CONCURRENT_REQUESTS_PER_CONNECTION: usize = 100;

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// Header names, each value redacted.
        struct Redacted<'a>(&'a HeaderMap);
        impl fmt::Debug for Redacted<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(self.0.keys().map(|name| (name, "<redacted>")))
                    .finish()
            }
        }
        // A provider's own `Debug` may show what it holds: only say
        // whether there is one.
        let provider = self.access_token_provider.as_ref().map(|_| "<provider>");
        f.debug_struct("ClientConfig")
            .field("access_token", &self.access_token)
            .field("endpoints", &self.endpoints)
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("retry", &self.retry)
            .field("append_retry_policy", &self.append_retry_policy)
            .field("compression", &self.compression)
            .field("keepalive_interval", &self.keepalive_interval)
            .field("keepalive_timeout", &self.keepalive_timeout)
            .field("stream_receive_window", &self.stream_receive_window)
            .field("connection_receive_window", &self.connection_receive_window)
            .field("native_roots", &self.native_roots)
            .field("root_certificates", &self.root_certificates.len())
            .field("max_unacked_bytes", &self.max_unacked_bytes)
            .field("ack_timeout", &self.ack_timeout)
            .field("heartbeat_timeout", &self.heartbeat_timeout)
            .field(
                "max_concurrent_requests_per_connection",
                &self.max_concurrent_requests_per_connection,
            )
            .field("access_token_provider", &provider)
            .field("user_agent", &self.user_agent)
            .field("default_headers", &Redacted(&self.default_headers))
            .finish()
    }
}

impl ClientConfig {
    /// Defaults for the S2 cloud with this token: 5 s request timeout,
    /// retries for up to a minute (the retry window; no cap on their
    /// count), at-least-once append retries, no compression.
    /// The README's "Defaults" table sets every default beside the official
    /// SDKs'.
    pub fn new(access_token: impl Into<AccessToken>) -> Self {
        // The settings sessions inherit default to the session machines'
        // own.
        let append = AppendSessionConfig::default();
        let read = ReadSessionConfig::default();
        Self {
            access_token: access_token.into(),
            endpoints: Endpoints::cloud(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retry: BackoffConfig::default(),
            append_retry_policy: append.retry_policy(),
            compression: Compression::None,
            keepalive_interval: Some(DEFAULT_KEEPALIVE_INTERVAL),
            keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT,
            stream_receive_window: None,
            connection_receive_window: None,
            native_roots: false,
            root_certificates: Vec::new(),
            max_unacked_bytes: append.max_unacked_bytes(),
            ack_timeout: append.ack_timeout(),
            heartbeat_timeout: read.heartbeat_timeout(),
            max_concurrent_requests_per_connection: DEFAULT_MAX_CONCURRENT_REQUESTS_PER_CONNECTION,
            access_token_provider: None,
            user_agent: None,
            default_headers: HeaderMap::new(),
        }
    }

    /// Reads `S2_ACCESS_TOKEN`, `S2_ACCOUNT_ENDPOINT`, `S2_BASIN_ENDPOINT`
    /// and `S2_ALLOW_INSECURE_HTTP`.
    pub fn from_env() -> Result<Self, ValidationError> {
        let var = |name| std::env::var(name).ok();
        let token = var(ENV_ACCESS_TOKEN).ok_or(ValidationError::InvalidSetting {
            setting: ENV_ACCESS_TOKEN,
            reason: "is not set".into(),
        })?;
        let endpoints = Endpoints::from_env_values(
            var(ENV_ACCOUNT_ENDPOINT).as_deref(),
            var(ENV_BASIN_ENDPOINT).as_deref(),
        )?
        .with_plain_http(plain_http_from_env(
            var(ENV_ALLOW_INSECURE_HTTP).as_deref(),
        )?);
        Ok(Self::new(token).with_endpoints(endpoints))
    }

    // Setters, in the order of the getters below.

    /// Sets the bearer token presented with every request, only to the
    /// configured endpoints (it must be visible ASCII).
    pub fn with_access_token(mut self, access_token: impl Into<AccessToken>) -> Self {
        self.access_token = access_token.into();
        self
    }

    /// Sets where requests go. An opt-in to insecure http already made on
    /// this configuration is kept.
    pub fn with_endpoints(mut self, endpoints: Endpoints) -> Self {
        let policy = match self.endpoints.plain_http() {
            PlainHttp::LoopbackOnly => endpoints.plain_http(),
            kept => kept,
        };
        self.endpoints = endpoints.with_plain_http(policy);
        self
    }

    /// Allows plain `http://` endpoints on hosts other than loopback.
    ///
    /// Insecure: the access token and all data cross the network in clear
    /// text. Without this, such endpoints are refused when the client is
    /// built; https and loopback hosts (`localhost`, `127.0.0.0/8`,
    /// `[::1]`) never need it.
    pub fn with_insecure_http_to_remote_hosts(mut self) -> Self {
        self.endpoints = self.endpoints.with_plain_http(PlainHttp::InsecureToAnyHost);
        self
    }

    /// Sets the deadline of one attempt of a unary request (more than zero;
    /// default 5 s).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets the deadline of establishing a connection (more than zero;
    /// default 3 s).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the retry budget and the delays between retries, of unary
    /// requests and of sessions (default: [`BackoffConfig::default`],
    /// retries for up to 60 s, delays from 100 ms up to 5 s).
    pub fn with_retry(mut self, retry: BackoffConfig) -> Self {
        self.retry = retry;
        self
    }

    /// Sets how long retries go on: no retry starts later than this after
    /// a unary call began, or after the first failure of a session (append,
    /// read, producer) since its last progress (an ack, a batch read).
    /// Default 60 s: long enough to ride out a server restart or failover,
    /// short enough that an outage that lasts reaches the caller. Zero
    /// never retries. Errors that retrying cannot fix (validation, auth,
    /// not found, a failed condition) end the retries at once, whatever
    /// the window. Shorthand for the window of
    /// [`with_retry`](Self::with_retry).
    pub fn with_retry_window(mut self, window: Duration) -> Self {
        self.retry = self.retry.with_retry_window(window);
        self
    }

    /// Caps how many times a failed request is retried (default: no cap,
    /// the [retry window](Self::with_retry_window) bounds them; the window
    /// still applies under a cap); shorthand for the count of
    /// [`with_retry`](Self::with_retry).
    pub fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.retry = self.retry.with_max_retries(max_retries);
        self
    }

    /// Caps how many attempts a request gets, the first included, as the
    /// official SDKs count them (`max_attempts`; theirs default to 3 with
    /// no time budget, this client's to no cap within the retry window). 1
    /// means no retry.
    pub fn with_max_attempts(self, max_attempts: NonZeroU32) -> Self {
        self.with_max_retries(max_attempts.get() - 1)
    }

    /// Sets when appends may be retried (default [`AppendRetryPolicy::All`]).
    pub fn with_append_retry_policy(mut self, policy: AppendRetryPolicy) -> Self {
        self.append_retry_policy = policy;
        self
    }

    /// Sets the compression of request bodies and session frames (those of
    /// 1 KiB or more) and the one offered for responses: none (the
    /// default), zstd or gzip. An append session may override it
    /// ([`AppendSessionOptions::with_compression`](crate::config::AppendSessionOptions::with_compression)).
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Sets the interval of HTTP/2 keepalive pings: more than zero, or
    /// `None` for no pings (default 20 s).
    pub fn with_keepalive_interval(mut self, interval: Option<Duration>) -> Self {
        self.keepalive_interval = interval;
        self
    }

    /// Sets how long a keepalive ping may go unanswered before the
    /// connection is presumed dead (more than zero; default 10 s).
    pub fn with_keepalive_timeout(mut self, timeout: Duration) -> Self {
        self.keepalive_timeout = timeout;
        self
    }

    /// Sets the HTTP/2 receive window of each request, in bytes
    /// (1..=2^31-1; default [`DEFAULT_STREAM_RECEIVE_WINDOW`], 2 MiB as
    /// hyper and the official SDK): what a session whose reader stops
    /// reading may hold unread.
    pub fn with_stream_receive_window(mut self, window: u32) -> Self {
        self.stream_receive_window = Some(window);
        self
    }

    /// Sets the HTTP/2 receive window of a connection, shared by its
    /// requests, in bytes (65 535..=2^31-1). By default there is room for
    /// the window of every request the connection carries (the stream
    /// window times
    /// [`max_concurrent_requests_per_connection`](Self::max_concurrent_requests_per_connection),
    /// at most 2^31-1), so a session whose reader stops reading never
    /// stalls the other sessions and calls on its connection. A smaller
    /// window bounds a connection's memory but lets a few stalled readers
    /// block it.
    pub fn with_connection_receive_window(mut self, window: u32) -> Self {
        self.connection_receive_window = Some(window);
        self
    }

    /// Sets whether the operating system's certificate store is trusted as
    /// well as the bundled webpki roots (default: no).
    pub fn with_native_roots(mut self, native_roots: bool) -> Self {
        self.native_roots = native_roots;
        self
    }

    /// Trusts one more certificate authority (DER), such as the one of a
    /// private deployment.
    pub fn with_root_certificate(
        mut self,
        certificate: rustls::pki_types::CertificateDer<'static>,
    ) -> Self {
        self.root_certificates.push(certificate);
        self
    }

    /// Sets the most metered bytes an append session keeps unacknowledged
    /// before submitting waits (more than zero; default 5 MiB). Per
    /// session: [`AppendSessionOptions`].
    pub fn with_max_unacked_bytes(mut self, bytes: u64) -> Self {
        self.max_unacked_bytes = bytes;
        self
    }

    /// Sets how long an append session waits for an ack before presuming
    /// the connection broken (more than zero; default 10 s). Per session:
    /// [`AppendSessionOptions`].
    pub fn with_ack_timeout(mut self, timeout: Duration) -> Self {
        self.ack_timeout = timeout;
        self
    }

    /// Sets the silence after which a read session connection is presumed
    /// dead (more than zero; default 20 s; the service sends a heartbeat
    /// every 5 to 15 s).
    pub fn with_heartbeat_timeout(mut self, timeout: Duration) -> Self {
        self.heartbeat_timeout = timeout;
        self
    }

    /// Sets the most requests (unary calls and sessions) in flight at once
    /// on one HTTP/2 connection; the peer's own limit applies too. When
    /// every connection to a host is full, another one is opened, so
    /// long-lived sessions never leave unary calls waiting. At least 1;
    /// 100 by default (half of what s2-lite allows). Until
    /// a new connection has the peer's SETTINGS, this is all the client
    /// knows of its limit: against a server that allows fewer concurrent
    /// streams than this, set it at or below the server's.
    pub fn with_max_concurrent_requests_per_connection(mut self, max: usize) -> Self {
        self.max_concurrent_requests_per_connection = max;
        self
    }

    /// Asks `provider` for the access token of each request instead of
    /// using the fixed one; a token refused with a 401 is invalidated and
    /// the request retried once with a fresh one.
    pub fn with_access_token_provider(mut self, provider: impl AccessTokenProvider) -> Self {
        self.access_token_provider = Some(Arc::new(provider));
        self
    }

    /// Sets the `User-Agent` of every request (default: `s2-rs/<version>`);
    /// it must be a valid header value.
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Sends `headers` with every request to the configured endpoints
    /// (replacing earlier defaults). The SDK's own headers
    /// ([`PROTECTED_HEADERS`](s2_core::api::PROTECTED_HEADERS):
    /// authorization, content type, encoding and length, routing) cannot
    /// be among them. Their values are treated as secrets: never printed by
    /// `Debug`, never indexed by HTTP/2 header compression.
    pub fn with_default_headers(mut self, mut headers: HeaderMap) -> Self {
        for value in headers.values_mut() {
            value.set_sensitive(true);
        }
        self.default_headers = headers;
        self
    }

    // Getters.

    /// The bearer token presented with every request.
    pub fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    /// Where requests go, and whether plain http may reach remote hosts.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The deadline of one attempt of a unary request.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The deadline of establishing a connection.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The retry budget and delays.
    pub fn retry(&self) -> BackoffConfig {
        self.retry
    }

    /// How long retries go on after a call began or a session's first
    /// failure since its last progress.
    pub fn retry_window(&self) -> Duration {
        self.retry.retry_window()
    }

    /// How many times a failed request is retried at most (`u32::MAX`: no
    /// cap but the retry window).
    pub fn max_retries(&self) -> u32 {
        self.retry.max_retries()
    }

    /// How many attempts a request gets at most, the first included
    /// (`u32::MAX`: no cap but the retry window).
    pub fn max_attempts(&self) -> u32 {
        self.retry.max_retries().saturating_add(1)
    }

    /// When appends may be retried.
    pub fn append_retry_policy(&self) -> AppendRetryPolicy {
        self.append_retry_policy
    }

    /// The compression of request bodies and session frames, and the one
    /// offered for responses.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The interval of HTTP/2 keepalive pings (`None`: no pings).
    pub fn keepalive_interval(&self) -> Option<Duration> {
        self.keepalive_interval
    }

    /// How long a keepalive ping may go unanswered.
    pub fn keepalive_timeout(&self) -> Duration {
        self.keepalive_timeout
    }

    /// The HTTP/2 receive window of each request, in bytes.
    pub fn stream_receive_window(&self) -> u32 {
        self.stream_receive_window
            .unwrap_or(DEFAULT_STREAM_RECEIVE_WINDOW)
    }

    /// The HTTP/2 receive window of a connection, in bytes: the one set,
    /// or room for the window of every request the connection carries.
    pub fn connection_receive_window(&self) -> u32 {
        self.connection_receive_window.unwrap_or_else(|| {
            let requests = u64::try_from(self.max_concurrent_requests_per_connection.max(1))
                .unwrap_or(u64::MAX);
            (u64::from(self.stream_receive_window()).saturating_mul(requests))
                .clamp(u64::from(MIN_CONNECTION_WINDOW), u64::from(MAX_WINDOW)) as u32
        })
    }

    /// Whether the operating system's certificate store is trusted.
    pub fn native_roots(&self) -> bool {
        self.native_roots
    }

    /// The certificate authorities trusted besides the webpki roots (and
    /// the system's).
    pub fn root_certificates(&self) -> &[rustls::pki_types::CertificateDer<'static>] {
        &self.root_certificates
    }

    /// The most metered bytes an append session keeps unacknowledged.
    pub fn max_unacked_bytes(&self) -> u64 {
        self.max_unacked_bytes
    }

    /// How long an append session waits for an ack.
    pub fn ack_timeout(&self) -> Duration {
        self.ack_timeout
    }

    /// The silence after which a read session connection is presumed dead.
    pub fn heartbeat_timeout(&self) -> Duration {
        self.heartbeat_timeout
    }

    /// The most requests in flight at once on one HTTP/2 connection.
    pub fn max_concurrent_requests_per_connection(&self) -> usize {
        self.max_concurrent_requests_per_connection
    }

    /// Where each request's access token comes from, when it is not the
    /// fixed [`access_token`](Self::access_token).
    pub fn access_token_provider(&self) -> Option<&dyn AccessTokenProvider> {
        self.access_token_provider.as_deref()
    }

    /// The `User-Agent` of every request, when set.
    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }

    /// The headers sent with every request (values marked sensitive).
    pub fn default_headers(&self) -> &HeaderMap {
        &self.default_headers
    }

    // Checks.

    /// Refuses settings that cannot work, with
    /// [`ValidationError::InvalidSetting`] naming the first one found (or
    /// the endpoint error of [`Endpoints::check`]): what
    /// [`S2::new`](crate::S2::new) checks before anything is sent, the
    /// access token's form aside. The settings append and read sessions
    /// inherit are checked by the session machines' own rules
    /// ([`AppendSessionConfig::validate`], [`ReadSessionConfig::validate`]),
    /// which also check a session's overrides when it opens.
    pub fn validate(&self) -> Result<(), ValidationError> {
        self.endpoints.check()?;
        for (setting, timeout) in [
            ("request_timeout", self.request_timeout),
            ("connect_timeout", self.connect_timeout),
            ("keepalive_timeout", self.keepalive_timeout),
        ] {
            if timeout.is_zero() {
                return Err(greater_than_zero(setting));
            }
        }
        if self.keepalive_interval.is_some_and(|i| i.is_zero()) {
            return Err(ValidationError::InvalidSetting {
                setting: "keepalive_interval",
                reason: "must be greater than zero (`None` sends no pings)".into(),
            });
        }
        if !(1..=MAX_WINDOW).contains(&self.stream_receive_window()) {
            return Err(ValidationError::InvalidSetting {
                setting: "stream_receive_window",
                reason: "must be 1 to 2^31-1 bytes".into(),
            });
        }
        if !(MIN_CONNECTION_WINDOW..=MAX_WINDOW).contains(&self.connection_receive_window()) {
            return Err(ValidationError::InvalidSetting {
                setting: "connection_receive_window",
                reason: "must be 65535 to 2^31-1 bytes".into(),
            });
        }
        if self.max_concurrent_requests_per_connection == 0 {
            return Err(greater_than_zero("max_concurrent_requests_per_connection"));
        }
        if let Some(user_agent) = &self.user_agent {
            user_agent_header(user_agent)?;
        }
        if let Some(name) = self
            .default_headers
            .keys()
            .find(|name| is_protected_header(name))
        {
            return Err(ValidationError::InvalidSetting {
                setting: "default_headers",
                reason: format!("{name} is set by the SDK").into(),
            });
        }
        AppendSessionOptions::new().resolve(self).validate()?;
        ReadSessionOptions::new().resolve(self).validate()
    }

    /// This configuration with every duration cut to [`MAX_DURATION`], so
    /// that no deadline computed from it can overflow the clock.
    pub(crate) fn saturated(mut self) -> Self {
        let cut = s2_core::time::saturate;
        self.request_timeout = cut(self.request_timeout);
        self.connect_timeout = cut(self.connect_timeout);
        self.ack_timeout = cut(self.ack_timeout);
        self.heartbeat_timeout = cut(self.heartbeat_timeout);
        self.keepalive_timeout = cut(self.keepalive_timeout);
        self.keepalive_interval = self.keepalive_interval.map(cut);
        self.retry = self
            .retry
            .with_base_delay(cut(self.retry.base_delay()))
            .with_max_delay(cut(self.retry.max_delay()));
        self
    }
}

impl crate::auth::TokenSource for ClientConfig {
    fn token_provider(&self) -> Option<&dyn AccessTokenProvider> {
        self.access_token_provider()
    }
}

/// The refusal of a setting that must be more than zero.
fn greater_than_zero(setting: &'static str) -> ValidationError {
    ValidationError::InvalidSetting {
        setting,
        reason: "must be greater than zero".into(),
    }
}

/// The `User-Agent` header of `user_agent`, or why it cannot be one.
pub(crate) fn user_agent_header(user_agent: &str) -> Result<HeaderValue, ValidationError> {
    HeaderValue::from_str(user_agent).map_err(|_| ValidationError::InvalidSetting {
        setting: "user_agent",
        reason: "is not a valid header value".into(),
    })
}

/// The plain-http policy `S2_ALLOW_INSECURE_HTTP` asks for: `1`/`true`
/// allow it to any host; unset, empty, `0`/`false` keep it to loopback;
/// anything else is an error rather than a guess.
fn plain_http_from_env(value: Option<&str>) -> Result<PlainHttp, ValidationError> {
    match value.map(str::trim) {
        None | Some("") => Ok(PlainHttp::LoopbackOnly),
        Some(v) if v == "0" || v.eq_ignore_ascii_case("false") => Ok(PlainHttp::LoopbackOnly),
        Some(v) if v == "1" || v.eq_ignore_ascii_case("true") => Ok(PlainHttp::InsecureToAnyHost),
        Some(_) => Err(ValidationError::InvalidSetting {
            setting: ENV_ALLOW_INSECURE_HTTP,
            reason: "must be 1, true, 0 or false".into(),
        }),
    }
}

#[cfg(test)]
mod tests;
