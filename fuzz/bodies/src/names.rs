//! Endpoint and name handling: where a request for a basin goes.

use http::uri::Authority;
use s2_core::{
    RequestToken,
    api::{
        Api, BASIN_HEADER, BaseUrl, BasinEndpoint, Endpoints, REQUEST_TOKEN_HEADER, SessionKind,
    },
    frame::Compression,
    names::{BasinName, StreamName},
    types::{AppendInput, AppendRecord, ListRequest, ReadRequest},
};

use crate::input::Input;

const BASIN_TEMPLATES: &[&str] = &[
    "https://{basin}.b.s2.dev",
    "http://{basin}.localhost:8080/",
    "{basin}.b.s2.dev:443/v1",
    "https://{basin}.b.aws.s2.dev/prefix",
    "http://127.0.0.1:8080",
    "localhost",
];

/// Input: a basin endpoint (a template, a template with fuzz bytes spliced
/// in, or fuzz bytes), then a basin name, a stream name and a request
/// token, each made with its constructor or deserialized from JSON (which
/// skips validation).
/// Properties: no panic; for a per-basin endpoint every basin's host is a
/// subdomain of the configured suffix on the configured port and scheme
/// (exactly `{basin}.{suffix}` for a validated name); every request built
/// for a basin goes there, and every account request to the account host;
/// a create request carries the caller's request token, not another one.
pub fn endpoints(data: &[u8]) {
    let mut input = Input::new(data);
    let endpoint = endpoint(&mut input);
    let Ok(endpoints) = Endpoints::new("https://a.s2.dev", &endpoint) else {
        return;
    };
    // A deserializer that validates may refuse a name: nothing to check then.
    let Some((basin, validated)) = basin_name(&mut input) else {
        return;
    };
    let Some(stream) = stream_name(&mut input) else {
        return;
    };
    let Some(token) = request_token(&mut input) else {
        return;
    };
    let basin_url = endpoints.basin.for_basin(&basin);
    if let BasinEndpoint::PerBasin { scheme, suffix, .. } = &endpoints.basin {
        let (suffix_host, suffix_port) = host_and_port(suffix, scheme.as_str() == "https");
        check_under_suffix(&basin_url, &suffix_host, suffix_port, &basin);
        assert_eq!(basin_url.scheme(), scheme, "basin scheme differs");
        if validated {
            assert_eq!(
                basin_url.host(),
                format!("{basin}.{suffix_host}"),
                "a valid basin name is not its own label"
            );
        }
    } else {
        let BasinEndpoint::Shared(shared) = &endpoints.basin else {
            unreachable!("two routing kinds")
        };
        assert_eq!(&basin_url, shared, "a shared endpoint moved");
    }
    requests(&endpoints, &basin, &stream, &basin_url);
    create_requests(&endpoints, &basin, &stream, &token);
}

/// Builds basin and account requests and checks where they go.
fn requests(endpoints: &Endpoints, basin: &BasinName, stream: &StreamName, basin_url: &BaseUrl) {
    let api = Api::new(endpoints.clone(), "secret", Compression::None).expect("a valid token");
    let batch = AppendInput::new(vec![AppendRecord::new("x")]).expect("a valid batch");
    let read = ReadRequest::default();
    let list = ListRequest::new();
    let basin_requests = [
        api.check_tail(basin, stream).map(|c| c.request),
        api.append(basin, stream, &batch).map(|c| c.request),
        api.read(basin, stream, &read).map(|c| c.request),
        api.session_request(basin, stream, SessionKind::Append, None),
        api.session_request(basin, stream, SessionKind::Read, Some(&read)),
        api.list_streams(basin, &list).map(|c| c.request),
        api.create_stream(
            basin,
            stream,
            None,
            &s2_core::RequestToken::new("t").expect("valid"),
        )
        .map(|c| c.request),
        api.delete_stream(basin, stream).map(|c| c.request),
    ];
    for request in basin_requests.into_iter().flatten() {
        let authority = request.uri.authority().expect("requests are absolute");
        assert_eq!(
            authority,
            basin_url.authority(),
            "a basin request left the basin's host"
        );
        assert_eq!(request.uri.scheme(), Some(basin_url.scheme()));
        if endpoints.basin.needs_basin_header() {
            let header = request.headers.get(BASIN_HEADER).map(|v| v.as_bytes());
            assert!(
                header.is_none_or(|v| v == basin.as_bytes()),
                "the s2-basin header names another basin"
            );
        }
    }
    let account_requests = [
        api.get_basin_config(basin).map(|c| c.request),
        api.delete_basin(basin).map(|c| c.request),
    ];
    for request in account_requests.into_iter().flatten() {
        assert_eq!(
            request.uri.authority(),
            Some(endpoints.account.authority()),
            "an account request left the account host"
        );
    }
}

