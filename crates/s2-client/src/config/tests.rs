use std::time::Instant;

use super::*;
use crate::{
    Error, S2,
    runtime::{ConnectFuture, ConnectTarget, Runtime, SleepFuture, Task},
};

/// A runtime that must never be used: a client refused by validation has
/// spawned, slept and connected nothing, so nothing was sent.
#[derive(Clone)]
struct Untouched;

impl Runtime for Untouched {
    fn spawn(&self, _: Task) {
        panic!("a refused configuration spawns nothing");
    }

    fn sleep(&self, _: Duration) -> SleepFuture {
        panic!("a refused configuration sleeps on nothing");
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn connect(&self, _: ConnectTarget) -> ConnectFuture {
        panic!("a refused configuration connects nothing");
    }
}

/// A configuration that builds, for loopback.
fn valid() -> ClientConfig {
    ClientConfig::new("t").with_endpoints(Endpoints::single("http://127.0.0.1:1").expect("parses"))
}

/// The setting a refusal names.
fn named(error: impl Into<Error>) -> &'static str {
    match error.into() {
        Error::Validation(ValidationError::InvalidSetting { setting, .. }) => setting,
        other => panic!("expected a refused setting: {other:?}"),
    }
}

/// What `S2::with_runtime` says of `config`.
fn build(config: ClientConfig) -> Result<(), Error> {
    S2::with_runtime(config, Untouched).map(drop)
}

#[test]
fn client_settings_that_cannot_work_are_refused_by_name() {
    let protected = {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer other"));
        headers
    };
    let cases: Vec<(ClientConfig, &str)> = vec![
        (
            valid().with_request_timeout(Duration::ZERO),
            "request_timeout",
        ),
        (
            valid().with_connect_timeout(Duration::ZERO),
            "connect_timeout",
        ),
        (
            valid().with_keepalive_timeout(Duration::ZERO),
            "keepalive_timeout",
        ),
        (
            valid().with_keepalive_interval(Some(Duration::ZERO)),
            "keepalive_interval",
        ),
        (
            valid().with_stream_receive_window(0),
            "stream_receive_window",
        ),
        (
            valid().with_stream_receive_window(1 << 31),
            "stream_receive_window",
        ),
        (
            valid().with_connection_receive_window(65_534),
            "connection_receive_window",
        ),
        (
            valid().with_connection_receive_window(1 << 31),
            "connection_receive_window",
        ),
        (
            valid().with_max_concurrent_requests_per_connection(0),
            "max_concurrent_requests_per_connection",
        ),
        (valid().with_user_agent("line\nbreak"), "user_agent"),
        (valid().with_default_headers(protected), "default_headers"),
        (valid().with_max_unacked_bytes(0), "max_unacked_bytes"),
        (valid().with_ack_timeout(Duration::ZERO), "ack_timeout"),
        (
            valid().with_heartbeat_timeout(Duration::ZERO),
            "heartbeat_timeout",
        ),
        (valid().with_access_token("not\nascii"), "access_token"),
    ];
    for (config, setting) in cases {
        let refused = build(config.clone()).expect_err(setting);
        assert_eq!(named(refused), setting);
        // `validate` says the same, the token's form aside (`Api::new`
        // checks it).
        if setting != "access_token" {
            assert_eq!(named(config.validate().expect_err(setting)), setting);
        }
    }
    // The smallest values that work.
    let smallest = valid()
        .with_request_timeout(Duration::from_nanos(1))
        .with_connect_timeout(Duration::from_nanos(1))
        .with_keepalive_timeout(Duration::from_nanos(1))
        .with_keepalive_interval(None)
        .with_stream_receive_window(1)
        .with_connection_receive_window(65_535)
        .with_max_concurrent_requests_per_connection(1)
        .with_max_unacked_bytes(1)
        .with_ack_timeout(Duration::from_nanos(1))
        .with_heartbeat_timeout(Duration::from_nanos(1));
    assert!(smallest.validate().is_ok());
    assert!(build(smallest).is_ok());
    assert!(build(valid()).is_ok());
}

