//! Append sessions: acks in order, the handle API, conditioned sessions,
//! `append_inputs`, per-session caps, and recovery from a refused token or
//! an unchecked input.

use std::{sync::Arc, time::Duration};

use futures_util::{FutureExt, StreamExt, TryStreamExt};
use s2_client::{
    Error, Runtime, S2,
    config::{AppendSessionOptions, BackoffConfig, BatcherConfig, Endpoints},
    error::ValidationError,
    types::{AppendInput, AppendRecord, StreamName},
};
use s2_test_server::hostile::{HostileServer, Misbehaviour};

use crate::{
    fresh_stream,
    support::{MIB, batch, numbered_batches, read_all},
};

/// The stream API of append sessions acks every batch in order, and the
/// records land in order.
pub async fn append_session_acks_in_order<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "appsess").await;
    let inputs = numbered_batches(50, 20);
    let acks: Vec<_> = stream
        .append_all(futures_util::stream::iter(inputs.clone()))
        .expect("append session")
        .try_collect()
        .await
        .expect("append session");
    assert_eq!(acks.len(), 50);
    for (i, ack) in acks.iter().enumerate() {
        assert_eq!(ack.start.seq_num, i as u64 * 20);
        assert_eq!(ack.end.seq_num, (i as u64 + 1) * 20);
    }
    let records = read_all(&stream).await;
    let sent: Vec<_> = inputs.iter().flat_map(|i| i.records().to_vec()).collect();
    assert_eq!(records.len(), sent.len());
    assert!(records.iter().zip(&sent).all(|(r, s)| r.body() == s.body()));
}

/// The handle API: submit as you go, await acks, close drains.
pub async fn append_session_handle_submits_and_drains<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "handle").await;
    let session = stream.append_session().expect("append session");
    let mut acks = Vec::new();
    for input in numbered_batches(30, 5) {
        acks.push(session.submit(input).await.expect("submit"));
    }
    let ids: Vec<_> = acks.iter().map(|a| a.id()).collect();
    assert_eq!(ids, (0..30).collect::<Vec<_>>());
    // Dropping one ack future does not disturb the others.
    drop(acks.remove(3));
    session.close().await.expect("close drains");
    for (i, ack) in acks.into_iter().enumerate() {
        let ack = ack.await.expect("ack");
        let batch = if i < 3 { i } else { i + 1 } as u64;
        assert_eq!(ack.start.seq_num, batch * 5);
    }
    assert_eq!(stream.check_tail().await.expect("tail").seq_num, 150);
}

/// A conditioned session advances `match_seq_num` itself; a wrong starting
/// condition fails cleanly with nothing appended.
pub async fn a_conditioned_append_session_advances_match_seq_num<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "cond").await;
    let mut inputs = numbered_batches(10, 3);
    inputs[0] = inputs[0].clone().with_match_seq_num(0);
    let acks: Vec<_> = stream
        .append_all(futures_util::stream::iter(inputs))
        .expect("append session")
        .try_collect()
        .await
        .expect("conditioned session");
    assert_eq!(acks.last().map(|a| a.end.seq_num), Some(30));

    let stale = vec![batch(vec![AppendRecord::new("late")]).with_match_seq_num(5)];
    let err = stream
        .append_all(futures_util::stream::iter(stale))
        .expect("append session")
        .try_collect::<Vec<_>>()
        .await
        .expect_err("stale condition");
    match err {
        Error::AppendSession {
            cause,
            not_applied,
            maybe_applied,
        } => {
            // Another writer got there first: nothing of the session landed.
            assert!(
                matches!(*cause, Error::WriterConflict { seq_num: 30, .. }),
                "{cause:?}"
            );
            assert_eq!(not_applied, 0..1);
            assert!(maybe_applied.is_empty());
        }
        other => panic!("expected a session error, got {other:?}"),
    }
    assert_eq!(stream.check_tail().await.expect("tail").seq_num, 30);
}

/// `append_inputs` batches by count and bytes, advances `match_seq_num`,
/// and its batches go straight into an append session.
pub async fn append_inputs_batches_for_sessions<R: Runtime + Default>(s2: S2<R>) {
    let stream = fresh_stream(&s2, "batchr").await;
    let records: Vec<_> = (0..2_500)
        .map(|i| AppendRecord::new(format!("record {i}")))
        .collect();
    let config = s2_client::config::BatcherConfig::default()
        .with_max_records(1000)
        .with_match_seq_num(Some(0));
    let inputs: Vec<_> = s2_client::session::append_inputs(
        R::default(),
        futures_util::stream::iter(records.clone()),
        config,
    )
    .expect("config")
    .try_collect()
    .await
    .expect("batches");
    let sizes: Vec<_> = inputs.iter().map(|i| i.len()).collect();
    assert_eq!(sizes, vec![1000, 1000, 500]);
    let conditions: Vec<_> = inputs.iter().map(|i| i.match_seq_num()).collect();
    assert_eq!(conditions, vec![Some(0), Some(1000), Some(2000)]);
    let acks: Vec<_> = stream
        .append_all(futures_util::stream::iter(inputs))
        .expect("append session")
        .try_collect()
        .await
        .expect("session");
    assert_eq!(acks.last().map(|a| a.end.seq_num), Some(2500));

    // A record that can never fit ends the stream with a validation error.
    let huge = vec![AppendRecord::new(vec![0u8; 2 * 1024 * 1024])];
    let result: Result<Vec<_>, _> = s2_client::session::append_inputs(
        R::default(),
        futures_util::stream::iter(huge),
        Default::default(),
    )
    .expect("config")
    .try_collect()
    .await;
    assert!(matches!(
        result,
        Err(Error::Validation(ValidationError::BatchTooLarge { .. }))
    ));
}

