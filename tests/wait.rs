//! `wait` on read sessions: a bounded session waits up to `wait` at the tail
//! for more records, a tailing one ends after `wait` without a record, and
//! what is left of the wait is carried across reconnects.

use std::{
    pin::pin,
    time::{Duration, Instant},
};

use futures_util::{
    StreamExt,
    future::{Either, select},
};
use s2_client::{
    Error, ReadSession, Runtime, S2,
    config::{BackoffConfig, Endpoints},
    session::ReadItem,
    types::{AppendInput, AppendRecord, ReadLimit, ReadRequest, ReadStart},
};

use crate::{config, fresh_stream};

fn sleep<R: Runtime + Default>(duration: Duration) -> impl Future<Output = ()> {
    R::default().sleep(duration)
}

/// The items of `session` until it ends; panics if that takes over `limit`.
async fn drain<R: Runtime + Default>(
    session: ReadSession<R>,
    limit: Duration,
) -> Vec<Result<ReadItem, Error>> {
    let collect = pin!(session.collect::<Vec<_>>());
    match select(collect, pin!(sleep::<R>(limit))).await {
        Either::Left((items, _)) => items,
        Either::Right(_) => panic!("the session did not end within {limit:?}"),
    }
}

fn bodies(items: &[Result<ReadItem, Error>]) -> Vec<Vec<u8>> {
    items
        .iter()
        .filter_map(|item| match item {
            Ok(ReadItem::Batch(batch)) => Some(batch.records.iter().map(|r| r.body().to_vec())),
            Ok(_) => None,
            Err(e) => panic!("read session: {e}"),
        })
        .flatten()
        .collect()
}

/// A session for one record on an empty stream, with a wait, gets the
/// record appended a second later (without the wait it would end at once).
pub async fn bounded_read_session_waits_for_a_record<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "wait1").await;
    let session = stream.read_session(
        ReadRequest::new(ReadStart::SeqNum(0))
            .with_limit(ReadLimit::count(1))
            .with_wait_secs(10),
    );
    let writer = async {
        sleep::<R>(Duration::from_secs(1)).await;
        let input = AppendInput::new(vec![AppendRecord::new("late")]).expect("batch");
        stream.append(&input).await.expect("append");
    };
    let (items, ()) = futures_util::join!(drain(session, Duration::from_secs(20)), writer);
    assert_eq!(bodies(&items), vec![b"late".to_vec()]);
}

/// A tailing session with a wait ends once that long passes without a
/// record, after delivering what there was.
pub async fn tailing_read_session_ends_after_its_wait<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "wait2").await;
    let input =
        AppendInput::new(vec![AppendRecord::new("a"), AppendRecord::new("b")]).expect("batch");
    stream.append(&input).await.expect("append");
    let started = Instant::now();
    let session = stream.read_session(ReadRequest::new(ReadStart::SeqNum(0)).with_wait_secs(2));
    let items = drain(session, Duration::from_secs(15)).await;
    assert_eq!(bodies(&items), vec![b"a".to_vec(), b"b".to_vec()]);
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(1900), "{elapsed:?}");
}

/// A bounded session waiting at the tail has its connection cut halfway
/// through its wait: it reconnects for what is left of the wait, not for
/// the whole wait again.
pub async fn read_session_wait_is_carried_across_reconnects<R: Runtime + Default>(s2: S2<R>) {
    let Some(proxy) = crate::proxy() else { return };
    let direct = fresh_stream(&s2, "wait3").await;
    let config = config()
        .with_endpoints(Endpoints::single(&proxy.endpoint()).expect("ok"))
        .with_retry(
            BackoffConfig::default()
                .with_base_delay(Duration::from_millis(10))
                .with_max_delay(Duration::from_millis(50)),
        );
    let faulty = S2::<R>::with_runtime(config, R::default())
        .expect("client")
        .basin(direct.basin_name().clone())
        .stream(direct.name().clone());

    const WAIT: Duration = Duration::from_secs(4);
    let started = Instant::now();
    let session = faulty.read_session(
        ReadRequest::new(ReadStart::SeqNum(0))
            .with_limit(ReadLimit::count(1))
            .with_wait_secs(WAIT.as_secs() as u32),
    );
    let cutter = async {
        sleep::<R>(Duration::from_millis(1500)).await;
        proxy.cut();
    };
    let (items, ()) = futures_util::join!(drain(session, Duration::from_secs(20)), cutter);
    let elapsed = started.elapsed();
    assert!(bodies(&items).is_empty());
    assert!(proxy.cuts() == 1 && proxy.connections() >= 2);
    // Rounded down to whole seconds on the reconnect: between 3 and 4 s;
    // a restarted wait would take 5.5 s.
    assert!(
        elapsed >= Duration::from_millis(2900) && elapsed < WAIT + Duration::from_millis(400),
        "{elapsed:?}"
    );
}
