//! The access token goes only to the configured hosts: whatever a basin name
//! is (built by the constructor, or smuggled in through JSON), its requests
//! go to `{name}.{suffix}` on the configured port, or nowhere.

use proptest::prelude::*;
use s2_core::{
    AccessTokenId, BasinName, FencingToken, RequestToken, StreamName,
    api::{Api, BaseUrl, BasinEndpoint, Endpoints, PlainHttp},
    frame::Compression,
    types::ListRequest,
};

/// The basin endpoints the properties run against.
fn basin_endpoints() -> Vec<BasinEndpoint> {
    [
        "https://{basin}.b.s2.dev",
        "https://{basin}.b.example.com:8443/prefix",
        "http://{basin}.basins.internal:8080",
        "https://shared.example.com:9443",
        "http://127.0.0.1:8080",
    ]
    .into_iter()
    .map(|e| BasinEndpoint::parse(e).expect("valid endpoint"))
    .collect()
}

/// Names worth trying besides random ones: authority and path tricks.
fn hostile_names() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("127.0.0.1:".to_owned()),
        Just("evil.example:".to_owned()),
        Just("evil.example:443".to_owned()),
        Just("user@evil.example".to_owned()),
        Just("evil.example/x".to_owned()),
        Just("evil.example#".to_owned()),
        Just("evil.example?".to_owned()),
        Just("[::1]".to_owned()),
        Just("xn--evil-basin".to_owned()),
        Just("my-basin-1".to_owned()),
        "[a-z0-9-]{6,50}",
        "[a-z0-9.:@/\\[\\]-]{1,60}",
        any::<String>(),
    ]
}

