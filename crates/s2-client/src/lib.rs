//! The [S2](https://s2.dev) client, independent of any async runtime.
//!
//! **Most applications want a runtime crate instead:**
//! [`s2-tokio`](https://docs.rs/s2-tokio), [`s2-smol`](https://docs.rs/s2-smol)
//! or [`s2-async-std`](https://docs.rs/s2-async-std). They re-export this
//! API with their runtime filled in (`s2_tokio::S2` for `S2<TokioRuntime>`),
//! and their crate page starts with a complete first program.
//!
//! This crate is for running the client on an executor of your own:
//! implement [`Runtime`] (spawn, sleep, tell the time, connect; see the
//! `custom_runtime` example of `s2-async-std`) and use [`S2`],
//! [`S2Basin`] and [`S2Stream`] with it. The protocol itself (codecs,
//! validation, the session state machines) is the sans-IO crate
//! [`s2-core`](https://docs.rs/s2-core), for those who drive it themselves.
//!
//! The API, by topic: the handles at the root ([`S2`] → [`S2Basin`] →
//! [`S2Stream`]); the data model in [`types`]; sessions in [`session`];
//! settings in [`config`]; failures in [`error`]; guides in [`docs`].
//!
//! The examples below are generic over the runtime `R`; with `s2-tokio`
//! write `s2_tokio::S2` and so on, without the parameter.
//!
//! # The client
//!
//! [`S2`] is the account: basins, access tokens, usage metrics. It is cheap
//! to clone (one connection pool per host, shared). [`S2::basin`] and
//! [`S2Basin::stream`] are handles: they send nothing until used.
//!
//! ```no_run
//! use s2_client::{ClientConfig, Error, Runtime, S2, S2Stream, types::*};
//!
//! async fn setup<R: Runtime + Default>() -> Result<s2_client::S2Stream<R>, Error> {
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
//! * [`S2Stream::append`]: one batch ([`types::AppendInput`], up to 1000
//!   records and 1 MiB), one round trip.
//! * [`S2Stream::append_all`] / [`S2Stream::append_session`]: batches
//!   pipelined on one connection, acks in order, backpressure by
//!   unacknowledged bytes, transparent reconnects
//!   ([`AppendSession`]).
//! * [`S2Stream::producer`]: single records in, one ack per record out;
//!   batching by count, size and linger ([`Producer`]).
//!
//! ```no_run
//! use s2_client::{config::BatcherConfig, Error, Runtime, S2Stream, types::*};
//!
//! async fn append<R: Runtime>(stream: &S2Stream<R>) -> Result<(), Error> {
//!     // Unary, conditioned on the tail: exactly-once even if retried.
//!     let tail = stream.check_tail().await?;
//!     let input = AppendInput::new(vec![AppendRecord::new("hello")])?;
//!     let ack = stream.append(&input.with_match_seq_num(tail.seq_num)).await?;
//!     println!("landed at {}", ack.start.seq_num);
//!
//!     // A session: submit as you go, await acks when you need them.
//!     let session = stream.append_session()?;
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
//! [`S2Stream::read`] returns one batch (or the tail). [`S2Stream::read_session`]
//! is a [`ReadSession`]: a `Stream` of [`ReadItem`](session::ReadItem)s that follows the tail
//! live, resumes after failures without gaps or duplicates, and ends when
//! the request's bounds are met.
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use s2_client::{Error, session::ReadItem, Runtime, S2Stream, types::*};
//!
//! async fn tail<R: Runtime>(stream: &S2Stream<R>) -> Result<(), Error> {
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
//! use s2_client::{error::AppendConditionFailed, Error, Runtime, S2Stream, types::*};
//!
//! async fn append_once<R: Runtime>(stream: &S2Stream<R>, input: AppendInput) -> Result<(), Error> {
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
//! | feature | default | what it adds |
//! |---|---|---|
//! | `ring` | yes | TLS crypto by *ring* |
//! | `aws-lc-rs` | no | TLS crypto by aws-lc-rs (preferred when both are on; needs cmake) |
//! | `webpki-roots` | yes | trusts the Mozilla roots compiled into the binary |
//! | `native-roots` | no | can trust the system's roots ([`ClientConfig::with_native_roots`]) |
//! | `zstd` | no | [`Compression::Zstd`](config::Compression::Zstd) |
//! | `gzip` | no | [`Compression::Gzip`](config::Compression::Gzip) |
//! | `metrics` | no | records the client's [`metrics`] into the installed `metrics` recorder |
//!
//! A setting that needs a feature left out (a codec, the system's roots)
//! is refused by name when the client is built.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod auth;
mod basin;
mod batching;
mod body;
mod client;
pub mod config;
pub mod docs;
mod inner;
pub mod metrics;
mod pagination;
mod producer;
mod random;
mod retry;
pub mod runtime;
pub mod session;
mod stream;
mod sync;
mod tls;
mod trace;
mod transport;

