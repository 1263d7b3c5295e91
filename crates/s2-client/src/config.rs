//! Client configuration.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use http::{HeaderMap, HeaderValue};

use crate::auth::AccessTokenProvider;
pub use s2_core::session::append::AppendRetryPolicy;
use s2_core::{
    AccessToken,
    api::{Endpoints, PlainHttp, is_protected_header},
    backoff::BackoffConfig,
    error::ValidationError,
    frame::Compression,
    session::append::AppendSessionConfig,
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
/// means "never", without overflowing the clock.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// Configuration of an [`S2`](crate::S2) client. Its `Debug` output shows
/// the access token redacted.
///
/// Durations are taken as given up to [`MAX_DURATION`]; longer ones are cut
/// to it when the client is built.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Bearer token presented with every request, only to the configured
    /// endpoints.
    pub access_token: AccessToken,
    /// Where requests go, and whether plain http may reach remote hosts.
    pub endpoints: Endpoints,
    /// Deadline of one attempt of a unary request.
    pub request_timeout: Duration,
    /// Deadline of establishing a connection.
    pub connect_timeout: Duration,
    /// Retry budget and delays.
    pub retry: BackoffConfig,
    /// When appends may be retried.
    pub append_retry_policy: AppendRetryPolicy,
    /// Compression of request bodies and session frames (those of 1 KiB or
    /// more), and the one offered for responses. Default: none.
    pub compression: Compression,
    /// Interval of HTTP/2 keepalive pings (`None` disables them).
    pub keepalive_interval: Option<Duration>,
    /// How long a keepalive ping may go unanswered before the connection is
    /// presumed dead.
    pub keepalive_timeout: Duration,
    /// HTTP/2 receive window of each request, in bytes (1..=2^31-1): what
    /// a session whose reader stops reading may hold unread. `None`:
    /// [`DEFAULT_STREAM_RECEIVE_WINDOW`] (2 MiB, as hyper and the official
    /// SDK).
    pub stream_receive_window: Option<u32>,
    /// HTTP/2 receive window of a connection, shared by its requests, in
    /// bytes (65 535..=2^31-1). `None`: room for the window of every request
    /// the connection carries (stream window times
    /// [`max_concurrent_requests_per_connection`](Self::max_concurrent_requests_per_connection),
    /// at most 2^31-1), so a session whose reader stops reading never
    /// stalls the other sessions and calls on its connection. A smaller
    /// window bounds a connection's memory but lets a few stalled readers
    /// block it.
    pub connection_receive_window: Option<u32>,
    /// Trust the operating system's certificate store as well as the bundled
    /// webpki roots.
    pub use_native_roots: bool,
    /// More certificate authorities to trust (DER), such as the one of a
    /// private deployment.
    pub extra_root_certificates: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// Most metered bytes an append session keeps unacknowledged before
    /// submitting waits (backpressure).
    pub max_unacked_bytes: u64,
    /// How long an append session waits for an ack before presuming the
    /// connection broken.
    pub ack_timeout: Duration,
    /// Silence after which a read session connection is presumed dead.
    pub heartbeat_timeout: Duration,
    /// Most requests (unary calls and sessions) in flight at once on one
    /// HTTP/2 connection; the peer's own limit applies too. When every
    /// connection to a host is full, another one is opened, so long-lived
    /// sessions never leave unary calls waiting. At least 1; 100 by
    /// default. Until a new connection has the peer's SETTINGS, this is
    /// all the client knows of its limit: against a server that allows
    /// fewer concurrent streams than this, set it at or below the server's.
    pub max_concurrent_requests_per_connection: usize,
    /// Where each request's access token comes from, when it is not the
    /// fixed [`access_token`](Self::access_token).
    pub access_token_provider: Option<Arc<dyn AccessTokenProvider>>,
    /// `User-Agent` of every request (default: `s2-rs/<version>`).
    pub user_agent: Option<HeaderValue>,
    /// Headers sent with every request to the configured endpoints. The
    /// SDK's own headers ([`PROTECTED_HEADERS`](s2_core::api::PROTECTED_HEADERS): authorization, content
    /// type, encoding and length, routing) cannot be set here.
    pub default_headers: HeaderMap,
}

