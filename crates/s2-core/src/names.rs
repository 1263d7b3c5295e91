//! Validated names and tokens: what the service accepts, checked before
//! anything is sent.

use std::{fmt, ops::Deref, str::FromStr};

use crate::error::ValidationError;

/// Shortest basin name the service accepts.
pub const BASIN_NAME_MIN_LEN: usize = 8;
/// Longest basin name the service accepts.
pub const BASIN_NAME_MAX_LEN: usize = 48;
/// Longest stream name, in bytes.
pub const STREAM_NAME_MAX_LEN: usize = 512;
/// Longest fencing token, in bytes.
pub const FENCING_TOKEN_MAX_LEN: usize = 36;
/// Longest access token id, in bytes.
pub const ACCESS_TOKEN_ID_MAX_LEN: usize = 96;
/// Longest idempotency token for create requests, in bytes.
pub const REQUEST_TOKEN_MAX_LEN: usize = 36;

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident, $validate:path) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Validates `value` and wraps it.
            pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
                let value = value.into();
                $validate(&value)?;
                Ok(Self(value))
            }

            /// Wraps a value that came from our own encoder.
            #[allow(dead_code)]
            pub(crate) fn new_unchecked(value: String) -> Self {
                Self(value)
            }

            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Unwraps the inner string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ValidationError;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                // Validated like the constructor: a name from JSON (a list
                // answer from a hostile endpoint, an application's file) can
                // become part of a URL authority or path.
                let value = String::deserialize(d)?;
                Self::new(value).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_newtype!(
    /// A basin name: 8–48 characters of `a-z`, `0-9` and `-`, not starting or
    /// ending with `-`.
    BasinName,
    validate_basin_name
);

string_newtype!(
    /// A stream name: 1–512 bytes, no NUL, neither `.` nor `..` (the service
    /// refuses those two: as path segments they would be normalised away).
    StreamName,
    validate_stream_name
);

string_newtype!(
    /// An access token id: 1–96 bytes, no NUL, neither `.` nor `..`.
    AccessTokenId,
    validate_access_token_id
);

string_newtype!(
    /// A fencing token: at most 36 bytes (empty clears the fence).
    FencingToken,
    validate_fencing_token
);

string_newtype!(
    /// An idempotency token for create requests (`s2-request-token`): 1–36
    /// bytes of visible ASCII. Reusing one across retries of the same create
    /// makes the retries safe.
    RequestToken,
    validate_request_token
);

fn validate_basin_name(name: &str) -> Result<(), ValidationError> {
    let reason = if name.len() < BASIN_NAME_MIN_LEN || name.len() > BASIN_NAME_MAX_LEN {
        Some("must be 8 to 48 characters long")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        Some("may only contain lowercase letters, digits and hyphens")
    } else if name.starts_with('-') || name.ends_with('-') {
        Some("must not begin or end with a hyphen")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ValidationError::InvalidBasinName {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

fn validate_stream_name(name: &str) -> Result<(), ValidationError> {
    if name.is_empty() || name.len() > STREAM_NAME_MAX_LEN {
        return Err(ValidationError::InvalidStreamName {
            len: name.len(),
            reason: "must be 1 to 512 bytes long",
        });
    }
    if name.contains('\0') {
        return Err(ValidationError::InvalidStreamName {
            len: name.len(),
            reason: "must not contain NUL",
        });
    }
    if is_dot_segment(name) {
        return Err(ValidationError::InvalidStreamName {
            len: name.len(),
            reason: "must not be \".\" or \"..\"",
        });
    }
    Ok(())
}

fn validate_access_token_id(id: &str) -> Result<(), ValidationError> {
    if id.is_empty()
        || id.len() > ACCESS_TOKEN_ID_MAX_LEN
        || id.contains('\0')
        || is_dot_segment(id)
    {
        return Err(ValidationError::InvalidAccessTokenId { len: id.len() });
    }
    Ok(())
}

/// `.` and `..`: path segments that URL normalisation removes or resolves.
pub(crate) fn is_dot_segment(segment: &str) -> bool {
    matches!(segment, "." | "..")
}

fn validate_fencing_token(token: &str) -> Result<(), ValidationError> {
    if token.len() > FENCING_TOKEN_MAX_LEN {
        return Err(ValidationError::FencingTokenTooLong { len: token.len() });
    }
    Ok(())
}

fn validate_request_token(token: &str) -> Result<(), ValidationError> {
    if token.is_empty()
        || token.len() > REQUEST_TOKEN_MAX_LEN
        || !token.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ValidationError::InvalidRequestToken { len: token.len() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basin_names() {
        assert!(BasinName::new("my-basin-1").is_ok());
        assert!(BasinName::new("a".repeat(48)).is_ok());
        for bad in [
            "short",
            "-leading-hyphen",
            "trailing-hyphen-",
            "UpperCase1",
            "under_score",
            &"a".repeat(49),
        ] {
            assert!(
                matches!(
                    BasinName::new(bad),
                    Err(ValidationError::InvalidBasinName { .. })
                ),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn stream_names() {
        assert!(StreamName::new("a").is_ok());
        assert!(StreamName::new("x/y z?#%".to_string()).is_ok());
        assert!(StreamName::new("é".repeat(256)).is_ok());
        assert!(StreamName::new("é".repeat(257)).is_err());
        assert!(StreamName::new("").is_err());
        assert!(StreamName::new("a\0b").is_err());
    }

    #[test]
    fn tokens() {
        assert!(FencingToken::new("").is_ok());
        assert!(FencingToken::new("x".repeat(36)).is_ok());
        assert!(FencingToken::new("x".repeat(37)).is_err());
        assert!(AccessTokenId::new("").is_err());
        assert!(AccessTokenId::new("x".repeat(96)).is_ok());
        assert!(AccessTokenId::new("x".repeat(97)).is_err());
        assert!(RequestToken::new("abc-123").is_ok());
        assert!(RequestToken::new("has space").is_err());
        assert!(RequestToken::new("x".repeat(37)).is_err());
    }
}
