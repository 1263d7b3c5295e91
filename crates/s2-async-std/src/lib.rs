//! The S2 client on [async-std](https://docs.rs/async-std) and
//! [smol](https://docs.rs/smol).
//!
//! Both runtimes share the same foundations (the async-io reactor and timers,
//! the async-global-executor thread pool), which this adapter is built on:
//! the client works from `async_std::task::block_on`, `smol::block_on`, or
//! any task of either runtime.
//!
//! ```no_run
//! use s2_async_std::{S2, ClientConfig, BasinName, StreamName, types::{AppendInput, AppendRecord}};
//!
//! # async fn demo() -> Result<(), s2_async_std::Error> {
//! let s2 = S2::new(ClientConfig::from_env()?)?;
//! let stream = s2
//!     .basin(BasinName::new("my-basin")?)
//!     .stream(StreamName::new("events")?);
//! let ack = stream
//!     .append(&AppendInput::new(vec![AppendRecord::new("hello")])?)
//!     .await?;
//! println!("appended at {}", ack.start.seq_num);
//! # Ok(()) }
//! ```

use std::{
    future::Future,
    io,
    pin::Pin,
    time::{Duration, Instant},
};

use s2_client::runtime::{ConnectTarget, Io};
pub use s2_client::{
    AccessTokenId, AppendConditionFailed, AppendRetryPolicy, BasinName, ClientConfig, Compression,
    ENV_ACCESS_TOKEN, ENV_ACCOUNT_ENDPOINT, ENV_BASIN_ENDPOINT, Endpoints, Error, FencingToken,
    ProtocolError, RequestToken, ServiceError, StreamName, ValidationError, core, runtime, types,
};
use smol_hyper::rt::FuturesIo;

/// The async-std / smol runtime, as the client's
/// [`Runtime`](s2_client::Runtime): tasks go to async-std's global executor
/// (which runs on threads of its own, so no executor needs to be driven by
/// the caller), timers and sockets to the async-io reactor.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStdRuntime;

/// An S2 account client on async-std / smol.
pub type S2 = s2_client::S2<AsyncStdRuntime>;
/// A basin handle on async-std / smol.
pub type Basin = s2_client::Basin<AsyncStdRuntime>;
/// A stream handle on async-std / smol.
pub type Stream = s2_client::Stream<AsyncStdRuntime>;

impl s2_client::Runtime for AsyncStdRuntime {
    fn spawn(&self, task: Pin<Box<dyn Future<Output = ()> + Send>>) {
        // Dropping async-std's `JoinHandle` detaches the task.
        async_std::task::spawn(task);
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        let timer = async_io::Timer::after(duration);
        Box::pin(async move {
            timer.await;
        })
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn connect(
        &self,
        target: ConnectTarget,
    ) -> Pin<Box<dyn Future<Output = io::Result<Box<dyn Io>>> + Send>> {
        Box::pin(async move {
            let tcp =
                async_std::net::TcpStream::connect((target.host.as_str(), target.port)).await?;
            tcp.set_nodelay(true)?;
            match target.tls {
                None => Ok(Box::new(FuturesIo::new(tcp)) as Box<dyn Io>),
                Some(config) => {
                    let name = rustls::pki_types::ServerName::try_from(target.host.clone())
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                    let tls = futures_rustls::TlsConnector::from(config)
                        .connect(name, tcp)
                        .await?;
                    Ok(Box::new(FuturesIo::new(tls)) as Box<dyn Io>)
                }
            }
        })
    }
}
