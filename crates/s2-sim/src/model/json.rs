//! JSON bodies of the control plane and of `check_tail`, field for field
//! as s2-lite 0.43.4 writes them (key order included: these are structs,
//! not maps).

use std::time::Duration;

use s2_core::types::{
    BasinConfig, DeleteOnEmpty, RetentionPolicy, StorageClass, StreamConfig, StreamPosition,
    Timestamping, TimestampingMode,
};
use serde::Serialize;

/// s2-lite's retention when a stream's configuration says none: 7 days.
const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// A time in milliseconds since the Unix epoch, in RFC 3339.
pub(crate) fn rfc3339(ms: u64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[derive(Serialize)]
pub(crate) struct BasinInfo<'a> {
    name: &'a str,
    location: Option<&'a str>,
    created_at: String,
    deleted_at: Option<String>,
    state: &'static str,
}

impl<'a> BasinInfo<'a> {
    pub(crate) fn new(name: &'a str, created_at_ms: u64) -> Self {
        Self {
            name,
            location: None,
            created_at: rfc3339(created_at_ms),
            deleted_at: None,
            state: "active",
        }
    }
}

#[derive(Serialize)]
pub(crate) struct StreamInfo<'a> {
    name: &'a str,
    created_at: String,
    deleted_at: Option<String>,
    cipher: Option<&'a str>,
}

impl<'a> StreamInfo<'a> {
    pub(crate) fn new(name: &'a str, created_at_ms: u64) -> Self {
        Self {
            name,
            created_at: rfc3339(created_at_ms),
            deleted_at: None,
            cipher: None,
        }
    }
}

#[derive(Serialize)]
pub(crate) struct ListBasins<'a> {
    pub(crate) basins: Vec<BasinInfo<'a>>,
    pub(crate) has_more: bool,
}

#[derive(Serialize)]
pub(crate) struct ListStreams<'a> {
    pub(crate) streams: Vec<StreamInfo<'a>>,
    pub(crate) has_more: bool,
}

#[derive(Serialize)]
pub(crate) struct BasinConfigBody {
    default_stream_config: Option<StreamConfig>,
    stream_cipher: Option<&'static str>,
    create_stream_on_append: bool,
    create_stream_on_read: bool,
}

impl From<&BasinConfig> for BasinConfigBody {
    fn from(config: &BasinConfig) -> Self {
        Self {
            default_stream_config: config.default_stream_config,
            stream_cipher: None,
            create_stream_on_append: config.create_stream_on_append.unwrap_or(false),
            create_stream_on_read: config.create_stream_on_read.unwrap_or(false),
        }
    }
}

/// A stream's configuration with every setting it leaves out at s2-lite's
/// default, as `GET /v1/streams/{stream}` answers.
pub(crate) fn stream_config(config: &StreamConfig) -> StreamConfig {
    let timestamping = config.timestamping.unwrap_or_default();
    StreamConfig {
        storage_class: Some(config.storage_class.unwrap_or(StorageClass::Express)),
        retention_policy: Some(
            config
                .retention_policy
                .unwrap_or(RetentionPolicy::Age(DEFAULT_RETENTION)),
        ),
        timestamping: Some(Timestamping {
            mode: Some(timestamping.mode.unwrap_or(TimestampingMode::ClientPrefer)),
            uncapped: Some(timestamping.uncapped.unwrap_or(false)),
        }),
        delete_on_empty: Some(config.delete_on_empty.unwrap_or(DeleteOnEmpty {
            min_age: Duration::ZERO,
        })),
    }
}

#[derive(Serialize)]
pub(crate) struct Tail {
    tail: Position,
}

#[derive(Serialize)]
struct Position {
    seq_num: u64,
    timestamp: u64,
}

impl From<StreamPosition> for Tail {
    fn from(tail: StreamPosition) -> Self {
        Self {
            tail: Position {
                seq_num: tail.seq_num,
                timestamp: tail.timestamp,
            },
        }
    }
}

/// The body of `value` as JSON.
pub(crate) fn to_string(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("the model's bodies serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_704_067_200_123), "2024-01-01T00:00:00.123Z");
    }

    #[test]
    fn default_stream_config_as_s2_lite_answers() {
        assert_eq!(
            to_string(&stream_config(&StreamConfig::default())),
            r#"{"storage_class":"express","retention_policy":{"age":604800},"timestamping":{"mode":"client-prefer","uncapped":false},"delete_on_empty":{"min_age_secs":0}}"#
        );
    }

    #[test]
    fn infos_as_s2_lite_answers() {
        assert_eq!(
            to_string(&BasinInfo::new("model-basin", 0)),
            r#"{"name":"model-basin","location":null,"created_at":"1970-01-01T00:00:00Z","deleted_at":null,"state":"active"}"#
        );
        assert_eq!(
            to_string(&StreamInfo::new("s1", 0)),
            r#"{"name":"s1","created_at":"1970-01-01T00:00:00Z","deleted_at":null,"cipher":null}"#
        );
        assert_eq!(
            to_string(&BasinConfigBody::from(&BasinConfig::default())),
            r#"{"default_stream_config":null,"stream_cipher":null,"create_stream_on_append":false,"create_stream_on_read":false}"#
        );
        let tail = StreamPosition::new(4, 2);
        assert_eq!(
            to_string(&Tail::from(tail)),
            r#"{"tail":{"seq_num":4,"timestamp":2}}"#
        );
    }
}
