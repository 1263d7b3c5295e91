//! Where requests go: the account endpoint and the basin endpoint, and the
//! checks that keep the access token on the configured hosts.
//!
//! Everything that becomes part of a URL authority is validated: endpoints
//! are parsed strictly (host names, ports), a per-basin authority is built
//! from a valid DNS label and then checked to be exactly
//! `{label}.{configured suffix}` on the configured port, and plain `http://`
//! is refused for hosts other than loopback unless the configuration opts in
//! ([`PlainHttp::InsecureToAnyHost`]).

use std::net::{Ipv4Addr, Ipv6Addr};

use http::uri::{Authority, Scheme};

use crate::{error::ValidationError, names::BasinName};

/// Default account endpoint of the S2 cloud.
pub const CLOUD_ACCOUNT_ENDPOINT: &str = "https://a.s2.dev";
/// Default basin endpoint of the S2 cloud; `{basin}` is replaced by the basin
/// name.
pub const CLOUD_BASIN_ENDPOINT: &str = "https://{basin}.b.s2.dev";

const BASIN_PLACEHOLDER: &str = "{basin}.";
/// Longest DNS name, in bytes.
const MAX_HOST_LEN: usize = 253;
/// Longest DNS label, in bytes.
const MAX_LABEL_LEN: usize = 63;

/// Which hosts may be reached over plain `http://`, where the access token
/// travels in clear text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PlainHttp {
    /// Plain http only to loopback hosts (`localhost`, `127.0.0.0/8`,
    /// `[::1]`); every other host needs https.
    #[default]
    LoopbackOnly,
    /// Plain http to any host. Insecure: anyone on the network path can read
    /// the access token and the data.
    InsecureToAnyHost,
}

/// A parsed base URL: scheme, host, port and path prefix (without `/v1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    scheme: Scheme,
    authority: Authority,
    port: u16,
    path_prefix: String,
}

impl BaseUrl {
    /// Parses `http://host[:port][/prefix]`; a missing scheme means https.
    /// The host must be a DNS name or an IP address (IPv6 in brackets); the
    /// port, when given, must be 1 to 65535.
    pub fn parse(endpoint: &str) -> Result<Self, ValidationError> {
        let url = split_url(endpoint)?;
        let (host, port) = parse_authority(endpoint, url.authority)?;
        Self::from_parts(endpoint, url.scheme, &host, port, url.path_prefix)
    }

    /// Builds the authority from checked parts, then checks that it reads
    /// back as exactly that host and port.
    fn from_parts(
        endpoint: &str,
        scheme: Scheme,
        host: &str,
        port: Option<u16>,
        path_prefix: String,
    ) -> Result<Self, ValidationError> {
        let text = match port {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let authority: Authority = text.parse().map_err(|_| invalid(endpoint, "bad host"))?;
        if !authority.host().eq_ignore_ascii_case(host) || authority.port_u16() != port {
            return Err(invalid(endpoint, "host and port do not read back as given"));
        }
        let port = port.unwrap_or(default_port(&scheme));
        Ok(Self {
            scheme,
            authority,
            port,
            path_prefix,
        })
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// Host and port, as written in requests.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// Whether TLS is used.
    pub fn is_tls(&self) -> bool {
        self.scheme == Scheme::HTTPS
    }

    /// Host without port (an IPv6 address keeps its brackets).
    pub fn host(&self) -> &str {
        self.authority.host()
    }

    /// Port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the host is loopback: `localhost`, `127.0.0.0/8` or `[::1]`.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(self.host())
    }

    pub(crate) fn path_prefix(&self) -> &str {
        &self.path_prefix
    }

    /// Refuses plain http to a host that is not loopback, unless allowed.
    fn check_plain_http(&self, policy: PlainHttp) -> Result<(), ValidationError> {
        match policy {
            PlainHttp::InsecureToAnyHost => Ok(()),
            PlainHttp::LoopbackOnly if self.is_tls() || self.is_loopback() => Ok(()),
            PlainHttp::LoopbackOnly => Err(ValidationError::InvalidEndpoint {
                endpoint: format!("{}://{}", self.scheme, self.authority),
                reason: PLAIN_HTTP_REFUSED,
            }),
        }
    }
}

const PLAIN_HTTP_REFUSED: &str = "plain http would send the access token in clear text to a \
     host that is not loopback; use https, or opt in explicitly \
     (ClientConfig::with_insecure_http_to_remote_hosts, S2_ALLOW_INSECURE_HTTP=1)";

fn default_port(scheme: &Scheme) -> u16 {
    if *scheme == Scheme::HTTPS { 443 } else { 80 }
}

fn invalid(endpoint: &str, reason: &'static str) -> ValidationError {
    ValidationError::InvalidEndpoint {
        endpoint: without_userinfo(endpoint),
        reason,
    }
}

/// The endpoint with any `user:password@` before its host replaced, so an
/// error (and the logs it reaches) never carries credentials.
fn without_userinfo(endpoint: &str) -> String {
    let (scheme, rest) = match endpoint.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, endpoint),
    };
    // Up to the last `@` anywhere: a password may hold `/`, `?` or `#`, and
    // redacting part of a path that holds an `@` does no harm.
    let rest = match rest.rfind('@') {
        Some(at) => format!("<redacted>@{}", &rest[at + 1..]),
        None => rest.to_owned(),
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{rest}"),
        None => rest,
    }
}

