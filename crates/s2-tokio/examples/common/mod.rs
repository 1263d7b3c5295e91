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

use s2_test_server::{
    FaultProxy, TestServer,
    examples::{config_from_env, embedded_config},
};
use s2_tokio::{ClientConfig, config::Endpoints};

#[allow(unused_imports)] // Each example uses a part.
pub use s2_test_server::examples::config_from_env_or_embedded_s2_lite;

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
