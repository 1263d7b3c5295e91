//! Access tokens and their scopes.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::names::AccessTokenId;

/// A set of resources, by exact name or by prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
// `remote = "Self"`: the derived code becomes inherent functions, which the
// trait impls below wrap to let unknown kinds through.
#[serde(remote = "Self", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResourceSet {
    /// Only the resource with this name (empty matches nothing).
    Exact(String),
    /// Every resource whose name starts with this (empty matches all).
    Prefix(String),
    /// A kind of set this client does not know (never sent).
    #[serde(skip)]
    Unknown,
}

impl Serialize for ResourceSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ResourceSet::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for ResourceSet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match super::one_key_object(deserializer, &["exact", "prefix"])? {
            super::Tagged::Known(value) => {
                ResourceSet::deserialize(value).map_err(serde::de::Error::custom)
            }
            super::Tagged::Unknown(_) => Ok(ResourceSet::Unknown),
        }
    }
}

/// Read and write permission of an operation group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReadWritePermissions {
    /// Read operations allowed.
    #[serde(default)]
    pub read: bool,
    /// Write operations allowed.
    #[serde(default)]
    pub write: bool,
}

impl ReadWritePermissions {
    /// Read operations only.
    pub fn read_only() -> Self {
        Self {
            read: true,
            write: false,
        }
    }

    /// Write operations only.
    pub fn write_only() -> Self {
        Self {
            read: false,
            write: true,
        }
    }

    /// Read and write operations.
    pub fn read_write() -> Self {
        Self {
            read: true,
            write: true,
        }
    }
}

/// Permissions per operation group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PermittedOperationGroups {
    /// Account-level operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<ReadWritePermissions>,
    /// Basin-level operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basin: Option<ReadWritePermissions>,
    /// Stream-level operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<ReadWritePermissions>,
}

impl PermittedOperationGroups {
    /// The same permissions at account, basin and stream level.
    pub fn all(permissions: ReadWritePermissions) -> Self {
        Self {
            account: Some(permissions),
            basin: Some(permissions),
            stream: Some(permissions),
        }
    }
}

/// An operation a token may be allowed to perform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum Operation {
    ListBasins,
    CreateBasin,
    DeleteBasin,
    ReconfigureBasin,
    GetBasinConfig,
    IssueAccessToken,
    RevokeAccessToken,
    ListAccessTokens,
    ListStreams,
    CreateStream,
    DeleteStream,
    GetStreamConfig,
    ReconfigureStream,
    CheckTail,
    Append,
    Read,
    Trim,
    Fence,
    AccountMetrics,
    BasinMetrics,
    StreamMetrics,
    /// An operation this client does not know.
    #[serde(other, skip_serializing)]
    Unknown,
}

/// What a token may do and to which resources. The allowed operations are
/// the union of `ops` and what `op_groups` grants.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AccessTokenScope {
    /// Basins the token may touch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basins: Option<ResourceSet>,
    /// Streams the token may touch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streams: Option<ResourceSet>,
    /// Access tokens the token may manage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_tokens: Option<ResourceSet>,
    /// Permissions by operation group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_groups: Option<PermittedOperationGroups>,
    /// Individually allowed operations.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_empty"
    )]
    pub ops: Vec<Operation>,
}

impl AccessTokenScope {
    /// Every basin, stream and access token, with `permissions` at every
    /// operation-group level.
    pub fn everything(permissions: ReadWritePermissions) -> Self {
        let all = || Some(ResourceSet::Prefix(String::new()));
        Self {
            basins: all(),
            streams: all(),
            access_tokens: all(),
            op_groups: Some(PermittedOperationGroups::all(permissions)),
            ops: Vec::new(),
        }
    }

    /// Read-only over everything.
    pub fn read_only_all() -> Self {
        Self::everything(ReadWritePermissions::read_only())
    }

    /// Write-only over everything.
    pub fn write_only_all() -> Self {
        Self::everything(ReadWritePermissions::write_only())
    }

    /// Read and write over everything.
    pub fn read_write_all() -> Self {
        Self::everything(ReadWritePermissions::read_write())
    }

    /// Limits the basins.
    pub fn with_basins(mut self, basins: ResourceSet) -> Self {
        self.basins = Some(basins);
        self
    }

    /// Limits the streams.
    pub fn with_streams(mut self, streams: ResourceSet) -> Self {
        self.streams = Some(streams);
        self
    }

    /// Limits the access tokens.
    pub fn with_access_tokens(mut self, access_tokens: ResourceSet) -> Self {
        self.access_tokens = Some(access_tokens);
        self
    }

    /// Sets the operation-group permissions.
    pub fn with_op_groups(mut self, op_groups: PermittedOperationGroups) -> Self {
        self.op_groups = Some(op_groups);
        self
    }

    /// Allows these operations too.
    pub fn with_ops(mut self, ops: impl IntoIterator<Item = Operation>) -> Self {
        self.ops.extend(ops);
        self
    }
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Operation>, D::Error> {
    Ok(Option::<Vec<Operation>>::deserialize(d)?.unwrap_or_default())
}

/// An access token's description (the secret itself is only returned once,
/// when it is issued).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenInfo {
    /// Token id, unique in the account.
    pub id: AccessTokenId,
    /// What the token may do.
    pub scope: AccessTokenScope,
    /// Expiry; when issuing, `None` means the issuing token's expiry.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
    /// Prefix stream names with the scope's stream prefix (and strip it
    /// from listings).
    #[serde(default)]
    pub auto_prefix_streams: bool,
}

impl AccessTokenInfo {
    /// A token description with this id and scope, no expiry and no
    /// auto-prefixing.
    pub fn new(id: AccessTokenId, scope: AccessTokenScope) -> Self {
        Self {
            id,
            scope,
            expires_at: None,
            auto_prefix_streams: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unknown_operations_and_resource_sets_parse() {
        let ops: Vec<Operation> =
            serde_json::from_value(json!(["append", "teleport-stream"])).unwrap();
        assert_eq!(ops, vec![Operation::Append, Operation::Unknown]);
        let set: ResourceSet = serde_json::from_value(json!({"regex": "^a"})).unwrap();
        assert_eq!(set, ResourceSet::Unknown);
        let set: ResourceSet = serde_json::from_value(json!({"prefix": "a/"})).unwrap();
        assert_eq!(set, ResourceSet::Prefix("a/".into()));
        assert!(serde_json::to_value(ResourceSet::Unknown).is_err());
    }

    #[test]
    fn scope_helpers() {
        assert_eq!(
            serde_json::to_value(AccessTokenScope::read_only_all()).unwrap(),
            json!({
                "basins": {"prefix": ""},
                "streams": {"prefix": ""},
                "access_tokens": {"prefix": ""},
                "op_groups": {
                    "account": {"read": true, "write": false},
                    "basin": {"read": true, "write": false},
                    "stream": {"read": true, "write": false}
                }
            })
        );
        let scope = AccessTokenScope::read_write_all()
            .with_streams(ResourceSet::Prefix("orders/".into()))
            .with_ops([Operation::Trim]);
        assert_eq!(scope.streams, Some(ResourceSet::Prefix("orders/".into())));
        assert_eq!(scope.ops, [Operation::Trim]);
        assert_eq!(
            AccessTokenScope::write_only_all().op_groups,
            Some(PermittedOperationGroups::all(
                ReadWritePermissions::write_only()
            ))
        );
    }
}
