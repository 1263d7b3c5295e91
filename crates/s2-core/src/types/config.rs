//! Basin and stream configuration.
//!
//! The same types serve creation and reconfiguration: when creating, `None`
//! means "the service's default"; when reconfiguring, `None` means "leave as
//! it is".

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Storage class for recent appends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum StorageClass {
    /// End-to-end latencies under 500 ms.
    Standard,
    /// End-to-end latencies under 50 ms.
    Express,
    /// A class this client does not know.
    #[serde(other, skip_serializing)]
    Unknown,
}

/// How long records are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetentionPolicy {
    /// Trim records older than this (whole seconds, more than zero).
    Age(Duration),
    /// Keep records until explicitly trimmed.
    Infinite,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RetentionPolicyWire {
    Age(u64),
    Infinite(InfiniteWire),
}

#[derive(Serialize, Deserialize)]
struct InfiniteWire {}

impl Serialize for RetentionPolicy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RetentionPolicy::Age(age) => RetentionPolicyWire::Age(age.as_secs()),
            RetentionPolicy::Infinite => RetentionPolicyWire::Infinite(InfiniteWire {}),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for RetentionPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match RetentionPolicyWire::deserialize(d)? {
            RetentionPolicyWire::Age(secs) => RetentionPolicy::Age(Duration::from_secs(secs)),
            RetentionPolicyWire::Infinite(_) => RetentionPolicy::Infinite,
        })
    }
}

/// How the service assigns record timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum TimestampingMode {
    /// Use the client's timestamp if present, else the arrival time.
    ClientPrefer,
    /// Require a client timestamp; reject appends without one.
    ClientRequire,
    /// Always use the arrival time.
    Arrival,
    /// A mode this client does not know.
    #[serde(other, skip_serializing)]
    Unknown,
}

/// Timestamping behaviour of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Timestamping {
    /// The mode (service default: client-prefer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<TimestampingMode>,
    /// Allow client timestamps ahead of the arrival time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncapped: Option<bool>,
}

/// Automatic deletion of streams that stay empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeleteOnEmpty {
    /// Minimum age before an empty stream is deleted; zero disables it.
    pub min_age: Duration,
}

#[derive(Serialize, Deserialize)]
struct DeleteOnEmptyWire {
    #[serde(default)]
    min_age_secs: u64,
}

impl Serialize for DeleteOnEmpty {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        DeleteOnEmptyWire {
            min_age_secs: self.min_age.as_secs(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for DeleteOnEmpty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = DeleteOnEmptyWire::deserialize(d)?;
        Ok(Self {
            min_age: Duration::from_secs(wire.min_age_secs),
        })
    }
}

/// Configuration of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StreamConfig {
    /// Storage class (service default: express).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<StorageClass>,
    /// Retention (service default: 7 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<RetentionPolicy>,
    /// Timestamping behaviour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamping: Option<Timestamping>,
    /// Delete-on-empty behaviour (service default: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_on_empty: Option<DeleteOnEmpty>,
}

impl StreamConfig {
    /// An empty configuration: every setting at its default (or unchanged).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the storage class.
    pub fn with_storage_class(mut self, class: StorageClass) -> Self {
        self.storage_class = Some(class);
        self
    }

    /// Sets the retention policy.
    pub fn with_retention_policy(mut self, policy: RetentionPolicy) -> Self {
        self.retention_policy = Some(policy);
        self
    }

    /// Sets the timestamping behaviour.
    pub fn with_timestamping(mut self, timestamping: Timestamping) -> Self {
        self.timestamping = Some(timestamping);
        self
    }

    /// Sets delete-on-empty.
    pub fn with_delete_on_empty(mut self, min_age: Duration) -> Self {
        self.delete_on_empty = Some(DeleteOnEmpty { min_age });
        self
    }
}

/// The cipher a basin's new streams are encrypted with, using a key the
/// customer supplies on each append and read (see
/// [`EncryptionKey`](crate::secret::EncryptionKey)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum StreamCipher {
    /// AEGIS-256.
    #[serde(rename = "aegis-256")]
    Aegis256,
    /// AES-256-GCM.
    #[serde(rename = "aes-256-gcm")]
    Aes256Gcm,
    /// A cipher this client does not know.
    #[serde(other, skip_serializing)]
    Unknown,
}

