//! A custom runtime: the client on an executor this SDK does not ship.
//!
//! The client is written once over a small [`Runtime`] trait: spawn a
//! task, sleep, tell the time, open a TCP (optionally TLS) connection. This
//! example implements it for the `futures` crate's `ThreadPool`, with
//! `async-io` for timers and sockets and `futures-rustls` for TLS, then
//! runs an append and a read on it. Nothing of async-std or tokio is used:
//! an application on its own executor depends on `s2-client` (the
//! runtime-independent client) and writes this one impl.
//!
//! ```text
//! cargo run -p s2-async-std --example custom_runtime
//! ```
//! With no `S2_ACCOUNT_ENDPOINT` it starts an embedded s2-lite (which runs
//! on a thread of its own).

mod common;

use std::{
    io,
    net::{TcpStream, ToSocketAddrs},
    time::{Duration, Instant},
};

use async_io::{Async, Timer};
use futures_executor::ThreadPool;
use s2_client::{
    Runtime, S2,
    runtime::{BoxIo, ConnectFuture, ConnectTarget, PromptAcks, SleepFuture, Task},
    types::{
        AppendInput, AppendRecord, BasinConfig, BasinName, ReadRequest, ReadStart, StreamConfig,
        StreamName,
    },
};
use smol_hyper::rt::FuturesIo;

/// The runtime: tasks on a thread pool, timers and sockets from async-io's
/// reactor (driven by its own thread when nobody blocks on it).
#[derive(Clone)]
struct PoolRuntime {
    pool: ThreadPool,
}

impl Runtime for PoolRuntime {
    fn spawn(&self, task: Task) {
        self.pool.spawn_ok(task);
    }

    fn sleep(&self, duration: Duration) -> SleepFuture {
        let timer = Timer::after(duration);
        Box::pin(async move {
            timer.await;
        })
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn connect(&self, target: ConnectTarget) -> ConnectFuture {
        Box::pin(async move {
            // Name resolution blocks: keep it off the pool's threads.
            let (host, port) = (target.host.clone(), target.port);
            let addr = blocking(move || (host.as_str(), port).to_socket_addrs())
                .await?
                .next()
                .ok_or_else(|| io::Error::other("the host has no address"))?;
            let tcp = Async::<TcpStream>::connect(addr).await?;
            tcp.get_ref().set_nodelay(true)?;
            // Acknowledge at once what arrives, so a server using Nagle's
            // algorithm does not hold acks back.
            let acks = PromptAcks::of(&tcp)?;
            // hyper reads and writes through its own I/O traits; `FuturesIo`
            // adapts the futures-io ones.
            match &target.tls {
                None => Ok(Box::new(acks.wrap(FuturesIo::new(tcp))) as BoxIo),
                Some(config) => {
                    let tls = futures_rustls::TlsConnector::from(config.clone())
                        .connect(target.server_name()?, tcp)
                        .await?;
                    Ok(Box::new(acks.wrap(FuturesIo::new(tls))) as BoxIo)
                }
            }
        })
    }
}

/// Runs `f` on a thread of its own and awaits its result.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = futures_channel::oneshot::channel();
    std::thread::spawn(move || {
        let _ = sender.send(f());
    });
    receiver.await.expect("the thread sends before it ends")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    // Example only: ClientConfig::from_env(), or an s2-lite in this process
    // when S2_ACCOUNT_ENDPOINT is unset. In your code:
    //     let config = ClientConfig::from_env()?;
    let config = common::config_from_env_or_embedded_s2_lite()?;
    let runtime = PoolRuntime {
        pool: ThreadPool::builder().pool_size(2).create()?,
    };
    // The client's own tasks go to `runtime`; this future is driven by
    // `block_on` on the main thread.
    let s2 = S2::with_runtime(config, runtime)?;
    futures_executor::block_on(async move {
        let basin_name =
            BasinName::new(std::env::var("S2_BASIN").unwrap_or_else(|_| "example-basin".into()))?;
        s2.ensure_basin(&basin_name, BasinConfig::default()).await?;
        let basin = s2.basin(basin_name);
        let stream_name = StreamName::new(
            std::env::var("S2_STREAM").unwrap_or_else(|_| "custom-runtime".into()),
        )?;
        basin
            .ensure_stream(&stream_name, StreamConfig::default())
            .await?;
        let stream = basin.stream(stream_name);

        let input = AppendInput::new(vec![AppendRecord::new("appended on a thread pool")])?;
        let ack = stream.append(&input).await?;
        println!("appended at {}", ack.start.seq_num);
        let read = stream
            .read(&ReadRequest::new(ReadStart::SeqNum(ack.start.seq_num)))
            .await?;
        for record in read.records() {
            println!(
                "read #{}: {}",
                record.seq_num(),
                String::from_utf8_lossy(record.body())
            );
        }
        Ok(())
    })
}
