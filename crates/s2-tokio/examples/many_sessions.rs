//! Many sessions on one client: opens N tailing read sessions and M append
//! sessions on distinct streams of one basin, appends one record to each
//! read stream (the first M through the append sessions, the rest with
//! unary appends), checks that every read session got its record, and
//! prints what the sessions cost the client.
//!
//! ```text
//! cargo run --release -p s2-tokio --example many_sessions
//! S2_READ_SESSIONS=5000 S2_APPEND_SESSIONS=1000 cargo run --release ...
//! ```
//! With no `S2_ACCOUNT_ENDPOINT` it starts s2-lite in a child process (this
//! same executable), so the figures below are the client's alone:
//!
//! - time to open the sessions;
//! - TCP connections to the server (from `/proc/net/tcp`): sessions share
//!   HTTP/2 connections, up to 100 streams each by default;
//! - resident memory per idle read session (`VmRSS` of `/proc/self/status`
//!   before and after opening them);
//! - CPU per idle session per second (`utime + stime` of `/proc/self/stat`
//!   over a 5 s window in which every session is open and idle).

mod common;

use std::time::{Duration, Instant};

use futures_util::{StreamExt, stream};
use s2_tokio::{
    ClientConfig, S2,
    session::ReadItem,
    types::{
        AppendInput, AppendRecord, BasinConfig, BasinName, ReadRequest, ReadStart, StreamConfig,
        StreamName,
    },
};
use tokio::sync::mpsc;

/// Length of the idle window CPU is measured over.
const IDLE_WINDOW: Duration = Duration::from_secs(5);
/// Linux's `USER_HZ`: the unit of `utime` and `stime`.
const TICKS_PER_SECOND: f64 = 100.0;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Example only: ClientConfig::from_env(), or an s2-lite in a child
    // process when S2_ACCOUNT_ENDPOINT is unset. In your code:
    //     let config = ClientConfig::from_env()?;
    let config = common::config_from_env_or_s2_lite_in_child_process()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(config))
}

