//! Which operation a request is: its method, path, `s2-basin` header and
//! content type, read as s2-lite's router reads them.

use http::{Method, Request};
use percent_encoding::percent_decode_str;

use super::error::ServiceError;

/// An operation the model serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    ListBasins,
    CreateBasin,
    EnsureBasin(String),
    GetBasinConfig(String),
    DeleteBasin(String),
    ListStreams(String),
    CreateStream(String),
    EnsureStream(Target),
    GetStreamConfig(Target),
    DeleteStream(Target),
    CheckTail(Target),
    Append(Target),
    Read(Target),
    AppendSession(Target),
    ReadSession(Target),
    /// A route s2-lite has and the model does not serve (access tokens,
    /// metrics, reconfiguration, locations).
    NotImplemented,
    /// No route at all: s2-lite's router answers 404 with no body.
    NotFound,
}

/// A stream: its basin (from the `s2-basin` header) and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) basin: String,
    pub(crate) stream: String,
}

impl Route {
    /// The route of `request`, or the error s2-lite answers for it.
    pub(crate) fn of<B>(request: &Request<B>) -> Result<Route, ServiceError> {
        let path = request.uri().path();
        let Some(rest) = path.strip_prefix("/v1/") else {
            return Ok(Route::NotFound);
        };
        let segments: Vec<String> = rest
            .split('/')
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let method = request.method();
        let session = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes() == s2_core::api::SESSION_CONTENT_TYPE.as_bytes());
        let basin = || basin_header(request);
        let target = |stream: &str| {
            Ok::<_, ServiceError>(Target {
                basin: basin()?,
                stream: stream.to_owned(),
            })
        };
        Ok(match (method, segments.as_slice()) {
            (&Method::GET, ["basins"]) => Route::ListBasins,
            (&Method::POST, ["basins"]) => Route::CreateBasin,
            (&Method::PUT, ["basins", name]) => Route::EnsureBasin(name.to_string()),
            (&Method::GET, ["basins", name]) => Route::GetBasinConfig(name.to_string()),
            (&Method::DELETE, ["basins", name]) => Route::DeleteBasin(name.to_string()),
            (&Method::GET, ["streams"]) => Route::ListStreams(basin()?),
            (&Method::POST, ["streams"]) => Route::CreateStream(basin()?),
            (&Method::PUT, ["streams", name]) => Route::EnsureStream(target(name)?),
            (&Method::GET, ["streams", name]) => Route::GetStreamConfig(target(name)?),
            (&Method::DELETE, ["streams", name]) => Route::DeleteStream(target(name)?),
            (&Method::GET, ["streams", name, "records", "tail"]) => Route::CheckTail(target(name)?),
            (&Method::POST, ["streams", name, "records"]) if session => {
                Route::AppendSession(target(name)?)
            }
            (&Method::GET, ["streams", name, "records"]) if session => {
                Route::ReadSession(target(name)?)
            }
            (&Method::POST, ["streams", name, "records"]) => Route::Append(target(name)?),
            (&Method::GET, ["streams", name, "records"]) => Route::Read(target(name)?),
            (
                _,
                [
                    "basins" | "streams" | "access-tokens" | "metrics" | "locations",
                    ..,
                ],
            ) => Route::NotImplemented,
            _ => Route::NotFound,
        })
    }
}

/// The basin a stream request names in its `s2-basin` header.
fn basin_header<B>(request: &Request<B>) -> Result<String, ServiceError> {
    let value = request
        .headers()
        .get(s2_core::api::BASIN_HEADER)
        .ok_or_else(|| ServiceError::bad_header("Missing header `s2-basin`"))?;
    value
        .to_str()
        .map(str::to_owned)
        .map_err(|_| ServiceError::bad_header("Invalid header `s2-basin`"))
}

/// The query parameters of `request`, percent-decoded.
pub(crate) fn query<B>(request: &Request<B>) -> Vec<(String, String)> {
    request
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
            (decode(key), decode(value))
        })
        .collect()
}