/// Largest HTTP/2 window.
const MAX_WINDOW: u32 = (1 << 31) - 1;

/// Default HTTP/2 receive window of each request: 2 MiB.
pub const DEFAULT_STREAM_RECEIVE_WINDOW: u32 = 2 * 1024 * 1024;

impl ClientConfig {
    /// The HTTP/2 receive windows in effect: per request, per connection.
    pub(crate) fn receive_windows(&self) -> (u32, u32) {
        let stream = self
            .stream_receive_window
            .unwrap_or(DEFAULT_STREAM_RECEIVE_WINDOW);
        let connection = self.connection_receive_window.unwrap_or_else(|| {
            let requests = u64::try_from(self.max_concurrent_requests_per_connection.max(1))
                .unwrap_or(u64::MAX);
            (u64::from(stream).saturating_mul(requests))
                .clamp(u64::from(MIN_CONNECTION_WINDOW), u64::from(MAX_WINDOW)) as u32
        });
        (stream, connection)
    }
}
/// Smallest HTTP/2 connection window (the protocol's initial one).
const MIN_CONNECTION_WINDOW: u32 = 65_535;

/// Refuses HTTP/2 settings out of the protocol's range.
pub(crate) fn check_http2(config: &ClientConfig) -> Result<(), ValidationError> {
    if config
        .stream_receive_window
        .is_some_and(|w| !(1..=MAX_WINDOW).contains(&w))
    {
        return Err(ValidationError::InvalidConfig {
            reason: "the stream receive window must be 1 to 2^31-1 bytes".into(),
        });
    }
    if config
        .connection_receive_window
        .is_some_and(|w| !(MIN_CONNECTION_WINDOW..=MAX_WINDOW).contains(&w))
    {
        return Err(ValidationError::InvalidConfig {
            reason: "the connection receive window must be 65535 to 2^31-1 bytes".into(),
        });
    }
    if config.keepalive_timeout.is_zero() {
        return Err(ValidationError::InvalidConfig {
            reason: "the keepalive timeout must be more than zero".into(),
        });
    }
    Ok(())
}

/// Refuses default headers that would override the SDK's own.
pub(crate) fn check_default_headers(headers: &HeaderMap) -> Result<(), ValidationError> {
    match headers.keys().find(|name| is_protected_header(name)) {
        Some(name) => Err(ValidationError::InvalidConfig {
            reason: format!("{name} is set by the SDK and cannot be a default header").into(),
        }),
        None => Ok(()),
    }
}

/// Default of [`ClientConfig::max_concurrent_requests_per_connection`]:
/// half of what s2-lite allows (200), so a connection is never full on the
/// server's side before it is on ours.
const DEFAULT_MAX_CONCURRENT_REQUESTS_PER_CONNECTION: usize = 100;

impl ClientConfig {
    /// Defaults for the S2 cloud with this token: 5 s request timeout, 3
    /// retries (4 attempts), at-least-once append retries, no compression.
    /// The README's "Defaults" table sets every default beside the official
    /// SDKs'.
    pub fn new(access_token: impl Into<AccessToken>) -> Self {
        // The append settings default to the session machine's own.
        let session = AppendSessionConfig::default();
        Self {
            access_token: access_token.into(),
            endpoints: Endpoints::cloud(),
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
            retry: BackoffConfig::default(),
            append_retry_policy: session.retry_policy,
            compression: Compression::None,
            keepalive_interval: Some(Duration::from_secs(20)),
            keepalive_timeout: Duration::from_secs(10),
            stream_receive_window: None,
            connection_receive_window: None,
            use_native_roots: false,
            extra_root_certificates: Vec::new(),
            max_unacked_bytes: session.max_unacked_bytes,
            ack_timeout: session.ack_timeout,
            heartbeat_timeout: s2_core::session::DEFAULT_HEARTBEAT_TIMEOUT,
            max_concurrent_requests_per_connection: DEFAULT_MAX_CONCURRENT_REQUESTS_PER_CONNECTION,
            access_token_provider: None,
            user_agent: None,
            default_headers: HeaderMap::new(),
        }
    }

