//! Client metrics in Prometheus text format.
//!
//! With the `metrics` cargo feature, the client records its counters,
//! gauges and histograms (records and bytes appended and read, ack latency,
//! unacknowledged bytes, retries, reconnects, exactly-once resolutions,
//! open sessions and connections; see `s2_tokio::metrics`) through the
//! [`metrics`](https://docs.rs/metrics) facade, into whatever recorder the
//! application installs. Here: `metrics-exporter-prometheus`, rendered to
//! stdout after some traffic; a service would serve the same text on
//! `/metrics`.
//!
//! ```text
//! cargo run -p s2-tokio --example metrics
//! ```
//! (In your own `Cargo.toml`: `s2-tokio = { version = "...", features = ["metrics"] }`.)
//! With no `S2_ACCOUNT_ENDPOINT` it starts an embedded s2-lite; the basin and
//! stream come from `S2_BASIN` and `S2_STREAM`.

mod common;

use futures_util::StreamExt;
use metrics_exporter_prometheus::PrometheusBuilder;
use s2_tokio::{
    S2,
    session::ReadItem,
    types::{
        AppendInput, AppendRecord, BasinConfig, BasinName, ReadLimit, ReadRequest, ReadStart,
        StreamConfig, StreamName,
    },
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    // Install the recorder first: the client records into whichever one is
    // installed when it records.
    let prometheus = PrometheusBuilder::new().install_recorder()?;
    s2_tokio::metrics::describe();

    // Example only: ClientConfig::from_env(), or an s2-lite in this process
    // when S2_ACCOUNT_ENDPOINT is unset. In your code:
    //     let config = ClientConfig::from_env()?;
    let config = common::config_from_env_or_embedded_s2_lite()?;
    let s2 = S2::new(config)?;
    let basin_name =
        BasinName::new(std::env::var("S2_BASIN").unwrap_or_else(|_| "example-basin".into()))?;
    s2.ensure_basin(&basin_name, BasinConfig::default()).await?;
    let basin = s2.basin(basin_name);
    let stream_name =
        StreamName::new(std::env::var("S2_STREAM").unwrap_or_else(|_| "metrics".into()))?;
    basin
        .ensure_stream(&stream_name, StreamConfig::default())
        .await?;
    let stream = basin.stream(stream_name);

    // Some traffic: 50 batches through an append session, then read back.
    let start = stream.check_tail().await?.seq_num;
    let inputs = (0..50).map(|b| {
        let records: Vec<_> = (0..20)
            .map(|r| AppendRecord::new(format!("batch {b} record {r}")))
            .collect();
        AppendInput::new(records).expect("20 short records fit a batch")
    });
    let mut acks = stream.append_all(futures_util::stream::iter(inputs))?;
    while let Some(ack) = acks.next().await {
        ack?;
    }
    let mut read = stream.read_session(
        ReadRequest::new(ReadStart::SeqNum(start)).with_limit(ReadLimit::count(1000)),
    );
    while let Some(item) = read.next().await {
        if let ReadItem::Batch(_) = item? {}
    }
    drop(read);

    // What a Prometheus scrape would get.
    print!("{}", prometheus.render());
    Ok(())
}
