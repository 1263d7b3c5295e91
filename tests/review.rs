//! Cases found by reviewing the reservation, access-token and encryption
//! work: each states a promise the SDK makes and checks it where the new code
//! could break it.

use std::{sync::Arc, time::Duration};

use futures_util::FutureExt;
use s2_client::{
    Runtime, S2,
    config::{BackoffConfig, Endpoints},
    types::{AppendInput, AppendRecord, StreamName},
};
use s2_test_server::hostile::{HostileServer, Misbehaviour};

fn batch(body: &'static str) -> AppendInput {
    AppendInput::new(vec![AppendRecord::new(body)]).expect("valid batch")
}

/// A batch submitted through a permit while the session is closing is
/// either refused at submit, or appended before `close` reports success:
/// `close` never returns `Ok` while an accepted batch was dropped unsent.
pub async fn permit_submitted_while_closing_is_not_dropped<R: Runtime + Default>(s2: S2<R>) {
    let stream = crate::fresh_stream(&s2, "permit-close").await;
    let session = stream.append_session().expect("append session");
    let permit = session.reserve(10).await.expect("room");
    let mut close = Box::pin(session.close());
    // The first poll sends the close. The driver usually has not seen it yet;
    // on a multi-threaded runtime it may already have finished, and then the
    // permit must be refused.
    let early = (&mut close).now_or_never();
    let ack = match permit.submit(batch("late")) {
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

/// An append session whose connection is refused with a 401 asks the
/// provider for a fresh token on its next connection (as the provider's
/// documentation says) instead of failing: a 401 proves nothing was
/// applied, so retrying it can neither lose nor duplicate a batch.
pub async fn append_session_recovers_from_a_refused_token<R: Runtime + Default>(_: S2<R>) {
    let server =
        HostileServer::start(Misbehaviour::RefuseToken { token: "stale" }).expect("hostile server");
    let endpoints = Endpoints::single(&server.endpoint()).expect("endpoint");
    let config = s2_client::ClientConfig::new("unused")
        .with_endpoints(endpoints)
        .with_retry(BackoffConfig::default().with_base_delay(Duration::from_millis(10)));
    let provider = Arc::new(crate::parity::Rotating::default());
    let config = config.with_access_token_provider(provider.clone());
    let stream = S2::<R>::with_runtime(config, R::default())
        .expect("client")
        .basin(s2_client::types::BasinName::new("hostile-basin").expect("valid name"))
        .stream(StreamName::new("stream").expect("valid name"));
    let session = stream.append_session().expect("append session");
    let ack = session.submit(batch("one")).await.expect("submitted");
    let ack = ack.await;
    assert_eq!(*provider.refused.lock().expect("lock"), ["stale"]);
    match ack {
        Ok(_) => {}
        Err(e) => panic!(
            "the session failed on a refused token instead of reconnecting with a fresh one: {e}"
        ),
    }
}

/// A delete whose first attempt's answer was lost (it may have deleted the
/// stream) and whose retry finds nothing to delete has done its job:
/// `delete_*_if_exists` succeeds, while plain `delete_*` reports the
/// unknown outcome of the first attempt.
pub async fn delete_if_exists_after_a_lost_answer_succeeds<R: Runtime + Default>(_: S2<R>) {
    for (name, if_exists) in [("plain", false), ("if_exists", true)] {
        let server = HostileServer::start(Misbehaviour::DeleteAnswerLost).expect("hostile server");
        let endpoints = Endpoints::single(&server.endpoint()).expect("endpoint");
        let config = s2_client::ClientConfig::new("token")
            .with_endpoints(endpoints)
            .with_retry(BackoffConfig::default().with_base_delay(Duration::from_millis(10)));
        let basin = S2::<R>::with_runtime(config, R::default())
            .expect("client")
            .basin(s2_client::types::BasinName::new("hostile-basin").expect("valid name"));
        let stream = StreamName::new("stream").expect("valid name");
        let result = if if_exists {
            basin.delete_stream_if_exists(&stream).await
        } else {
            basin.delete_stream(&stream).await
        };
        assert_eq!(
            server.requests_on(s2_test_server::hostile::Route::Delete),
            2,
            "{name}"
        );
        match (if_exists, result) {
            (true, Ok(())) => {}
            (false, Err(e)) => assert!(e.may_have_side_effect(), "{name}: {e}"),
            (_, other) => panic!("{name}: {other:?}"),
        }
    }
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
    let direct = crate::fresh_stream(&s2, "permit-pclose").await;
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

/// An input that `AppendInput::new` never checked (here `Default`, an empty
/// batch; a decoded one alike) is refused at submit with a validation
/// error, and the session goes on taking and acknowledging batches.
pub async fn an_unchecked_input_is_refused_and_the_session_goes_on<R: Runtime + Default>(
    s2: S2<R>,
) {
    let stream = crate::fresh_stream(&s2, "unchecked-input").await;
    let session = stream.append_session().expect("append session");
    match session.submit(AppendInput::default()).await {
        Err(s2_client::Error::Validation(s2_client::error::ValidationError::EmptyBatch)) => {}
        Err(other) => panic!("expected an empty-batch refusal, got {other}"),
        Ok(_) => panic!("an empty batch was accepted"),
    }
    let ack = session
        .submit(batch("after"))
        .await
        .expect("the session still takes batches")
        .await
        .expect("and acknowledges them");
    assert_eq!(ack.end.seq_num, 1);
    session.close().await.expect("close");
}