impl StreamCipher {
    /// Bytes of the key the cipher takes.
    pub fn key_bytes(self) -> usize {
        match self {
            // Every cipher S2 offers is 256-bit; an unknown one is assumed
            // to be too (the service checks it anyway).
            StreamCipher::Aegis256 | StreamCipher::Aes256Gcm | StreamCipher::Unknown => {
                crate::secret::ENCRYPTION_KEY_BYTES
            }
        }
    }
}

/// Configuration of a basin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BasinConfig {
    /// Configuration for streams created in this basin from now on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_stream_config: Option<StreamConfig>,
    /// Cipher of the streams created in this basin from now on (service
    /// default: none, records are stored unencrypted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_cipher: Option<StreamCipher>,
    /// Create a stream on the first append to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_stream_on_append: Option<bool>,
    /// Create a stream on the first read of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_stream_on_read: Option<bool>,
}

impl BasinConfig {
    /// An empty configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the default stream configuration.
    pub fn with_default_stream_config(mut self, config: StreamConfig) -> Self {
        self.default_stream_config = Some(config);
        self
    }

    /// Sets the cipher of streams created from now on.
    pub fn with_stream_cipher(mut self, cipher: StreamCipher) -> Self {
        self.stream_cipher = Some(cipher);
        self
    }

    /// Sets create-on-append.
    pub fn with_create_stream_on_append(mut self, enabled: bool) -> Self {
        self.create_stream_on_append = Some(enabled);
        self
    }

    /// Sets create-on-read.
    pub fn with_create_stream_on_read(mut self, enabled: bool) -> Self {
        self.create_stream_on_read = Some(enabled);
        self
    }
}

/// One setting of a reconfiguration: leave it, set it, or put it back to the
/// service's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Change<T> {
    /// Leave the setting as it is (nothing is sent for it).
    #[default]
    Unchanged,
    /// Set the setting to this value.
    Set(T),
    /// Put the setting back to the service's default (sent as `null`).
    Reset,
}

impl<T> Change<T> {
    /// Whether this leaves the setting alone.
    pub fn is_unchanged(&self) -> bool {
        matches!(self, Change::Unchanged)
    }
}

impl<T> From<Option<T>> for Change<T> {
    /// `Some` sets, `None` leaves unchanged: what an `Option` in a
    /// [`StreamConfig`] or [`BasinConfig`] means when reconfiguring.
    fn from(value: Option<T>) -> Self {
        value.map_or(Change::Unchanged, Change::Set)
    }
}

impl<T: Serialize> Serialize for Change<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Change::Set(value) => value.serialize(s),
            // Unchanged is skipped by the containing struct; alone it has no
            // wire form (`null` would mean "reset").
            Change::Reset => s.serialize_none(),
            Change::Unchanged => Err(unchanged_error::<S>()),
        }
    }
}

/// A change to a stream's timestamping behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct TimestampingReconfiguration {
    /// The mode.
    #[serde(skip_serializing_if = "Change::is_unchanged")]
    pub mode: Change<TimestampingMode>,
    /// Whether client timestamps may be ahead of the arrival time.
    #[serde(skip_serializing_if = "Change::is_unchanged")]
    pub uncapped: Change<bool>,
}

impl From<Timestamping> for TimestampingReconfiguration {
    fn from(t: Timestamping) -> Self {
        Self {
            mode: t.mode.into(),
            uncapped: t.uncapped.into(),
        }
    }
}

/// A change to a stream's configuration: each setting is left, set or reset
/// to the service's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct StreamReconfiguration {
    /// Storage class.
    #[serde(skip_serializing_if = "Change::is_unchanged")]
    pub storage_class: Change<StorageClass>,
    /// Retention policy.
    #[serde(skip_serializing_if = "Change::is_unchanged")]
    pub retention_policy: Change<RetentionPolicy>,
    /// Timestamping behaviour.
    #[serde(skip_serializing_if = "Change::is_unchanged")]
    pub timestamping: Change<TimestampingReconfiguration>,
    /// Delete-on-empty behaviour.
    #[serde(skip_serializing_if = "Change::is_unchanged")]
    pub delete_on_empty: Change<DeleteOnEmpty>,
}

