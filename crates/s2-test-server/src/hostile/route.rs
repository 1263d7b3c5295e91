//! Which S2 operation a request is, from its method, path and content type.

use http::{Method, Request};

/// The operations the hostile server tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /v1/basins`.
    ListBasins,
    /// `GET /v1/streams/{stream}/records/tail`.
    CheckTail,
    /// `POST /v1/streams/{stream}/records` (protobuf).
    Append,
    /// `GET /v1/streams/{stream}/records` (protobuf).
    Read,
    /// `POST /v1/streams/{stream}/records` with `content-type: s2s/proto`.
    AppendSession,
    /// `GET /v1/streams/{stream}/records` with `content-type: s2s/proto`.
    ReadSession,
    /// `DELETE` of a basin or stream.
    Delete,
    /// Anything else.
    Other,
}

impl Route {
    /// Number of routes.
    pub(super) const COUNT: usize = 8;

    /// Index into per-route counters.
    pub(super) fn index(self) -> usize {
        self as usize
    }

    /// The route of `request`.
    pub(super) fn of<B>(request: &Request<B>) -> Self {
        let path = request.uri().path();
        let session = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes() == s2_core::api::SESSION_CONTENT_TYPE.as_bytes());
        let method = request.method();
        if method == Method::DELETE {
            return Route::Delete;
        }
        if path == "/v1/basins" && method == Method::GET {
            return Route::ListBasins;
        }
        if !path.starts_with("/v1/streams/") {
            return Route::Other;
        }
        if path.ends_with("/records/tail") && method == Method::GET {
            return Route::CheckTail;
        }
        if !path.ends_with("/records") {
            return Route::Other;
        }
        match (method.clone(), session) {
            (Method::POST, false) => Route::Append,
            (Method::GET, false) => Route::Read,
            (Method::POST, true) => Route::AppendSession,
            (Method::GET, true) => Route::ReadSession,
            _ => Route::Other,
        }
    }
}

/// The value of query parameter `name` of `request`, parsed as a number.
pub(super) fn query_u64<B>(request: &Request<B>, name: &str) -> Option<u64> {
    request
        .uri()
        .query()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .and_then(|(_, value)| value.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, uri: &str, session: bool) -> Request<()> {
        let mut builder = Request::builder().method(method).uri(uri);
        if session {
            builder = builder.header("content-type", "s2s/proto");
        }
        builder.body(()).expect("request")
    }

    #[test]
    fn routes_as_s2_lite() {
        let cases = [
            (Method::GET, "/v1/basins?limit=2", false, Route::ListBasins),
            (
                Method::GET,
                "/v1/streams/s/records/tail",
                false,
                Route::CheckTail,
            ),
            (Method::POST, "/v1/streams/s/records", false, Route::Append),
            (
                Method::GET,
                "/v1/streams/s/records?seq_num=3",
                false,
                Route::Read,
            ),
            (
                Method::POST,
                "/v1/streams/s/records",
                true,
                Route::AppendSession,
            ),
            (
                Method::GET,
                "/v1/streams/s/records",
                true,
                Route::ReadSession,
            ),
            (Method::DELETE, "/v1/basins/b", false, Route::Delete),
            (Method::DELETE, "/v1/streams/s", false, Route::Delete),
            (Method::GET, "/v1/streams", false, Route::Other),
        ];
        for (method, uri, session, route) in cases {
            assert_eq!(Route::of(&request(method, uri, session)), route, "{uri}");
        }
    }

    #[test]
    fn reads_query_numbers() {
        let r = request(Method::GET, "/v1/streams/s/records?seq_num=7&count=3", true);
        assert_eq!(query_u64(&r, "seq_num"), Some(7));
        assert_eq!(query_u64(&r, "count"), Some(3));
        assert_eq!(query_u64(&r, "bytes"), None);
    }
}