/// `localhost`, an address in `127.0.0.0/8`, or `[::1]`.
fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    }
    host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// The parts of an endpoint URL, before the authority is parsed.
struct SplitUrl<'a> {
    scheme: Scheme,
    authority: &'a str,
    path_prefix: String,
}

/// Splits an endpoint into scheme, authority and a path prefix with any
/// trailing `/` and `/v1` removed.
fn split_url(endpoint: &str) -> Result<SplitUrl<'_>, ValidationError> {
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
    Ok(SplitUrl {
        scheme,
        authority,
        path_prefix: path.to_owned(),
    })
}

/// Splits `host[:port]` (or `[v6][:port]`) and checks both parts. The host
/// comes back in lowercase.
fn parse_authority(
    endpoint: &str,
    authority: &str,
) -> Result<(String, Option<u16>), ValidationError> {
    if authority.contains('@') {
        return Err(invalid(endpoint, "must not carry user information"));
    }
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest
            .split_once(']')
            .ok_or_else(|| invalid(endpoint, "unclosed IPv6 address"))?;
        v6.parse::<Ipv6Addr>()
            .map_err(|_| invalid(endpoint, "bad IPv6 address"))?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| invalid(endpoint, "junk after the IPv6 address"))?,
            ),
        };
        (format!("[{}]", v6.to_ascii_lowercase()), port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        check_dns_name(endpoint, host)?;
        (host.to_ascii_lowercase(), port)
    };
    let port = port.map(|port| parse_port(endpoint, port)).transpose()?;
    Ok((host, port))
}

/// A port: 1 to 65535, decimal digits only.
fn parse_port(endpoint: &str, port: &str) -> Result<u16, ValidationError> {
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(endpoint, "port must be a number from 1 to 65535"));
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(invalid(endpoint, "port must be a number from 1 to 65535")),
        Ok(port) => Ok(port),
    }
}

