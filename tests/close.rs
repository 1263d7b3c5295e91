//! Closing a client: `close` drains sessions and producers (also what is
//! submitted while it runs), times out on a stalled session, and refuses
//! later calls.

use std::time::Duration;

use futures_util::FutureExt;
use s2_client::{
    Error, Runtime, S2,
    config::{AppendSessionOptions, BatcherConfig, Endpoints},
    types::{AppendInput, AppendRecord, ListRequest},
};

use crate::{
    fresh_stream,
    support::{batch, compressible},
};

/// `close` waits for every batch an open session holds to be acknowledged,
/// then refuses every call, on every clone, with `Error::Closed`.
pub async fn close_drains_sessions_and_refuses_later_calls<R: Runtime + Default>(_: S2<R>) {
    let s2 = crate::client::<R>();
    let stream = crate::fresh_stream(&s2, "close").await;
    let session = stream.append_session().expect("append session");
    let mut acks = Vec::new();
    for i in 0..20 {
        let ack = session
            .submit(batch(vec![AppendRecord::new(compressible(i))]))
            .await
            .expect("submit");
        acks.push(ack);
    }
    let clone = s2.clone();
    s2.close().await.expect("close drains within the default");
    // Every ack was in by the time `close` returned.
    for (i, ack) in acks.into_iter().enumerate() {
        let ack = ack.now_or_never().expect("acked before close returned");
        assert_eq!(ack.expect("ack").start.seq_num, i as u64);
    }

    // Refused before anything was sent: no side effect, and each plain
    // call fails as its `_with` twin does.
    let closed = |result: Result<(), Error>| match result {
        Err(e @ Error::Closed { sent: false, .. }) => assert!(!e.may_have_side_effect()),
        other => panic!("expected Error::Closed with nothing sent, got {other:?}"),
    };
    closed(stream.check_tail().await.map(drop));
    closed(clone.list_basins(&ListRequest::new()).await.map(drop));
    closed(
        session
            .submit(batch(vec![AppendRecord::new("late")]))
            .await
            .map(drop),
    );
    closed(stream.append_session().map(drop));
    closed(
        stream
            .append_session_with(&AppendSessionOptions::new())
            .map(drop),
    );
    let no_inputs = || futures_util::stream::empty::<AppendInput>();
    closed(stream.append_all(no_inputs()).map(drop));
    closed(
        stream
            .append_all_with(no_inputs(), &AppendSessionOptions::new())
            .map(drop),
    );
    closed(stream.producer(BatcherConfig::default()).map(drop));
    closed(
        stream
            .producer_with(BatcherConfig::default(), &AppendSessionOptions::new())
            .map(drop),
    );
    // Closing again is harmless.
    clone.close().await.expect("second close");

    // The records are there, read by another client.
    let reader = crate::client::<R>();
    let tail = reader
        .basin(stream.basin_name().clone())
        .stream(stream.name().clone())
        .check_tail()
        .await
        .expect("tail");
    assert_eq!(tail.seq_num, 20);
}