#[test]
fn session_settings_that_cannot_work_are_refused_by_name_when_they_open() {
    let s2 = S2::with_runtime(valid(), Untouched).expect("client");
    let stream = s2
        .basin(crate::types::BasinName::new("some-basin").expect("name"))
        .stream(crate::types::StreamName::new("some-stream").expect("name"));
    let cases = [
        (
            AppendSessionOptions::new().with_max_unacked_bytes(0),
            "max_unacked_bytes",
        ),
        (
            AppendSessionOptions::new().with_max_unacked_batches(0),
            "max_unacked_batches",
        ),
        (
            AppendSessionOptions::new().with_ack_timeout(Duration::ZERO),
            "ack_timeout",
        ),
    ];
    // `Untouched` panics if a session's driver is spawned: each refusal
    // comes before anything starts.
    for (options, setting) in &cases {
        let session = stream.append_session_with(options).map(drop);
        assert_eq!(named(session.expect_err(setting)), *setting);
        let acks = stream
            .append_all_with(
                futures_util::stream::empty::<crate::types::AppendInput>(),
                options,
            )
            .map(drop);
        assert_eq!(named(acks.expect_err(setting)), *setting);
        let producer = stream
            .producer_with(BatcherConfig::default(), options)
            .map(drop);
        assert_eq!(named(producer.expect_err(setting)), *setting);
    }
    for (config, setting) in [
        (BatcherConfig::default().with_max_records(0), "max_records"),
        (
            BatcherConfig::default().with_max_records(1001),
            "max_records",
        ),
        (BatcherConfig::default().with_max_bytes(7), "max_bytes"),
        (
            BatcherConfig::default().with_max_bytes(1024 * 1024 + 1),
            "max_bytes",
        ),
    ] {
        let producer = stream.producer(config.clone()).map(drop);
        assert_eq!(named(producer.expect_err(setting)), setting);
        let inputs = crate::session::append_inputs(
            Untouched,
            futures_util::stream::empty::<crate::types::AppendRecord>(),
            config,
        );
        assert_eq!(named(inputs.map(drop).expect_err(setting)), setting);
    }
}

#[test]
fn one_rule_per_setting_at_both_levels() {
    // The client's session defaults and a session's overrides go through
    // the same check: what one refuses, so does the other.
    for (client, options) in [
        (
            valid().with_ack_timeout(Duration::ZERO),
            AppendSessionOptions::new().with_ack_timeout(Duration::ZERO),
        ),
        (
            valid().with_max_unacked_bytes(0),
            AppendSessionOptions::new().with_max_unacked_bytes(0),
        ),
    ] {
        let at_client = client.validate().expect_err("client level");
        let at_session = options
            .resolve(&valid())
            .validate()
            .expect_err("session level");
        assert_eq!(at_client, at_session);
    }
    // A session may set what the client's default would refuse, and the
    // other way round: each level checks what it ends up with.
    let fixed = AppendSessionOptions::new().with_ack_timeout(Duration::from_secs(1));
    assert!(
        fixed
            .resolve(&valid().with_ack_timeout(Duration::ZERO))
            .validate()
            .is_ok()
    );
}

#[test]
fn no_secret_shows_in_debug() {
    #[derive(Debug)]
    struct Provider {
        #[allow(dead_code, reason = "only its `Debug` is read")]
        secret: &'static str,
    }
    impl crate::config::AccessTokenProvider for Provider {
        fn token(&self) -> crate::config::TokenFuture<'_> {
            Box::pin(async { Ok(AccessToken::new("provided-secret-9")) })
        }
    }
    let mut headers = HeaderMap::new();
    headers.insert("x-api-key", HeaderValue::from_static("hunter2-key"));
    headers.insert("x-tenant", HeaderValue::from_static("tenant-in-clear-7"));
    let config = ClientConfig::new("sekrit-token-123")
        .with_default_headers(headers)
        .with_access_token_provider(Provider {
            secret: "provider-field-5",
        });
    assert!(config.default_headers()["x-api-key"].is_sensitive());
    assert!(config.default_headers()["x-tenant"].is_sensitive());
    let shown = format!("{config:?} {config:#?}");
    for secret in [
        "sekrit",
        "hunter2",
        "tenant-in-clear",
        "provider-field",
        "provided-secret",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    // What is redacted still shows it is there.
    for name in ["x-api-key", "x-tenant", "<provider>", "redacted"] {
        assert!(shown.contains(name), "{name} missing from {shown}");
    }
    // A client shows none of it either.
    let s2 = S2::with_runtime(
        config.with_endpoints(valid().endpoints().clone()),
        Untouched,
    )
    .expect("client");
    let shown = format!("{:?}", s2.config());
    assert!(!shown.contains("hunter2") && !shown.contains("sekrit"));
}

