//! Sans-IO protocol core of the S2 client.
//!
//! Everything an S2 client needs that does not touch the network or the
//! clock: the data model ([`types`]), validated names ([`names`]), record
//! metering, the wire codecs (protobuf, JSON and the `s2s` session
//! [`frame`]s), request builders and response parsers for every v1
//! endpoint ([`api`]), and errors that say whether a failure is retryable
//! and whether it may have had an effect ([`error`]).
//!
//! A request leaves the core as an [`http::Request<Bytes>`](http::Request);
//! a response enters as a status, headers and body bytes. Runtime adapters
//! only move those bytes and keep time.

pub mod api;
pub mod backoff;
pub mod batcher;
pub mod error;
pub mod frame;
pub mod names;
pub mod proto;
pub mod secret;
pub mod session;
pub mod types;

pub use error::{Error, ValidationError};
pub use names::{AccessTokenId, BasinName, FencingToken, RequestToken, StreamName};
pub use secret::{AccessToken, EncryptionKey};
