//! Set-up shared by the examples, kept out of their way: where the client
//! connects, and an optional fault proxy. Nothing here calls the S2 API.
#![allow(dead_code)] // Each example uses a part.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use s2_test_server::{FaultProxy, Target};
use s2_tokio::{ClientConfig, config::Endpoints};

/// Prints where the example's requests go: the endpoint named by
/// `S2_ACCOUNT_ENDPOINT` (with `S2_BASIN_ENDPOINT` and `S2_ACCESS_TOKEN`),
/// or an s2-lite started in this process when that is unset.
pub fn target() -> Result<Target, Box<dyn std::error::Error>> {
    let target = Target::from_env()?;
    println!("using {}", target.describe());
    Ok(target)
}

/// A loopback proxy in front of `target` that cuts every connection going
/// through it every `every` (until dropped), and the client configuration
/// that talks through it. `None` when the target is not plain http.
pub fn cutting_proxy(
    target: &Target,
    config: ClientConfig,
    every: Duration,
) -> Result<Option<(Cutter, ClientConfig)>, Box<dyn std::error::Error>> {
    let Some(proxy) = proxy(target)? else {
        return Ok(None);
    };
    let config = config.with_endpoints(Endpoints::single(&proxy.endpoint())?);
    let stop = Arc::new(AtomicBool::new(false));
    let (handle, flag) = (proxy.handle(), stop.clone());
    std::thread::spawn(move || {
        while !flag.load(Ordering::SeqCst) {
            std::thread::sleep(every);
            handle.cut();
        }
    });
    Ok(Some((Cutter { proxy, stop }, config)))
}

/// A loopback proxy in front of `target`, when it is plain http.
pub fn proxy(target: &Target) -> Result<Option<FaultProxy>, Box<dyn std::error::Error>> {
    let upstream = match &target.server {
        Some(server) => Some(server.addr()),
        None => target
            .basin_endpoint
            .strip_prefix("http://")
            .and_then(|host| std::net::ToSocketAddrs::to_socket_addrs(host).ok())
            .and_then(|mut addrs| addrs.next()),
    };
    Ok(match upstream {
        Some(upstream) => Some(FaultProxy::start(upstream)?),
        None => None,
    })
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
