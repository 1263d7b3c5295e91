//! Realistic arguments for every call: names that need percent-encoding,
//! configurations with every field set.

use super::*;

pub(crate) const ACCESS_TOKEN: &str = "test-access-token";
pub(crate) const LITE_ENDPOINT: &str = "http://127.0.0.1:1234";
pub(crate) const BASIN: &str = "my-basin-01";
/// A stream name that needs percent-encoding in a path segment.
pub(crate) const STREAM: &str = "orders/2026 Q1?x=1&y=é#%+";
pub(crate) const TOKEN_ID: &str = "ci/token #1";

pub(crate) fn basin() -> BasinName {
    BasinName::new(BASIN).unwrap()
}

pub(crate) fn stream() -> StreamName {
    StreamName::new(STREAM).unwrap()
}

pub(crate) fn token_id() -> AccessTokenId {
    AccessTokenId::new(TOKEN_ID).unwrap()
}

pub(crate) fn request_token() -> RequestToken {
    RequestToken::new("4f9c2a7e-create-1").unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Mode {
    /// `Endpoints::single`: one host, basin in the `s2-basin` header.
    Lite,
    /// `Endpoints::cloud`: basin-scoped requests go to `{basin}.b.s2.dev`.
    Cloud,
}

pub(crate) fn api(mode: Mode) -> Api {
    let endpoints = match mode {
        Mode::Lite => Endpoints::single(LITE_ENDPOINT).unwrap(),
        Mode::Cloud => Endpoints::cloud(),
    };
    Api::new(endpoints, ACCESS_TOKEN, Compression::Zstd).unwrap()
}

pub(crate) fn list_request() -> ListRequest {
    ListRequest::new()
        .with_prefix("pre fix/&=")
        .with_start_after("pre fix/&=after?")
        .with_limit(500)
}

pub(crate) fn stream_config(retention: RetentionPolicy) -> StreamConfig {
    StreamConfig::new()
        .with_storage_class(StorageClass::Express)
        .with_retention_policy(retention)
        .with_timestamping(Timestamping {
            mode: Some(TimestampingMode::ClientRequire),
            uncapped: Some(true),
        })
        .with_delete_on_empty(Duration::from_secs(3600))
}

pub(crate) fn week() -> RetentionPolicy {
    RetentionPolicy::Age(Duration::from_secs(7 * 24 * 3600))
}

pub(crate) fn basin_config(retention: RetentionPolicy) -> BasinConfig {
    BasinConfig::new()
        .with_default_stream_config(stream_config(retention))
        .with_create_stream_on_append(true)
        .with_create_stream_on_read(false)
        .with_stream_cipher(StreamCipher::Aes256Gcm)
}

/// Every header a stream handle can add to appends and reads.
pub(crate) fn stream_options() -> StreamOptions {
    StreamOptions::default()
        .with_encryption_key(s2_core::EncryptionKey::new([7; 32]))
        .with_create_config(stream_config(week()))
}

pub(crate) fn location() -> LocationName {
    LocationName::new("aws:us-west-2").unwrap()
}

/// A stream reconfiguration that resets every setting, timestamping field by
/// field.
pub(crate) fn stream_reset() -> StreamReconfiguration {
    StreamReconfiguration::new()
        .with_storage_class(Change::Reset)
        .with_retention_policy(Change::Reset)
        .with_timestamping(Change::Set(TimestampingReconfiguration {
            mode: Change::Reset,
            uncapped: Change::Reset,
        }))
        .with_delete_on_empty(Change::Reset)
}

/// A basin reconfiguration that resets every setting.
pub(crate) fn basin_reset() -> BasinReconfiguration {
    BasinReconfiguration::new()
        .with_default_stream_config(Change::Reset)
        .with_stream_cipher(Change::Reset)
        .with_create_stream_on_append(Change::Reset)
        .with_create_stream_on_read(Change::Reset)
}

pub(crate) fn token_info() -> AccessTokenInfo {
    let rw = |read, write| Some(ReadWritePermissions { read, write });
    AccessTokenInfo {
        id: token_id(),
        scope: AccessTokenScope {
            basins: Some(ResourceSet::Prefix("my-".into())),
            streams: Some(ResourceSet::Exact("orders".into())),
            access_tokens: Some(ResourceSet::Prefix(String::new())),
            op_groups: Some(PermittedOperationGroups {
                account: rw(true, false),
                basin: rw(true, true),
                stream: rw(false, true),
            }),
            ops: vec![
                Operation::Append,
                Operation::Read,
                Operation::CheckTail,
                Operation::Fence,
            ],
        },
        expires_at: Some(OffsetDateTime::parse("2026-06-30T12:00:00Z", &Rfc3339).unwrap()),
        auto_prefix_streams: true,
    }
}

pub(crate) fn metrics_range() -> MetricsRange {
    MetricsRange::new()
        .with_start(1_767_225_600)
        .with_end(1_767_229_200)
        .with_interval(TimeseriesInterval::Minute)
}

pub(crate) fn append_input() -> AppendInput {
    AppendInput::new(vec![
        AppendRecord::new("hello")
            .with_header("content-type", "text/plain")
            .with_header("trace", "abc")
            .with_timestamp(1_767_225_600_000),
        AppendRecord::new("world"),
        CommandRecord::fence(FencingToken::new("fence-2").unwrap()),
    ])
    .unwrap()
    .with_match_seq_num(42)
    .with_fencing_token(FencingToken::new("fence-1").unwrap())
}

/// Between them, these use every read query parameter.
pub(crate) fn read_requests() -> Vec<ReadRequest> {
    vec![
        ReadRequest::new(ReadStart::SeqNum(42))
            .with_limit(ReadLimit::count(100).with_bytes(65_536))
            .with_until(1_767_225_600_000)
            .with_clamp(true)
            .with_ignore_command_records(true)
            .with_wait_secs(10),
        ReadRequest::new(ReadStart::Timestamp(1_767_225_600_000))
            .with_limit(ReadLimit::bytes(1024)),
        ReadRequest::new(ReadStart::TailOffset(10)).with_limit(ReadLimit::count(10)),
    ]
}
