//! Cases for what a user of the official Rust SDK expects to find: locations,
//! reconfiguration that resets, cancel-safe capacity, read-session
//! conveniences, access-token providers and caller headers.

use std::time::Duration;

use futures_util::StreamExt;
use s2_client::{
    Error, Runtime, S2,
    config::{
        AccessTokenProvider, BackoffConfig, Endpoints, ReadRetryPolicy, ReadSessionOptions,
        TokenFuture,
    },
    session::ReadItem,
    types::{
        AccessToken, AppendInput, AppendRecord, BasinConfig, BasinReconfiguration, Change,
        LocationName, ReadLimit, ReadRequest, ReadStart, RetentionPolicy, StorageClass,
        StreamConfig, StreamName, StreamReconfiguration,
    },
};

use s2_test_server::hostile::{HostileServer, Misbehaviour};

use crate::unique_basin_name;

use s2_client::http::{HeaderMap, HeaderName, HeaderValue};

fn not_implemented(result: Result<impl std::fmt::Debug, Error>) {
    match result {
        Err(Error::Service(e)) => {
            assert_eq!((e.status, e.code.as_str()), (501, "not_implemented"), "{e}")
        }
        other => panic!("expected 501 not_implemented, got {other:?}"),
    }
}

/// The location endpoints reach s2-lite's routes (it answers 501 for them, a
/// wrong path would be a 404), and a basin created or ensured with a location
/// is accepted.
pub async fn locations<R: Runtime + Default>(s2: S2<R>) {
    let location = LocationName::new("aws:us-east-1").expect("valid location");
    not_implemented(s2.list_locations().await);
    not_implemented(s2.get_default_location().await);
    not_implemented(s2.set_default_location(&location).await);

    let name = unique_basin_name("loc");
    let info = s2
        .create_basin_in(&name, BasinConfig::default(), Some(&location))
        .await
        .expect("create in a location");
    assert_eq!(info.name, name);
    // s2-lite has no locations: it reports none.
    assert_eq!(info.location, None);
    let ensured = s2
        .ensure_basin_in(
            &unique_basin_name("loc"),
            BasinConfig::default(),
            Some(&location),
        )
        .await
        .expect("ensure in a location");
    assert_eq!(ensured.info.location, None);

    assert!(LocationName::new("").is_err());
    assert!(LocationName::new("aws/us-east-1").is_err());
    assert!(LocationName::new("x".repeat(65)).is_err());
}

/// A reset puts a stream setting back to what a stream created without it
/// has; the settings not named stay as they are.
pub async fn reconfigure_stream_resets_to_default<R: Runtime + Default>(s2: S2<R>) {
    let name = unique_basin_name("reset");
    s2.create_basin(&name, BasinConfig::default())
        .await
        .expect("create basin");
    let basin = s2.basin(name);
    let plain = StreamName::new("plain").expect("valid name");
    basin
        .create_stream(&plain, StreamConfig::default())
        .await
        .expect("create plain stream");
    let defaults = basin.get_stream_config(&plain).await.expect("defaults");

    let tuned = StreamName::new("tuned").expect("valid name");
    let hour = RetentionPolicy::Age(Duration::from_secs(3600));
    basin
        .create_stream(
            &tuned,
            StreamConfig::new()
                .with_retention_policy(hour)
                .with_storage_class(StorageClass::Standard),
        )
        .await
        .expect("create tuned stream");
    assert_ne!(defaults.retention_policy, Some(hour));

    let changed = basin
        .reconfigure_stream(
            &tuned,
            StreamReconfiguration::new().with_retention_policy(Change::Reset),
        )
        .await
        .expect("reset retention");
    assert_eq!(changed.retention_policy, defaults.retention_policy);
    assert_eq!(changed.storage_class, Some(StorageClass::Standard));
    let got = basin.get_stream_config(&tuned).await.expect("get config");
    assert_eq!(got.retention_policy, defaults.retention_policy);
}

