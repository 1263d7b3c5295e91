//! TLS client configuration: rustls with ALPN `h2`.
//!
//! The crypto provider is chosen by cargo features, as the rustls ecosystem
//! expects: `ring` (the default) or `aws-lc-rs` (preferred when both are
//! enabled). With neither, the process-wide default provider is used
//! (`rustls::crypto::CryptoProvider::install_default`), and building a
//! client fails if none was installed.

use std::sync::Arc;

use s2_core::{Error, error::ValidationError};

use crate::config::ClientConfig;

/// A rustls configuration trusting the roots the features and the
/// configuration choose (see [`root_store`]), offering only HTTP/2.
pub(crate) fn client_config(config: &ClientConfig) -> Result<Arc<rustls::ClientConfig>, Error> {
    let roots = root_store(config)?;
    let provider = crypto_provider()?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| {
            Error::Validation(ValidationError::InvalidSetting {
                setting: "tls",
                reason: e.to_string().into(),
            })
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// The certificates a TLS connection may chain to: the Mozilla roots
/// (feature `webpki-roots`), the system's when configured (feature
/// `native-roots`), and the configured extra ones. With https endpoints,
/// an empty store is an error here rather than a handshake failure later.
fn root_store(config: &ClientConfig) -> Result<rustls::RootCertStore, Error> {
    let invalid = |setting: &'static str, reason: String| {
        Error::Validation(ValidationError::InvalidSetting {
            setting,
            reason: reason.into(),
        })
    };
    let mut roots = rustls::RootCertStore::empty();
    #[cfg(feature = "webpki-roots")]
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for certificate in config.root_certificates() {
        roots
            .add(certificate.clone())
            .map_err(|e| invalid("root_certificates", e.to_string()))?;
    }
    if config.native_roots() {
        add_native_roots(&mut roots).map_err(|reason| invalid("native_roots", reason))?;
    }
    let endpoints = config.endpoints();
    let needs_tls = endpoints.account().is_tls() || endpoints.basin().is_tls();
    if roots.is_empty() && needs_tls {
        return Err(invalid(
            "root_certificates",
            "no root certificates to trust: enable the `webpki-roots` or `native-roots` \
             feature, or add a root certificate"
                .to_owned(),
        ));
    }
    Ok(roots)
}

/// Adds the operating system's roots.
#[cfg(feature = "native-roots")]
fn add_native_roots(roots: &mut rustls::RootCertStore) -> Result<(), String> {
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A broken certificate in the system store is skipped, not fatal.
        let _ = roots.add(cert);
    }
    Ok(())
}

/// Native roots asked for in a build without them.
#[cfg(not(feature = "native-roots"))]
fn add_native_roots(_roots: &mut rustls::RootCertStore) -> Result<(), String> {
    Err("the system's root certificates need the `native-roots` feature".to_owned())
}

/// The provider the enabled features choose.
#[cfg(feature = "aws-lc-rs")]
fn crypto_provider() -> Result<Arc<rustls::crypto::CryptoProvider>, Error> {
    Ok(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

/// The provider the enabled features choose.
///
/// rustls 0.23.48 deprecates *ring*'s provider for having no post-quantum
/// key exchange; it stays the default here for building without cmake or
/// a C toolchain, and the `aws-lc-rs` feature is the way to get one.
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
#[allow(deprecated)]
fn crypto_provider() -> Result<Arc<rustls::crypto::CryptoProvider>, Error> {
    Ok(Arc::new(rustls::crypto::ring::default_provider()))
}

/// No provider feature: the process default, if one was installed.
#[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
fn crypto_provider() -> Result<Arc<rustls::crypto::CryptoProvider>, Error> {
    rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .ok_or_else(|| {
            Error::Validation(ValidationError::InvalidSetting {
                setting: "tls",
                reason: "no crypto provider: enable the `ring` or `aws-lc-rs` feature, \
                         or install a process default"
                    .into(),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(any(feature = "ring", feature = "aws-lc-rs"))]
    fn suites(provider: &rustls::crypto::CryptoProvider) -> Vec<rustls::CipherSuite> {
        provider.cipher_suites.iter().map(|s| s.suite()).collect()
    }

    /// A configuration that needs no root certificate (a loopback http
    /// endpoint), so these tests hold in builds without any.
    #[cfg(any(feature = "ring", feature = "aws-lc-rs"))]
    fn plain_http_config() -> ClientConfig {
        let endpoints = crate::config::Endpoints::single("http://127.0.0.1:1").expect("url");
        ClientConfig::new("token").with_endpoints(endpoints)
    }

    /// The default features choose ring.
    #[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
    #[test]
    #[allow(deprecated)] // See `crypto_provider`.
    fn the_default_provider_is_ring() {
        let config = client_config(&plain_http_config()).expect("tls config");
        assert_eq!(
            suites(config.crypto_provider()),
            suites(&rustls::crypto::ring::default_provider())
        );
        assert_eq!(config.alpn_protocols, [b"h2".to_vec()]);
    }

    /// aws-lc-rs wins when enabled.
    #[cfg(feature = "aws-lc-rs")]
    #[test]
    fn aws_lc_rs_is_chosen_when_enabled() {
        let config = client_config(&plain_http_config()).expect("tls config");
        assert_eq!(
            suites(config.crypto_provider()),
            suites(&rustls::crypto::aws_lc_rs::default_provider())
        );
    }

    /// Without a provider feature and without a process default, building
    /// a client is refused with a clear error.
    #[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
    #[test]
    fn no_provider_is_a_clear_error() {
        let err = client_config(&ClientConfig::new("token")).expect_err("no provider");
        assert!(err.to_string().contains("crypto provider"), "{err}");
    }
}