/// The property: an error, or the host `{name}.{suffix}` (or the shared
/// host) on the configured port.
fn check_authority(endpoint: &BasinEndpoint, name: &str) -> Result<(), TestCaseError> {
    let Ok(url) = endpoint.base_url_for(name) else {
        return Ok(());
    };
    prop_assert!(
        BasinName::new(name).is_ok(),
        "invalid name {name:?} got a host"
    );
    prop_assert_eq!(url.port(), endpoint.port());
    prop_assert_eq!(
        url.authority().port_u16().unwrap_or(url.port()),
        endpoint.port()
    );
    match endpoint.host_suffix() {
        Some(suffix) => prop_assert_eq!(url.host(), format!("{name}.{suffix}")),
        None => prop_assert!(!url.host().contains(name), "{} holds {name:?}", url.host()),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_name_stays_under_the_suffix(name in hostile_names()) {
        for endpoint in basin_endpoints() {
            check_authority(&endpoint, &name)?;
        }
    }

    /// Names that bypass the constructor through serde are refused at the
    /// door; those that get in still pass the authority check, and every
    /// request built for them goes where the property says.
    #[test]
    fn names_from_json_are_validated(name in hostile_names()) {
        let json = serde_json::to_string(&name).expect("a string serializes");
        let parsed = serde_json::from_str::<BasinName>(&json);
        prop_assert_eq!(parsed.is_ok(), BasinName::new(name.as_str()).is_ok());
        if let Ok(basin) = parsed {
            let api = Api::new(Endpoints::cloud(), "token", Compression::None).expect("api");
            let request = api
                .list_streams(&basin, &ListRequest::new())
                .expect("valid basin builds")
                .request;
            let expected = format!("{name}.b.s2.dev");
            prop_assert_eq!(request.uri.host(), Some(expected.as_str()));
            prop_assert_eq!(request.uri.port_u16(), None);
            prop_assert_eq!(request.uri.scheme_str(), Some("https"));
        }
    }

    /// Parsing any endpoint string is an error or a value, never a panic;
    /// a parsed endpoint keeps its port in range.
    #[test]
    fn parsing_any_endpoint_never_panics(endpoint in any::<String>()) {
        if let Ok(base) = BaseUrl::parse(&endpoint) {
            prop_assert!(base.port() != 0);
        }
        if let Ok(basin) = BasinEndpoint::parse(&endpoint) {
            prop_assert!(basin.port() != 0);
        }
        let _ = Endpoints::from_env_values(Some(&endpoint), Some(&endpoint));
    }

    /// The endpoint itself may be arbitrary: whatever parses still keeps
    /// every basin under its suffix.
    #[test]
    fn any_endpoint_keeps_basins_under_it(
        suffix in "[a-z0-9.:@\\[\\]{}-]{1,30}",
        scheme in prop_oneof![Just("https://"), Just("http://"), Just("")],
        name in hostile_names(),
    ) {
        if let Ok(endpoint) = BasinEndpoint::parse(&format!("{scheme}{{basin}}.{suffix}")) {
            check_authority(&endpoint, &name)?;
        }
    }
}

#[test]
fn the_issue_examples() {
    // `127.0.0.1:` made `check_tail` connect to 127.0.0.1:443; `evil.example:`
    // sent the token to whoever holds a certificate for evil.example.
    for hostile in ["\"127.0.0.1:\"", "\"evil.example:\""] {
        assert!(
            serde_json::from_str::<BasinName>(hostile).is_err(),
            "{hostile}"
        );
    }
    let cloud = Endpoints::cloud();
    for hostile in ["127.0.0.1:", "evil.example:"] {
        assert!(cloud.basin().base_url_for(hostile).is_err(), "{hostile}");
    }
}

#[test]
fn every_name_type_validates_in_deserialize() {
    fn refused<T: serde::de::DeserializeOwned>(json: &str) -> bool {
        serde_json::from_str::<T>(json).is_err()
    }
    assert!(refused::<BasinName>("\"UPPER\""));
    assert!(refused::<StreamName>("\"\""));
    assert!(refused::<StreamName>("\"..\""));
    assert!(refused::<StreamName>("\".\""));
    assert!(refused::<StreamName>("\"a\\u0000b\""));
    assert!(refused::<AccessTokenId>("\"..\""));
    assert!(refused::<AccessTokenId>("\"a\\u0000b\""));
    assert!(refused::<FencingToken>(&format!("\"{}\"", "x".repeat(37))));
    assert!(refused::<RequestToken>("\"has space\""));
    assert!(serde_json::from_str::<StreamName>("\"...\"").is_ok());
    assert!(serde_json::from_str::<BasinName>("\"my-basin-1\"").is_ok());
}

#[test]
fn dot_names_are_refused_like_the_service_does() {
    assert!(StreamName::new(".").is_err());
    assert!(StreamName::new("..").is_err());
    assert!(StreamName::new("...").is_ok());
    assert!(StreamName::new("./").is_ok());
    assert!(AccessTokenId::new(".").is_err());
    assert!(AccessTokenId::new("..").is_err());
}

#[test]
fn plain_http_to_remote_hosts_needs_the_opt_in() {
    let remote = Endpoints::single("http://example.com:8080").expect("parses");
    assert!(Api::new(remote.clone(), "t", Compression::None).is_err());
    let allowed = remote.with_plain_http(PlainHttp::InsecureToAnyHost);
    assert!(Api::new(allowed, "t", Compression::None).is_ok());
    let lite = Endpoints::single("http://127.0.0.1:8080").expect("parses");
    assert!(Api::new(lite, "t", Compression::None).is_ok());
}

#[test]
fn the_token_is_redacted_everywhere() {
    let api = Api::new(Endpoints::cloud(), "sekrit-token-123", Compression::None).expect("api");
    let basin = BasinName::new("my-basin-1").expect("valid");
    let call = api.list_streams(&basin, &ListRequest::new()).expect("call");
    let request = call.request.to_http();
    let shown = format!("{api:?} {call:?} {request:?}");
    assert!(!shown.contains("sekrit"), "{shown}");
    let header = &request.headers()[http::header::AUTHORIZATION];
    assert!(header.is_sensitive());
    assert_eq!(header.to_str().expect("ascii"), "Bearer sekrit-token-123");
}