/// A reset puts basin settings back to those of a basin created without
/// them.
pub async fn reconfigure_basin_resets_to_default<R: Runtime + Default>(s2: S2<R>) {
    let plain = unique_basin_name("reset");
    s2.create_basin(&plain, BasinConfig::default())
        .await
        .expect("create plain basin");
    let defaults = s2.get_basin_config(&plain).await.expect("defaults");

    let tuned = unique_basin_name("reset");
    let tuned_config = BasinConfig::new()
        .with_create_stream_on_append(true)
        .with_default_stream_config(
            StreamConfig::new().with_retention_policy(RetentionPolicy::Infinite),
        );
    s2.create_basin(&tuned, tuned_config)
        .await
        .expect("create tuned basin");
    let changed = s2
        .reconfigure_basin(
            &tuned,
            BasinReconfiguration::new()
                .with_create_stream_on_append(Change::Reset)
                .with_default_stream_config(Change::Reset),
        )
        .await
        .expect("reset");
    assert_eq!(changed, defaults);
    assert_eq!(s2.get_basin_config(&tuned).await.expect("get"), defaults);
}

fn sleep<R: Runtime + Default>(duration: Duration) -> impl std::future::Future<Output = ()> {
    R::default().sleep(duration)
}

/// A record of exactly 60 metered bytes.
fn record_60(i: usize) -> AppendRecord {
    AppendRecord::new(format!("{i:052}"))
}

/// A client whose append sessions hold at most 100 unacknowledged bytes.
fn small_window<R: Runtime + Default>() -> S2<R> {
    let config = crate::config().with_max_unacked_bytes(100);
    S2::with_runtime(config, R::default()).expect("client")
}

/// Waits for `future` at most `wait`; `None` when it did not finish (it is
/// then dropped: cancelled).
async fn within<R: Runtime + Default, T>(
    wait: Duration,
    future: impl std::future::Future<Output = T>,
) -> Option<T> {
    let future = std::pin::pin!(future);
    let timer = std::pin::pin!(sleep::<R>(wait));
    match futures_util::future::select(future, timer).await {
        futures_util::future::Either::Left((value, _)) => Some(value),
        futures_util::future::Either::Right(((), _)) => None,
    }
}

/// `reserve` waits for room, a cancelled `reserve` takes none, a permit
/// submits without waiting, and a dropped permit gives its room back: a
/// `select!` loop that races `reserve` against a timer appends every input
/// it meant to, exactly once.
pub async fn append_session_reserve_is_cancel_safe<R: Runtime + Default>(_: S2<R>) {
    let s2 = small_window::<R>();
    let stream = crate::fresh_stream(&s2, "reserve").await;
    let session = stream.append_session().expect("append session");

    let held = session.reserve(60).await.expect("room for the first");
    // The window is full: a second reservation waits, and is cancelled.
    assert!(
        within::<R, _>(Duration::from_millis(100), session.reserve(60))
            .await
            .is_none()
    );
    // Giving the room back lets the next one in.
    drop(held);
    let permit = within::<R, _>(Duration::from_secs(5), session.reserve(60))
        .await
        .expect("room after the drop")
        .expect("reserve");

    let mut acks = vec![permit.submit(batch(vec![record_60(0)])).expect("submit")];
    let mut next = 1;
    while next < 20 {
        // A tight timer cancels many of these reserves; none may lose or
        // hold an input.
        match within::<R, _>(Duration::from_millis(2), session.reserve(60)).await {
            None => continue,
            Some(permit) => {
                let permit = permit.expect("reserve");
                acks.push(permit.submit(batch(vec![record_60(next)])).expect("submit"));
                next += 1;
            }
        }
    }
    for (i, ack) in acks.into_iter().enumerate() {
        let ack = ack.await.expect("ack");
        assert_eq!(ack.start.seq_num, i as u64);
    }
    session.close().await.expect("close");
    assert_eq!(stream.check_tail().await.expect("tail").seq_num, 20);
}

/// The producer's `reserve` works the same way, record by record.
pub async fn producer_reserve_is_cancel_safe<R: Runtime + Default>(_: S2<R>) {
    let s2 = small_window::<R>();
    let stream = crate::fresh_stream(&s2, "preserve").await;
    let producer = stream
        .producer(
            s2_client::config::BatcherConfig::default()
                .with_max_records(1)
                .with_max_bytes(60)
                .with_linger(None),
        )
        .expect("producer");
    let mut acks = Vec::new();
    let mut next = 0;
    while next < 20 {
        match within::<R, _>(Duration::from_millis(2), producer.reserve(60)).await {
            None => continue,
            Some(permit) => {
                let permit = permit.expect("reserve");
                acks.push(permit.submit(record_60(next)).expect("submit"));
                next += 1;
            }
        }
    }
    producer.flush().await.expect("flush");
    for (i, ack) in acks.into_iter().enumerate() {
        assert_eq!(ack.await.expect("ack").seq_num, i as u64);
    }
    assert_eq!(stream.check_tail().await.expect("tail").seq_num, 20);
}

