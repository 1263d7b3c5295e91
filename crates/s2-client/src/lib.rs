//! The S2 client, independent of any async runtime.
//!
//! [`S2`], [`Basin`] and [`Stream`] are generic over a [`Runtime`]; the
//! runtime crates (`s2-tokio`, `s2-async-std`) supply one and re-export these
//! types with it filled in. Everything protocol-related comes from the
//! sans-IO [`s2_core`], re-exported here. To run on an executor of your own,
//! implement [`Runtime`] (four methods; see the `custom_runtime` example of
//! `s2-async-std`).
//!
//! The examples below are generic over the runtime `R`; with `s2-tokio`
//! write `s2_tokio::S2` and so on, without the parameter.
//!
//! # The client
//!
//! [`S2`] is the account: basins, access tokens, usage metrics. It is cheap
//! to clone (one connection pool per host, shared). [`S2::basin`] and
//! [`Basin::stream`] are handles: they send nothing until used.
//!
//! ```no_run
//! use s2_client::{BasinName, ClientConfig, Error, Runtime, S2, StreamName, types::*};
//!
//! async fn setup<R: Runtime + Default>() -> Result<s2_client::Stream<R>, Error> {
//!     // S2_ACCESS_TOKEN, and S2_ACCOUNT_ENDPOINT / S2_BASIN_ENDPOINT for s2-lite.
//!     let s2 = S2::<R>::new(ClientConfig::from_env()?)?;
//!     let basin_name = BasinName::new("my-basin")?;
//!     s2.ensure_basin(&basin_name, BasinConfig::default()).await?;
//!     let basin = s2.basin(basin_name);
//!     let stream_name = StreamName::new("events")?;
//!     basin.ensure_stream(&stream_name, StreamConfig::default()).await?;
//!     Ok(basin.stream(stream_name))
//! }
//! ```
//!
//! # Appending
//!
//! Three ways, from simplest to fastest:
//!
//! * [`Stream::append`]: one batch ([`types::AppendInput`], up to 1000
//!   records and 1 MiB), one round trip.
//! * [`Stream::append_session`] / [`Stream::append_session_handle`]: batches
//!   pipelined on one connection, acks in order, backpressure by
//!   unacknowledged bytes, transparent reconnects
//!   ([`AppendSessionHandle`]).
//! * [`Stream::producer`]: single records in, one ack per record out;
//!   batching by count, size and linger ([`Producer`]).
//!
//! ```no_run
//! use s2_client::{BatcherConfig, Error, Runtime, Stream, types::*};
//!
//! async fn append<R: Runtime>(stream: &Stream<R>) -> Result<(), Error> {
//!     // Unary, conditioned on the tail: exactly-once even if retried.
//!     let tail = stream.check_tail().await?;
//!     let input = AppendInput::new(vec![AppendRecord::new("hello")])?;
//!     let ack = stream.append(&input.with_match_seq_num(tail.seq_num)).await?;
//!     println!("landed at {}", ack.start.seq_num);
//!
//!     // A session: submit as you go, await acks when you need them.
//!     let session = stream.append_session_handle()?;
//!     let first = session.submit(AppendInput::new(vec![AppendRecord::new("a")])?).await?;
//!     let second = session.submit(AppendInput::new(vec![AppendRecord::new("b")])?).await?;
//!     session.close().await?;
//!     println!("{} then {}", first.await?.start.seq_num, second.await?.start.seq_num);
//!
//!     // A producer: one record at a time.
//!     let producer = stream.producer(BatcherConfig::default())?;
//!     let ack = producer.submit(AppendRecord::new("one record")).await?;
//!     producer.flush().await?;
//!     println!("record at {}", ack.await?.seq_num);
//!     producer.close().await
//! }
//! ```
//!
//! # Reading
//!
//! [`Stream::read`] returns one batch (or the tail). [`Stream::read_session`]
//! is a [`ReadSession`]: a `Stream` of [`ReadItem`]s that follows the tail
//! live, resumes after failures without gaps or duplicates, and ends when
//! the request's bounds are met.
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use s2_client::{Error, ReadItem, Runtime, Stream, types::*};
//!
//! async fn tail<R: Runtime>(stream: &Stream<R>) -> Result<(), Error> {
//!     let mut session = stream.read_session(ReadRequest::new(ReadStart::TailOffset(10)));
//!     while let Some(item) = session.next().await {
//!         match item? {
//!             ReadItem::Batch(batch) => {
//!                 for record in batch.records {
//!                     println!("{}: {} bytes", record.seq_num(), record.body().len());
//!                 }
//!             }
//!             ReadItem::CaughtUp(tail) => println!("live at {}", tail.seq_num),
//!             ReadItem::Tail(tail) => println!("start past the tail at {}", tail.seq_num),
//!             // An item newer than this code.
//!             _ => {}
//!         }
//!     }
//!     Ok(())
//! }
//! # fn main() {}
//! ```
//!
//! # Errors
//!
//! Every operation fails with one [`Error`]. Besides its variant, each
//! error answers two questions: [`Error::is_retryable`] (may trying again
//! succeed?) and [`Error::may_have_side_effect`] (`false` proves nothing was
//! applied; `true` means the outcome is unknown). The client has already
//! retried what was safe to retry; the guide [`docs::guarantees`] says what
//! each error means for you, and how conditioned appends make unknown
//! outcomes exactly-once.
//!
//! ```no_run
//! use s2_client::{AppendConditionFailed, Error, Runtime, Stream, types::*};
//!
//! async fn append_once<R: Runtime>(stream: &Stream<R>, input: AppendInput) -> Result<(), Error> {
//!     match stream.append(&input).await {
//!         Ok(ack) => println!("appended at {}", ack.start.seq_num),
//!         Err(Error::AppendCondition(AppendConditionFailed::FencingTokenMismatch { expected })) => {
//!             println!("another writer holds the stream: {expected}")
//!         }
//!         Err(e) if !e.may_have_side_effect() => println!("not applied: {e}"),
//!         Err(e) => println!("outcome unknown, may have been applied: {e}"),
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # Observability
//!
//! Spans and events through [`tracing`](https://docs.rs/tracing) (never the
//! token or record bodies), and with the `metrics` feature, counters,
//! gauges and histograms through the [`metrics`](https://docs.rs/metrics)
//! facade: see [`docs::observability`] and [`metrics`].
//!
//! # Cargo features
//!
//! * `metrics`: records the client's [`metrics`] into the installed
//!   `metrics` recorder. Off by default.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod auth;
mod basin;
mod batching;
mod body;
mod client;
mod config;
pub mod docs;
mod inner;
pub mod metrics;
mod pagination;
mod producer;
mod random;
mod retry;
pub mod runtime;
mod session;
mod stream;
mod sync;
mod tls;
mod trace;
mod transport;

