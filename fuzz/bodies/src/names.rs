//! Endpoint and name handling: where a request for a basin goes.

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
    let raw_name = String::from_utf8_lossy(input.short_bytes(60)).into_owned();
    check_any_name(&endpoint, endpoints.basin(), &raw_name);
    // A deserializer that validates may refuse a name: nothing to check then.
    let Some((basin, _validated)) = basin_name(&mut input) else {
        return;
    };
    let Some(stream) = stream_name(&mut input) else {
        return;
    };
    let Some(token) = request_token(&mut input) else {
        return;
    };
    let basin_url = endpoints.basin().for_basin(&basin).ok();
    if let Some(url) = &basin_url {
        check_basin_url(endpoints.basin(), url, basin.as_str());
    }
    let api = match Api::new(endpoints.clone(), "secret", Compression::None) {
        Ok(api) => api,
        Err(_) => {
            assert!(
                endpoints.check().is_err(),
                "the client refused endpoints that pass their own check"
            );
            return;
        }
    };
    requests(&api, &endpoints, &basin, &stream, basin_url.as_ref());
    create_requests(&api, &basin, &stream, &token);
}

/// Whatever the name, the basin's URL is an error or exactly the name's own
/// host under the configured suffix, on the configured port.
fn check_any_name(endpoint: &str, basin_endpoint: &BasinEndpoint, name: &str) {
    if let Some(suffix) = basin_endpoint.host_suffix() {
        // The suffix is what the caller wrote after `{basin}.`, nothing else.
        assert!(
            endpoint
                .to_ascii_lowercase()
                .contains(&format!("{{basin}}.{suffix}")),
            "the endpoint {endpoint:?} routes under {suffix:?}"
        );
    }
    if let Ok(url) = basin_endpoint.base_url_for(name) {
        check_basin_url(basin_endpoint, &url, name);
    }
}

fn check_basin_url(basin_endpoint: &BasinEndpoint, url: &BaseUrl, name: &str) {
    assert_eq!(
        url.port(),
        basin_endpoint.port(),
        "basin {name:?} goes to another port"
    );
    match basin_endpoint.host_suffix() {
        Some(suffix) => assert_eq!(
            url.host(),
            format!("{name}.{suffix}"),
            "basin {name:?} goes to another host than its own label under {suffix:?}"
        ),
        None => assert_eq!(
            Ok(url),
            basin_endpoint.base_url_for("basin-name").as_ref(),
            "a shared endpoint moved"
        ),
    }
}

/// Builds basin and account requests and checks where they go: a basin whose
/// URL cannot be built gets no request at all.
fn requests(
    api: &Api,
    endpoints: &Endpoints,
    basin: &BasinName,
    stream: &StreamName,
    basin_url: Option<&BaseUrl>,
) {
    let batch = AppendInput::new(vec![AppendRecord::new("x")]).expect("a valid batch");
    let read = ReadRequest::default();
    let list = ListRequest::new();
    let basin_requests = [
        api.check_tail(basin, stream).map(|c| c.request),
        api.append(basin, stream, &batch, &Default::default())
            .map(|c| c.request),
        api.read(basin, stream, &read, &Default::default())
            .map(|c| c.request),
        api.session_request(
            basin,
            stream,
            SessionKind::Append,
            None,
            &Default::default(),
        ),
        api.session_request(
            basin,
            stream,
            SessionKind::Read,
            Some(&read),
            &Default::default(),
        ),
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
        let basin_url = basin_url.expect("a request was built for a basin with no URL");
        let authority = request.uri.authority().expect("requests are absolute");
        assert_eq!(
            authority,
            basin_url.authority(),
            "a basin request left the basin's host"
        );
        assert_eq!(request.uri.scheme(), Some(basin_url.scheme()));
        if endpoints.basin().needs_basin_header() {
            let header = request.headers.get(BASIN_HEADER).map(|v| v.as_bytes());
            assert_eq!(
                header,
                Some(basin.as_bytes()),
                "the s2-basin header does not name the basin"
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
            Some(endpoints.account().authority()),
            "an account request left the account host"
        );
    }
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
fn create_requests(api: &Api, basin: &BasinName, stream: &StreamName, token: &RequestToken) {
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