fn batch(records: Vec<AppendRecord>) -> AppendInput {
    AppendInput::new(records).expect("valid batch")
}

/// `caught_up()` resolves with the tail once the session (polled by its
/// owner) reaches it, at once when already there, and fails when the session
/// ends first.
pub async fn read_session_caught_up_future<R: Runtime + Default>(s2: S2<R>) {
    let stream = crate::fresh_stream(&s2, "caught").await;
    stream
        .append(&batch((0..5).map(record_60).collect()))
        .await
        .expect("append");
    let mut session = stream.read_session(ReadRequest::new(ReadStart::SeqNum(0)));
    let caught_up = session.caught_up();
    let drive = async {
        let mut records = 0;
        while !session.is_caught_up() {
            if let ReadItem::Batch(batch) = session.next().await.expect("item").expect("read") {
                records += batch.records.len();
            }
        }
        records
    };
    let (tail, records) = futures_util::future::join(caught_up, drive).await;
    assert_eq!(records, 5);
    assert_eq!(tail.expect("caught up").seq_num, 5);
    // Already caught up: ready at once.
    let again = within::<R, _>(Duration::from_millis(50), session.caught_up()).await;
    assert_eq!(again.expect("ready").expect("caught up").seq_num, 5);

    // A bounded session that ends before the tail never catches up.
    let mut bounded =
        stream.read_session(ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(2)));
    let never = bounded.caught_up();
    while let Some(item) = bounded.next().await {
        item.expect("read");
    }
    assert!(matches!(never.await, Err(Error::Closed { .. })));
}

/// `connected()` returns the first connection's error up front, and hands
/// back a session that goes on from where it was asked to start.
pub async fn read_session_connect_errors_up_front<R: Runtime + Default>(s2: S2<R>) {
    let stream = crate::fresh_stream(&s2, "upfront").await;
    let missing = s2
        .basin(stream.basin_name().clone())
        .stream(StreamName::new("missing").expect("valid name"));
    let err = missing
        .read_session(ReadRequest::new(ReadStart::SeqNum(0)))
        .connected()
        .await
        .err()
        .expect("a missing stream is refused");
    assert!(
        matches!(&err, Error::Service(e) if e.code == "stream_not_found"),
        "{err:?}"
    );

    stream
        .append(&batch(vec![record_60(0)]))
        .await
        .expect("append");
    let mut session = stream
        .read_session(ReadRequest::new(ReadStart::SeqNum(0)))
        .connected()
        .await
        .expect("connected");
    match session.next().await.expect("item").expect("read") {
        ReadItem::Batch(batch) => assert_eq!(batch.records[0].seq_num(), 0),
        other => panic!("expected the record, got {other:?}"),
    }
}

/// With a retry budget of one and a heartbeat timeout far below s2-lite's
/// heartbeat interval, an idle tailing session times out over and over: the
/// budgeted policy gives up, the indefinite one keeps following the tail.
pub async fn indefinite_read_retries_outlive_the_budget<R: Runtime + Default>(s2: S2<R>) {
    let stream = crate::fresh_stream(&s2, "forever").await;
    let config = crate::config()
        .with_heartbeat_timeout(Duration::from_millis(200))
        .with_retry(
            BackoffConfig::default()
                .with_max_retries(1)
                .with_base_delay(Duration::from_millis(10))
                .with_max_delay(Duration::from_millis(20)),
        );
    let impatient = S2::<R>::with_runtime(config, R::default())
        .expect("client")
        .basin(stream.basin_name().clone())
        .stream(stream.name().clone());

    let mut budgeted = impatient.read_session(ReadRequest::new(ReadStart::SeqNum(0)));
    let failed = within::<R, _>(Duration::from_secs(10), async {
        loop {
            match budgeted.next().await {
                Some(Err(e)) => return e,
                Some(Ok(_)) => {}
                None => panic!("a tailing session does not end cleanly"),
            }
        }
    })
    .await
    .expect("the budgeted session gives up");
    assert!(failed.is_retryable(), "{failed:?}");

    let mut forever = impatient.read_session_with(
        ReadRequest::new(ReadStart::SeqNum(0)),
        ReadSessionOptions::new().with_retry_policy(ReadRetryPolicy::Indefinite),
    );
    let writer = async {
        sleep::<R>(Duration::from_millis(1500)).await;
        stream
            .append(&batch(vec![record_60(0)]))
            .await
            .expect("append");
    };
    let reader = async {
        loop {
            match forever.next().await.expect("it does not end") {
                Ok(ReadItem::Batch(batch)) if !batch.records.is_empty() => {
                    return batch.records[0].seq_num();
                }
                Ok(_) => {}
                Err(e) => panic!("the indefinite session gave up: {e:?}"),
            }
        }
    };
    let ((), seq_num) = futures_util::future::join(writer, reader).await;
    assert_eq!(seq_num, 0);
}

