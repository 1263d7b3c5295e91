//! The S2 client on [tokio](https://tokio.rs).
//!
//! ```no_run
//! use s2_tokio::{S2, ClientConfig, types::{BasinName, StreamName, AppendInput, AppendRecord}};
//!
//! # async fn demo() -> Result<(), s2_tokio::Error> {
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

use hyper_util::rt::TokioIo;
use s2_client::runtime::{BoxIo, ConnectFuture, ConnectTarget, PromptAcks, SleepFuture, Task};

/// The tokio runtime, as the client's [`Runtime`](runtime::Runtime): tasks
/// go to the ambient tokio runtime (the one the client is used from).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioRuntime;

s2_client::runtime_api!(crate::TokioRuntime, "tokio");

impl s2_client::Runtime for TokioRuntime {
    fn spawn(&self, task: Task) {
        tokio::spawn(task);
    }

    fn sleep(&self, duration: Duration) -> SleepFuture {
        Box::pin(tokio::time::sleep(duration))
    }

    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn connect(&self, target: ConnectTarget) -> ConnectFuture {
        Box::pin(async move {
            let tcp = tokio::net::TcpStream::connect((target.host.as_str(), target.port)).await?;
            tcp.set_nodelay(true)?;
            let acks = PromptAcks::of(&tcp)?;
            match &target.tls {
                None => Ok(Box::new(acks.wrap(TokioIo::new(tcp))) as BoxIo),
                Some(config) => {
                    let name = target.server_name()?;
                    let tls = tokio_rustls::TlsConnector::from(config.clone())
                        .connect(name, tcp)
                        .await?;
                    Ok(Box::new(acks.wrap(TokioIo::new(tls))) as BoxIo)
                }
            }
        })
    }
}

/// The README's examples, compiled as doctests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