    /// Asks `provider` for the access token of each request instead of
    /// using the fixed one; a token refused with a 401 is invalidated and
    /// the request retried once with a fresh one.
    pub fn with_access_token_provider(mut self, provider: impl AccessTokenProvider) -> Self {
        self.access_token_provider = Some(Arc::new(provider));
        self
    }

    /// Sets the `User-Agent` of every request.
    pub fn with_user_agent(mut self, user_agent: &str) -> Result<Self, ValidationError> {
        let value =
            HeaderValue::from_str(user_agent).map_err(|_| ValidationError::InvalidConfig {
                reason: "the user agent is not a valid header value".into(),
            })?;
        self.user_agent = Some(value);
        Ok(self)
    }

    /// Sends `headers` with every request (replacing earlier defaults).
    /// Fails on a header the SDK sets itself ([`PROTECTED_HEADERS`](s2_core::api::PROTECTED_HEADERS)).
    /// Their values are treated as secrets: never printed by `Debug`, never
    /// indexed by HTTP/2 header compression.
    pub fn with_default_headers(mut self, mut headers: HeaderMap) -> Result<Self, ValidationError> {
        check_default_headers(&headers)?;
        for value in headers.values_mut() {
            value.set_sensitive(true);
        }
        self.default_headers = headers;
        Ok(self)
    }

