//! Scaffolding for running the examples anywhere, NOT part of the SDK:
//! an s2-lite server in this process when no S2 endpoint is configured,
//! and a connection-cutting proxy for the examples that show recovery.
//! Your code needs none of it: `ClientConfig::from_env()?` is the whole
//! set-up.
#![allow(dead_code)] // Each example uses a part.

use std::{
    error::Error,
    io::{BufRead, BufReader, Read},
    net::{SocketAddr, ToSocketAddrs},
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use s2_test_server::{FaultProxy, TestServer};
use s2_tokio::{
    ClientConfig,
    config::{
        ENV_ACCESS_TOKEN, ENV_ACCOUNT_ENDPOINT, ENV_ALLOW_INSECURE_HTTP, ENV_BASIN_ENDPOINT,
        Endpoints,
    },
};

/// `ClientConfig::from_env()` when `S2_ACCOUNT_ENDPOINT` is set (with
/// `S2_BASIN_ENDPOINT`, `S2_ACCESS_TOKEN` and `S2_ALLOW_INSECURE_HTTP`);
/// otherwise an s2-lite started in this process, and a configuration for
/// it. Says which on stderr.
pub fn config_from_env_or_embedded_s2_lite() -> Result<ClientConfig, Box<dyn Error>> {
    if let Some(config) = config_from_env()? {
        return Ok(config);
    }
    let server = TestServer::start()?;
    let endpoint = server.endpoint();
    // The server shuts down when its handle is dropped; the example's
    // client needs it until the process exits, so the handle is leaked.
    std::mem::forget(server);
    eprintln!("using an embedded s2-lite at {endpoint}");
    embedded_config(&endpoint)
}

/// Like [`config_from_env_or_embedded_s2_lite`], but s2-lite runs in a
/// child process (this same executable), so that this process's memory
/// and CPU figures are the client's alone. Call it first thing in `main`:
/// in the child it serves s2-lite until the parent exits, then exits.
pub fn config_from_env_or_s2_lite_in_child_process() -> Result<ClientConfig, Box<dyn Error>> {
    /// Set in the child process that serves s2-lite.
    const SERVE: &str = "EXAMPLE_SERVE_S2_LITE";
    if std::env::var_os(SERVE).is_some() {
        // The child: print the endpoint, serve until the parent closes our
        // stdin (it exits, or dies), then exit without running the example.
        let server = TestServer::start()?;
        println!("{}", server.endpoint());
        std::io::stdin().read_to_end(&mut Vec::new())?;
        drop(server);
        std::process::exit(0);
    }
    if let Some(config) = config_from_env()? {
        return Ok(config);
    }
    let mut child = Command::new(std::env::current_exe()?)
        .env(SERVE, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut endpoint = String::new();
    BufReader::new(child.stdout.take().ok_or("no stdout of the child")?)
        .read_line(&mut endpoint)?;
    let endpoint = endpoint.trim();
    if endpoint.is_empty() {
        return Err("the s2-lite child process did not start".into());
    }
    // The child serves while its stdin is open: leak the handle (and with
    // it the pipe) so that it serves until this process exits.
    std::mem::forget(child);
    eprintln!("using s2-lite in a child process at {endpoint}");
    embedded_config(endpoint)
}

/// `ClientConfig::from_env()` when `S2_ACCOUNT_ENDPOINT` is set, else
/// `None`. s2-lite accepts any access token, so `S2_ACCESS_TOKEN` may be
/// left unset for one: a placeholder is presented instead.
fn config_from_env() -> Result<Option<ClientConfig>, Box<dyn Error>> {
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
fn embedded_config(endpoint: &str) -> Result<ClientConfig, Box<dyn Error>> {
    Ok(ClientConfig::new("unused-by-s2-lite").with_endpoints(Endpoints::single(endpoint)?))
}

/// A loopback proxy in front of the server `config` talks to, and a copy
/// of `config` that talks through it; `None` unless the server is one
/// plain-http host (as s2-lite is), which a TCP proxy can stand in for.
pub fn proxy(config: &ClientConfig) -> Result<Option<(FaultProxy, ClientConfig)>, Box<dyn Error>> {
    let Some(upstream) = plain_http_upstream(config) else {
        return Ok(None);
    };
    let proxy = FaultProxy::start(upstream)?;
    let through = config
        .clone()
        .with_endpoints(Endpoints::single(&proxy.endpoint())?);
    Ok(Some((proxy, through)))
}

/// Like [`proxy`], with a thread that cuts every connection through the
/// proxy every `every`, until the [`Cutter`] is dropped.
pub fn cutting_proxy(
    config: &ClientConfig,
    every: Duration,
) -> Result<Option<(Cutter, ClientConfig)>, Box<dyn Error>> {
    let Some((proxy, through)) = self::proxy(config)? else {
        return Ok(None);
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (handle, flag) = (proxy.handle(), stop.clone());
    std::thread::spawn(move || {
        while !flag.load(Ordering::SeqCst) {
            std::thread::sleep(every);
            handle.cut();
        }
    });
    Ok(Some((Cutter { proxy, stop }, through)))
}

/// The address of the one plain-http host serving both the account and
/// the basin endpoint of `config`, if that is how it is set up.
fn plain_http_upstream(config: &ClientConfig) -> Option<SocketAddr> {
    let account = config.endpoints().account();
    // Without a `{basin}.` prefix, every basin's URL is the one basin host.
    let basin = config.endpoints().basin().base_url_for("any-basin").ok()?;
    if account.is_tls() || basin != *account {
        return None;
    }
    format!("{}:{}", account.host(), account.port())
        .to_socket_addrs()
        .ok()?
        .next()
}

/// Keeps cutting connections while it lives.
pub struct Cutter {
    proxy: FaultProxy,
    stop: Arc<AtomicBool>,
}

impl Cutter {
    /// How many connections were cut so far.
    pub fn cuts(&self) -> u64 {
        self.proxy.cuts()
    }
}

impl Drop for Cutter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
