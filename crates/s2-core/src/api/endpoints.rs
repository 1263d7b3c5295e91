//! Where requests go: the account endpoint and the basin endpoint.

use http::uri::{Authority, Scheme};

use crate::{error::ValidationError, names::BasinName};

/// Default account endpoint of the S2 cloud.
pub const CLOUD_ACCOUNT_ENDPOINT: &str = "https://a.s2.dev";
/// Default basin endpoint of the S2 cloud; `{basin}` is replaced by the basin
/// name.
pub const CLOUD_BASIN_ENDPOINT: &str = "https://{basin}.b.s2.dev";

const BASIN_PLACEHOLDER: &str = "{basin}.";

/// A parsed base URL: scheme, authority and path prefix (without `/v1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    scheme: Scheme,
    authority: Authority,
    path_prefix: String,
}

impl BaseUrl {
    /// Parses `http://host[:port][/prefix]`; a missing scheme means https.
    pub fn parse(endpoint: &str) -> Result<Self, ValidationError> {
        let (scheme, authority, path_prefix) = split_url(endpoint)?;
        let authority: Authority = authority
            .parse()
            .map_err(|_| invalid(endpoint, "bad host"))?;
        Ok(Self {
            scheme,
            authority,
            path_prefix,
        })
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// Host and port.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// Whether TLS is used.
    pub fn is_tls(&self) -> bool {
        self.scheme == Scheme::HTTPS
    }

    /// Host without port.
    pub fn host(&self) -> &str {
        self.authority.host()
    }

    /// Port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.authority
            .port_u16()
            .unwrap_or(if self.is_tls() { 443 } else { 80 })
    }

    pub(crate) fn path_prefix(&self) -> &str {
        &self.path_prefix
    }
}

fn invalid(endpoint: &str, reason: &'static str) -> ValidationError {
    ValidationError::InvalidEndpoint {
        endpoint: endpoint.to_owned(),
        reason,
    }
}

/// Splits an endpoint into scheme, authority and a path prefix with any
/// trailing `/` and `/v1` removed.
fn split_url(endpoint: &str) -> Result<(Scheme, &str, String), ValidationError> {
    let (scheme, rest) = match endpoint.split_once("://") {
        Some(("https", rest)) => (Scheme::HTTPS, rest),
        Some(("http", rest)) => (Scheme::HTTP, rest),
        Some(_) => return Err(invalid(endpoint, "scheme must be http or https")),
        None => (Scheme::HTTPS, endpoint),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(invalid(endpoint, "missing host"));
    }
    if path.contains(['?', '#']) {
        return Err(invalid(endpoint, "must not have a query or fragment"));
    }
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix("/v1").unwrap_or(path);
    Ok((scheme, authority, path.to_owned()))
}

/// How basin-scoped requests are routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BasinEndpoint {
    /// Each basin has its own host, `{basin}.<suffix>`.
    PerBasin {
        /// `http` or `https`.
        scheme: Scheme,
        /// The host (and port) after `{basin}.`.
        suffix: String,
        /// Path prefix.
        path_prefix: String,
    },
    /// One host for all basins; requests name the basin in the `s2-basin`
    /// header (s2-lite and custom deployments).
    Shared(BaseUrl),
}

impl BasinEndpoint {
    /// Parses a basin endpoint; a host starting with `{basin}.` means one host
    /// per basin.
    pub fn parse(endpoint: &str) -> Result<Self, ValidationError> {
        let (scheme, authority, path_prefix) = split_url(endpoint)?;
        match authority.strip_prefix(BASIN_PLACEHOLDER) {
            Some(suffix) => {
                // Check the suffix makes a valid authority with a sample basin.
                format!("basin-name.{suffix}")
                    .parse::<Authority>()
                    .map_err(|_| invalid(endpoint, "bad host"))?;
                Ok(Self::PerBasin {
                    scheme,
                    suffix: suffix.to_owned(),
                    path_prefix,
                })
            }
            None => BaseUrl::parse(endpoint).map(Self::Shared),
        }
    }