impl StreamReconfiguration {
    /// A reconfiguration that changes nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets or resets the storage class.
    pub fn with_storage_class(mut self, change: Change<StorageClass>) -> Self {
        self.storage_class = change;
        self
    }

    /// Sets or resets the retention policy.
    pub fn with_retention_policy(mut self, change: Change<RetentionPolicy>) -> Self {
        self.retention_policy = change;
        self
    }

    /// Sets or resets the timestamping behaviour.
    pub fn with_timestamping(mut self, change: Change<TimestampingReconfiguration>) -> Self {
        self.timestamping = change;
        self
    }

    /// Sets or resets delete-on-empty.
    pub fn with_delete_on_empty(mut self, change: Change<DeleteOnEmpty>) -> Self {
        self.delete_on_empty = change;
        self
    }
}

impl From<StreamConfig> for StreamReconfiguration {
    /// The settings that are `Some` are set; the others are left unchanged.
    fn from(config: StreamConfig) -> Self {
        Self {
            storage_class: config.storage_class.into(),
            retention_policy: config.retention_policy.into(),
            timestamping: config.timestamping.map(Into::into).into(),
            delete_on_empty: config.delete_on_empty.into(),
        }
    }
}

/// A change to a basin's configuration: each setting is left, set or reset
/// to the service's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct BasinReconfiguration {
    /// Configuration for streams created in this basin from now on.
    #[serde(skip_serializing_if = "Change::is_unchanged")]
    pub default_stream_config: Change<StreamReconfiguration>,
    /// Cipher of the streams created from now on; `Reset` removes it (new
    /// streams are stored unencrypted).
    #[serde(skip_serializing_if = "Change::is_unchanged")]
    pub stream_cipher: Change<StreamCipher>,
    /// Create a stream on the first append to it (default: off).
    #[serde(
        skip_serializing_if = "Change::is_unchanged",
        serialize_with = "flag_or_default"
    )]
    pub create_stream_on_append: Change<bool>,
    /// Create a stream on the first read of it (default: off).
    #[serde(
        skip_serializing_if = "Change::is_unchanged",
        serialize_with = "flag_or_default"
    )]
    pub create_stream_on_read: Change<bool>,
}

/// The service takes no `null` for the basin's flags: their reset is their
/// default, `false`.
fn flag_or_default<S: Serializer>(change: &Change<bool>, s: S) -> Result<S::Ok, S::Error> {
    match change {
        Change::Set(flag) => s.serialize_bool(*flag),
        Change::Reset => s.serialize_bool(false),
        Change::Unchanged => Err(unchanged_error::<S>()),
    }
}

fn unchanged_error<S: Serializer>() -> S::Error {
    serde::ser::Error::custom("an unchanged setting is left out, not sent")
}

impl BasinReconfiguration {
    /// A reconfiguration that changes nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets or resets the default stream configuration. `Set` changes the
    /// named settings of the current default; `Reset` drops it entirely.
    pub fn with_default_stream_config(mut self, change: Change<StreamReconfiguration>) -> Self {
        self.default_stream_config = change;
        self
    }

    /// Sets or removes the cipher of streams created from now on.
    pub fn with_stream_cipher(mut self, change: Change<StreamCipher>) -> Self {
        self.stream_cipher = change;
        self
    }

    /// Sets or resets create-on-append.
    pub fn with_create_stream_on_append(mut self, change: Change<bool>) -> Self {
        self.create_stream_on_append = change;
        self
    }

    /// Sets or resets create-on-read.
    pub fn with_create_stream_on_read(mut self, change: Change<bool>) -> Self {
        self.create_stream_on_read = change;
        self
    }
}

