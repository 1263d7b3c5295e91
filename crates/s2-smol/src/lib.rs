//! The S2 client on [smol](https://docs.rs/smol).
//!
//! ```no_run
//! use s2_smol::{S2, ClientConfig, types::{BasinName, StreamName, AppendInput, AppendRecord}};
//!
//! fn main() -> Result<(), s2_smol::Error> {
//!     let s2 = S2::new(ClientConfig::from_env()?)?;
//!     let stream = s2
//!         .basin(BasinName::new("my-basin")?)
//!         .stream(StreamName::new("events")?);
//!     smol::block_on(async {
//!         let ack = stream
//!             .append(&AppendInput::new(vec![AppendRecord::new("hello")])?)
//!             .await?;
//!         println!("appended at {}", ack.start.seq_num);
//!         Ok(())
//!     })
//! }
//! ```
//!
//! # Choosing the executor
//!
//! The client runs background tasks: its HTTP/2 connections (and the
//! attempts to open them), append sessions and producers. By default
//! ([`S2::new`], [`SmolRuntime::default`]) they go to smol's global executor,
//! which runs on threads of its own (one unless the `SMOL_THREADS`
//! environment variable says otherwise): the client works from
//! `smol::block_on` or any task, and nobody needs to run an executor for it.
//!
//! To keep them on an executor of your own, hand it to
//! [`SmolRuntime::with_executor`] and build the client with
//! [`S2::with_runtime`]. Then running that executor is up to you (see
//! [`SmolRuntime::with_executor`] for what happens when nobody does):
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use s2_smol::{S2, ClientConfig, types::{BasinName, StreamName}, SmolRuntime};
//!
//! fn main() -> Result<(), s2_smol::Error> {
//!     let executor = Arc::new(smol::Executor::new());
//!     let s2 = S2::with_runtime(
//!         ClientConfig::from_env()?,
//!         SmolRuntime::with_executor(executor.clone()),
//!     )?;
//!     let stream = s2
//!         .basin(BasinName::new("my-basin")?)
//!         .stream(StreamName::new("events")?);
//!     // This thread runs the executor (and so the client's tasks) while it
//!     // waits for the call; threads of your own could run it instead, with
//!     // `executor.run(...)`.
//!     let tail = smol::block_on(executor.run(stream.check_tail()))?;
//!     println!("tail at {}", tail.seq_num);
//!     Ok(())
//! }
//! ```

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use s2_client::runtime::{BoxIo, ConnectFuture, ConnectTarget, PromptAcks, SleepFuture, Task};
use smol::Executor;
use smol_hyper::rt::FuturesIo;

/// The smol runtime, as the client's [`Runtime`](runtime::Runtime): tasks go to smol's global
/// executor (the [`Default`]) or to an executor of yours
/// ([`with_executor`](Self::with_executor)); timers and sockets go to the
/// async-io reactor, which runs on its own.
#[derive(Debug, Clone, Default)]
pub struct SmolRuntime {
    /// Where tasks go; `None` for smol's global executor.
    executor: Option<Arc<Executor<'static>>>,
}

impl SmolRuntime {
    /// The runtime on `executor`: the client's background tasks (its
    /// connections, append sessions and producers) are spawned there.
    ///
    /// You run the executor: on threads of your own
    /// (`smol::block_on(executor.run(future))` on each), or on the thread
    /// that uses the client, by awaiting the client's calls inside
    /// `executor.run(...)`. While nobody runs it, the client's tasks stand
    /// still: unary calls fail once their request timeout runs out, and
    /// sessions and producers make no progress (a producer still takes
    /// records, up to its caps, but sends none). All of them go on where
    /// they stopped once the executor runs again. The client keeps a handle
    /// to the executor: it lives at least as long as the client.
    pub fn with_executor(executor: Arc<Executor<'static>>) -> Self {
        Self {
            executor: Some(executor),
        }
    }
}

s2_client::runtime_api!(crate::SmolRuntime, "smol");

impl s2_client::Runtime for SmolRuntime {
    fn spawn(&self, task: Task) {
        // A dropped smol `Task` cancels its future: detach it instead.
        match &self.executor {
            Some(executor) => executor.spawn(task).detach(),
            None => smol::spawn(task).detach(),
        }
    }

    fn sleep(&self, duration: Duration) -> SleepFuture {
        let timer = smol::Timer::after(duration);
        Box::pin(async move {
            timer.await;
        })
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn connect(&self, target: ConnectTarget) -> ConnectFuture {
        Box::pin(async move {
            let tcp = smol::net::TcpStream::connect((target.host.as_str(), target.port)).await?;
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
