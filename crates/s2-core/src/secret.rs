//! The access token: a secret that never shows up in logs.

use std::fmt;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let token = AccessToken::from("sekrit-token-123");
        let shown = format!("{token:?} {token:#?}");
        assert!(!shown.contains("sekrit"), "{shown}");
        assert_eq!(token.expose_secret(), "sekrit-token-123");
    }
}
