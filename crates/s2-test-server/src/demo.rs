//! The examples' shared steps, written once for any runtime: the whole
//! `quickstart` (ensure a basin and a stream, append a few records, read
//! them back), and the set-up and ack printing of the session examples.

use s2_client::{
    BasinName, Runtime, S2, Stream, StreamName,
    types::{
        AppendAck, AppendInput, AppendRecord, BasinConfig, ReadOutput, ReadRequest, ReadStart,
        StreamConfig,
    },
};

use crate::{FaultProxy, Target, env_or};

/// Runs the quickstart on runtime `R`. With no `S2_ACCOUNT_ENDPOINT` it
/// starts an embedded s2-lite; the basin and stream come from `S2_BASIN` and
/// `S2_STREAM`.
pub async fn quickstart<R: Runtime + Default>() -> Result<(), Box<dyn std::error::Error>> {
    let target = Target::from_env()?;
    println!("using {}", target.describe());
    let s2 = S2::<R>::new(target.client_config())?;

    let basin_name = BasinName::new(env_or("S2_BASIN", "quickstart-basin"))?;
    let stream_name = StreamName::new(env_or("S2_STREAM", "quickstart"))?;
    let ensured = s2.ensure_basin(&basin_name, BasinConfig::default()).await?;
    println!("basin {basin_name}: {:?}", ensured.result);
    let basin = s2.basin(basin_name);
    let ensured = basin
        .ensure_stream(&stream_name, StreamConfig::default())
        .await?;
    println!("stream {stream_name}: {:?}", ensured.result);
    let stream = basin.stream(stream_name);

    let records: Vec<AppendRecord> = ["hello", "durable", "streams"]
        .iter()
        .map(|word| AppendRecord::new(*word).with_header("source", "quickstart"))
        .collect();
    let ack = stream.append(&AppendInput::new(records)?).await?;
    println!(
        "appended records {}..{} (tail now {})",
        ack.start.seq_num, ack.end.seq_num, ack.tail.seq_num
    );

    let read = stream
        .read(&ReadRequest::new(ReadStart::SeqNum(ack.start.seq_num)))
        .await?;
    match read {
        ReadOutput::Batch(batch) => {
            for record in &batch.records {
                println!(
                    "read #{} @{}: {}",
                    record.seq_num,
                    record.timestamp,
                    String::from_utf8_lossy(&record.body)
                );
            }
        }
        ReadOutput::Tail(tail) => println!("nothing to read; tail at {}", tail.seq_num),
    }
    Ok(())
}

/// Keeps an example's servers alive: the target (maybe an embedded s2-lite)
/// and, with `S2_CUT_EVERY_MS`, the fault proxy in front of it.
pub struct ExampleGuard {
    target: Target,
    cutter: Option<(FaultProxy, std::sync::Arc<std::sync::atomic::AtomicBool>)>,
}

impl ExampleGuard {
    /// Whether the example runs against an embedded s2-lite.
    pub fn is_embedded(&self) -> bool {
        self.target.server.is_some()
    }

    /// How many times the proxy cut the connection.
    pub fn cuts(&self) -> u64 {
        self.cutter.as_ref().map_or(0, |(proxy, _)| proxy.cuts())
    }
}

impl Drop for ExampleGuard {
    fn drop(&mut self) {
        if let Some((_, stop)) = &self.cutter {
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// What the stream examples start with: the stream named by `S2_BASIN` /
/// `S2_STREAM` (defaults: `example-basin` / `default_stream`), created if
/// missing, and a guard to keep alive while using it.
///
/// With `S2_CUT_EVERY_MS=N` (and a plain-http endpoint), the stream's client
/// talks through a loopback proxy that cuts its connections every N ms.
pub async fn example_stream<R: Runtime + Default>(
    default_stream: &str,
) -> Result<(ExampleGuard, Stream<R>), Box<dyn std::error::Error>> {
    let target = Target::from_env()?;
    println!("using {}", target.describe());
    let mut config = target.client_config();
    let cutter = match env_or("S2_CUT_EVERY_MS", "").as_str() {
        "" => None,
        every => {
            let every = std::time::Duration::from_millis(every.parse()?);
            let upstream = target
                .basin_endpoint
                .strip_prefix("http://")
                .and_then(|host| std::net::ToSocketAddrs::to_socket_addrs(host).ok())
                .and_then(|mut addrs| addrs.next())
                .ok_or("S2_CUT_EVERY_MS needs a plain-http endpoint")?;
            let proxy = FaultProxy::start(upstream)?;
            println!("cutting connections every {every:?}");
            config = config.with_endpoints(s2_client::Endpoints::single(&proxy.endpoint())?);
            config.retry.max_retries = 20;
            Some((proxy, every))
        }
    };
    let s2 = S2::<R>::new(config)?;
    let basin_name = BasinName::new(env_or("S2_BASIN", "example-basin"))?;
    let stream_name = StreamName::new(env_or("S2_STREAM", default_stream))?;
    s2.ensure_basin(&basin_name, BasinConfig::default()).await?;
    let basin = s2.basin(basin_name);
    basin
        .ensure_stream(&stream_name, StreamConfig::default())
        .await?;
    let cutter = cutter.map(|(proxy, every)| {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (handle, flag) = (proxy.handle(), stop.clone());
        std::thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                std::thread::sleep(every);
                handle.cut();
            }
        });
        (proxy, stop)
    });
    let guard = ExampleGuard { target, cutter };
    Ok((guard, basin.stream(stream_name)))
}

/// Prints `appended N records` for each ack of an append session, as the
/// reference SDK's examples do; returns how many records were acked.
pub async fn print_acks(
    mut acks: impl futures_core::Stream<Item = Result<AppendAck, s2_client::Error>> + Unpin,
) -> Result<u64, s2_client::Error> {
    let mut total = 0;
    while let Some(ack) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut acks).poll_next(cx)).await
    {
        let ack = ack?;
        total += ack.record_count();
        println!(
            "appended {} records (seq nums {}..{})",
            ack.record_count(),
            ack.start.seq_num,
            ack.end.seq_num
        );
    }
    Ok(total)
}
