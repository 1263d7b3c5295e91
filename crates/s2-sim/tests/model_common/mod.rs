//! What the model's tests share: a model served on loopback TCP to the
//! real s2-tokio client, and a client with short timeouts.

#![allow(dead_code)]

use std::time::Duration;

use rand::{SeedableRng, rngs::SmallRng};
use s2_sim::model::{Faults, Model};
use s2_tokio::{
    ClientConfig, S2, S2Stream, TokioRuntime,
    config::{AppendRetryPolicy, BackoffConfig, Endpoints},
    types::{AppendInput, AppendRecord, SequencedRecord},
};

/// The basin every test uses.
pub const BASIN: &str = "model-basin";

/// A model served on `127.0.0.1:<random port>`.
pub struct Served {
    pub model: Model<TokioRuntime>,
    pub endpoint: String,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Serves a model seeded with `seed`, with `faults`, on loopback.
pub async fn serve(seed: u64, faults: Faults) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let model = Model::new(TokioRuntime, SmallRng::seed_from_u64(seed)).with_faults(faults);
    let serving = model.clone();
    let accept = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let _ = socket.set_nodelay(true);
            tokio::spawn(serving.serve(socket));
        }
    });
    Served {
        model,
        endpoint,
        accept,
    }
}

/// A client configuration for `served`: short timeouts and backoff, so
/// fault cases run in well under a second each.
pub fn config(served: &Served) -> ClientConfig {
    ClientConfig::new("token")
        .with_endpoints(Endpoints::single(&served.endpoint).expect("endpoint"))
        .with_request_timeout(Duration::from_secs(2))
        .with_connect_timeout(Duration::from_secs(1))
        .with_retry(
            BackoffConfig::default()
                .with_base_delay(Duration::from_millis(10))
                .with_max_delay(Duration::from_millis(100))
                .with_max_retries(5),
        )
        .with_ack_timeout(Duration::from_secs(2))
        .with_heartbeat_timeout(Duration::from_secs(2))
}

/// A client of `served` with [`config`] and `policy`.
pub fn client(served: &Served, policy: AppendRetryPolicy) -> S2 {
    S2::new(config(served).with_append_retry_policy(policy)).expect("client")
}

/// The handle of `stream` in [`BASIN`], created in the model first.
pub fn stream(served: &Served, s2: &S2, stream: &str) -> S2Stream {
    served.model.create_stream(BASIN, stream);
    s2.basin(BASIN.parse().expect("basin name"))
        .stream(stream.parse().expect("stream name"))
}

/// A batch of records with bodies `prefix-0`, `prefix-1`, ...
pub fn batch(prefix: &str, n: usize) -> AppendInput {
    AppendInput::new(
        (0..n)
            .map(|i| AppendRecord::new(format!("{prefix}-{i}")))
            .collect::<Vec<_>>(),
    )
    .expect("batch")
}

/// The bodies of `records`, as text.
pub fn bodies(records: &[SequencedRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8_lossy(r.body()).into_owned())
        .collect()
}

/// The bodies the model holds for `stream` in [`BASIN`].
pub fn held(served: &Served, stream: &str) -> Vec<String> {
    bodies(&served.model.records(BASIN, stream).expect("stream exists"))
}
