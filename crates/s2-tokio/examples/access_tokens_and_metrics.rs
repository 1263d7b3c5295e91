//! Access tokens and usage metrics: cloud features.
//!
//! Issues an access token limited to streams under a prefix (read and
//! write, no account or basin operations), lists the account's tokens,
//! revokes the new one, and prints the account's active basins over the
//! last day.
//!
//! s2-lite, the open-source server, has no notion of accounts or users: it
//! accepts any token and answers these endpoints with `501 not_implemented`.
//! Against it (the default, with no `S2_ACCOUNT_ENDPOINT`) the example shows
//! that answer and exits cleanly. To run it for real:
//!
//! ```text
//! S2_ACCESS_TOKEN=... S2_ACCOUNT_ENDPOINT=https://a.s2.dev \
//!   S2_BASIN_ENDPOINT=https://{basin}.b.s2.dev \
//!   cargo run -p s2-tokio --example access_tokens_and_metrics
//! ```

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use s2_tokio::{
    Error, S2,
    types::{
        AccessTokenId, AccessTokenInfo, AccessTokenScope, AccountMetricSet, ListRequest, Metric,
        MetricsRange, PermittedOperationGroups, ReadWritePermissions, ResourceSet,
        TimeseriesInterval,
    },
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    // Example only: ClientConfig::from_env(), or an s2-lite in this process
    // when S2_ACCOUNT_ENDPOINT is unset. In your code:
    //     let config = ClientConfig::from_env()?;
    let config = common::config_from_env_or_embedded_s2_lite()?;
    let s2 = S2::new(config)?;

    // A token for one service: read and write streams under `ingest/`.
    let id = AccessTokenId::new(format!("example-{:08x}", rand::random::<u32>()))?;
    let scope = AccessTokenScope {
        streams: Some(ResourceSet::Prefix("ingest/".into())),
        op_groups: Some(PermittedOperationGroups {
            stream: Some(ReadWritePermissions {
                read: true,
                write: true,
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let secret = match s2
        .issue_access_token(&AccessTokenInfo::new(id.clone(), scope))
        .await
    {
        Ok(secret) => secret,
        Err(Error::Service(e)) if e.status == 501 => {
            println!(
                "the server answered {} {}: s2-lite serves no access tokens or \
                 metrics (it has no accounts). Point S2_ACCOUNT_ENDPOINT at S2 to run this.",
                e.status, e.code
            );
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    // The secret is what the new token's holder presents; never log it.
    println!(
        "issued token {id} ({} characters)",
        secret.expose_secret().len()
    );

    let mut tokens = s2.list_all_access_tokens(ListRequest::new().with_prefix("example-"));
    while let Some(token) = tokens.next().await {
        let token = token?;
        println!("token {} expires {:?}", token.id, token.expires_at);
    }

    s2.revoke_access_token(&id).await?;
    println!("revoked token {id}");

    // Active basins, hour by hour, over the last day.
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let day_ago = now.saturating_sub(Duration::from_secs(24 * 3600));
    let range = MetricsRange::new()
        .with_start(u32::try_from(day_ago.as_secs())?)
        .with_end(u32::try_from(now.as_secs())?)
        .with_interval(TimeseriesInterval::Hour);
    for metric in s2
        .account_metrics(AccountMetricSet::ActiveBasins, &range)
        .await?
    {
        match metric {
            Metric::Label { name, values } => println!("{name}: {}", values.join(", ")),
            Metric::Scalar { name, value, .. } => println!("{name}: {value}"),
            Metric::Accumulation { name, values, .. } | Metric::Gauge { name, values, .. } => {
                println!("{name}: {} points", values.len())
            }
            // A kind of metric newer than this SDK.
            other => println!("{other:?}"),
        }
    }
    Ok(())
}