impl From<BasinConfig> for BasinReconfiguration {
    /// The settings that are `Some` are set; the others are left unchanged.
    fn from(config: BasinConfig) -> Self {
        Self {
            default_stream_config: config.default_stream_config.map(Into::into).into(),
            stream_cipher: config.stream_cipher.into(),
            create_stream_on_append: config.create_stream_on_append.into(),
            create_stream_on_read: config.create_stream_on_read.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stream_config_json() {
        let config = StreamConfig::new()
            .with_storage_class(StorageClass::Standard)
            .with_retention_policy(RetentionPolicy::Infinite)
            .with_timestamping(Timestamping {
                mode: Some(TimestampingMode::ClientRequire),
                uncapped: Some(true),
            })
            .with_delete_on_empty(Duration::from_secs(60));
        let value = serde_json::to_value(config).unwrap();
        assert_eq!(
            value,
            json!({
                "storage_class": "standard",
                "retention_policy": {"infinite": {}},
                "timestamping": {"mode": "client-require", "uncapped": true},
                "delete_on_empty": {"min_age_secs": 60}
            })
        );
        let back: StreamConfig = serde_json::from_value(value).unwrap();
        assert_eq!(back, config);
        let age: RetentionPolicy = serde_json::from_value(json!({"age": 3600})).unwrap();
        assert_eq!(age, RetentionPolicy::Age(Duration::from_secs(3600)));
        assert_eq!(
            serde_json::to_value(StreamConfig::new()).unwrap(),
            json!({})
        );
    }

    #[test]
    fn basin_stream_cipher_json() {
        for (cipher, name) in [
            (StreamCipher::Aegis256, "aegis-256"),
            (StreamCipher::Aes256Gcm, "aes-256-gcm"),
        ] {
            let config = BasinConfig::new().with_stream_cipher(cipher);
            let value = serde_json::to_value(config).unwrap();
            assert_eq!(value, json!({"stream_cipher": name}));
            assert_eq!(
                serde_json::from_value::<BasinConfig>(value).unwrap(),
                config
            );
            assert_eq!(cipher.key_bytes(), 32);
        }
        let unknown: BasinConfig = serde_json::from_value(
            json!({"stream_cipher": "rot-13", "default_stream_config": null}),
        )
        .unwrap();
        assert_eq!(unknown.stream_cipher, Some(StreamCipher::Unknown));
        let plain: BasinConfig = serde_json::from_value(json!({"stream_cipher": null})).unwrap();
        assert_eq!(plain.stream_cipher, None);
    }

    #[test]
    fn tolerant_of_nulls_and_unknowns() {
        let config: StreamConfig = serde_json::from_value(json!({
            "storage_class": "ultra", "retention_policy": null, "timestamping": null,
            "delete_on_empty": null, "future_field": 1
        }))
        .unwrap();
        assert_eq!(config.storage_class, Some(StorageClass::Unknown));
        assert_eq!(config.retention_policy, None);
        let config: StreamConfig = serde_json::from_value(json!({
            "timestamping": {"mode": "atomic-clock", "uncapped": true}
        }))
        .unwrap();
        let timestamping = config.timestamping.expect("timestamping");
        assert_eq!(timestamping.mode, Some(TimestampingMode::Unknown));
    }

    #[test]
    fn reconfiguration_sets_resets_and_leaves() {
        let change = StreamReconfiguration::new()
            .with_storage_class(Change::Set(StorageClass::Standard))
            .with_retention_policy(Change::Reset)
            .with_timestamping(Change::Set(TimestampingReconfiguration {
                mode: Change::Reset,
                uncapped: Change::Set(true),
            }));
        assert_eq!(
            serde_json::to_value(change).unwrap(),
            json!({
                "storage_class": "standard",
                "retention_policy": null,
                "timestamping": {"mode": null, "uncapped": true}
            })
        );
        let basin = BasinReconfiguration::new()
            .with_default_stream_config(Change::Reset)
            .with_stream_cipher(Change::Reset)
            .with_create_stream_on_append(Change::Reset)
            .with_create_stream_on_read(Change::Set(true));
        assert_eq!(
            serde_json::to_value(basin).unwrap(),
            json!({
                "default_stream_config": null,
                "stream_cipher": null,
                "create_stream_on_append": false,
                "create_stream_on_read": true
            })
        );
        assert_eq!(
            serde_json::to_value(BasinReconfiguration::new()).unwrap(),
            json!({})
        );
        assert!(serde_json::to_value(Change::<bool>::Unchanged).is_err());
    }

    #[test]
    fn a_config_reconfigures_what_it_names() {
        let config = BasinConfig::new()
            .with_create_stream_on_read(false)
            .with_default_stream_config(
                StreamConfig::new().with_retention_policy(RetentionPolicy::Infinite),
            );
        let change = BasinReconfiguration::from(config);
        assert_eq!(
            serde_json::to_value(change).unwrap(),
            json!({
                "default_stream_config": {"retention_policy": {"infinite": {}}},
                "create_stream_on_read": false
            })
        );
    }
}
