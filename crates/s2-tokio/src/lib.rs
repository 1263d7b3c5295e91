//! The S2 client on [tokio](https://tokio.rs).
//!
//! ```no_run
//! use s2_tokio::{S2, ClientConfig, BasinName, StreamName, types::{AppendInput, AppendRecord}};
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

use std::{
    future::Future,
    io,
    pin::Pin,
    time::{Duration, Instant},
};

use hyper_util::rt::TokioIo;
use s2_client::runtime::{ConnectTarget, Io};
pub use s2_client::{
    AccessTokenId, AckFuture, AppendConditionFailed, AppendRetryPolicy, AppendSessionHandle,
    BasinName, BatcherConfig, ClientConfig, Compression, ENV_ACCESS_TOKEN, ENV_ACCOUNT_ENDPOINT,
    ENV_BASIN_ENDPOINT, Endpoints, Error, FencingToken, Producer, ProtocolError, ReadItem,
    RecordAck, RecordAckFuture, RequestToken, ServiceError, StreamName, ValidationError, core,
    runtime, types,
};

/// The tokio runtime, as the client's [`Runtime`](s2_client::Runtime): tasks
/// go to the ambient tokio runtime (the one the client is used from).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioRuntime;

/// An S2 account client on tokio.
pub type S2 = s2_client::S2<TokioRuntime>;
/// A basin handle on tokio.
pub type Basin = s2_client::Basin<TokioRuntime>;
/// A stream handle on tokio.
pub type Stream = s2_client::Stream<TokioRuntime>;
/// A read session on tokio.
pub type ReadSession = s2_client::ReadSession<TokioRuntime>;
/// The stream of batches made by [`append_inputs`].
pub type AppendInputs<S> = s2_client::AppendInputs<TokioRuntime, S>;

/// Batches a stream of records into append inputs, lingering on tokio's
/// timer (see [`s2_client::append_inputs`]).
pub fn append_inputs<S>(records: S, config: BatcherConfig) -> Result<AppendInputs<S>, Error>
where
    S: futures_core::Stream<Item = types::AppendRecord> + Unpin,
{
    s2_client::append_inputs(TokioRuntime, records, config)
}

impl s2_client::Runtime for TokioRuntime {
    fn spawn(&self, task: Pin<Box<dyn Future<Output = ()> + Send>>) {
        tokio::spawn(task);
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        Box::pin(tokio::time::sleep(duration))
    }

    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn connect(
        &self,
        target: ConnectTarget,
    ) -> Pin<Box<dyn Future<Output = io::Result<Box<dyn Io>>> + Send>> {
        Box::pin(async move {
            let tcp = tokio::net::TcpStream::connect((target.host.as_str(), target.port)).await?;
            tcp.set_nodelay(true)?;
            match target.tls {
                None => Ok(Box::new(TokioIo::new(tcp)) as Box<dyn Io>),
                Some(config) => {
                    let name = rustls::pki_types::ServerName::try_from(target.host.clone())
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                    let tls = tokio_rustls::TlsConnector::from(config)
                        .connect(name, tcp)
                        .await?;
                    Ok(Box::new(TokioIo::new(tls)) as Box<dyn Io>)
                }
            }
        })
    }
}

/// The README's examples, compiled as doctests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
