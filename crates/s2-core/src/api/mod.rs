//! Request builders and response parsers for every v1 endpoint.
//!
//! [`Api`] turns an operation into a [`Call`]: a plain [`HttpRequest`] plus
//! the parser of its [`HttpResponse`]. The caller sends the request however it
//! likes, hands the response (status, headers, body bytes) to
//! [`Call::parse`], and uses [`Call::idempotency`] with the error's
//! classification to decide on retries.

mod account;
mod basin;
mod compress;
pub mod endpoints;
mod read_batch;
mod response;
mod stream;

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

pub use crate::read_back::{ReadBack, resolve_read_back};
pub use endpoints::{BaseUrl, BasinEndpoint, Endpoints, PlainHttp};
pub use read_batch::decode_read_batch;
pub(crate) use response::rejection_from_parts;
pub use response::{MAX_RESPONSE_BODY_BYTES, SessionRejection, error_from_parts};
pub use stream::{ENCRYPTION_KEY_HEADER, STREAM_CONFIG_HEADER, SessionKind, StreamOptions};

use crate::{
    error::{Error, ValidationError},
    frame::Compression,
    names::{BasinName, is_dot_segment},
    secret::AccessToken,
    types::{Page, Provisioned},
};

/// Header naming the basin when the basin endpoint is shared.
pub const BASIN_HEADER: &str = "s2-basin";
/// Header carrying the idempotency token of create requests.
pub const REQUEST_TOKEN_HEADER: &str = "s2-request-token";
/// Header telling what an ensure (`PUT`) did.
pub const PROVISION_RESULT_HEADER: &str = "s2-provision-result";
/// Header asking the client to wait before retrying, in milliseconds.
pub const RETRY_AFTER_MS_HEADER: &str = "retry-after-ms";
/// The `User-Agent` sent unless another is configured.
pub const DEFAULT_USER_AGENT: &str = concat!("s2-rs/", env!("CARGO_PKG_VERSION"));
/// Content type of unary protobuf bodies.
pub const PROTOBUF_CONTENT_TYPE: &str = "application/protobuf";
/// Content type of session bodies.
pub const SESSION_CONTENT_TYPE: &str = "s2s/proto";

/// Headers the SDK sets itself, which default headers cannot override:
/// credentials, body format and framing, routing and idempotency, and the
/// response codings this client can decode.
pub const PROTECTED_HEADERS: &[&str] = &[
    "authorization",
    "content-type",
    "content-encoding",
    "content-length",
    "transfer-encoding",
    "accept-encoding",
    "host",
    BASIN_HEADER,
    REQUEST_TOKEN_HEADER,
];

/// Whether `name` is one of [`PROTECTED_HEADERS`].
pub fn is_protected_header(name: &HeaderName) -> bool {
    PROTECTED_HEADERS.contains(&name.as_str())
}

/// Characters left as they are in a path segment or query value (RFC 3986
/// unreserved).
const ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A request, fully described: what an adapter sends.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// HTTP method.
    pub method: Method,
    /// Absolute URI (scheme, authority, path, query).
    pub uri: Uri,
    /// Request headers (the adapter adds nothing but transport headers).
    pub headers: HeaderMap,
    /// Request body.
    pub body: Bytes,
}

impl HttpRequest {
    /// The request as an [`http::Request`].
    pub fn to_http(&self) -> http::Request<Bytes> {
        let mut request = http::Request::new(self.body.clone());
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }
}

/// A response, as received: what an adapter hands back.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// Response body, as received (possibly content-encoded).
    pub body: Bytes,
}

/// Whether repeating a request after an unknown outcome is safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Repeating it has the same effect as doing it once.
    Idempotent,
    /// Repeating it may apply it twice; retry only what provably had no
    /// effect.
    NotIdempotent,
    /// An append: the caller's append retry policy decides.
    Append,
}

type Parser<T> = Box<dyn Fn(HttpResponse) -> Result<T, Error> + Send + Sync>;

/// One operation: its request, its retry class and its response parser.
pub struct Call<T> {
    /// The request to send (clone it for each attempt).
    pub request: HttpRequest,
    idempotency: Idempotency,
    timeout_allowance: Duration,
    parser: Parser<T>,
}

impl<T> Call<T> {
    fn new(
        request: HttpRequest,
        idempotency: Idempotency,
        parser: impl Fn(HttpResponse) -> Result<T, Error> + Send + Sync + 'static,
    ) -> Self {
        Self {
            request,
            idempotency,
            timeout_allowance: Duration::ZERO,
            parser: Box::new(parser),
        }
    }

    /// Lets the service hold the request for `allowance` on purpose.
    fn with_timeout_allowance(mut self, allowance: Duration) -> Self {
        self.timeout_allowance = allowance;
        self
    }

    /// Whether a retry after an unknown outcome is safe.
    pub fn idempotency(&self) -> Idempotency {
        self.idempotency
    }

