//! Basins, streams and listing.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    error::ValidationError,
    names::{BasinName, StreamName},
};

/// Longest location name, in characters.
pub const LOCATION_NAME_MAX_LEN: usize = 64;

/// Where a basin's data lives (for example `aws:us-east-1`): 1–64 ASCII
/// letters, digits, `:`, `-` and `.`. The service lists the locations an
/// account may use ([`LocationInfo`]).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocationName(String);

impl LocationName {
    /// Validates `name` and wraps it.
    pub fn new(name: impl Into<String>) -> Result<Self, ValidationError> {
        let name = name.into();
        let reason = if name.is_empty() || name.chars().count() > LOCATION_NAME_MAX_LEN {
            Some("must be 1 to 64 characters long")
        } else if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '.'))
        {
            Some("may only contain ASCII letters, digits, colons, hyphens and periods")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(ValidationError::InvalidLocationName { name, reason }),
            None => Ok(Self(name)),
        }
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for LocationName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for LocationName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Debug for LocationName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl std::str::FromStr for LocationName {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for LocationName {
    type Error = ValidationError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl Serialize for LocationName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for LocationName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A location an account may place basins in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationInfo {
    /// Location name.
    pub name: LocationName,
    /// Whether this is a private placement, limited to the account.
    #[serde(default)]
    pub is_private: bool,
    /// Storage classes available to the account here, when reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_classes: Option<Vec<String>>,
    /// Default storage class here, when reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_storage_class: Option<String>,
}

/// Where a basin's data lives, as the retired `scope` field named it. Kept so
/// that responses which still carry `scope` parse; new code uses
/// [`LocationName`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum BasinScope {
    /// AWS us-east-1.
    #[serde(rename = "aws:us-east-1")]
    AwsUsEast1,
    /// AWS us-west-2.
    #[serde(rename = "aws:us-west-2")]
    AwsUsWest2,
    /// AWS eu-north-1.
    #[serde(rename = "aws:eu-north-1")]
    AwsEuNorth1,
    /// A scope this client does not know.
    #[serde(other, skip_serializing)]
    Unknown,
}

impl BasinScope {
    /// The location this scope names (`None` for an unknown scope).
    pub fn location(self) -> Option<LocationName> {
        let name = match self {
            BasinScope::AwsUsEast1 => "aws:us-east-1",
            BasinScope::AwsUsWest2 => "aws:us-west-2",
            BasinScope::AwsEuNorth1 => "aws:eu-north-1",
            BasinScope::Unknown => return None,
        };
        Some(LocationName(name.to_owned()))
    }
}

/// Lifecycle state of a basin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum BasinState {
    /// Usable.
    Active,
    /// Being created.
    Creating,
    /// Being deleted.
    Deleting,
    /// A state this client does not know.
    #[serde(other, skip_serializing)]
    Unknown,
}

/// A basin, as listed or created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "BasinInfoWire")]
pub struct BasinInfo {
    /// Basin name.
    pub name: BasinName,
    /// Where the basin lives, when the service says (s2-lite does not). An
    /// answer that names only the retired `scope` is read as its location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationName>,
    /// Creation time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub created_at: Option<OffsetDateTime>,
    /// Deletion time, while the basin is being deleted.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub deleted_at: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<BasinState>,
}

/// `BasinInfo` as received: `location`, or the retired `scope` in older
/// answers.
#[derive(Deserialize)]
struct BasinInfoWire {
    name: BasinName,
    #[serde(default)]
    location: Option<LocationName>,
    #[serde(default)]
    scope: Option<BasinScope>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    created_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    deleted_at: Option<OffsetDateTime>,
    #[serde(default)]
    state: Option<BasinState>,
}

impl From<BasinInfoWire> for BasinInfo {
    fn from(wire: BasinInfoWire) -> Self {
        Self {
            name: wire.name,
            location: wire
                .location
                .or_else(|| wire.scope.and_then(BasinScope::location)),
            created_at: wire.created_at,
            deleted_at: wire.deleted_at,
            state: wire.state,
        }
    }
}

impl BasinInfo {
    /// The basin's state: as reported, else derived from `deleted_at`.
    pub fn state(&self) -> BasinState {
        match (self.state, self.deleted_at) {
            (Some(state), _) => state,
            (None, Some(_)) => BasinState::Deleting,
            (None, None) => BasinState::Active,
        }
    }
}

/// A stream, as listed or created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamInfo {
    /// Stream name.
    pub name: StreamName,
    /// Creation time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub created_at: Option<OffsetDateTime>,
    /// Deletion time, while the stream is being deleted.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub deleted_at: Option<OffsetDateTime>,
    /// The cipher its records are encrypted with, if it is encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cipher: Option<crate::types::StreamCipher>,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// Items of this page, in name order.
    pub items: Vec<T>,
    /// Whether more items follow.
    pub has_more: bool,
}

/// Most items one list call returns.
pub const MAX_LIST_LIMIT: usize = 1000;

/// Filters and paging of a list call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ListRequest {
    /// Only names starting with this.
    pub prefix: String,
    /// Only names after this one (exclusive), for paging.
    pub start_after: String,
    /// Items per page, 1..=1000 (service default 1000).
    pub limit: Option<usize>,
    /// Whether `list_all_basins` / `list_all_streams` also yield what is
    /// being deleted (they skip it by default). Not sent: a single page
    /// (`list_basins`, `list_streams`) is what the service returns.
    pub include_deleted: bool,
}

impl ListRequest {
    /// List everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only names starting with `prefix`.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Only names after `start_after`.
    pub fn with_start_after(mut self, start_after: impl Into<String>) -> Self {
        self.start_after = start_after.into();
        self
    }

    /// Items per page.
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Whether listing everything also yields what is being deleted.
    pub fn with_include_deleted(mut self, include: bool) -> Self {
        self.include_deleted = include;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        match self.limit {
            Some(limit) if limit == 0 || limit > MAX_LIST_LIMIT => {
                Err(ValidationError::InvalidListLimit { limit })
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if !self.prefix.is_empty() {
            query.push(("prefix", self.prefix.clone()));
        }
        if !self.start_after.is_empty() {
            query.push(("start_after", self.start_after.clone()));
        }
        if let Some(limit) = self.limit {
            query.push(("limit", limit.to_string()));
        }
        query
    }
}

/// What an ensure (`PUT`) call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProvisionResult {
    /// The resource did not exist and was created.
    Created,
    /// The resource existed and its configuration was changed.
    Updated,
    /// The resource already matched.
    Unchanged,
}

/// The result of an ensure call: the resource and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned<T> {
    /// The resource as it now is.
    pub info: T,
    /// What the call did.
    pub result: ProvisionResult,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unknown_basin_states_parse() {
        let info: BasinInfo =
            serde_json::from_value(json!({"name": "some-basin", "state": "frozen"})).unwrap();
        assert_eq!(info.state(), BasinState::Unknown);
        let info: BasinInfo =
            serde_json::from_value(json!({"name": "some-basin", "state": "deleting"})).unwrap();
        assert_eq!(info.state(), BasinState::Deleting);
    }
}