/// A provider that hands out `stale` until told it was refused, then
/// `fresh`; it counts what it is asked.
#[derive(Debug, Default)]
pub(crate) struct Rotating {
    pub(crate) refused: std::sync::Mutex<Vec<String>>,
    asked: std::sync::atomic::AtomicU32,
    /// Never rotates: every token it gives is the stale one.
    stuck: bool,
}

impl AccessTokenProvider for Rotating {
    fn token(&self) -> TokenFuture<'_> {
        self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let refused = !self.refused.lock().expect("lock").is_empty();
        let token = if refused && !self.stuck {
            "fresh"
        } else {
            "stale"
        };
        Box::pin(async move { Ok(AccessToken::from(token)) })
    }

    fn invalidate(&self, token: &AccessToken) {
        self.refused
            .lock()
            .expect("lock")
            .push(token.expose_secret().to_owned());
    }
}

fn hostile_config(server: &HostileServer) -> s2_client::ClientConfig {
    let endpoints = Endpoints::single(&server.endpoint()).expect("endpoint");
    s2_client::ClientConfig::new("unused")
        .with_endpoints(endpoints)
        .with_retry(BackoffConfig::default().with_base_delay(Duration::from_millis(10)))
}

fn hostile_stream<R: Runtime + Default>(config: s2_client::ClientConfig) -> s2_client::S2Stream<R> {
    S2::<R>::with_runtime(config, R::default())
        .expect("client")
        .basin(s2_client::types::BasinName::new("hostile-basin").expect("valid name"))
        .stream(StreamName::new("stream").expect("valid name"))
}

fn authorization(server: &HostileServer) -> String {
    let headers = server.last_request_headers().expect("a request came");
    let value = headers.get("authorization").expect("authorization");
    value.to_str().expect("ascii").to_owned()
}

/// A token refused with a 401 is invalidated and the request retried once
/// with a fresh one, for unary calls and read sessions; a provider that
/// keeps giving refused tokens gets exactly one retry.
pub async fn access_token_provider_refreshes_after_401<R: Runtime + Default>(_: S2<R>) {
    let server =
        HostileServer::start(Misbehaviour::RefuseToken { token: "stale" }).expect("hostile server");

    let provider = std::sync::Arc::new(Rotating::default());
    let stream =
        hostile_stream::<R>(hostile_config(&server).with_access_token_provider(provider.clone()));
    stream
        .check_tail()
        .await
        .expect("retried with a fresh token");
    assert_eq!(*provider.refused.lock().expect("lock"), ["stale"]);
    assert_eq!(authorization(&server), "Bearer fresh");
    assert_eq!(server.requests(), 2);

    let provider = std::sync::Arc::new(Rotating::default());
    let stream =
        hostile_stream::<R>(hostile_config(&server).with_access_token_provider(provider.clone()));
    let before = server.requests();
    stream
        .read_session(ReadRequest::new(ReadStart::SeqNum(0)))
        .connected()
        .await
        .expect("a read session retried with a fresh token");
    assert_eq!(*provider.refused.lock().expect("lock"), ["stale"]);
    assert_eq!(server.requests() - before, 2);

    let stuck = std::sync::Arc::new(Rotating {
        stuck: true,
        ..Rotating::default()
    });
    let stream =
        hostile_stream::<R>(hostile_config(&server).with_access_token_provider(stuck.clone()));
    let before = server.requests();
    let err = stream.check_tail().await.expect_err("refused twice");
    assert!(
        matches!(&err, Error::Service(e) if e.status == 401),
        "{err:?}"
    );
    assert_eq!(server.requests() - before, 2, "one retry, no more");
}

