//! Access tokens and their scopes.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::names::AccessTokenId;

/// A set of resources, by exact name or by prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceSet {
    /// Only the resource with this name (empty matches nothing).
    Exact(String),
    /// Every resource whose name starts with this (empty matches all).
    Prefix(String),
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