    /// How long the service may hold this request on purpose (a read's
    /// long-poll `wait`): add it to the request timeout, or every such
    /// call times out.
    pub fn timeout_allowance(&self) -> Duration {
        self.timeout_allowance
    }

    /// Parses a response to this call's request. A content coding the
    /// request did not offer is refused; an offered one is undone (within
    /// [`MAX_RESPONSE_BODY_BYTES`]) before the body is read.
    pub fn parse(&self, response: HttpResponse) -> Result<T, Error> {
        let offered = response::offered_encodings(&self.request.headers);
        (self.parser)(response::decode_content(response, &offered)?)
    }
}

impl<T: serde::de::DeserializeOwned> Call<T> {
    /// A call whose successful response is a JSON `T`.
    fn json(request: HttpRequest, idempotency: Idempotency) -> Self {
        Self::new(request, idempotency, |response| {
            let (_, body) = response::success_body(response)?;
            response::json(&body)
        })
    }
}

impl Call<()> {
    /// An idempotent call whose successful response carries nothing.
    fn empty(request: HttpRequest) -> Self {
        Self::new(request, Idempotency::Idempotent, |response| {
            response::success_body(response).map(|_| ())
        })
    }
}

impl<T> Call<Page<T>> {
    /// An idempotent list call whose JSON body `B` holds one page.
    fn page<B: serde::de::DeserializeOwned + Into<Page<T>>>(request: HttpRequest) -> Self {
        Self::new(request, Idempotency::Idempotent, |response| {
            let (_, body) = response::success_body(response)?;
            response::json::<B>(&body).map(Into::into)
        })
    }
}

impl<T: serde::de::DeserializeOwned> Call<Provisioned<T>> {
    /// An ensure (`PUT`) call: the resource, and what the call did to it.
    fn provisioned(request: HttpRequest) -> Self {
        Self::new(request, Idempotency::Idempotent, |response| {
            let (response, body) = response::success_body(response)?;
            Ok(Provisioned {
                info: response::json(&body)?,
                result: account::provision_result(&response),
            })
        })
    }
}

impl<T> std::fmt::Debug for Call<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("request", &self.request)
            .field("idempotency", &self.idempotency)
            .field("timeout_allowance", &self.timeout_allowance)
            .finish_non_exhaustive()
    }
}

/// Builds the calls of the v1 API for one client configuration. Its `Debug`
/// shows the authorization header as `Sensitive`.
#[derive(Debug, Clone)]
pub struct Api {
    endpoints: Endpoints,
    authorization: HeaderValue,
    compression: Compression,
    user_agent: HeaderValue,
    /// Headers added to every request, under the SDK's own.
    default_headers: Option<std::sync::Arc<HeaderMap>>,
}

impl Api {
    /// An API client configuration. The access token must be a valid header
    /// value, the endpoints must pass [`Endpoints::check`] (no plain http
    /// to remote hosts unless allowed), and the compression must be
    /// compiled in ([`Compression::is_available`]).
    pub fn new(
        endpoints: Endpoints,
        access_token: impl Into<AccessToken>,
        compression: Compression,
    ) -> Result<Self, ValidationError> {
        endpoints.check()?;
        if !compression.is_available() {
            return Err(ValidationError::InvalidSetting {
                setting: "compression",
                reason: format!(
                    "{compression:?} is not compiled in: enable the cargo feature `{}`",
                    compression.feature().unwrap_or_default()
                )
                .into(),
            });
        }
        let access_token = access_token.into();
        let mut authorization =
            HeaderValue::try_from(format!("Bearer {}", access_token.expose_secret())).map_err(
                |_| ValidationError::InvalidSetting {
                    setting: "access_token",
                    reason: "must be visible ASCII".into(),
                },
            )?;
        // Never logged by `Debug`, never indexed by HPACK.
        authorization.set_sensitive(true);
        Ok(Self {
            endpoints,
            authorization,
            compression,
            user_agent: HeaderValue::from_static(DEFAULT_USER_AGENT),
            default_headers: None,
        })
    }

    /// Sends `user_agent` as the `User-Agent` of every request.
    pub fn with_user_agent(mut self, user_agent: HeaderValue) -> Self {
        self.user_agent = user_agent;
        self
    }

    /// Adds `headers` to every request. The SDK's own headers win: a
    /// protected name ([`PROTECTED_HEADERS`]), or one a request sets itself,
    /// is never taken from here.
    pub fn with_default_headers(mut self, mut headers: HeaderMap) -> Self {
        // They may carry secrets: kept out of HPACK's index and of `Debug`.
        for value in headers.values_mut() {
            value.set_sensitive(true);
        }
        self.default_headers = (!headers.is_empty()).then(|| std::sync::Arc::new(headers));
        self
    }

