//! Client configuration.

use std::time::Duration;

pub use s2_core::session::append::AppendRetryPolicy;
use s2_core::{api::Endpoints, backoff::BackoffConfig, error::ValidationError, frame::Compression};

/// Environment variable holding the access token.
pub const ENV_ACCESS_TOKEN: &str = "S2_ACCESS_TOKEN";
/// Environment variable overriding the account endpoint.
pub const ENV_ACCOUNT_ENDPOINT: &str = "S2_ACCOUNT_ENDPOINT";
/// Environment variable overriding the basin endpoint (`{basin}.` prefix for
/// one host per basin).
pub const ENV_BASIN_ENDPOINT: &str = "S2_BASIN_ENDPOINT";

/// Configuration of an [`S2`](crate::S2) client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Bearer token presented with every request.
    pub access_token: String,
    /// Where requests go.
    pub endpoints: Endpoints,
    /// Deadline of one attempt of a unary request.
    pub request_timeout: Duration,
    /// Deadline of establishing a connection.
    pub connect_timeout: Duration,
    /// Retry budget and delays.
    pub retry: BackoffConfig,
    /// When appends may be retried.
    pub append_retry_policy: AppendRetryPolicy,
    /// Compression of data-plane responses and session frames.
    pub compression: Compression,
    /// Interval of HTTP/2 keepalive pings (`None` disables them).
    pub keepalive_interval: Option<Duration>,
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
}

impl ClientConfig {
    /// Defaults for the S2 cloud with this token: 5 s request timeout, 3
    /// retries, at-least-once append retries, no compression.
    pub fn new(access_token: impl Into<String>) -> Self {
        Self {
            access_token: access_token.into(),
            endpoints: Endpoints::cloud(),
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
            retry: BackoffConfig::default(),
            append_retry_policy: AppendRetryPolicy::All,
            compression: Compression::None,
            keepalive_interval: Some(Duration::from_secs(20)),
            use_native_roots: false,
            extra_root_certificates: Vec::new(),
            max_unacked_bytes: 5 * 1024 * 1024,
            ack_timeout: Duration::from_secs(10),
            heartbeat_timeout: s2_core::session::DEFAULT_HEARTBEAT_TIMEOUT,
        }
    }

    /// Reads `S2_ACCESS_TOKEN`, `S2_ACCOUNT_ENDPOINT` and `S2_BASIN_ENDPOINT`.
    pub fn from_env() -> Result<Self, ValidationError> {
        let var = |name| std::env::var(name).ok();
        let token = var(ENV_ACCESS_TOKEN).ok_or(ValidationError::InvalidConfig {
            reason: format!("{ENV_ACCESS_TOKEN} is not set").into(),
        })?;
        let endpoints = Endpoints::from_env_values(
            var(ENV_ACCOUNT_ENDPOINT).as_deref(),
            var(ENV_BASIN_ENDPOINT).as_deref(),
        )?;
        Ok(Self::new(token).with_endpoints(endpoints))
    }

    /// Sets the endpoints.
    pub fn with_endpoints(mut self, endpoints: Endpoints) -> Self {
        self.endpoints = endpoints;
        self
    }

    /// Sets the request timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets how many times a failed request is retried.
    pub fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.retry.max_retries = max_retries;
        self
    }

    /// Sets the append retry policy.
    pub fn with_append_retry_policy(mut self, policy: AppendRetryPolicy) -> Self {
        self.append_retry_policy = policy;
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

    /// Turns compression on (zstd) or off.
    pub fn with_compression(mut self, enabled: bool) -> Self {
        self.compression = if enabled {
            Compression::Zstd
        } else {
            Compression::None
        };
        self
    }
}
