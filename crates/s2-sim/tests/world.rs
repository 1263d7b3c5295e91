//! The world itself: virtual time, seeded scheduling, the network and its
//! faults, runtimes that shut down.

use std::{
    future::poll_fn,
    io,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use s2_client::runtime::{BoxIo, ConnectTarget, Runtime};
use s2_sim::{SimConn, Stuck, World, WorldConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(3600);

fn target(port: u16) -> ConnectTarget {
    ConnectTarget {
        host: "server".into(),
        port,
        tls: None,
    }
}

async fn write_all(io: &mut BoxIo, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let n = poll_fn(|cx| hyper::rt::Write::poll_write(Pin::new(&mut *io), cx, data)).await?;
        data = &data[n..];
    }
    Ok(())
}

async fn read_some(io: &mut BoxIo) -> io::Result<Vec<u8>> {
    let mut storage = [0u8; 1024];
    let mut buf = hyper::rt::ReadBuf::new(&mut storage);
    poll_fn(|cx| hyper::rt::Read::poll_read(Pin::new(&mut *io), cx, buf.unfilled())).await?;
    Ok(buf.filled().to_vec())
}

/// An echo server on `port`: every connection gets back what it sends.
fn echo_server(world: &World, port: u16) {
    let listener = world.net().listen("server", port);
    let runtime = world.runtime();
    let spawner = runtime.clone();
    runtime.spawn(Box::pin(async move {
        loop {
            let mut conn: SimConn = listener.accept().await;
            spawner.spawn(Box::pin(async move {
                let mut buf = [0u8; 256];
                while let Ok(n) = conn.read(&mut buf).await {
                    if n == 0 || conn.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }));
        }
    }));
}

#[test]
fn virtual_time_jumps_to_the_next_timer() {
    let world = World::new(1, WorldConfig::default());
    let runtime = world.runtime();
    let started = std::time::Instant::now();
    let at = world
        .block_on(
            async {
                let before = runtime.now();
                runtime.sleep(Duration::from_secs(3000)).await;
                runtime.now() - before
            },
            LIMIT,
        )
        .expect("done");
    assert_eq!(at, Duration::from_secs(3000));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no real waiting"
    );
}

#[test]
fn timers_fire_in_order_of_their_deadlines() {
    let world = World::new(2, WorldConfig::default());
    let runtime = world.runtime();
    let order = Arc::new(Mutex::new(Vec::new()));
    for (i, ms) in [(0u32, 30u64), (1, 10), (2, 20)] {
        let (runtime2, order) = (runtime.clone(), order.clone());
        runtime.spawn(Box::pin(async move {
            runtime2.sleep(Duration::from_millis(ms)).await;
            order.lock().unwrap().push(i);
        }));
    }
    world
        .block_on(runtime.sleep(Duration::from_millis(50)), LIMIT)
        .expect("done");
    assert_eq!(*order.lock().unwrap(), vec![1, 2, 0]);
}

#[test]
fn a_future_that_can_never_finish_is_a_deadlock() {
    let world = World::new(3, WorldConfig::default());
    let outcome = world.block_on(std::future::pending::<()>(), LIMIT);
    assert_eq!(outcome, Err(Stuck::Deadlock { at: Duration::ZERO }));
    let runtime = world.runtime();
    let outcome = world.block_on(
        runtime.sleep(Duration::from_secs(10)),
        Duration::from_secs(1),
    );
    assert_eq!(
        outcome,
        Err(Stuck::TimeLimit {
            limit: Duration::from_secs(1)
        })
    );
}

/// Many tasks interleaving on timers and the network: its trace.
fn busy_world(seed: u64) -> (u64, Vec<u32>) {
    let config = WorldConfig {
        late_chance: 0.2,
        ..WorldConfig::default()
    };
    let world = World::new(seed, config);
    echo_server(&world, 7);
    let runtime = world.runtime();
    let order = Arc::new(Mutex::new(Vec::new()));
    for i in 0..8u32 {
        let (runtime2, order) = (runtime.clone(), order.clone());
        runtime.spawn(Box::pin(async move {
            let mut io = runtime2.connect(target(7)).await.expect("connects");
            write_all(&mut io, format!("hello {i}").as_bytes())
                .await
                .expect("writes");
            let echoed = read_some(&mut io).await.expect("reads");
            assert!(!echoed.is_empty());
            order.lock().unwrap().push(i);
        }));
    }
    world
        .block_on(runtime.sleep(Duration::from_secs(1)), LIMIT)
        .expect("done");
    let order = order.lock().unwrap().clone();
    (world.trace_hash(), order)
}

#[test]
fn one_seed_replays_the_same_run() {
    let (trace, order) = busy_world(42);
    assert_eq!(order.len(), 8);
    assert_eq!(busy_world(42), (trace, order.clone()));
    // Another seed interleaves differently.
    let others: Vec<_> = (43..53).map(busy_world).collect();
    assert!(others.iter().all(|(t, _)| *t != trace));
    assert!(others.iter().any(|(_, o)| *o != order), "{others:?}");
}

#[test]
fn bytes_arrive_after_the_link_latency() {
    let world = World::new(5, WorldConfig::default());
    echo_server(&world, 7);
    let runtime = world.runtime();
    let round_trip = world
        .block_on(
            async {
                let mut io = runtime.connect(target(7)).await.expect("connects");
                let sent = runtime.now();
                write_all(&mut io, b"ping").await.expect("writes");
                let back = read_some(&mut io).await.expect("reads");
                assert_eq!(back, b"ping");
                runtime.now() - sent
            },
            LIMIT,
        )
        .expect("done");
    assert!(round_trip >= Duration::from_micros(200), "{round_trip:?}");
    assert!(round_trip <= Duration::from_millis(4), "{round_trip:?}");
}

#[test]
fn faults_reach_both_ends() {
    let world = World::new(6, WorldConfig::default());
    echo_server(&world, 7);
    let (runtime, net) = (world.runtime(), world.net());
    world
        .block_on(
            async {
                // Refused while the server is "down", then connects.
                net.refuse_dials_for(Duration::from_secs(5));
                let refused = runtime.connect(target(7)).await.err().expect("refused");
                assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
                assert!(runtime.connect(target(8)).await.is_err(), "no listener");
                runtime.sleep(Duration::from_secs(5)).await;
                let mut io = runtime.connect(target(7)).await.expect("connects");
                // A stall holds the echo back for its duration.
                let link = *net.links().last().expect("a link");
                net.stall(link, Duration::from_secs(2));
                let sent = runtime.now();
                write_all(&mut io, b"x").await.expect("writes");
                read_some(&mut io).await.expect("reads");
                assert!(runtime.now() - sent >= Duration::from_secs(2));
                // A cut is an error at the next read.
                net.cut(link);
                let error = read_some(&mut io).await.expect_err("cut");
                assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
                // A half-open link swallows everything: reads never end.
                let mut io = runtime.connect(target(7)).await.expect("connects");
                let link = *net.links().last().expect("a link");
                net.half_open(link);
                write_all(&mut io, b"lost").await.expect("writes");
                let read = s2_sim_timeout(&runtime, read_some(&mut io)).await;
                assert!(read.is_none(), "nothing comes back");
            },
            LIMIT,
        )
        .expect("done");
    let counts = world.net().counts();
    assert_eq!(
        (counts.refused, counts.cut, counts.stalled, counts.half_open),
        (2, 1, 1, 1)
    );
}

async fn s2_sim_timeout<F: std::future::Future>(
    runtime: &s2_sim::SimRuntime,
    future: F,
) -> Option<F::Output> {
    use futures_util::future::{Either, select};
    match select(
        std::pin::pin!(future),
        runtime.sleep(Duration::from_secs(30)),
    )
    .await
    {
        Either::Left((output, _)) => Some(output),
        Either::Right(_) => None,
    }
}

#[test]
fn a_shut_down_runtime_drops_its_tasks_and_later_spawns() {
    let world = World::new(7, WorldConfig::default());
    let (first, second) = (world.runtime(), world.new_runtime());
    for runtime in [&first, &second] {
        let sleeper = runtime.clone();
        runtime.spawn(Box::pin(async move {
            sleeper.sleep(Duration::from_secs(100)).await;
        }));
    }
    world
        .block_on(first.sleep(Duration::from_secs(1)), LIMIT)
        .expect("done");
    assert_eq!(
        (world.live_tasks(&first), world.live_tasks(&second)),
        (1, 1)
    );
    second.shut_down();
    second.spawn(Box::pin(async {}));
    assert_eq!(
        (world.live_tasks(&first), world.live_tasks(&second)),
        (1, 0)
    );
}

#[test]
fn a_runtime_can_drop_spawns_for_a_while() {
    let world = World::new(8, WorldConfig::default());
    let runtime = world.new_runtime();
    let ran = Arc::new(Mutex::new(Vec::new()));
    let spawn = |i: u32| {
        let ran = ran.clone();
        runtime.spawn(Box::pin(async move { ran.lock().unwrap().push(i) }));
    };
    runtime.drop_spawns(true);
    spawn(1);
    runtime.drop_spawns(false);
    spawn(2);
    world
        .block_on(world.runtime().sleep(Duration::from_millis(1)), LIMIT)
        .expect("done");
    assert_eq!(*ran.lock().unwrap(), vec![2]);
}
