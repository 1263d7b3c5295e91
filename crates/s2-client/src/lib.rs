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
mod sync;
mod tls;
mod transport;

pub use basin::Basin;
pub use batching::{AppendInputs, append_inputs};
pub use client::S2;
pub use config::{
    AppendRetryPolicy, ClientConfig, ENV_ACCESS_TOKEN, ENV_ACCOUNT_ENDPOINT,
    ENV_ALLOW_INSECURE_HTTP, ENV_BASIN_ENDPOINT, MAX_DURATION,
};
pub use producer::{Producer, RecordAck, RecordAckFuture};
pub use runtime::Runtime;
pub use s2_core::{
    self as core, AccessToken, EncryptionKey, Error,
    api::{Endpoints, PlainHttp},
    batcher::BatcherConfig,
    error::{AppendConditionFailed, EncryptionError, ProtocolError, ServiceError, ValidationError},
    frame::Compression,
    names::{AccessTokenId, BasinName, FencingToken, RequestToken, StreamName},
    types,
};
pub use session::{
    append::{AckFuture, AppendSessionHandle},
    read::{ReadItem, ReadSession},
};
pub use stream::Stream;

/// A DER-encoded certificate, for [`ClientConfig::with_root_certificate`].
pub use rustls::pki_types::CertificateDer;

#[doc(hidden)]
pub use futures_core;

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
