//! The Rust client for [S2](https://s2.dev), the durable streams API, on
//! [smol](https://docs.rs/smol).
//!
//! S2 keeps streams: append-only logs of records (headers and a body) that
//! the service sequences and timestamps, grouped in basins. This client
//! speaks the whole v1 API, to the S2 cloud or to a self-hosted
//! [s2-lite](https://github.com/s2-streamstore/s2): basins, streams, access
//! tokens and metrics; appends and reads, one call at a time or as
//! sessions that pipeline batches, follow the tail live and ride out
//! dropped connections without losing or repeating a record.
//!
//! # A first program
//!
//! ```sh
//! cargo add s2-smol smol
//! ```
//!
//! ```no_run
//! use s2_smol::{
//!     ClientConfig, Error, S2,
//!     types::{AppendInput, AppendRecord, BasinConfig, ReadOutput, ReadRequest, ReadStart, StreamConfig},
//! };
//!
//! fn main() -> Result<(), Error> {
//!     smol::block_on(async {
//!         // S2_ACCESS_TOKEN; for s2-lite also S2_ACCOUNT_ENDPOINT=http://localhost:8080.
//!         let s2 = S2::new(ClientConfig::from_env()?)?;
//!
//!         let basin_name = "my-basin".parse()?;
//!         s2.ensure_basin(&basin_name, BasinConfig::default()).await?;
//!         let basin = s2.basin(basin_name);
//!         let stream_name = "greetings".parse()?;
//!         basin.ensure_stream(&stream_name, StreamConfig::default()).await?;
//!         let stream = basin.stream(stream_name);
//!
//!         let records = vec![AppendRecord::new("hello"), AppendRecord::new("world")];
//!         let ack = stream.append(&AppendInput::new(records)?).await?;
//!         println!("appended {}..{}", ack.start.seq_num, ack.end.seq_num);
//!
//!         let request = ReadRequest::new(ReadStart::SeqNum(ack.start.seq_num));
//!         if let ReadOutput::Batch(batch) = stream.read(&request).await? {
//!             for record in &batch.records {
//!                 println!("{}: {}", record.seq_num(), String::from_utf8_lossy(record.body()));
//!             }
//!         }
//!         s2.close().await
//!     })
//! }
//! ```
//!
//! To try it without an account, run s2-lite on your machine (`cargo
//! install s2-cli`, then `s2 lite --port 8080`) and set
//! `S2_ACCESS_TOKEN=any S2_ACCOUNT_ENDPOINT=http://localhost:8080`.
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
//!
//! # Which crate
//!
//! | your code runs on | use |
//! |---|---|
//! | tokio | [`s2-tokio`](https://docs.rs/s2-tokio) |
//! | smol, or async-io based executors | `s2-smol` (this crate) |
//! | async-std (discontinued upstream) | [`s2-async-std`](https://docs.rs/s2-async-std); new code: `s2-smol` |
//! | an executor of your own | [`s2-client`](https://docs.rs/s2-client) with your [`Runtime`](runtime::Runtime) |
//! | the protocol without IO (simulations, your own event loop) | [`s2-core`](https://docs.rs/s2-core) |
//!
//! All runtime crates export the same API with the same behaviour: one
//! conformance suite runs on each.
//!
//! # The API
//!
//! - [`S2`] is the account (basins, access tokens, metrics); [`S2::basin`]
//!   gives an [`S2Basin`] (streams), whose [`S2Basin::stream`] gives an
//!   [`S2Stream`]. Handles are cheap and send nothing until used.
//! - [`S2Stream`] appends and reads: unary ([`S2Stream::append`],
//!   [`S2Stream::read`], [`S2Stream::check_tail`]) or as sessions
//!   ([`S2Stream::append_session`] → [`AppendSession`],
//!   [`S2Stream::read_session`] → [`ReadSession`], [`S2Stream::producer`] →
//!   [`Producer`]).
//! - [`types`]: records and batches, reads, basin and stream configuration,
//!   access tokens, metrics, names. [`session`]: the session types and
//!   their acks. [`config`]: every setting of the client and of a session.
//!   [`error`]: what can fail.
//!
//! # Errors
//!
//! Every call fails with one [`Error`]. Mistakes of the caller are
//! [`Error::Validation`], raised before anything is sent; the rest come
//! from the service, the network or the bytes on the wire. Each error
//! answers two questions: [`Error::is_retryable`] (might trying again
//! succeed?) and [`Error::may_have_side_effect`] (`false` proves nothing
//! was applied). The client has already retried what was safe to retry;
//! the guide [`docs::guarantees`] says what each error means for an append
//! and how conditioned appends make unknown outcomes exactly-once.
//!
//! # Guides and examples
//!
//! - [`docs::guarantees`]: delivery guarantees, retries, exactly-once.
//! - [`docs::troubleshooting`]: when something looks wrong.
//! - [`docs::observability`]: tracing spans and events, and [`metrics`].
//! - [Examples](https://github.com/s2-rs/s2-rs/tree/main/crates/s2-smol/examples):
//!   `cargo run -p s2-smol --example quickstart_smol` in the repository runs the
//!   quickstart against an embedded s2-lite; the examples of
//!   [`s2-tokio`](https://github.com/s2-rs/s2-rs/tree/main/crates/s2-tokio/examples)
//!   (sessions, producers, exactly-once, fencing) use the same API.
//!
//! # Cargo features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `ring` | yes | TLS crypto by *ring* |
//! | `aws-lc-rs` | no | TLS crypto by aws-lc-rs (preferred when both are on; needs cmake and a C compiler) |
//! | `webpki-roots` | yes | trusts the Mozilla root certificates compiled into the binary |
//! | `native-roots` | no | can trust the system's roots ([`ClientConfig::with_native_roots`]) |
//! | `zstd` | no | [`Compression::Zstd`](config::Compression::Zstd) for appends and reads |
//! | `gzip` | no | [`Compression::Gzip`](config::Compression::Gzip) for appends and reads |
//! | `metrics` | no | records the client's [`metrics`] into the installed `metrics` recorder |
//!
//! A setting that needs a feature left out (a codec, the system's roots)
//! is refused by name when the client is built. Tasks, timers and sockets go
//! through smol (async-executor, async-io, async-net); no tokio runtime is
//! needed.

#![cfg_attr(docsrs, feature(doc_cfg))]

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

    fn sleep_until(&self, deadline: Instant) -> SleepFuture {
        let timer = smol::Timer::at(deadline);
        Box::pin(async move {
            timer.await;
        })
    }

    // `reset_sleep` keeps its default (a fresh `sleep_until`): a
    // `SleepFuture` is an erased `dyn Future`, so the `Timer` inside cannot
    // be told apart from other futures to be moved with `Timer::set_at`.

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
