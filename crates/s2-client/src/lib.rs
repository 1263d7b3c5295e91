//! The S2 client, independent of any async runtime.
//!
//! [`S2`], [`Basin`] and [`Stream`] are generic over a [`Runtime`]; the
//! runtime crates (`s2-tokio`, `s2-async-std`) supply one and re-export these
//! types with it filled in. Everything protocol-related comes from the
//! sans-IO [`s2_core`], re-exported here.

mod basin;
mod batching;
mod body;
mod client;
mod config;
mod pagination;
mod producer;
mod retry;
pub mod runtime;
mod session;
mod stream;
mod tls;
mod transport;

pub use basin::Basin;
pub use batching::{AppendInputs, append_inputs};
pub use client::S2;
pub use config::{
    AppendRetryPolicy, ClientConfig, ENV_ACCESS_TOKEN, ENV_ACCOUNT_ENDPOINT, ENV_BASIN_ENDPOINT,
};
pub use producer::{Producer, RecordAck, RecordAckFuture};
pub use runtime::Runtime;
pub use s2_core::{
    self as core, Error,
    api::Endpoints,
    batcher::BatcherConfig,
    error::{AppendConditionFailed, ProtocolError, ServiceError, ValidationError},
    frame::Compression,
    names::{AccessTokenId, BasinName, FencingToken, RequestToken, StreamName},
    types,
};
pub use session::{
    append::{AckFuture, AppendSessionHandle},
    read::{ReadItem, ReadSession},
};
pub use stream::Stream;
