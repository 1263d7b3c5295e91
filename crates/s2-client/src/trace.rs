//! Spans of the client's operations, named from the request itself so
//! that every call site gets one without naming it.
//!
//! Spans and events carry names, positions, counts, delays and errors;
//! never a header value (the access token), a key or a record body.

use http::Method;
use s2_core::api::{BASIN_HEADER, HttpRequest};
use tracing::{Span, field::Empty};

/// An error and its sources, one after another (`a: b: c`), for log
/// lines: an error's `Display` never repeats its source, so printing it
/// alone would drop the cause (the I/O failure under a transport error).
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}

/// The operation a unary request performs, from its method and path.
pub(crate) fn operation(method: &Method, path: &str) -> &'static str {
    let segments: Vec<&str> = path
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    // Skip the API version (and any deployment prefix before it).
    let rest = match segments.iter().position(|s| *s == "v1") {
        Some(at) => &segments[at + 1..],
        None => &segments[..],
    };
    match (method, rest) {
        (&Method::GET, ["basins"]) => "list_basins",
        (&Method::POST, ["basins"]) => "create_basin",
        (&Method::PUT, ["basins", _]) => "ensure_basin",
        (&Method::GET, ["basins", _]) => "get_basin_config",
        (&Method::PATCH, ["basins", _]) => "reconfigure_basin",
        (&Method::DELETE, ["basins", _]) => "delete_basin",
        (&Method::GET, ["streams"]) => "list_streams",
        (&Method::POST, ["streams"]) => "create_stream",
        (&Method::PUT, ["streams", _]) => "ensure_stream",
        (&Method::GET, ["streams", _]) => "get_stream_config",
        (&Method::PATCH, ["streams", _]) => "reconfigure_stream",
        (&Method::DELETE, ["streams", _]) => "delete_stream",
        (&Method::GET, ["streams", _, "records", "tail"]) => "check_tail",
        (&Method::GET, ["streams", _, "records"]) => "read",
        (&Method::POST, ["streams", _, "records"]) => "append",
        (&Method::GET, ["access-tokens"]) => "list_access_tokens",
        (&Method::POST, ["access-tokens"]) => "issue_access_token",
        (&Method::DELETE, ["access-tokens", _]) => "revoke_access_token",
        (&Method::GET, ["metrics", ..]) => "metrics",
        _ => "other",
    }
}

/// The stream a request is about, as it appears (percent-encoded) in its
/// path.
fn stream_of(path: &str) -> Option<&str> {
    let (_, rest) = path.split_once("/streams/")?;
    Some(rest.split('/').next().unwrap_or(rest))
}

/// The basin a stream request is about: the `s2-basin` header on a shared
/// endpoint, the host's first label on a per-basin one.
fn basin_of(request: &HttpRequest) -> Option<&str> {
    if let Some(value) = request.headers.get(BASIN_HEADER) {
        return value.to_str().ok();
    }
    stream_of(request.uri.path())?;
    request.uri.host()?.split('.').next()
}

/// The span of one unary call: `attempts` and `outcome` are filled in when
/// it ends.
pub(crate) fn call_span(request: &HttpRequest) -> Span {
    let path = request.uri.path();
    tracing::debug_span!(
        "s2_call",
        operation = operation(&request.method, path),
        basin = basin_of(request),
        stream = stream_of(path),
        attempts = Empty,
        outcome = Empty,
    )
}

/// The span of one session, for all its connections.
pub(crate) fn session_span(kind: &'static str, basin: &str, stream: &str) -> Span {
    tracing::debug_span!("s2_session", kind, basin, stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_named_from_method_and_path() {
        let cases = [
            (Method::GET, "/v1/basins", "list_basins"),
            (Method::PUT, "/v1/basins/b", "ensure_basin"),
            (Method::POST, "/v1/streams/s/records", "append"),
            (Method::GET, "/v1/streams/s/records", "read"),
            (Method::GET, "/v1/streams/a%2Fb/records/tail", "check_tail"),
            (
                Method::DELETE,
                "/prefix/v1/access-tokens/t",
                "revoke_access_token",
            ),
            (Method::GET, "/v1/metrics/account", "metrics"),
            (Method::OPTIONS, "/v1/basins", "other"),
        ];
        for (method, path, expected) in cases {
            assert_eq!(operation(&method, path), expected, "{method} {path}");
        }
        assert_eq!(stream_of("/v1/streams/a%2Fb/records"), Some("a%2Fb"));
        assert_eq!(stream_of("/v1/basins/b"), None);
    }
}