/// A host name (or IPv4 address): dot-separated labels of letters, digits,
/// `-` and `_`, each 1 to 63 bytes, at most 253 bytes in all.
fn check_dns_name(endpoint: &str, host: &str) -> Result<(), ValidationError> {
    if host.is_empty() || host.len() > MAX_HOST_LEN {
        return Err(invalid(endpoint, "host must be 1 to 253 bytes"));
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= MAX_LABEL_LEN
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !host.split('.').all(label_ok) {
        return Err(invalid(
            endpoint,
            "host must be dot-separated labels of letters, digits, '-' and '_'",
        ));
    }
    Ok(())
}

/// Whether `label` is one DNS label of the form a basin host needs: 1 to 63
/// bytes of `a-z`, `0-9` and `-`, not beginning or ending with `-`.
fn is_dns_label(label: &str) -> bool {
    (1..=MAX_LABEL_LEN).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// How basin-scoped requests are routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasinEndpoint(Routing);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Routing {
    /// Each basin has its own host, `{basin}.{suffix}`.
    PerBasin {
        scheme: Scheme,
        /// The host after `{basin}.`, in lowercase.
        suffix: String,
        /// The port as configured (`None`: the scheme's default).
        port: Option<u16>,
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
        let url = split_url(endpoint)?;
        let Some(suffix) = url.authority.strip_prefix(BASIN_PLACEHOLDER) else {
            return BaseUrl::parse(endpoint).map(|base| Self(Routing::Shared(base)));
        };
        let (suffix, port) = parse_authority(endpoint, suffix)?;
        if suffix.starts_with('[') || suffix.parse::<Ipv4Addr>().is_ok() {
            return Err(invalid(
                endpoint,
                "the host after {basin}. must be a DNS name",
            ));
        }
        let routing = Routing::PerBasin {
            scheme: url.scheme,
            suffix,
            port,
            path_prefix: url.path_prefix,
        };
        // A sample basin proves the suffix makes valid authorities.
        let endpoint = Self(routing);
        endpoint.base_url_for("basin-name")?;
        Ok(endpoint)
    }

    /// The base URL requests for `basin` go to.
    pub fn for_basin(&self, basin: &BasinName) -> Result<BaseUrl, ValidationError> {
        self.base_url_for(basin.as_str())
    }

    /// The base URL requests for the basin called `name` go to, for any
    /// string (a pure function, fit for fuzzing).
    ///
    /// Guarantee: the result is an error, or a URL whose host is exactly
    /// `{name}.{suffix}` (one host per basin) or the shared host, on the
    /// configured [`port`](Self::port). A name that is not a valid basin name
    /// is always an error; no fallback host is ever used.
    pub fn base_url_for(&self, name: &str) -> Result<BaseUrl, ValidationError> {
        let basin = BasinName::new(name)?;
        match &self.0 {
            Routing::Shared(base) => Ok(base.clone()),
            Routing::PerBasin {
                scheme,
                suffix,
                port,
                path_prefix,
            } => {
                let label = basin.as_str();
                let bad = || ValidationError::InvalidBasinName {
                    name: label.to_owned(),
                    reason: "does not make a host under the basin endpoint",
                };
                if !is_dns_label(label) {
                    return Err(bad());
                }
                let host = format!("{label}.{suffix}");
                let base =
                    BaseUrl::from_parts(&host, scheme.clone(), &host, *port, path_prefix.clone())
                        .map_err(|_| bad())?;
                // The authority must be exactly the label under the suffix.
                let under_suffix = base
                    .host()
                    .strip_suffix(suffix.as_str())
                    .and_then(|h| h.strip_suffix('.'))
                    == Some(label);
                if !under_suffix || base.port() != self.port() {
                    return Err(bad());
                }
                Ok(base)
            }
        }
    }

    /// The host after `{basin}.` when each basin has its own host.
    pub fn host_suffix(&self) -> Option<&str> {
        match &self.0 {
            Routing::PerBasin { suffix, .. } => Some(suffix),
            Routing::Shared(_) => None,
        }
    }

    /// The port basin requests go to, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        match &self.0 {
            Routing::PerBasin { scheme, port, .. } => port.unwrap_or(default_port(scheme)),
            Routing::Shared(base) => base.port(),
        }
    }

    /// Whether basin requests go over TLS (https).
    pub fn is_tls(&self) -> bool {
        match &self.0 {
            Routing::PerBasin { scheme, .. } => *scheme == Scheme::HTTPS,
            Routing::Shared(base) => base.is_tls(),
        }
    }

    /// Whether requests must carry the `s2-basin` header.
    pub fn needs_basin_header(&self) -> bool {
        matches!(self.0, Routing::Shared(_))
    }

    /// Refuses plain http to a host that is not loopback, unless allowed. A
    /// per-basin host (`{basin}.…`) is never loopback.
    fn check_plain_http(&self, policy: PlainHttp) -> Result<(), ValidationError> {
        match &self.0 {
            Routing::Shared(base) => base.check_plain_http(policy),
            Routing::PerBasin {
                scheme,
                suffix,
                port,
                ..
            } => match policy {
                PlainHttp::InsecureToAnyHost => Ok(()),
                PlainHttp::LoopbackOnly if *scheme == Scheme::HTTPS => Ok(()),
                PlainHttp::LoopbackOnly => Err(ValidationError::InvalidEndpoint {
                    endpoint: match port {
                        Some(port) => format!("{scheme}://{BASIN_PLACEHOLDER}{suffix}:{port}"),
                        None => format!("{scheme}://{BASIN_PLACEHOLDER}{suffix}"),
                    },
                    reason: PLAIN_HTTP_REFUSED,
                }),
            },
        }
    }
}

