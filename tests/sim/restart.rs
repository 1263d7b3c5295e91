//! Sessions and unary calls ride out a server restart with the default
//! settings: the server's connections are cut and it is unreachable for
//! longer than 30 s, then it comes back with everything it had stored.

use std::time::Duration;

use futures_util::{StreamExt, future::join};
use s2_client::{
    Error, Runtime,
    config::BatcherConfig,
    session::ReadItem,
    types::{AppendInput, AppendRecord, ReadRequest, ReadStart, StreamName},
};
use s2_sim::model::{FaultKind, Faults};

use super::defects::Scene;

/// How long the server is unreachable.
const OUTAGE: Duration = Duration::from_secs(40);

fn input(body: String) -> AppendInput {
    AppendInput::new(vec![AppendRecord::new(body)]).expect("input")
}

fn bodies(scene: &Scene) -> Vec<String> {
    scene
        .model
        .records("sim-basin", "defect")
        .expect("stream")
        .iter()
        .map(|r| String::from_utf8_lossy(r.body()).into_owned())
        .collect()
}

/// Takes the server down: every connection cut, every dial refused for
/// [`OUTAGE`].
fn restart(scene: &Scene) {
    scene.world.net().refuse_dials_for(OUTAGE);
    scene.world.net().cut_all();
}

#[test]
fn an_append_session_rides_out_a_restart_exactly_once() {
    let scene = Scene::new(30, |c| c);
    let expected: Vec<String> = (0..40).map(|i| format!("a{i}")).collect();
    scene.run(async {
        let session = scene.stream.append_session().expect("session");
        let mut acks = Vec::new();
        for (i, body) in expected.iter().enumerate() {
            if i == 10 {
                restart(&scene);
            }
            let input = input(body.clone()).with_match_seq_num(i as u64);
            acks.push(session.submit(input).await.expect("submitted"));
            scene.sleep(Duration::from_millis(500)).await;
        }
        for ack in acks {
            ack.await.expect("acknowledged after the restart");
        }
        session.close().await.expect("closed");
    });
    assert!(scene.world.elapsed() > OUTAGE);
    assert_eq!(
        bodies(&scene),
        expected,
        "each record exactly once, in order"
    );
}

#[test]
fn a_read_session_and_a_producer_ride_out_a_restart() {
    let scene = Scene::new(31, |c| c);
    let expected: Vec<String> = (0..30).map(|i| format!("p{i}")).collect();
    let read = scene.run(async {
        let mut reader = scene
            .stream
            .read_session(ReadRequest::new(ReadStart::SeqNum(0)));
        let producer = scene
            .stream
            .producer(BatcherConfig::default())
            .expect("producer");
        let write = async {
            let mut acks = Vec::new();
            for (i, body) in expected.iter().enumerate() {
                if i == 10 {
                    restart(&scene);
                }
                let record = AppendRecord::new(body.clone());
                acks.push(producer.submit(record).await.expect("submitted"));
                scene.sleep(Duration::from_millis(500)).await;
            }
            for ack in acks {
                ack.await.expect("acknowledged after the restart");
            }
            producer.close().await.expect("closed");
        };
        let read = async {
            let mut seen = Vec::new();
            while seen.len() < expected.len() {
                match reader.next().await.expect("the session goes on") {
                    Ok(ReadItem::Batch(batch)) => seen.extend(
                        batch
                            .records
                            .iter()
                            .map(|r| String::from_utf8_lossy(r.body()).into_owned()),
                    ),
                    Ok(_) => {}
                    Err(e) => panic!("the read session failed: {e}"),
                }
            }
            seen
        };
        join(write, read).await.1
    });
    assert!(scene.world.elapsed() > OUTAGE);
    assert_eq!(read, expected, "read once each, in order");
    assert_eq!(bodies(&scene), expected, "appended once each");
}

#[test]
fn a_unary_call_rides_out_a_restart_and_an_unfixable_error_does_not_wait() {
    let scene = Scene::new(32, |c| c);
    scene.run(async {
        scene.stream.check_tail().await.expect("up");
        restart(&scene);
        let started = scene.client_runtime.now();
        let ack = scene
            .stream
            .append(&input("u".into()))
            .await
            .expect("appended once the server is back");
        assert_eq!(ack.end.seq_num, 1);
        assert!(scene.client_runtime.now() - started >= OUTAGE);
        // A stream that does not exist: retrying cannot help.
        let missing = scene
            .s2
            .basin("sim-basin".parse().expect("name"))
            .stream(StreamName::new("missing").expect("name"));
        let started = scene.client_runtime.now();
        let error = missing.check_tail().await.expect_err("no such stream");
        assert!(matches!(error, Error::Service(_)), "{error:?}");
        assert!(
            scene.client_runtime.now() - started < Duration::from_secs(1),
            "failed at once"
        );
    });
    assert_eq!(bodies(&scene), vec!["u".to_owned()]);
}

/// Found by review: a session's resolution (its tail check and read-back)
/// retried in windows of its own, so a session that failed late in its
/// window could go on retrying for about twice the window. Refused streams
/// from the start, then cuts after 50 s: the session must end within one
/// window (and one last attempt) of its first failure.
#[test]
fn a_session_retries_within_one_window_resolution_included() {
    let scene = Scene::new(11, |c| c);
    scene.run(async {
        scene.stream.check_tail().await.expect("up");
        let session = scene.stream.append_session().expect("session");
        scene
            .model
            .set_faults(Faults::none().with(FaultKind::RefusedStream, 1.0));
        let started = scene.client_runtime.now();
        let conditioned = input("x".into()).with_match_seq_num(0);
        let ack = session.submit(conditioned).await.expect("submitted");
        let cut_later = async {
            scene.sleep(Duration::from_secs(50)).await;
            scene
                .model
                .set_faults(Faults::none().with(FaultKind::Cut, 1.0));
        };
        let (acked, ()) = join(ack, cut_later).await;
        acked.expect_err("the server never serves it");
        let took = scene.client_runtime.now() - started;
        let window = s2_client::config::BackoffConfig::default().retry_window();
        assert!(
            took <= window + Duration::from_secs(10),
            "retried for {took:?}, past its {window:?} window"
        );
    });
}
