//! Access tokens asked of a provider for each request, and the one retry a
//! refused (401) token earns.

use std::{borrow::Cow, fmt, future::Future, pin::Pin};

use http::HeaderValue;
use s2_core::{AccessToken, Error, api::HttpRequest};

/// The future of a provider's token.
pub type TokenFuture<'a> =
    Pin<Box<dyn Future<Output = Result<AccessToken, AccessTokenProviderError>> + Send + 'a>>;

/// Supplies the access token of each request, for tokens that rotate or
/// expire: the client asks before every attempt (so a provider should cache
/// its token and refresh it ahead of expiry), and tells it which token the
/// service refused with a 401; that request is then retried once with a
/// fresh token.
///
/// Tokens go only to the configured endpoints, like a fixed token.
pub trait AccessTokenProvider: fmt::Debug + Send + Sync + 'static {
    /// The token to present now.
    fn token(&self) -> TokenFuture<'_>;

    /// The service refused `token` (401): do not hand it out again.
    fn invalidate(&self, token: &AccessToken) {
        let _ = token;
    }
}

/// A shared provider, so the caller can keep a handle on the one it gives
/// the client.
impl<P: AccessTokenProvider> AccessTokenProvider for std::sync::Arc<P> {
    fn token(&self) -> TokenFuture<'_> {
        (**self).token()
    }

    fn invalidate(&self, token: &AccessToken) {
        (**self).invalidate(token)
    }
}

/// Why a provider could not give a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AccessTokenProviderError {
    message: Cow<'static, str>,
    retryable: bool,
}

impl AccessTokenProviderError {
    /// A failure that asking again may fix (retried with the usual backoff).
    pub fn transient(message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }

    /// A failure returned to the caller at once.
    pub fn permanent(message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }
}

impl From<AccessTokenProviderError> for Error {
    fn from(e: AccessTokenProviderError) -> Self {
        Error::AccessTokenProvider {
            message: e.message,
            retryable: e.retryable,
        }
    }
}

/// What may hold the provider of each request's token: the client's
/// configuration. This module asks through this trait, so that it needs
/// nothing from `config`, which stores the provider (and so depends on
/// this module).
pub(crate) trait TokenSource {
    /// The provider asked for each request's token, if any.
    fn token_provider(&self) -> Option<&dyn AccessTokenProvider>;
}

/// A shared configuration (as the client holds it) has its provider.
impl<T: TokenSource + ?Sized> TokenSource for std::sync::Arc<T> {
    fn token_provider(&self) -> Option<&dyn AccessTokenProvider> {
        (**self).token_provider()
    }
}

/// Puts the provider's current token on `request`, when a provider is
/// configured (otherwise the fixed token the request was built with
/// stays); returns the token used.
pub(crate) async fn authorize(
    config: &impl TokenSource,
    request: &mut HttpRequest,
) -> Result<Option<AccessToken>, Error> {
    let Some(provider) = config.token_provider() else {
        return Ok(None);
    };
    let token = provider.token().await?;
    let mut value = HeaderValue::try_from(format!("Bearer {}", token.expose_secret()))
        .map_err(|_| AccessTokenProviderError::permanent("the token is not visible ASCII"))?;
    // Never logged by `Debug`, never indexed by HPACK.
    value.set_sensitive(true);
    request.headers.insert(http::header::AUTHORIZATION, value);
    Ok(Some(token))
}

/// Whether an answer refused the token.
pub(crate) fn is_unauthorized(status: http::StatusCode) -> bool {
    status == http::StatusCode::UNAUTHORIZED
}

/// Tells the provider that `token` was refused.
pub(crate) fn invalidate(config: &impl TokenSource, token: &AccessToken) {
    if let Some(provider) = config.token_provider() {
        provider.invalidate(token);
    }
}