#[test]
fn attempts_count_the_first_try() {
    let config = ClientConfig::new("t");
    // By default the window, not a count, bounds the retries.
    assert_eq!(
        (config.max_retries(), config.max_attempts()),
        (u32::MAX, u32::MAX)
    );
    let config = config.with_max_attempts(NonZeroU32::new(3).expect("not zero"));
    assert_eq!((config.max_retries(), config.max_attempts()), (2, 3));
    let config = config.with_max_attempts(NonZeroU32::MIN);
    assert_eq!(config.retry().max_retries(), 0);
}

#[test]
fn the_retry_window_and_a_count_bound_retries_together() {
    let config = ClientConfig::new("t");
    assert_eq!(config.retry_window(), Duration::from_secs(60));
    assert!(config.validate().is_ok());
    let config = config
        .with_max_retries(5)
        .with_retry_window(Duration::from_secs(120));
    assert_eq!(
        (config.max_retries(), config.retry_window()),
        (5, Duration::from_secs(120))
    );
    // Each shorthand keeps the other setting; `with_retry` replaces both.
    let config = config.with_max_retries(7);
    assert_eq!(config.retry_window(), Duration::from_secs(120));
    let config = config.with_retry(BackoffConfig::default());
    assert_eq!(
        (config.max_retries(), config.retry_window()),
        (u32::MAX, Duration::from_secs(60))
    );
    // Every window works: zero never retries, `MAX` leaves it to the count.
    for window in [Duration::ZERO, Duration::MAX] {
        assert!(config.clone().with_retry_window(window).validate().is_ok());
    }
}

#[test]
fn indefinite_read_sessions_have_no_window() {
    let client = ClientConfig::new("t").with_max_retries(2);
    let budgeted = ReadSessionOptions::new().resolve(&client).backoff();
    assert_eq!(budgeted, client.retry());
    let indefinite = ReadSessionOptions::new()
        .with_retry_policy(ReadRetryPolicy::Indefinite)
        .resolve(&client)
        .backoff();
    assert_eq!(
        (indefinite.max_retries(), indefinite.retry_window()),
        (u32::MAX, Duration::MAX)
    );
}

#[test]
fn session_options_override_the_client() {
    let client = ClientConfig::new("t").with_compression(Compression::Gzip);
    let inherited = AppendSessionOptions::new().resolve(&client);
    assert_eq!(
        (
            inherited.max_unacked_bytes(),
            inherited.max_unacked_batches(),
            inherited.ack_timeout(),
            inherited.compression()
        ),
        (
            5 * 1024 * 1024,
            crate::config::DEFAULT_MAX_UNACKED_BATCHES,
            Duration::from_secs(10),
            Compression::Gzip
        )
    );
    let own = AppendSessionOptions::new()
        .with_max_unacked_bytes(2 * 1024 * 1024)
        .with_max_unacked_batches(7)
        .with_ack_timeout(Duration::from_secs(2))
        .with_compression(Compression::None)
        .resolve(&client);
    assert_eq!(
        (
            own.max_unacked_bytes(),
            own.max_unacked_batches(),
            own.ack_timeout(),
            own.compression()
        ),
        (
            2 * 1024 * 1024,
            7,
            Duration::from_secs(2),
            Compression::None
        )
    );
    assert_eq!(own.retry_policy(), client.append_retry_policy());
    assert_eq!(own.backoff(), client.retry());
}

#[test]
fn session_defaults_are_the_session_machines() {
    let client = ClientConfig::new("t");
    let append = AppendSessionConfig::default();
    assert_eq!(client.max_unacked_bytes(), append.max_unacked_bytes());
    assert_eq!(client.ack_timeout(), append.ack_timeout());
    assert_eq!(client.append_retry_policy(), append.retry_policy());
    assert_eq!(
        client.heartbeat_timeout(),
        ReadSessionConfig::default().heartbeat_timeout()
    );
    assert_eq!(client.retry(), BackoffConfig::default());
}