    /// The base URL requests for `basin` go to.
    pub fn for_basin(&self, basin: &BasinName) -> BaseUrl {
        match self {
            Self::PerBasin {
                scheme,
                suffix,
                path_prefix,
            } => BaseUrl {
                scheme: scheme.clone(),
                // A validated basin name is a valid DNS label.
                authority: format!("{basin}.{suffix}")
                    .parse()
                    .unwrap_or_else(|_| Authority::from_static("invalid.basin")),
                path_prefix: path_prefix.clone(),
            },
            Self::Shared(base) => base.clone(),
        }
    }

    /// Whether requests must carry the `s2-basin` header.
    pub fn needs_basin_header(&self) -> bool {
        matches!(self, Self::Shared(_))
    }
}

/// The account and basin endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Account-level operations (basins, access tokens, metrics).
    pub account: BaseUrl,
    /// Basin-level operations (streams, records).
    pub basin: BasinEndpoint,
}

impl Endpoints {
    /// The S2 cloud.
    pub fn cloud() -> Self {
        Self::new(CLOUD_ACCOUNT_ENDPOINT, CLOUD_BASIN_ENDPOINT)
            .unwrap_or_else(|_| unreachable!("cloud endpoints are valid"))
    }

    /// Custom endpoints.
    pub fn new(account: &str, basin: &str) -> Result<Self, ValidationError> {
        Ok(Self {
            account: BaseUrl::parse(account)?,
            basin: BasinEndpoint::parse(basin)?,
        })
    }

    /// One endpoint for everything, as s2-lite serves.
    pub fn single(endpoint: &str) -> Result<Self, ValidationError> {
        Self::new(endpoint, endpoint)
    }

    /// Endpoints from the values of `S2_ACCOUNT_ENDPOINT` and
    /// `S2_BASIN_ENDPOINT` (the caller reads the environment). A missing
    /// basin endpoint defaults to the account endpoint when that is set, and
    /// to the cloud otherwise.
    pub fn from_env_values(
        account: Option<&str>,
        basin: Option<&str>,
    ) -> Result<Self, ValidationError> {
        let account = account.filter(|s| !s.is_empty());
        let basin = basin.filter(|s| !s.is_empty());
        match (account, basin) {
            (None, None) => Ok(Self::cloud()),
            (Some(a), None) => Self::new(a, a),
            (None, Some(b)) => Self::new(CLOUD_ACCOUNT_ENDPOINT, b),
            (Some(a), Some(b)) => Self::new(a, b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_endpoints() {
        let cloud = Endpoints::cloud();
        assert!(cloud.account.is_tls());
        assert_eq!(cloud.account.host(), "a.s2.dev");
        let basin = BasinName::new("my-basin-1").unwrap();
        let url = cloud.basin.for_basin(&basin);
        assert_eq!(url.authority().as_str(), "my-basin-1.b.s2.dev");
        assert!(!cloud.basin.needs_basin_header());

        let lite = Endpoints::single("http://127.0.0.1:8080/").unwrap();
        assert!(!lite.account.is_tls());
        assert_eq!(lite.account.port(), 8080);
        assert!(lite.basin.needs_basin_header());
        assert_eq!(
            lite.basin.for_basin(&basin).authority().as_str(),
            "127.0.0.1:8080"
        );

        let prefixed = BaseUrl::parse("https://aws.s2.dev/v1").unwrap();
        assert_eq!(prefixed.path_prefix(), "");
        assert_eq!(BaseUrl::parse("localhost:443").unwrap().port(), 443);
        assert!(BaseUrl::parse("ftp://x").is_err());
        assert!(BaseUrl::parse("http://").is_err());
        assert!(BaseUrl::parse("http://x/?q").is_err());
    }

    #[test]
    fn env_values() {
        assert_eq!(
            Endpoints::from_env_values(None, None).unwrap(),
            Endpoints::cloud()
        );
        let e = Endpoints::from_env_values(Some("http://localhost:1"), None).unwrap();
        assert!(e.basin.needs_basin_header());
        let e = Endpoints::from_env_values(Some("http://localhost:1"), Some("{basin}.local:2"))
            .unwrap();
        assert!(!e.basin.needs_basin_header());
    }
}