/// The caps of one append session and of one producer come from their
/// options, not the client's (5 MiB, 1000 batches): a permit taking the
/// whole window leaves no room for another.
pub async fn session_options_override_the_client_caps<R: Runtime + Default>(s2: S2<R>) {
    let stream = crate::fresh_stream(&s2, "options").await;
    // Options that cannot work are refused when the session opens, naming
    // the setting, before anything is sent.
    for (options, named) in [
        (
            AppendSessionOptions::new().with_max_unacked_bytes(0),
            "max_unacked_bytes",
        ),
        (
            AppendSessionOptions::new().with_ack_timeout(Duration::ZERO),
            "ack_timeout",
        ),
    ] {
        match stream.append_session_with(&options).map(drop) {
            Err(Error::Validation(s2_client::error::ValidationError::InvalidSetting {
                setting,
                ..
            })) => assert_eq!(setting, named),
            other => panic!("{named}: {other:?}"),
        }
    }

    let bytes = AppendSessionOptions::new()
        .with_max_unacked_bytes(MIB)
        .with_ack_timeout(Duration::from_secs(30));
    let session = stream.append_session_with(&bytes).expect("client open");
    let full = session.reserve(MIB).await.expect("room for 1 MiB");
    assert!(
        session.reserve(1).now_or_never().is_none(),
        "a 1 MiB session has no room left"
    );
    drop(full);
    session.reserve(1).await.expect("room given back");

    let batches = AppendSessionOptions::new().with_max_unacked_batches(1);
    let session = stream.append_session_with(&batches).expect("client open");
    let permit = session.reserve(1).await.expect("room for one batch");
    assert!(
        session.reserve(1).now_or_never().is_none(),
        "a one-batch session has no room for a second"
    );
    let ack = permit
        .submit(batch(vec![AppendRecord::new("a")]))
        .expect("submit");
    ack.await.expect("ack");
    session.reserve(1).await.expect("room after the ack");
    session.close().await.expect("close");

    let producer = stream
        .producer_with(BatcherConfig::default(), &bytes)
        .expect("producer");
    let held = producer.reserve(MIB).await.expect("room for 1 MiB");
    assert!(
        producer.reserve(3 * MIB).now_or_never().is_none(),
        "the producer's window follows its session's"
    );
    drop(held);
    producer.close().await.expect("close");

    // Options also go with a stream of inputs, such as `append_inputs`'.
    let acks: Vec<_> = stream
        .append_all_with(
            futures_util::stream::iter([batch(vec![AppendRecord::new("b")])]),
            &batches,
        )
        .expect("client open")
        .collect()
        .await;
    assert_eq!(acks.len(), 1);
    assert!(acks[0].is_ok(), "{acks:?}");
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
    let ack = session
        .submit(batch(vec![AppendRecord::new("one")]))
        .await
        .expect("submitted");
    let ack = ack.await;
    assert_eq!(*provider.refused.lock().expect("lock"), ["stale"]);
    match ack {
        Ok(_) => {}
        Err(e) => panic!(
            "the session failed on a refused token instead of reconnecting with a fresh one: {e}"
        ),
    }
}

/// An input that `AppendInput::new` never checked (here `Default`, an empty
/// batch; a decoded one alike) is refused at submit with a validation
/// error, and the session goes on taking and acknowledging batches.
pub async fn an_unchecked_input_is_refused_and_the_session_goes_on<R: Runtime + Default>(
    s2: S2<R>,
) {
    let stream = fresh_stream(&s2, "unchecked-input").await;
    let session = stream.append_session().expect("append session");
    match session.submit(AppendInput::default()).await {
        Err(s2_client::Error::Validation(s2_client::error::ValidationError::EmptyBatch)) => {}
        Err(other) => panic!("expected an empty-batch refusal, got {other}"),
        Ok(_) => panic!("an empty batch was accepted"),
    }
    let ack = session
        .submit(batch(vec![AppendRecord::new("after")]))
        .await
        .expect("the session still takes batches")
        .await
        .expect("and acknowledges them");
    assert_eq!(ack.end.seq_num, 1);
    session.close().await.expect("close");
}