pub use basin::S2Basin;
pub use client::S2;
pub use config::ClientConfig;
pub use producer::Producer;
pub use runtime::Runtime;
pub use s2_core::Error;
pub use session::{AppendSession, ReadSession};
pub use stream::S2Stream;

/// The data model: records and batches, reads, basins and streams and
/// their configuration, access tokens, metrics, and the validated names
/// and secrets that go into requests.
///
/// The same types as [`s2_core::types`], [`s2_core::names`] and
/// [`s2_core::secret`], gathered in one place.
pub mod types {
    pub use crate::client::generate_fencing_token;
    pub use s2_core::{
        names::{
            ACCESS_TOKEN_ID_MAX_LEN, AccessTokenId, BASIN_NAME_MAX_LEN, BASIN_NAME_MIN_LEN,
            BasinName, FENCING_TOKEN_MAX_LEN, FencingToken, REQUEST_TOKEN_MAX_LEN, RequestToken,
            STREAM_NAME_MAX_LEN, StreamName,
        },
        secret::{AccessToken, EncryptionKey},
        types::*,
    };
}

/// Errors. Every operation fails with one [`Error`]; its variants carry
/// the types of this module. See [`docs::guarantees`] for what each means
/// for a retry.
pub mod error {
    pub use crate::auth::AccessTokenProviderError;
    pub use s2_core::{error::*, frame::FrameError};
}

/// The `http` crate, for [`ClientConfig::with_default_headers`].
pub use http;

#[doc(hidden)]
pub use futures_core;

/// Defines the public API of a runtime crate on `$runtime` (a path that
/// resolves from any module of that crate, such as `crate::TokioRuntime`):
/// the handles [`S2`], [`S2Basin`], [`S2Stream`] and [`ReadSession`] with the
/// runtime filled in, the modules [`types`], [`config`], [`error`] and
/// [`session`] (with `append_inputs` on the runtime's timer), and the
/// runtime-independent items. `$on` names the runtime in the docs.
#[macro_export]
macro_rules! runtime_api {
    ($runtime:ty, $on:literal) => {
        pub use $crate::{
            AppendSession, ClientConfig, Error, Producer, config, docs, error, http, metrics,
            runtime, types,
        };

        #[doc = concat!("An S2 account client on ", $on, ": basins, access tokens, metrics.")]
        ///
        /// Cheap to clone: clones share one connection pool per host.
        pub type S2 = $crate::S2<$runtime>;
        #[doc = concat!("A basin handle on ", $on, ": its streams. Sends nothing until used.")]
        pub type S2Basin = $crate::S2Basin<$runtime>;
        #[doc = concat!("A stream handle on ", $on, ": appends, reads and sessions. Sends nothing until used.")]
        pub type S2Stream = $crate::S2Stream<$runtime>;
        #[doc = concat!("A read session on ", $on, ".")]
        pub type ReadSession = $crate::ReadSession<$runtime>;

        /// Sessions: an [`AppendSession`] pipelines batches on one
        /// connection, a [`ReadSession`] follows a stream live, a
        /// [`Producer`] takes single records and acknowledges each;
        /// [`append_inputs`] batches a stream of records for them.
        ///
        /// All three reconnect by themselves, without losing or repeating
        /// records (see [`docs::guarantees`](crate::docs::guarantees)); they
        /// are opened from an [`S2Stream`](crate::S2Stream), and their
        /// options live in [`config`](crate::config).
        pub mod session {
            pub use $crate::session::{
                AckFuture, AppendPermit, AppendSession, CaughtUp, Producer, ReadItem, RecordAck,
                RecordAckFuture, RecordPermit,
            };

            #[doc = concat!("A read session on ", $on, ".")]
            pub type ReadSession = $crate::session::ReadSession<$runtime>;
            /// The stream of batches made by [`append_inputs`].
            pub type AppendInputs<S> = $crate::session::AppendInputs<$runtime, S>;

            #[doc = concat!("Batches records into append inputs on ", $on, "'s timer: see [`BatcherConfig`](crate::config::BatcherConfig).")]
            pub fn append_inputs<S>(
                records: S,
                config: $crate::config::BatcherConfig,
            ) -> Result<AppendInputs<S>, $crate::Error>
            where
                S: $crate::futures_core::Stream<Item = $crate::types::AppendRecord> + Unpin,
            {
                $crate::session::append_inputs(<$runtime>::default(), records, config)
            }
        }
    };
}