/// Query parameter `name` parsed as a `T`; absent is `None`, unparseable
/// is a `bad_query`.
pub(crate) fn query_param<T>(
    query: &[(String, String)],
    name: &str,
) -> Result<Option<T>, ServiceError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    match query.iter().find(|(key, _)| key == name) {
        None => Ok(None),
        Some((_, value)) => value.parse().map(Some).map_err(|e| {
            ServiceError::bad_query(format!("Failed to deserialize query string: {name}: {e}"))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, uri: &str, session: bool, basin: Option<&str>) -> Request<()> {
        let mut builder = Request::builder().method(method).uri(uri);
        if session {
            builder = builder.header("content-type", "s2s/proto");
        }
        if let Some(basin) = basin {
            builder = builder.header("s2-basin", basin);
        }
        builder.body(()).expect("request")
    }

    fn target(stream: &str) -> Target {
        Target {
            basin: "my-basin".into(),
            stream: stream.into(),
        }
    }

    #[test]
    fn routes_as_s2_lite() {
        let b = Some("my-basin");
        let cases = [
            (
                Method::GET,
                "/v1/basins?limit=2",
                false,
                None,
                Route::ListBasins,
            ),
            (Method::POST, "/v1/basins", false, None, Route::CreateBasin),
            (
                Method::PUT,
                "/v1/basins/x",
                false,
                None,
                Route::EnsureBasin("x".into()),
            ),
            (
                Method::DELETE,
                "/v1/basins/x",
                false,
                None,
                Route::DeleteBasin("x".into()),
            ),
            (
                Method::GET,
                "/v1/streams",
                false,
                b,
                Route::ListStreams("my-basin".into()),
            ),
            (
                Method::GET,
                "/v1/streams/a%2Fb",
                false,
                b,
                Route::GetStreamConfig(target("a/b")),
            ),
            (
                Method::GET,
                "/v1/streams/s/records/tail",
                false,
                b,
                Route::CheckTail(target("s")),
            ),
            (
                Method::POST,
                "/v1/streams/s/records",
                false,
                b,
                Route::Append(target("s")),
            ),
            (
                Method::GET,
                "/v1/streams/s/records?seq_num=1",
                false,
                b,
                Route::Read(target("s")),
            ),
            (
                Method::POST,
                "/v1/streams/s/records",
                true,
                b,
                Route::AppendSession(target("s")),
            ),
            (
                Method::GET,
                "/v1/streams/s/records",
                true,
                b,
                Route::ReadSession(target("s")),
            ),
            (
                Method::GET,
                "/v1/metrics",
                false,
                None,
                Route::NotImplemented,
            ),
            (
                Method::PATCH,
                "/v1/streams/s",
                false,
                b,
                Route::NotImplemented,
            ),
            (Method::GET, "/v1/nothing", false, None, Route::NotFound),
            (Method::GET, "/health", false, None, Route::NotFound),
        ];
        for (method, uri, session, basin, route) in cases {
            assert_eq!(
                Route::of(&request(method, uri, session, basin)),
                Ok(route),
                "{uri}"
            );
        }
    }

    #[test]
    fn stream_routes_need_the_basin_header() {
        let r = request(Method::GET, "/v1/streams/s/records/tail", false, None);
        assert_eq!(Route::of(&r).unwrap_err().status(), 400);
    }

    #[test]
    fn reads_query_parameters() {
        let r = request(
            Method::GET,
            "/v1/streams/s/records?seq_num=7&count=3&x=%41",
            true,
            None,
        );
        let q = query(&r);
        assert_eq!(query_param::<u64>(&q, "seq_num"), Ok(Some(7)));
        assert_eq!(query_param::<u64>(&q, "count"), Ok(Some(3)));
        assert_eq!(query_param::<u64>(&q, "bytes"), Ok(None));
        assert_eq!(query_param::<String>(&q, "x"), Ok(Some("A".into())));
        assert!(query_param::<u64>(&q, "x").is_err());
    }
}