async fn run(config: ClientConfig) -> Result<(), Box<dyn std::error::Error>> {
    let readers: usize = std::env::var("S2_READ_SESSIONS")
        .unwrap_or_else(|_| "5000".into())
        .parse()?;
    let appenders: usize = std::env::var("S2_APPEND_SESSIONS")
        .unwrap_or_else(|_| "1000".into())
        .parse()?;
    assert!(
        appenders <= readers,
        "append sessions write to read streams"
    );

    let server_port = config.endpoints().basin().port();
    let s2 = S2::new(config)?;

    let basin_name = BasinName::new(format!("many-{:08x}", rand::random::<u32>()))?;
    s2.create_basin(&basin_name, BasinConfig::default()).await?;
    let basin = s2.basin(basin_name);
    let names: Vec<StreamName> = (0..readers)
        .map(|i| StreamName::new(format!("stream-{i:06}")))
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    stream::iter(&names)
        .map(|name| basin.create_stream(name, StreamConfig::default()))
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    println!("created {readers} streams in {:?}", started.elapsed());

    // Read sessions, one task each, tailing from the start of an empty
    // stream: each reports when it is open, then the one record it gets.
    let rss_before = rss_kib()?;
    let started = Instant::now();
    let (events, mut received) = mpsc::unbounded_channel();
    for (i, name) in names.iter().enumerate() {
        let mut session = basin
            .stream(name.clone())
            .read_session(ReadRequest::new(ReadStart::SeqNum(0)));
        let events = events.clone();
        tokio::spawn(async move {
            while let Some(item) = session.next().await {
                let event = match item {
                    Ok(ReadItem::CaughtUp(_)) => Event::Open,
                    Ok(ReadItem::Batch(batch)) => {
                        let expected = format!("record {i}");
                        let ok = batch.records.len() == 1 && *batch.records[0].body() == expected;
                        Event::Record(i, ok)
                    }
                    Ok(ReadItem::Tail(_)) => Event::Failed(i, "the session ended".into()),
                    // An item this example has no use for.
                    Ok(_) => continue,
                    Err(e) => Event::Failed(i, e.to_string()),
                };
                if events.send(event).is_err() {
                    return;
                }
            }
        });
    }
    drop(events);
    let mut open = 0;
    while open < readers {
        match received.recv().await.ok_or("every read session ended")? {
            Event::Open => open += 1,
            Event::Record(i, _) => return Err(format!("session {i}: a record early").into()),
            Event::Failed(i, e) => return Err(format!("read session {i}: {e}").into()),
        }
    }
    let read_open = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_read = rss_kib()?;
    println!(
        "opened {readers} read sessions in {read_open:?} on {} connections",
        connections(server_port)?
    );

    // Append sessions on the first streams: each appends its stream's
    // record; the other streams get theirs with unary appends.
    let started = Instant::now();
    let sessions = names[..appenders]
        .iter()
        .map(|name| basin.stream(name.clone()).append_session())
        .collect::<Result<Vec<_>, _>>()?;
    let acks = stream::iter(sessions.iter().enumerate())
        .map(|(i, session)| async move {
            let input = AppendInput::new(vec![AppendRecord::new(format!("record {i}"))])?;
            session.submit(input).await?.await
        })
        .buffer_unordered(256)
        .collect::<Vec<_>>()
        .await;
    acks.into_iter().collect::<Result<Vec<_>, _>>()?;
    println!(
        "opened {appenders} append sessions, each acked, in {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    stream::iter(names.iter().enumerate().skip(appenders))
        .map(|(i, name)| {
            let stream = basin.stream(name.clone());
            async move {
                let input = AppendInput::new(vec![AppendRecord::new(format!("record {i}"))])?;
                stream.append(&input).await
            }
        })
        .buffer_unordered(256)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let mut got = vec![false; readers];
    let mut count = 0;
    while count < readers {
        match received.recv().await.ok_or("every read session ended")? {
            Event::Record(i, true) if !got[i] => {
                got[i] = true;
                count += 1;
            }
            Event::Record(i, _) => return Err(format!("session {i}: a wrong record").into()),
            Event::Open => {}
            Event::Failed(i, e) => return Err(format!("read session {i}: {e}").into()),
        }
    }
    println!(
        "every read session got its record, {:?} after the unary appends started",
        started.elapsed()
    );

    // Everything open and idle: read sessions see only heartbeats.
    let cpu_before = cpu_ticks()?;
    tokio::time::sleep(IDLE_WINDOW).await;
    let cpu = (cpu_ticks()? - cpu_before) as f64 / TICKS_PER_SECOND;
    let idle = (readers + appenders) as f64;
    let rss_per_read = rss_read.saturating_sub(rss_before) as f64 * 1024.0 / readers as f64;
    println!(
        "connections: {}\nRSS: {rss_before} KiB before, {rss_read} KiB with the read sessions \
         open, {} KiB now: {rss_per_read:.0} bytes per idle read session\n\
         CPU: {cpu:.2} s over {IDLE_WINDOW:?} idle: {:.1} µs per idle session per second",
        connections(server_port)?,
        rss_kib()?,
        cpu / IDLE_WINDOW.as_secs_f64() / idle * 1e6,
    );
    for session in sessions {
        session.close().await?;
    }
    Ok(())
}

/// What a read session task reports.
enum Event {
    Open,
    /// The session's record arrived: whether it was the expected one.
    Record(usize, bool),
    Failed(usize, String),
}

/// This process's resident memory, in KiB.
fn rss_kib() -> Result<u64, Box<dyn std::error::Error>> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .ok_or("no VmRSS")?;
    Ok(line.trim().trim_end_matches("kB").trim().parse()?)
}

/// CPU time of this process so far (user + system), in clock ticks.
fn cpu_ticks() -> Result<u64, Box<dyn std::error::Error>> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which may hold spaces), from field 3.
    let after = &stat[stat.rfind(')').ok_or("bad stat")? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| -> Result<u64, Box<dyn std::error::Error>> {
        Ok(fields.get(n - 3).ok_or("short stat")?.parse()?)
    };
    Ok(field(14)? + field(15)?)
}

/// Established TCP connections to `port` on this machine (the client's
/// side of them: the remote port is the server's).
fn connections(port: u16) -> Result<usize, Box<dyn std::error::Error>> {
    let mut count = 0;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(remote), Some(state)) = (fields.get(2), fields.get(3)) else {
                continue;
            };
            let remote_port = remote
                .rsplit(':')
                .next()
                .map(|p| u16::from_str_radix(p, 16));
            if *state == "01" && remote_port == Some(Ok(port)) {
                count += 1;
            }
        }
    }
    Ok(count)
}
