//! The S2 client on [async-std](https://docs.rs/async-std) and
//! [smol](https://docs.rs/smol).
//!
//! Both runtimes share the same foundations (the async-io reactor and timers,
//! the async-global-executor thread pool), which this adapter is built on:
//! the client works from `async_std::task::block_on`, `smol::block_on`, or
//! any task of either runtime.
//!
//! ```no_run
//! use s2_async_std::{S2, ClientConfig, types::{BasinName, StreamName, AppendInput, AppendRecord}};
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

use std::time::{Duration, Instant};

use s2_client::runtime::{BoxIo, ConnectFuture, ConnectTarget, PromptAcks, SleepFuture, Task};
use smol_hyper::rt::FuturesIo;

/// The async-std / smol runtime, as the client's
/// [`Runtime`](runtime::Runtime): tasks go to async-std's global executor
/// (which runs on threads of its own, so no executor needs to be driven by
/// the caller), timers and sockets to the async-io reactor.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStdRuntime;

s2_client::runtime_api!(crate::AsyncStdRuntime, "async-std");

impl s2_client::Runtime for AsyncStdRuntime {
    fn spawn(&self, task: Task) {
        // Dropping async-std's `JoinHandle` detaches the task.
        async_std::task::spawn(task);
    }

    fn sleep(&self, duration: Duration) -> SleepFuture {
        let timer = async_io::Timer::after(duration);
        Box::pin(async move {
            timer.await;
        })
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn connect(&self, target: ConnectTarget) -> ConnectFuture {
        Box::pin(async move {
            let tcp =
                async_std::net::TcpStream::connect((target.host.as_str(), target.port)).await?;
            tcp.set_nodelay(true)?;
            let acks = PromptAcks::of(&tcp)?;
            match &target.tls {
                None => Ok(Box::new(acks.wrap(FuturesIo::new(tcp))) as BoxIo),
                Some(config) => {
                    let name = target.server_name()?;
                    let tls = futures_rustls::TlsConnector::from(config.clone())
                        .connect(name, tcp)
                        .await?;
                    Ok(Box::new(acks.wrap(FuturesIo::new(tls))) as BoxIo)
                }
            }
        })
    }
}
