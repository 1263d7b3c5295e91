//! The Rust client for [S2](https://s2.dev), the durable streams API, on
//! [tokio](https://tokio.rs).
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
//! cargo add s2-tokio
//! cargo add tokio --features macros,rt-multi-thread
//! ```
//!
//! ```no_run
//! use s2_tokio::{
//!     ClientConfig, Error, S2,
//!     types::{AppendInput, AppendRecord, BasinConfig, ReadOutput, ReadRequest, ReadStart, StreamConfig},
//! };
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     // S2_ACCESS_TOKEN; for s2-lite also S2_ACCOUNT_ENDPOINT=http://localhost:8080.
//!     let s2 = S2::new(ClientConfig::from_env()?)?;
//!
//!     let basin_name = "my-basin".parse()?;
//!     s2.ensure_basin(&basin_name, BasinConfig::default()).await?;
//!     let basin = s2.basin(basin_name);
//!     let stream_name = "greetings".parse()?;
//!     basin.ensure_stream(&stream_name, StreamConfig::default()).await?;
//!     let stream = basin.stream(stream_name);
//!
//!     let records = vec![AppendRecord::new("hello"), AppendRecord::new("world")];
//!     let ack = stream.append(&AppendInput::new(records)?).await?;
//!     println!("appended {}..{}", ack.start.seq_num, ack.end.seq_num);
//!
//!     let request = ReadRequest::new(ReadStart::SeqNum(ack.start.seq_num));
//!     if let ReadOutput::Batch(batch) = stream.read(&request).await? {
//!         for record in &batch.records {
//!             println!("{}: {}", record.seq_num(), String::from_utf8_lossy(record.body()));
//!         }
//!     }
//!     s2.close().await
//! }
//! ```
//!
//! To try it without an account, run s2-lite on your machine (`cargo
//! install s2-cli`, then `s2 lite --port 8080`) and set
//! `S2_ACCESS_TOKEN=any S2_ACCOUNT_ENDPOINT=http://localhost:8080`.
//!
//! # Which crate
//!
//! | your code runs on | use |
//! |---|---|
//! | tokio | `s2-tokio` (this crate) |
//! | smol, or async-io based executors | [`s2-smol`](https://docs.rs/s2-smol) |
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
//! - [Examples](https://github.com/s2-rs/s2-rs/tree/main/crates/s2-tokio/examples):
//!   sessions, producers, exactly-once under cut connections, fencing,
//!   tailing, metrics; `cargo run -p s2-tokio --example quickstart` in the
//!   repository runs one against an embedded s2-lite.
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
//! is refused by name when the client is built. The library needs tokio's
//! `rt`, `net` and `time` features, which it enables itself; the client
//! runs on the tokio runtime it is used from (multi-threaded or not).

#![cfg_attr(docsrs, feature(doc_cfg))]

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

    fn sleep_until(&self, deadline: Instant) -> SleepFuture {
        Box::pin(tokio::time::sleep_until(deadline.into()))
    }

    // `reset_sleep` keeps its default (a fresh `sleep_until`): a
    // `SleepFuture` is an erased `dyn Future`, so the `tokio::time::Sleep`
    // inside cannot be told apart from other futures to be reset in place.

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