#[test]
fn durations_saturate() {
    let config = ClientConfig::new("t")
        .with_request_timeout(Duration::MAX)
        .with_connect_timeout(Duration::MAX)
        .with_ack_timeout(Duration::MAX)
        .with_heartbeat_timeout(Duration::MAX)
        .with_keepalive_timeout(Duration::MAX)
        .with_keepalive_interval(Some(Duration::MAX))
        .with_retry(
            BackoffConfig::default()
                .with_base_delay(Duration::MAX)
                .with_max_delay(Duration::MAX),
        );
    let config = config.saturated();
    let now = std::time::Instant::now();
    for d in [
        config.request_timeout(),
        config.connect_timeout(),
        config.ack_timeout(),
        config.heartbeat_timeout(),
        config.keepalive_timeout(),
        config.keepalive_interval().expect("kept"),
        config.retry().base_delay(),
        config.retry().max_delay(),
    ] {
        assert_eq!(d, MAX_DURATION);
        assert!(now.checked_add(d).is_some());
    }
    let default = ClientConfig::new("t");
    assert_eq!(
        default.clone().saturated().request_timeout(),
        default.request_timeout()
    );
    // A session's own ack timeout is cut the same way.
    let session = AppendSessionOptions::new()
        .with_ack_timeout(Duration::MAX)
        .resolve(&default);
    assert_eq!(session.ack_timeout(), MAX_DURATION);
}

#[test]
fn receive_windows_default_to_room_for_every_request() {
    let config = ClientConfig::new("t");
    assert_eq!(
        config.stream_receive_window(),
        DEFAULT_STREAM_RECEIVE_WINDOW
    );
    assert_eq!(
        config.connection_receive_window(),
        100 * DEFAULT_STREAM_RECEIVE_WINDOW
    );
    let config = config.with_max_concurrent_requests_per_connection(5000);
    assert_eq!(config.connection_receive_window(), MAX_WINDOW);
    let config = config.with_max_concurrent_requests_per_connection(3);
    assert_eq!(
        config.connection_receive_window(),
        3 * DEFAULT_STREAM_RECEIVE_WINDOW
    );
    let config = config
        .with_stream_receive_window(1000)
        .with_max_concurrent_requests_per_connection(1);
    assert_eq!(config.connection_receive_window(), MIN_CONNECTION_WINDOW);
    let config = config.with_connection_receive_window(1 << 20);
    assert_eq!(config.connection_receive_window(), 1 << 20);
}

#[test]
fn insecure_http_is_an_explicit_opt_in() {
    let remote = Endpoints::single("http://example.com:8080").expect("parses");
    assert!(
        ClientConfig::new("t")
            .with_endpoints(remote.clone())
            .validate()
            .is_err()
    );
    // Either order of the two setters opts in.
    for config in [
        ClientConfig::new("t")
            .with_endpoints(remote.clone())
            .with_insecure_http_to_remote_hosts(),
        ClientConfig::new("t")
            .with_insecure_http_to_remote_hosts()
            .with_endpoints(remote.clone()),
    ] {
        assert_eq!(
            config.endpoints().plain_http(),
            PlainHttp::InsecureToAnyHost
        );
        assert!(config.validate().is_ok());
    }
}

#[test]
fn insecure_http_env_values() {
    use PlainHttp::*;
    for (value, expected) in [
        (None, Some(LoopbackOnly)),
        (Some(""), Some(LoopbackOnly)),
        (Some("0"), Some(LoopbackOnly)),
        (Some("FALSE"), Some(LoopbackOnly)),
        (Some("1"), Some(InsecureToAnyHost)),
        (Some("true"), Some(InsecureToAnyHost)),
        (Some("yes please"), None),
    ] {
        assert_eq!(plain_http_from_env(value).ok(), expected, "{value:?}");
    }
    assert_eq!(
        named(plain_http_from_env(Some("yes please")).expect_err("refused")),
        ENV_ALLOW_INSECURE_HTTP
    );
}

/// A codec this build left out is refused by name, at the client and for
/// one session, rather than silently sending uncompressed.
#[test]
#[cfg(not(all(feature = "zstd", feature = "gzip")))]
fn a_codec_left_out_of_the_build_is_refused_by_name() {
    for compression in [Compression::Zstd, Compression::Gzip] {
        if compression.is_available() {
            continue;
        }
        let refused = build(valid().with_compression(compression)).expect_err("refused");
        assert_eq!(named(refused), "compression");
        let session = AppendSessionOptions::new().with_compression(compression);
        let refused = session.resolve(&valid()).validate().expect_err("refused");
        assert_eq!(named(refused), "compression");
    }
}

/// A client bound for https with no root certificate at all is refused
/// when it is built, not at its first handshake; plain http needs none.
#[test]
#[cfg(not(any(feature = "webpki-roots", feature = "native-roots")))]
fn https_without_any_root_certificate_is_refused_by_name() {
    let https = valid().with_endpoints(Endpoints::single("https://s2.example.com").expect("url"));
    assert_eq!(
        named(build(https).expect_err("refused")),
        "root_certificates"
    );
    assert!(build(valid()).is_ok());
}