/// Default headers and the user agent reach the server; the SDK's own
/// headers cannot be overridden by them.
pub async fn default_headers_and_user_agent<R: Runtime + Default>(_: S2<R>) {
    let server = HostileServer::start(Misbehaviour::RefuseToken { token: "nobody" })
        .expect("hostile server");
    for protected in [
        "authorization",
        "content-type",
        "content-encoding",
        "content-length",
        "accept-encoding",
        "s2-basin",
    ] {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static(protected),
            HeaderValue::from_static("x"),
        );
        let config = hostile_config(&server).with_default_headers(headers);
        assert!(
            config.validate().is_err(),
            "{protected} accepted as a default header"
        );
        assert!(
            S2::<R>::with_runtime(config, R::default()).is_err(),
            "{protected} accepted as a default header field"
        );
    }
    let bad_agent = hostile_config(&server).with_user_agent("bad\nagent");
    assert!(S2::<R>::with_runtime(bad_agent, R::default()).is_err());

    let mut headers = HeaderMap::new();
    headers.insert("x-tenant", HeaderValue::from_static("acme"));
    let config = hostile_config(&server)
        .with_default_headers(headers)
        .with_user_agent("my-app/1.0");
    let stream = hostile_stream::<R>(config);
    stream.check_tail().await.expect("tail");
    let seen = server.last_request_headers().expect("a request came");
    assert_eq!(seen.get("x-tenant").expect("x-tenant"), "acme");
    assert_eq!(seen.get("user-agent").expect("user agent"), "my-app/1.0");
    assert_eq!(authorization(&server), "Bearer unused");
    assert_eq!(seen.get("s2-basin").expect("routing"), "hostile-basin");
}

/// HTTP/2 receive windows and keepalive are settings: out-of-range values
/// are refused before anything is sent, and a client with small fixed
/// windows reads back a batch many windows large.
pub async fn http2_settings<R: Runtime + Default>(s2: S2<R>) {
    let config = crate::config;
    let refused = |config: s2_client::ClientConfig| {
        S2::<R>::with_runtime(config, R::default())
            .map(drop)
            .is_err()
    };
    assert!(refused(config().with_stream_receive_window(0)));
    assert!(refused(config().with_connection_receive_window(1024)));
    assert!(refused(config().with_stream_receive_window(1 << 31)));
    let zero_timeout = config()
        .with_keepalive_interval(Some(Duration::from_secs(1)))
        .with_keepalive_timeout(Duration::ZERO);
    assert!(refused(zero_timeout.clone()));
    let five = zero_timeout.with_keepalive_timeout(Duration::from_secs(5));
    assert!(S2::<R>::with_runtime(five, R::default()).is_ok());

    let small = config()
        .with_stream_receive_window(16 * 1024)
        .with_connection_receive_window(65_535)
        .with_keepalive_interval(Some(Duration::from_millis(200)))
        .with_keepalive_timeout(Duration::from_secs(5));
    assert_eq!(small.stream_receive_window(), 16 * 1024);
    let narrow = S2::<R>::with_runtime(small, R::default()).expect("client");
    let written = crate::fresh_stream(&s2, "windows").await;
    let body = bytes::Bytes::from(vec![7u8; 900 * 1024]);
    written
        .append(&batch(vec![AppendRecord::new(body.clone())]))
        .await
        .expect("append");
    let stream = narrow
        .basin(written.basin_name().clone())
        .stream(written.name().clone());
    let mut session =
        stream.read_session(ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(1)));
    let mut got = Vec::new();
    while let Some(item) = session.next().await {
        if let ReadItem::Batch(b) = item.expect("read") {
            got.extend(b.records);
        }
    }
    assert_eq!(got.len(), 1);
    assert_eq!(*got[0].body(), body);
}

/// A generated fencing token is fresh each time and fences a stream.
pub async fn generated_fencing_token_fences<R: Runtime + Default>(s2: S2<R>) {
    let (token, other) = (
        s2_client::types::generate_fencing_token(),
        s2_client::types::generate_fencing_token(),
    );
    assert_ne!(token, other);
    let stream = crate::fresh_stream(&s2, "gfence").await;
    stream
        .append(&batch(vec![s2_client::types::CommandRecord::fence(
            token.clone(),
        )]))
        .await
        .expect("fence");
    stream
        .append(&batch(vec![record_60(0)]).with_fencing_token(token))
        .await
        .expect("append under the fence");
    let err = stream
        .append(&batch(vec![record_60(1)]).with_fencing_token(other))
        .await
        .expect_err("another token is fenced out");
    assert!(matches!(err, Error::AppendCondition(_)), "{err:?}");
}