/// The account and basin endpoints, and whether plain http may leave the
/// machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    account: BaseUrl,
    basin: BasinEndpoint,
    plain_http: PlainHttp,
}

impl Endpoints {
    /// The S2 cloud.
    pub fn cloud() -> Self {
        Self::new(CLOUD_ACCOUNT_ENDPOINT, CLOUD_BASIN_ENDPOINT)
            .expect("the cloud endpoints are valid constants")
    }

    /// Custom endpoints. Plain `http://` is only for loopback hosts unless
    /// [`with_plain_http`](Self::with_plain_http) allows more; the check is
    /// [`check`](Self::check), which [`Api::new`](crate::api::Api::new) runs.
    pub fn new(account: &str, basin: &str) -> Result<Self, ValidationError> {
        Ok(Self {
            account: BaseUrl::parse(account)?,
            basin: BasinEndpoint::parse(basin)?,
            plain_http: PlainHttp::default(),
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

    /// Sets which hosts may be reached over plain http.
    pub fn with_plain_http(mut self, policy: PlainHttp) -> Self {
        self.plain_http = policy;
        self
    }

    /// Account-level operations (basins, access tokens, metrics).
    pub fn account(&self) -> &BaseUrl {
        &self.account
    }

    /// Basin-level operations (streams, records).
    pub fn basin(&self) -> &BasinEndpoint {
        &self.basin
    }

    /// Which hosts may be reached over plain http.
    pub fn plain_http(&self) -> PlainHttp {
        self.plain_http
    }

    /// Checks that the access token would not travel in clear text to a
    /// host that is not loopback, for both the account and basin endpoints.
    pub fn check(&self) -> Result<(), ValidationError> {
        self.account.check_plain_http(self.plain_http)?;
        self.basin.check_plain_http(self.plain_http)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_endpoints() {
        let cloud = Endpoints::cloud();
        assert!(cloud.account().is_tls());
        assert_eq!(cloud.account().host(), "a.s2.dev");
        let basin = BasinName::new("my-basin-1").unwrap();
        let url = cloud.basin().for_basin(&basin).unwrap();
        assert_eq!(url.authority().as_str(), "my-basin-1.b.s2.dev");
        assert_eq!(url.port(), 443);
        assert!(!cloud.basin().needs_basin_header());
        assert_eq!(cloud.basin().host_suffix(), Some("b.s2.dev"));

        let lite = Endpoints::single("http://127.0.0.1:8080/").unwrap();
        assert!(!lite.account().is_tls());
        assert_eq!(lite.account().port(), 8080);
        assert!(lite.basin().needs_basin_header());
        assert_eq!(
            lite.basin().for_basin(&basin).unwrap().authority().as_str(),
            "127.0.0.1:8080"
        );

        let prefixed = BaseUrl::parse("https://aws.s2.dev/v1").unwrap();
        assert_eq!(prefixed.path_prefix(), "");
        assert_eq!(BaseUrl::parse("localhost:443").unwrap().port(), 443);
        assert_eq!(BaseUrl::parse("http://[::1]:9").unwrap().host(), "[::1]");
        assert_eq!(
            BaseUrl::parse("https://A.S2.dev").unwrap().host(),
            "a.s2.dev"
        );
        assert!(BaseUrl::parse("ftp://x").is_err());
        assert!(BaseUrl::parse("http://").is_err());
        assert!(BaseUrl::parse("http://x/?q").is_err());
    }

    #[test]
    fn ports_are_strict() {
        for bad in [
            "https://host:abc",
            "https://host:",
            "https://host:0",
            "https://host:65536",
            "https://host:99999",
            "https://host:+80",
            "https://host:-1",
            "https://host:080080",
            "https://host:1:2",
            "https://[::1]:x",
            "https://[::1]x",
            "https://{basin}.b.s2.dev:abc",
            "https://{basin}.b.s2.dev:",
            "https://{basin}.b.s2.dev:0",
        ] {
            let parsed = if bad.contains("{basin}") {
                BasinEndpoint::parse(bad).err()
            } else {
                BaseUrl::parse(bad).err()
            };
            assert!(
                matches!(parsed, Some(ValidationError::InvalidEndpoint { .. })),
                "{bad} should be refused"
            );
        }
        assert_eq!(BaseUrl::parse("https://host:65535").unwrap().port(), 65535);
        assert_eq!(BaseUrl::parse("https://host:1").unwrap().port(), 1);
        let per_basin = BasinEndpoint::parse("https://{basin}.b.example:8443").unwrap();
        assert_eq!(per_basin.port(), 8443);
    }

    #[test]
    fn hosts_are_strict() {
        for bad in [
            "https://user@a.s2.dev",
            "https://a.s2.dev@evil.example",
            "https://a..s2.dev",
            "https://.a.s2.dev",
            "https://a s2.dev",
            "https://::1",
            "https://[::1",
            "https://[evil]",
            "https://{basin}.[::1]",
            "https://{basin}.127.0.0.1",
            "https://{basin}.{basin}.b.s2.dev",
        ] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad} should be refused");
            assert!(
                BasinEndpoint::parse(bad).is_err(),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn basin_hosts_stay_under_the_suffix() {
        let cloud = Endpoints::cloud();
        for hostile in [
            "127.0.0.1:",
            "evil.example:",
            "evil.example:443",
            "evil.example/",
            "a@evil.example",
            "[::1]",
            "UPPER-case-basin",
            "-leading-hyphen",
            "",
        ] {
            assert!(cloud.basin().base_url_for(hostile).is_err(), "{hostile:?}");
        }
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "http://localhost:8080",
            "http://LOCALHOST",
            "http://127.0.0.1:1",
            "http://127.255.0.9",
            "http://[::1]:80",
            "https://example.com",
            "https://{basin}.example.com",
        ] {
            let endpoints = Endpoints::new(ok.replace("{basin}.", "").as_str(), ok).unwrap();
            assert_eq!(endpoints.check(), Ok(()), "{ok}");
        }
        for (account, basin) in [
            ("http://example.com", "https://b.example.com"),
            ("https://example.com", "http://b.example.com"),
            ("https://example.com", "http://{basin}.b.example.com"),
            ("https://example.com", "http://{basin}.localhost:80"),
            ("http://10.0.0.1", "https://b.example.com"),
            ("http://[::2]", "https://b.example.com"),
            ("http://localhost.evil.example", "https://b.example.com"),
            ("http://127.0.0.1.evil.example", "https://b.example.com"),
        ] {
            let endpoints = Endpoints::new(account, basin).unwrap();
            assert!(
                matches!(
                    endpoints.check(),
                    Err(ValidationError::InvalidEndpoint { .. })
                ),
                "{account} {basin}"
            );
            let allowed = endpoints.with_plain_http(PlainHttp::InsecureToAnyHost);
            assert_eq!(allowed.check(), Ok(()));
        }
        // From the environment too.
        let env = Endpoints::from_env_values(Some("http://s2.internal:80"), None).unwrap();
        assert!(env.check().is_err());
    }

    #[test]
    fn env_values() {
        assert_eq!(
            Endpoints::from_env_values(None, None).unwrap(),
            Endpoints::cloud()
        );
        let e = Endpoints::from_env_values(Some("http://localhost:1"), None).unwrap();
        assert!(e.basin().needs_basin_header());
        let e = Endpoints::from_env_values(Some("http://localhost:1"), Some("{basin}.local:2"))
            .unwrap();
        assert!(!e.basin().needs_basin_header());
    }

    #[test]
    fn errors_never_carry_userinfo() {
        for endpoint in [
            "https://user:sekrit@host.example",
            "user:sekrit@host.example:443/v1",
            "http://a@b:sekrit@host.example/x@y",
            "https://user:se/krit@host.example",
            "https://user:se?krit@host.example",
            "https://user:se#krit@host.example",
        ] {
            let error = BaseUrl::parse(endpoint).expect_err("userinfo is refused");
            let text = format!("{error} {error:?}");
            assert!(!text.contains("krit"), "{text}");
        }
    }
}