/// A close that cannot drain in time says so, and still closes.
pub async fn close_times_out_on_a_stalled_session<R: Runtime + Default>(_: S2<R>) {
    let Some(proxy) = crate::proxy() else {
        return;
    };
    let config = crate::config()
        .with_endpoints(s2_client::config::Endpoints::single(&proxy.endpoint()).expect("endpoint"))
        .with_ack_timeout(Duration::from_secs(60));
    let s2 = S2::<R>::with_runtime(config, R::default()).expect("client");
    let stream = crate::fresh_stream(&s2, "stall").await;
    let session = stream.append_session().expect("append session");
    session
        .submit(batch(vec![AppendRecord::new("before")]))
        .await
        .expect("submit")
        .await
        .expect("ack");
    let producer = stream.producer(BatcherConfig::default()).expect("producer");
    producer
        .submit(AppendRecord::new("producer, before"))
        .await
        .expect("submit")
        .await
        .expect("ack");
    proxy.stall(Duration::from_secs(2));
    let ack = session
        .submit(batch(vec![AppendRecord::new("stalled")]))
        .await
        .expect("submit");
    let stalled = producer
        .submit(AppendRecord::new("producer, stalled"))
        .await
        .expect("submit");
    match s2.close_within(Duration::from_millis(300)).await {
        Err(Error::Timeout(_)) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    // A stalled producer holds up no other session's stop: after the
    // timeout nothing takes new batches.
    assert!(
        session
            .submit(batch(vec![AppendRecord::new("after close")]))
            .await
            .is_err(),
        "a session took a batch after close"
    );
    assert!(
        producer
            .submit(AppendRecord::new("after close"))
            .await
            .is_err()
    );
    drop((ack, stalled));
    assert!(matches!(
        stream.check_tail().await,
        Err(Error::Closed { .. })
    ));
}

/// `close` drains producers too: records still lingering in a producer's
/// open batch (a linger far longer than the test) are sent and acknowledged
/// before `close` returns.
pub async fn close_drains_lingering_producer_records<R: Runtime + Default>(_: S2<R>) {
    let s2 = crate::client::<R>();
    let stream = crate::fresh_stream(&s2, "close-producer").await;
    let producer = stream
        .producer(BatcherConfig::default().with_linger(Some(std::time::Duration::from_secs(600))))
        .expect("producer");
    let mut acks = Vec::new();
    for i in 0..5 {
        acks.push(
            producer
                .submit(AppendRecord::new(format!("lingering {i}")))
                .await
                .expect("submit"),
        );
    }
    s2.close().await.expect("close drains within the default");
    for (i, ack) in acks.into_iter().enumerate() {
        let ack = ack.now_or_never().expect("acked before close returned");
        assert_eq!(ack.expect("ack").seq_num, i as u64);
    }
    let tail = crate::client::<R>()
        .basin(stream.basin_name().clone())
        .stream(stream.name().clone())
        .check_tail()
        .await
        .expect("tail");
    assert_eq!(tail.seq_num, 5);
}

/// A producer refused for its batcher config (its append session was set
/// up, its driver never ran) leaves nothing for `close` to wait on: the
/// client closes at once, and a producer made before still drains.
pub async fn a_refused_producer_holds_up_no_close<R: Runtime + Default>(_: S2<R>) {
    let s2 = crate::client::<R>();
    let stream = crate::fresh_stream(&s2, "refused-producer").await;
    let producer = stream
        .producer(BatcherConfig::default().with_linger(Some(std::time::Duration::from_secs(600))))
        .expect("producer");
    let ack = producer
        .submit(AppendRecord::new("before the refused one"))
        .await
        .expect("submit");
    match stream.producer(BatcherConfig::default().with_max_records(0)) {
        Err(Error::Validation(_)) => {}
        Err(e) => panic!("refused with {e}"),
        Ok(_) => panic!("a producer of batches of no record"),
    }
    s2.close_within(std::time::Duration::from_secs(10))
        .await
        .expect("close waits only for the producer that runs");
    assert_eq!(ack.await.expect("drained by close").seq_num, 0);
}

/// A batch submitted through a permit while the session is closing is
/// either refused at submit, or appended before `close` reports success:
/// `close` never returns `Ok` while an accepted batch was dropped unsent.
pub async fn permit_submitted_while_closing_is_not_dropped<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "permit-close").await;
    let session = stream.append_session().expect("append session");
    let permit = session.reserve(10).await.expect("room");
    let mut close = Box::pin(session.close());
    // The first poll sends the close. The driver usually has not seen it yet;
    // on a multi-threaded runtime it may already have finished, and then the
    // permit must be refused.
    let early = (&mut close).now_or_never();
    let ack = match permit.submit(batch(vec![AppendRecord::new("late")])) {
        // Refused at once: the caller knows it was not submitted.
        Err(_) => return,
        Ok(ack) => ack,
    };
    let closed = match early {
        Some(closed) => closed,
        None => close.await,
    };
    let acked = ack.await;
    let tail = stream.check_tail().await.expect("tail").seq_num;
    assert!(
        acked.is_ok() || closed.is_err(),
        "close said every submitted batch was acknowledged ({closed:?}), yet the permit's \
         batch was not ({acked:?}); records on the stream: {tail}"
    );
}

/// Waits for `future` at most `wait`; `None` when it did not finish.
async fn within<R: Runtime + Default, T>(
    wait: Duration,
    future: impl std::future::Future<Output = T>,
) -> Option<T> {
    let future = std::pin::pin!(future);
    let timer = R::default().sleep(wait);
    match futures_util::future::select(future, timer).await {
        futures_util::future::Either::Left((value, _)) => Some(value),
        futures_util::future::Either::Right(((), _)) => None,
    }
}

/// A record submitted through a producer's permit after the close was
/// taken in (while earlier records await their acks) is either refused at
/// submit or sent: with no linger, nothing else would ever flush it, and
/// `close` must not wait for it forever.
pub async fn producer_permit_used_while_closing_does_not_hang_close<R: Runtime + Default>(
    s2: S2<R>,
) {
    let Some(proxy) = crate::proxy() else { return };
    let direct = fresh_stream(&s2, "permit-pclose").await;
    let endpoints = Endpoints::single(&proxy.endpoint()).expect("endpoint");
    let faulty = S2::<R>::with_runtime(crate::config().with_endpoints(endpoints), R::default())
        .expect("client")
        .basin(direct.basin_name().clone())
        .stream(direct.name().clone());
    faulty.check_tail().await.expect("warm up");
    let producer = faulty
        .producer(
            s2_client::config::BatcherConfig::default()
                .with_max_records(10)
                .with_linger(None),
        )
        .expect("producer");
    let permit = producer.reserve(10).await.expect("room");
    let first = producer
        .submit(AppendRecord::new("first"))
        .await
        .expect("submit");
    // The first record's ack is held back while the close goes through.
    proxy.stall_responses(Duration::from_millis(800));
    let mut close = Box::pin(producer.close());
    assert!(
        (&mut close).now_or_never().is_none(),
        "close waits for acks"
    );
    R::default().sleep(Duration::from_millis(200)).await;
    let late = match permit.submit(AppendRecord::new("late")) {
        Err(_) => return,
        Ok(ack) => ack,
    };
    let closed = within::<R, _>(Duration::from_secs(10), close).await;
    assert!(
        closed.is_some(),
        "close never finished: the permit's record sits in a batch nothing flushes"
    );
    first.await.expect("first acked");
    let late = late.await;
    assert!(
        late.is_ok() || closed.is_some_and(|c| c.is_err()),
        "{late:?}"
    );
}