    /// The endpoints requests go to.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The compression of request bodies (those of at least
    /// [`COMPRESSION_THRESHOLD`](crate::frame::COMPRESSION_THRESHOLD)
    /// bytes) and session frames, and the one offered for responses.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    fn account_request(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        RequestBuilder::new(self, Ok(self.endpoints.account()), method, segments)
    }

    fn basin_request(
        &self,
        basin: &BasinName,
        method: Method,
        segments: &[&str],
    ) -> RequestBuilder {
        let base = self.endpoints.basin().for_basin(basin);
        let mut builder = RequestBuilder::new(self, base.as_ref(), method, segments);
        if self.endpoints.basin().needs_basin_header() {
            match HeaderValue::from_str(basin) {
                Ok(value) => {
                    builder.header(HeaderName::from_static(BASIN_HEADER), value);
                }
                Err(_) => builder.fail(ValidationError::InvalidBasinName {
                    name: basin.to_string(),
                    reason: "is not a valid header value",
                }),
            }
        }
        builder
    }
}

/// Accumulates the parts of one request. A part that cannot be used (a
/// basin that makes no valid host, a dot segment) is remembered and
/// reported by [`build`](Self::build), so nothing is sent.
struct RequestBuilder {
    error: Option<ValidationError>,
    default_headers: Option<std::sync::Arc<HeaderMap>>,
    method: Method,
    base: String,
    path: String,
    query: Vec<(&'static str, String)>,
    headers: HeaderMap,
    body: Bytes,
    compression: Compression,
}

impl RequestBuilder {
    fn new(
        api: &Api,
        base: Result<&BaseUrl, &ValidationError>,
        method: Method,
        segments: &[&str],
    ) -> Self {
        let mut error = None;
        let (base, mut path) = match base {
            Ok(base) => (
                format!("{}://{}", base.scheme(), base.authority()),
                format!("{}/v1", base.path_prefix()),
            ),
            Err(e) => {
                error = Some(e.clone());
                (String::new(), String::new())
            }
        };
        for segment in segments {
            // `.` and `..` would be normalised away by any proxy on the
            // path; names that validate never are one.
            if segment.is_empty() || is_dot_segment(segment) {
                error.get_or_insert(ValidationError::Encode {
                    reason: format!("{segment:?} cannot be a path segment"),
                });
            }
            path.push('/');
            path.extend(utf8_percent_encode(segment, ENCODE_SET));
        }
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, api.authorization.clone());
        headers.insert(http::header::USER_AGENT, api.user_agent.clone());
        // Responses are decoded only in a coding the request offered; say so,
        // since a request without the header allows the server any coding.
        headers.insert(
            http::header::ACCEPT_ENCODING,
            HeaderValue::from_static(
                api.compression
                    .accept_encoding_value()
                    .unwrap_or("identity"),
            ),
        );
        Self {
            error,
            default_headers: api.default_headers.clone(),
            method,
            base,
            path,
            query: Vec::new(),
            headers,
            body: Bytes::new(),
            compression: api.compression,
        }
    }

    fn fail(&mut self, error: ValidationError) {
        self.error.get_or_insert(error);
    }

    fn query(&mut self, query: impl IntoIterator<Item = (&'static str, String)>) -> &mut Self {
        self.query.extend(query);
        self
    }

    fn header(&mut self, name: HeaderName, value: HeaderValue) -> &mut Self {
        self.headers.insert(name, value);
        self
    }

    fn json_body(&mut self, body: &impl serde::Serialize) -> Result<&mut Self, ValidationError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ValidationError::Encode {
            reason: e.to_string(),
        })?;
        self.body = Bytes::from(bytes);
        self.headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok(self)
    }

    fn body(&mut self, content_type: &'static str, body: Bytes) -> &mut Self {
        self.body = body;
        self.headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
        self
    }

    fn build(&mut self) -> Result<HttpRequest, ValidationError> {
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        let mut uri = format!("{}{}", self.base, self.path);
        for (i, (name, value)) in self.query.iter().enumerate() {
            uri.push(if i == 0 { '?' } else { '&' });
            uri.push_str(name);
            uri.push('=');
            uri.extend(utf8_percent_encode(value, ENCODE_SET));
        }
        let uri = uri.parse().map_err(|_| ValidationError::Encode {
            reason: format!("could not form a URI from {uri:?}"),
        })?;
        if let Some(defaults) = self.default_headers.take() {
            for name in defaults.keys() {
                if !is_protected_header(name) && !self.headers.contains_key(name) {
                    for value in defaults.get_all(name) {
                        self.headers.append(name.clone(), value.clone());
                    }
                }
            }
        }
        let mut body = std::mem::take(&mut self.body);
        if let Some(compressed) = compress::body(self.compression, &body) {
            body = compressed;
            let coding = self
                .compression
                .accept_encoding_value()
                .expect("only a compression with a coding compresses");
            self.headers.insert(
                http::header::CONTENT_ENCODING,
                HeaderValue::from_static(coding),
            );
        }
        Ok(HttpRequest {
            method: self.method.clone(),
            uri,
            headers: std::mem::take(&mut self.headers),
            body,
        })
    }
}