fn check_under_suffix(url: &BaseUrl, suffix_host: &str, suffix_port: u16, basin: &BasinName) {
    let host = url.host().to_ascii_lowercase();
    let suffix_host = suffix_host.to_ascii_lowercase();
    let label = host
        .strip_suffix(&suffix_host)
        .and_then(|h| h.strip_suffix('.'));
    assert!(
        label.is_some_and(|l| !l.is_empty()),
        "basin {basin:?} goes to {host:?}, outside the suffix {suffix_host:?}"
    );
    assert_eq!(
        url.port(),
        suffix_port,
        "basin {basin:?} goes to another port"
    );
}

/// The host and port of a per-basin suffix, as a sample basin sees them.
fn host_and_port(suffix: &str, tls: bool) -> (String, u16) {
    let sample: Authority = format!("basin-name.{suffix}")
        .parse()
        .expect("the parser checked the suffix with this sample");
    let host = sample.host().strip_prefix("basin-name.");
    assert!(
        host.is_some(),
        "the suffix {suffix:?} was accepted but sends basins to {:?}",
        sample.host()
    );
    let host = host.expect("just checked").to_owned();
    let port = sample.port_u16().unwrap_or(if tls { 443 } else { 80 });
    (host, port)
}

fn endpoint(input: &mut Input<'_>) -> String {
    let choice = input.below(4);
    let template = BASIN_TEMPLATES[usize::from(input.below(BASIN_TEMPLATES.len() as u8))];
    let fuzz = String::from_utf8_lossy(input.short_bytes(40)).into_owned();
    match choice {
        0 => template.to_owned(),
        1 => {
            // Splice the fuzz bytes in at a char boundary.
            let at = usize::from(input.u8()) % (template.len() + 1);
            let at = (0..=at)
                .rev()
                .find(|&i| template.is_char_boundary(i))
                .unwrap_or(0);
            format!("{}{fuzz}{}", &template[..at], &template[at..])
        }
        2 => format!("https://{{basin}}.{fuzz}"),
        _ => fuzz,
    }
}

/// A basin name and whether it passed the constructor.
fn basin_name(input: &mut Input<'_>) -> Option<(BasinName, bool)> {
    let raw = String::from_utf8_lossy(input.short_bytes(60)).into_owned();
    if input.bool()
        && let Ok(name) = BasinName::new(raw.clone())
    {
        return Some((name, true));
    }
    let name = serde_json::from_value(serde_json::Value::String(raw)).ok()?;
    Some((name, false))
}

fn stream_name(input: &mut Input<'_>) -> Option<StreamName> {
    let raw = String::from_utf8_lossy(input.short_bytes(40)).into_owned();
    if input.bool()
        && let Ok(name) = StreamName::new(raw.clone())
    {
        return Some(name);
    }
    serde_json::from_value(serde_json::Value::String(raw)).ok()
}

/// Create requests carry the request token as it is, or are refused.
fn create_requests(
    endpoints: &Endpoints,
    basin: &BasinName,
    stream: &StreamName,
    token: &RequestToken,
) {
    let api = Api::new(endpoints.clone(), "secret", Compression::None).expect("a valid token");
    let requests = [
        api.create_basin(basin, None, None, token)
            .map(|c| c.request),
        api.create_stream(basin, stream, None, token)
            .map(|c| c.request),
    ];
    for request in requests.into_iter().flatten() {
        let header = request
            .headers
            .get(REQUEST_TOKEN_HEADER)
            .map(|v| v.as_bytes());
        assert_eq!(
            header,
            Some(token.as_bytes()),
            "request token {token:?} sent as {header:?}"
        );
    }
}

fn request_token(input: &mut Input<'_>) -> Option<RequestToken> {
    let raw = String::from_utf8_lossy(input.short_bytes(40)).into_owned();
    if input.bool()
        && let Ok(token) = RequestToken::new(raw.clone())
    {
        return Some(token);
    }
    serde_json::from_value(serde_json::Value::String(raw)).ok()
}