    /// Reads `S2_ACCESS_TOKEN`, `S2_ACCOUNT_ENDPOINT`, `S2_BASIN_ENDPOINT`
    /// and `S2_ALLOW_INSECURE_HTTP`.
    pub fn from_env() -> Result<Self, ValidationError> {
        let var = |name| std::env::var(name).ok();
        let token = var(ENV_ACCESS_TOKEN).ok_or(ValidationError::InvalidConfig {
            reason: format!("{ENV_ACCESS_TOKEN} is not set").into(),
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

    /// Sets the endpoints. An opt-in to insecure http already made on this
    /// configuration is kept.
    pub fn with_endpoints(mut self, endpoints: Endpoints) -> Self {
        let policy = match self.endpoints.plain_http() {
            PlainHttp::InsecureToAnyHost => PlainHttp::InsecureToAnyHost,
            PlainHttp::LoopbackOnly => endpoints.plain_http(),
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

    /// Sets the request timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets how many times a failed request is retried (default 3: four
    /// attempts in all).
    pub fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.retry.max_retries = max_retries;
        self
    }

    /// Sets how many attempts a request gets, the first included, as the
    /// official SDKs count them (`max_attempts`; theirs default to 3, this
    /// client's to 4). 1 means no retry.
    pub fn with_max_attempts(self, max_attempts: NonZeroU32) -> Self {
        self.with_max_retries(max_attempts.get() - 1)
    }

    /// How many attempts a request gets, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.retry.max_retries.saturating_add(1)
    }

    /// Sets the append retry policy.
    pub fn with_append_retry_policy(mut self, policy: AppendRetryPolicy) -> Self {
        self.append_retry_policy = policy;
        self
    }

    /// Sets the most requests in flight at once on one connection (at
    /// least 1; the client refuses to build with 0).
    pub fn with_max_concurrent_requests_per_connection(mut self, max: usize) -> Self {
        self.max_concurrent_requests_per_connection = max;
        self
    }

    /// Trusts one more certificate authority (DER).
    pub fn with_root_certificate(
        mut self,
        certificate: rustls::pki_types::CertificateDer<'static>,
    ) -> Self {
        self.extra_root_certificates.push(certificate);
        self
    }

    /// This configuration with every duration cut to [`MAX_DURATION`], so
    /// that no deadline computed from it can overflow the clock.
    pub(crate) fn saturated(mut self) -> Self {
        let cut = |d: &mut Duration| *d = (*d).min(MAX_DURATION);
        cut(&mut self.request_timeout);
        cut(&mut self.connect_timeout);
        cut(&mut self.ack_timeout);
        cut(&mut self.heartbeat_timeout);
        cut(&mut self.retry.base_delay);
        cut(&mut self.retry.max_delay);
        cut(&mut self.keepalive_timeout);
        if let Some(interval) = &mut self.keepalive_interval {
            cut(interval);
        }
        self
    }

    /// Sets the HTTP/2 receive windows: per request, and per connection
    /// (shared by its requests); see
    /// [`connection_receive_window`](Self::connection_receive_window).
    pub fn with_receive_windows(
        mut self,
        stream: u32,
        connection: u32,
    ) -> Result<Self, ValidationError> {
        self.stream_receive_window = Some(stream);
        self.connection_receive_window = Some(connection);
        check_http2(&self)?;
        Ok(self)
    }

    /// Sets the keepalive ping interval (`None` disables pings) and how long
    /// a ping may go unanswered.
    pub fn with_keepalive(mut self, interval: Option<Duration>, timeout: Duration) -> Self {
        self.keepalive_interval = interval;
        self.keepalive_timeout = timeout;
        self
    }

    /// Sets the compression of request bodies and session frames (those of
    /// 1 KiB or more) and the one offered for responses: none, zstd or
    /// gzip. An append session may override it
    /// ([`AppendSessionOptions::with_compression`](crate::AppendSessionOptions::with_compression)).
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Sets the most metered bytes an append session keeps unacknowledged
    /// (per session: [`AppendSessionOptions`](crate::AppendSessionOptions)).
    pub fn with_max_unacked_bytes(mut self, bytes: u64) -> Self {
        self.max_unacked_bytes = bytes;
        self
    }

    /// Sets how long an append session waits for an ack before presuming
    /// the connection broken (per session:
    /// [`AppendSessionOptions`](crate::AppendSessionOptions)).
    pub fn with_ack_timeout(mut self, timeout: Duration) -> Self {
        self.ack_timeout = timeout;
        self
    }
}

/// The plain-http policy `S2_ALLOW_INSECURE_HTTP` asks for: `1`/`true`
/// allow it to any host; unset, empty, `0`/`false` keep it to loopback;
/// anything else is an error rather than a guess.
fn plain_http_from_env(value: Option<&str>) -> Result<PlainHttp, ValidationError> {
    match value.map(str::trim) {
        None | Some("") => Ok(PlainHttp::LoopbackOnly),
        Some(v) if v == "0" || v.eq_ignore_ascii_case("false") => Ok(PlainHttp::LoopbackOnly),
        Some(v) if v == "1" || v.eq_ignore_ascii_case("true") => Ok(PlainHttp::InsecureToAnyHost),
        Some(_) => Err(ValidationError::InvalidConfig {
            reason: format!("{ENV_ALLOW_INSECURE_HTTP} must be 1, true, 0 or false").into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_header_values_are_secrets() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-api-key", http::HeaderValue::from_static("hunter2"));
        let config = super::ClientConfig::new("token")
            .with_default_headers(headers)
            .expect("allowed header");
        assert!(config.default_headers["x-api-key"].is_sensitive());
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    use super::*;

    #[test]
    fn attempts_count_the_first_try() {
        let config = ClientConfig::new("t");
        assert_eq!((config.retry.max_retries, config.max_attempts()), (3, 4));
        let config = config.with_max_attempts(NonZeroU32::new(3).expect("not zero"));
        assert_eq!((config.retry.max_retries, config.max_attempts()), (2, 3));
        let config = config.with_max_attempts(NonZeroU32::MIN);
        assert_eq!(config.retry.max_retries, 0);
    }

    #[test]
    fn session_options_override_the_client() {
        use crate::AppendSessionOptions;
        let client = ClientConfig::new("t").with_compression(Compression::Gzip);
        let inherited = AppendSessionOptions::new().resolve(&client);
        assert_eq!(
            (
                inherited.max_unacked_bytes,
                inherited.max_unacked_batches,
                inherited.ack_timeout,
                inherited.compression
            ),
            (
                5 * 1024 * 1024,
                crate::DEFAULT_MAX_UNACKED_BATCHES,
                Duration::from_secs(10),
                Compression::Gzip
            )
        );
        let own = AppendSessionOptions::new()
            .with_max_unacked_bytes(2 * 1024 * 1024)
            .expect("valid")
            .with_max_unacked_batches(std::num::NonZeroUsize::new(7).expect("not zero"))
            .with_ack_timeout(Duration::from_secs(2))
            .expect("valid")
            .with_compression(Compression::None)
            .resolve(&client);
        assert_eq!(
            (
                own.max_unacked_bytes,
                own.max_unacked_batches,
                own.ack_timeout,
                own.compression
            ),
            (
                2 * 1024 * 1024,
                7,
                Duration::from_secs(2),
                Compression::None
            )
        );
        assert_eq!(own.retry_policy, client.append_retry_policy);
    }

    #[test]
    fn append_defaults_are_the_session_machines() {
        let (client, session) = (ClientConfig::new("t"), AppendSessionConfig::default());
        assert_eq!(
            crate::DEFAULT_MAX_UNACKED_BATCHES,
            session.max_unacked_batches
        );
        assert_eq!(client.max_unacked_bytes, session.max_unacked_bytes);
        assert_eq!(client.ack_timeout, session.ack_timeout);
        assert_eq!(client.append_retry_policy, session.retry_policy);
    }

    #[test]
    fn debug_redacts_the_token() {
        let config = ClientConfig::new("sekrit-token-123");
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("sekrit"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }

    #[test]
    fn durations_saturate() {
        let mut config = ClientConfig::new("t");
        config.request_timeout = Duration::MAX;
        config.connect_timeout = Duration::MAX;
        config.ack_timeout = Duration::MAX;
        config.heartbeat_timeout = Duration::MAX;
        config.keepalive_interval = Some(Duration::MAX);
        config.retry.base_delay = Duration::MAX;
        config.retry.max_delay = Duration::MAX;
        let config = config.saturated();
        let now = std::time::Instant::now();
        for d in [
            config.request_timeout,
            config.connect_timeout,
            config.ack_timeout,
            config.heartbeat_timeout,
            config.keepalive_interval.expect("kept"),
            config.retry.base_delay,
            config.retry.max_delay,
        ] {
            assert_eq!(d, MAX_DURATION);
            assert!(now.checked_add(d).is_some());
        }
        let default = ClientConfig::new("t");
        assert_eq!(
            default.clone().saturated().request_timeout,
            default.request_timeout
        );
    }

    #[test]
    fn insecure_http_is_an_explicit_opt_in() {
        let remote = Endpoints::single("http://example.com:8080").expect("parses");
        assert!(
            ClientConfig::new("t")
                .with_endpoints(remote.clone())
                .endpoints
                .check()
                .is_err()
        );
        // Either order of the two setters opts in.
        for config in [
            ClientConfig::new("t")
                .with_endpoints(remote.clone())
                .with_insecure_http_to_remote_hosts(),
            ClientConfig::new("t")
                .with_insecure_http_to_remote_hosts()
                .with_endpoints(remote),
        ] {
            assert_eq!(config.endpoints.plain_http(), PlainHttp::InsecureToAnyHost);
            assert!(config.endpoints.check().is_ok());
        }
    }

    #[test]
    fn insecure_http_env_values() {
        use PlainHttp::*;
        for (value, expected) in [
            (None, Some(LoopbackOnly)),
            (Some(""), Some(LoopbackOnly)),
            (Some("0"), Some(LoopbackOnly)),
            (Some("FALSE"), Some(LoopbackOnly)),
            (Some("1"), Some(InsecureToAnyHost)),
            (Some("true"), Some(InsecureToAnyHost)),
            (Some("yes please"), None),
        ] {
            assert_eq!(plain_http_from_env(value).ok(), expected, "{value:?}");
        }
    }
}
