//! TLS client configuration: rustls with ALPN `h2`.

use std::sync::Arc;

use s2_core::{Error, error::ValidationError};

use crate::config::ClientConfig;

/// A rustls configuration trusting the webpki roots (and the system's, and
/// the configured extra ones), offering only HTTP/2.
pub(crate) fn client_config(config: &ClientConfig) -> Result<Arc<rustls::ClientConfig>, Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for certificate in &config.extra_root_certificates {
        roots.add(certificate.clone()).map_err(|e| {
            Error::Validation(ValidationError::InvalidConfig {
                reason: format!("root certificate: {e}").into(),
            })
        })?;
    }
    if config.use_native_roots {
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            // A broken certificate in the system store is skipped, not fatal.
            let _ = roots.add(cert);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| {
            Error::Validation(ValidationError::InvalidConfig {
                reason: format!("TLS: {e}").into(),
            })
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}