pub use auth::{AccessTokenProvider, AccessTokenProviderError, TokenFuture};
pub use basin::Basin;
pub use batching::{AppendInputs, append_inputs};
pub use client::{DEFAULT_CLOSE_TIMEOUT, S2, generate_fencing_token};
pub use config::{
    AppendRetryPolicy, ClientConfig, DEFAULT_STREAM_RECEIVE_WINDOW, ENV_ACCESS_TOKEN,
    ENV_ACCOUNT_ENDPOINT, ENV_ALLOW_INSECURE_HTTP, ENV_BASIN_ENDPOINT, MAX_DURATION,
};
pub use producer::{Producer, RecordAck, RecordAckFuture, RecordPermit};
pub use runtime::Runtime;
pub use s2_core::{
    self as core, AccessToken, EncryptionKey, Error, ErrorCode,
    api::{Endpoints, PlainHttp},
    backoff::BackoffConfig,
    batcher::BatcherConfig,
    error::{AppendConditionFailed, EncryptionError, ProtocolError, ServiceError, ValidationError},
    frame::Compression,
    names::{AccessTokenId, BasinName, FencingToken, RequestToken, StreamName},
    types,
};
pub use session::{
    append::{
        AckFuture, AppendPermit, AppendSessionHandle, AppendSessionOptions,
        DEFAULT_MAX_UNACKED_BATCHES,
    },
    read::{CaughtUp, ReadItem, ReadRetryPolicy, ReadSession, ReadSessionOptions},
};
pub use stream::Stream;

/// A DER-encoded certificate, for [`ClientConfig::with_root_certificate`].
pub use rustls::pki_types::CertificateDer;

#[doc(hidden)]
pub use futures_core;
/// The `http` crate, for [`ClientConfig::default_headers`] and
/// [`ClientConfig::user_agent`].
pub use http;

/// Defines a runtime crate's handles on its runtime: the aliases `S2`,
/// `Basin`, `Stream`, `ReadSession` and `AppendInputs`, and
/// `append_inputs`. `$on` names the runtime in their docs.
#[macro_export]
macro_rules! runtime_handles {
    ($runtime:ty, $on:literal) => {
        #[doc = concat!("An S2 account client on ", $on, ".")]
        pub type S2 = $crate::S2<$runtime>;
        #[doc = concat!("A basin handle on ", $on, ".")]
        pub type Basin = $crate::Basin<$runtime>;
        #[doc = concat!("A stream handle on ", $on, ".")]
        pub type Stream = $crate::Stream<$runtime>;
        #[doc = concat!("A read session on ", $on, ".")]
        pub type ReadSession = $crate::ReadSession<$runtime>;
        /// The stream of batches made by [`append_inputs`].
        pub type AppendInputs<S> = $crate::AppendInputs<$runtime, S>;

        #[doc = concat!("Batches records into append inputs on ", $on, "'s timer.")]
        pub fn append_inputs<S>(
            records: S,
            config: $crate::BatcherConfig,
        ) -> Result<AppendInputs<S>, $crate::Error>
        where
            S: $crate::futures_core::Stream<Item = $crate::types::AppendRecord> + Unpin,
        {
            $crate::append_inputs(<$runtime>::default(), records, config)
        }
    };
}
