//! Secrets that never show up in logs: the access token and the
//! encryption keys of streams.

use std::{fmt, str::FromStr, sync::Arc};

use base64::Engine as _;
use http::HeaderValue;

use crate::error::ValidationError;

/// A bearer access token.
///
/// Its `Debug` output is redacted and it has no `Display`, so a token held in
/// a configuration cannot leak through `{:?}`, a log line or an error
/// message. The only way to the text is [`AccessToken::expose_secret`], which
/// [`Api::new`](crate::api::Api::new) calls once to build the
/// `Authorization` header (itself marked sensitive).
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token's text. Call it only to present the token to the service.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Whether the token is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

impl From<String> for AccessToken {
    fn from(token: String) -> Self {
        Self(token)
    }
}

impl From<&str> for AccessToken {
    fn from(token: &str) -> Self {
        Self(token.to_owned())
    }
}

impl From<&String> for AccessToken {
    fn from(token: &String) -> Self {
        Self(token.clone())
    }
}

impl From<&AccessToken> for AccessToken {
    fn from(token: &AccessToken) -> Self {
        token.clone()
    }
}

/// Bytes of an encryption key. Every cipher S2 offers (see
/// [`StreamCipher`](crate::types::StreamCipher)) takes a 256-bit key, so a key
/// is checked once, whatever the cipher of the stream it is used on.
pub const ENCRYPTION_KEY_BYTES: usize = 32;

/// A customer-supplied key for an encrypted stream, sent as the
/// `s2-encryption-key` header of appends and reads; the service encrypts and
/// decrypts records with it and does not keep it.
///
/// Its text is the standard, padded base64 of [`ENCRYPTION_KEY_BYTES`] bytes,
/// the form the `s2` CLI takes (`--encryption-key`, `S2_ENCRYPTION_KEY`).
/// It is checked when made, so a malformed key is a
/// [`ValidationError::InvalidEncryptionKey`] before anything is sent. Like
/// [`AccessToken`], its `Debug` is redacted, it has no `Display`, and the
/// header it becomes is marked sensitive. Cloning is cheap.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptionKey(Arc<str>);

impl EncryptionKey {
    /// A key made of these bytes.
    pub fn new(key: [u8; ENCRYPTION_KEY_BYTES]) -> Self {
        Self(base64::engine::general_purpose::STANDARD.encode(key).into())
    }

    /// A key from its base64 text (surrounding whitespace ignored, as a key
    /// read from a file or the environment may end in a newline).
    pub fn from_base64(text: &str) -> Result<Self, ValidationError> {
        let text = text.trim();
        // Longer than any key's encoding: refuse before decoding a huge input.
        if text.len() > ENCRYPTION_KEY_BYTES.div_ceil(3) * 4 {
            return Err(invalid_key("longer than a 32-byte key's base64"));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| invalid_key("not standard padded base64"))?;
        if bytes.len() != ENCRYPTION_KEY_BYTES {
            return Err(invalid_key("must decode to 32 bytes"));
        }
        Ok(Self(text.into()))
    }

    /// The key's base64 text. Call it only to present the key to the
    /// service.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The `s2-encryption-key` header value, marked sensitive so HTTP/2
    /// never indexes it in HPACK tables and debug output hides it.
    pub fn header_value(&self) -> HeaderValue {
        let mut value = HeaderValue::from_str(&self.0)
            .expect("base64 text checked at construction is a valid header value");
        value.set_sensitive(true);
        value
    }
}

fn invalid_key(reason: &'static str) -> ValidationError {
    ValidationError::InvalidEncryptionKey { reason }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey(<redacted>)")
    }
}

impl FromStr for EncryptionKey {
    type Err = ValidationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::from_base64(text)
    }
}

impl From<[u8; ENCRYPTION_KEY_BYTES]> for EncryptionKey {
    fn from(key: [u8; ENCRYPTION_KEY_BYTES]) -> Self {
        Self::new(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key of s2-common's own tests: bytes 1..=32.
    const KEY_B64: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

    #[test]
    fn encryption_key_round_trips_and_is_redacted() {
        let bytes: [u8; 32] = std::array::from_fn(|i| i as u8 + 1);
        let key = EncryptionKey::new(bytes);
        assert_eq!(key.expose_secret(), KEY_B64);
        assert_eq!(KEY_B64.parse::<EncryptionKey>().unwrap(), key);
        assert_eq!(
            EncryptionKey::from_base64(&format!("  {KEY_B64}\n")).unwrap(),
            key
        );
        let shown = format!("{key:?} {key:#?}");
        assert!(!shown.contains(&KEY_B64[..8]), "{shown}");
        let header = key.header_value();
        assert!(header.is_sensitive());
        assert_eq!(header.to_str().unwrap(), KEY_B64);
        assert!(!format!("{header:?}").contains(&KEY_B64[..8]));
    }

    #[test]
    fn malformed_encryption_keys_are_refused_without_echoing_them() {
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
        let long = base64::engine::general_purpose::STANDARD.encode([7u8; 33]);
        let unpadded = KEY_B64.trim_end_matches('=');
        let url_safe = "-_-_".repeat(11);
        for bad in [
            "",
            "   ",
            short.as_str(),
            long.as_str(),
            unpadded,
            url_safe.as_str(),
            "not base64 at all!!",
            &"A".repeat(1 << 20),
        ] {
            let error = EncryptionKey::from_base64(bad).unwrap_err();
            assert!(
                matches!(error, ValidationError::InvalidEncryptionKey { .. }),
                "{bad:?}: {error:?}"
            );
            if bad.len() >= 8 {
                assert!(!error.to_string().contains(&bad[..8]), "{error}");
            }
        }
    }

    #[test]
    fn debug_is_redacted() {
        let token = AccessToken::from("sekrit-token-123");
        let shown = format!("{token:?} {token:#?}");
        assert!(!shown.contains("sekrit"), "{shown}");
        assert_eq!(token.expose_secret(), "sekrit-token-123");
    }
}
