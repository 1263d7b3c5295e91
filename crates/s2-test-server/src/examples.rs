//! The set-up every runtime crate's examples share, NOT part of the SDK:
//! the user's S2 when one is configured, or an s2-lite in this process.
//! A user's code needs none of it: `ClientConfig::from_env()?` is the whole
//! set-up.

use std::error::Error;

use s2_client::{
    ClientConfig,
    config::{
        ENV_ACCESS_TOKEN, ENV_ACCOUNT_ENDPOINT, ENV_ALLOW_INSECURE_HTTP, ENV_BASIN_ENDPOINT,
        Endpoints,
    },
};

use crate::TestServer;

/// `ClientConfig::from_env()` when `S2_ACCOUNT_ENDPOINT` is set (with
/// `S2_BASIN_ENDPOINT`, `S2_ACCESS_TOKEN` and `S2_ALLOW_INSECURE_HTTP`);
/// otherwise an s2-lite started in this process, and a configuration for
/// it. Says which on stderr.
pub fn config_from_env_or_embedded_s2_lite() -> Result<ClientConfig, Box<dyn Error>> {
    if let Some(config) = config_from_env()? {
        return Ok(config);
    }
    // s2-lite runs on a thread of its own, with its own tokio runtime.
    let server = TestServer::start()?;
    let endpoint = server.endpoint();
    // The server shuts down when its handle is dropped; the example's
    // client needs it until the process exits, so the handle is leaked.
    std::mem::forget(server);
    eprintln!("using an embedded s2-lite at {endpoint}");
    embedded_config(&endpoint)
}

/// `ClientConfig::from_env()` when `S2_ACCOUNT_ENDPOINT` is set, else
/// `None`. s2-lite accepts any access token, so `S2_ACCESS_TOKEN` may be
/// left unset for one: a placeholder is presented instead.
pub fn config_from_env() -> Result<Option<ClientConfig>, Box<dyn Error>> {
    let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
    let Some(account) = var(ENV_ACCOUNT_ENDPOINT) else {
        return Ok(None);
    };
    if std::env::var_os(ENV_ACCESS_TOKEN).is_some() {
        eprintln!("using {account}");
        return Ok(Some(ClientConfig::from_env()?));
    }
    eprintln!("using {account}, with a placeholder token: {ENV_ACCESS_TOKEN} is unset");
    // What `from_env` reads, less the token.
    let endpoints = Endpoints::from_env_values(Some(&account), var(ENV_BASIN_ENDPOINT).as_deref())?;
    let config = ClientConfig::new("unset").with_endpoints(endpoints);
    let insecure = var(ENV_ALLOW_INSECURE_HTTP).map(|v| v.trim().to_ascii_lowercase());
    Ok(Some(match insecure.as_deref() {
        None | Some("0" | "false") => config,
        Some("1" | "true") => config.with_insecure_http_to_remote_hosts(),
        Some(_) => {
            return Err(format!("{ENV_ALLOW_INSECURE_HTTP} must be 1, true, 0 or false").into());
        }
    }))
}

/// A configuration for an s2-lite at `endpoint` (one endpoint for
/// everything; s2-lite accepts any token).
pub fn embedded_config(endpoint: &str) -> Result<ClientConfig, Box<dyn Error>> {
    Ok(ClientConfig::new("unused-by-s2-lite").with_endpoints(Endpoints::single(endpoint)?))
}
