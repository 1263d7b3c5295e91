//! Deterministic simulation of the read session against a model server
//! under cuts, stalls, terminal errors and reconnect advice.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::{
    frame::{Compression, encode_message, encode_terminal},
    types::{MeteredBytes, ReadLimit, SequencedRecord},
};

fn model_records(n: u64) -> Vec<SequencedRecord> {
    (0..n)
        .map(|i| {
            let at = StreamPosition::new(i, 1_000 + i * 10);
            if i % 7 == 3 {
                SequencedRecord::new(at, Bytes::copy_from_slice(&0u64.to_be_bytes()))
                    .with_headers([crate::types::Header::new(Bytes::new(), "trim")])
            } else {
                SequencedRecord::new(at, format!("r{i}"))
            }
        })
        .collect()
}

/// One connection of the model server.
struct ServerConn {
    id: ConnectionId,
    position: u64,
    count: Option<u64>,
    bytes: Option<u64>,
    until: Option<u64>,
    bounded: bool,
    unsent: Bytes,
    /// The last whole frame produced, for a server that repeats itself.
    last_frame: Bytes,
    ended: bool,
}

impl ServerConn {
    fn open(
        id: ConnectionId,
        request: &ReadRequest,
        records: &[SequencedRecord],
    ) -> Result<Self, StreamPosition> {
        let tail = records.len() as u64;
        let position = match request.start {
            ReadStart::SeqNum(s) => s,
            ReadStart::Timestamp(t) => records
                .iter()
                .find(|r| r.timestamp() >= t)
                .map_or(tail, |r| r.seq_num()),
            ReadStart::TailOffset(o) => tail.saturating_sub(o),
        };
        let bounded = request.limit.is_bounded() || request.until.is_some();
        // As s2-lite: past the tail without clamp, or at the tail of a read
        // that will not wait there, is a 416.
        if (position > tail && !request.clamp) || (position.min(tail) == tail && bounded) {
            return Err(StreamPosition::new(tail, 0));
        }
        Ok(Self {
            id,
            position: position.min(tail),
            count: request.limit.count,
            bytes: request.limit.bytes,
            until: request.until,
            bounded,
            unsent: Bytes::new(),
            last_frame: Bytes::new(),
            ended: false,
        })
    }

    /// Produces the next frame, or marks the end of a bounded read.
    fn next_frame(&mut self, records: &[SequencedRecord], batch_len: usize) {
        let tail = StreamPosition::new(records.len() as u64, 0);
        let mut batch = Vec::new();
        let mut bytes = 0;
        while batch.len() < batch_len && (self.position as usize) < records.len() {
            let record = &records[self.position as usize];
            let size = record.metered_bytes();
            if self.count.is_some_and(|c| c == 0)
                || self.bytes.is_some_and(|b| bytes + size > b)
                || self.until.is_some_and(|u| record.timestamp() >= u)
            {
                break;
            }
            bytes += size;
            self.count = self.count.map(|c| c - 1);
            batch.push(record.clone());
            self.position += 1;
        }
        if let Some(b) = self.bytes.as_mut() {
            *b -= bytes;
        }
        if batch.is_empty() && self.bounded {
            self.ended = true;
            return;
        }
        let at_tail = self.position == tail.seq_num;
        let message = ReadBatch {
            records: batch,
            tail: at_tail.then_some(tail),
        };
        let mut out = BytesMut::new();
        encode_message(&mut out, &message, Compression::None).unwrap();
        self.unsent = out.freeze();
        self.last_frame = self.unsent.clone();
    }
}

#[derive(Debug, Clone)]
enum Action {
    /// Deliver up to this many bytes of the current frame.
    Deliver(usize, usize),
    /// The connection breaks.
    Cut,
    /// The connection goes silent past the heartbeat timeout.
    Stall,
    /// The server ends the session with a retryable error frame.
    Terminal503,
    /// The next frame carries the reconnect-advised flag.
    AdviseReconnect,
    /// A hostile server sends its last frame again.
    Replay,
    /// A hostile server skips a record in the middle of a connection.
    Skip,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        8 => (1usize..200, 1usize..6).prop_map(|(n, b)| Action::Deliver(n, b)),
        1 => Just(Action::Cut),
        1 => Just(Action::Stall),
        1 => Just(Action::Terminal503),
        1 => Just(Action::AdviseReconnect),
    ]
}

fn hostile_action() -> impl Strategy<Value = Action> {
    prop_oneof![
        8 => (1usize..200, 1usize..6).prop_map(|(n, b)| Action::Deliver(n, b)),
        1 => Just(Action::Cut),
        1 => Just(Action::AdviseReconnect),
        1 => Just(Action::Replay),
        2 => Just(Action::Skip),
    ]
}

#[derive(Debug, Default)]
struct Outcome {
    delivered: Vec<SequencedRecord>,
    finished: bool,
    tail: Option<StreamPosition>,
    failed: Option<String>,
    /// Whether the failure was a protocol error.
    failed_protocol: bool,
    caught_up: bool,
}

fn simulate(records: &[SequencedRecord], request: ReadRequest, actions: &[Action]) -> Outcome {
    // Faults, not budgets, are under test: the retries never run out.
    let config = ReadSessionConfig::default().with_backoff(
        BackoffConfig::default()
            .with_max_retries(10_000)
            .with_retry_window(Duration::MAX),
    );
    let mut now = Instant::now();
    let mut session = ReadSession::new(request, config, now);
    let mut conn: Option<ServerConn> = None;
    let mut outcome = Outcome::default();
    let mut steps = actions.iter().cycle().take(actions.len() * 40);
    loop {
        while let Some(event) = session.poll_event() {
            match event {
                ReadEvent::Connect {
                    connection,
                    request,
                } => match ServerConn::open(connection, &request, records) {
                    Ok(c) => {
                        session.handle(
                            Input::Connection(connection, ConnectionEvent::Connected),
                            now,
                        );
                        conn = Some(c);
                    }
                    Err(tail) => {
                        conn = None;
                        session.handle(
                            Input::Connection(
                                connection,
                                ConnectionEvent::Rejected(SessionRejection::past_tail(tail, None)),
                            ),
                            now,
                        );
                    }
                },
                ReadEvent::Batch(batch) => outcome.delivered.extend(batch.records),
                ReadEvent::CaughtUp(_) => outcome.caught_up = true,
                // The model server does not go away after advising it.
                ReadEvent::Advised(_) => {}
                ReadEvent::Finished => outcome.finished = true,
                ReadEvent::Tail(tail) => outcome.tail = Some(tail),
                ReadEvent::Failed(e) => {
                    outcome.failed_protocol = matches!(e, Error::Protocol(_));
                    outcome.failed = Some(e.to_string());
                }
            }
        }
        if session.is_finished() {
            return outcome;
        }
        let Some(step) = steps.next() else {
            return outcome;
        };
        let Some(c) = conn.as_mut() else {
            // Backing off: let time pass.
            now = session.poll_timeout().expect("a timer while disconnected");
            session.handle(Input::Timeout, now);
            continue;
        };
        now += Duration::from_millis(1);
        match step {
            Action::Deliver(n, batch_len) => {
                if c.unsent.is_empty() {
                    c.next_frame(records, *batch_len);
                }
                if c.ended {
                    session.handle(Input::Connection(c.id, ConnectionEvent::End), now);
                    conn = None;
                    continue;
                }
                let chunk = c.unsent.split_to((*n).min(c.unsent.len()));
                session.handle(Input::Connection(c.id, ConnectionEvent::Data(chunk)), now);
            }
            Action::Cut => {
                session.handle(
                    Input::Connection(
                        c.id,
                        ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
                    ),
                    now,
                );
                conn = None;
            }
            Action::Stall => {
                now += Duration::from_secs(21);
                session.handle(Input::Timeout, now);
                conn = None;
            }
            Action::Terminal503 => {
                // Frames are whole on the wire: finish the current one first.
                let mut out = BytesMut::from(&std::mem::take(&mut c.unsent)[..]);
                encode_terminal(&mut out, 503, br#"{"code":"unavailable","message":"down"}"#)
                    .unwrap();
                session.handle(
                    Input::Connection(c.id, ConnectionEvent::Data(out.freeze())),
                    now,
                );
                conn = None;
            }
            Action::AdviseReconnect => {
                if !c.unsent.is_empty() {
                    // Mid-frame: the advice comes with the next frame.
                    let rest = std::mem::take(&mut c.unsent);
                    session.handle(Input::Connection(c.id, ConnectionEvent::Data(rest)), now);
                    continue;
                }
                c.next_frame(records, 2);
                if c.ended {
                    continue;
                }
                let mut frame = BytesMut::from(&std::mem::take(&mut c.unsent)[..]);
                frame[3] |= crate::frame::FLAG_RECONNECT_ADVISED;
                session.handle(
                    Input::Connection(c.id, ConnectionEvent::Data(frame.freeze())),
                    now,
                );
                conn = None;
            }
            Action::Replay => {
                if c.unsent.is_empty() && !c.last_frame.is_empty() {
                    session.handle(
                        Input::Connection(c.id, ConnectionEvent::Data(c.last_frame.clone())),
                        now,
                    );
                }
            }
            Action::Skip => {
                // Only mid-connection: a first record past the position is
                // what a trim looks like, and is accepted.
                if !c.last_frame.is_empty() && (c.position as usize) < records.len() {
                    c.position += 1;
                }
            }
        }
    }
}

fn expected(records: &[SequencedRecord], from: u64, request: &ReadRequest) -> Vec<SequencedRecord> {
    let mut out = Vec::new();
    let mut bytes = 0;
    for r in &records[from.min(records.len() as u64) as usize..] {
        if request.limit.count.is_some_and(|c| out.len() as u64 >= c)
            || request
                .limit
                .bytes
                .is_some_and(|b| bytes + r.metered_bytes() > b)
            || request.until.is_some_and(|u| r.timestamp() >= u)
        {
            break;
        }
        bytes += r.metered_bytes();
        out.push(r.clone());
    }
    out
}

fn without_commands(records: Vec<SequencedRecord>, ignore: bool) -> Vec<SequencedRecord> {
    records
        .into_iter()
        .filter(|r| !(ignore && r.is_command()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Under any interleaving of faults, a bounded read delivers exactly
    /// the expected records: no gap, no duplicate, every limit respected.
    #[test]
    fn bounded_reads_are_exact(
        n in 0u64..120,
        start in 0u64..60,
        count in proptest::option::of(1u64..80),
        bytes in proptest::option::of(9u64..2_000),
        until in proptest::option::of(1_000u64..2_300),
        ignore in any::<bool>(),
        actions in proptest::collection::vec(action(), 1..40),
    ) {
        let records = model_records(n);
        let mut request = ReadRequest::new(ReadStart::SeqNum(start))
            .with_limit(ReadLimit { count, bytes })
            .with_ignore_command_records(ignore);
        if let Some(u) = until { request = request.with_until(u); }
        if count.is_none() && bytes.is_none() && until.is_none() {
            request = request.with_limit(ReadLimit::count(1_000));
        }
        let outcome = simulate(&records, request.clone(), &actions);
        prop_assert!(outcome.failed.is_none(), "failed: {:?}", outcome.failed);
        if start >= n {
            prop_assert_eq!(outcome.tail.map(|t| t.seq_num), Some(n));
            prop_assert!(outcome.delivered.is_empty());
        } else {
            // Only a first connect past the tail reports the tail; a resume
            // at the tail is the end of a bounded read.
            prop_assert!(outcome.tail.is_none(), "tail: {:?}", outcome.tail);
            let want = without_commands(expected(&records, start, &request), ignore);
            // The run may stop (actions exhausted) before finishing: what was
            // delivered is then a prefix of what is expected.
            prop_assert!(outcome.delivered.len() <= want.len());
            prop_assert_eq!(&outcome.delivered[..], &want[..outcome.delivered.len()]);
            if outcome.finished {
                prop_assert_eq!(outcome.delivered, want);
            }
        }
    }

    /// Against a server that repeats frames and skips records, a session
    /// never delivers a record twice, out of order or past a gap: what it
    /// delivers is a prefix of the stream, and it only fails with a
    /// protocol error.
    #[test]
    fn hostile_servers_never_cause_duplicates_or_gaps(
        n in 0u64..80,
        start in 0u64..40,
        actions in proptest::collection::vec(hostile_action(), 1..40),
    ) {
        let records = model_records(n);
        let request = ReadRequest::new(ReadStart::SeqNum(start));
        let outcome = simulate(&records, request, &actions);
        if outcome.failed.is_some() {
            prop_assert!(outcome.failed_protocol, "failed: {:?}", outcome.failed);
        }
        let want = &records[start.min(n) as usize..];
        prop_assert!(outcome.delivered.len() <= want.len());
        prop_assert_eq!(&outcome.delivered[..], &want[..outcome.delivered.len()]);
    }

    /// An unbounded session follows the stream to its tail across faults,
    /// and says when it caught up.
    #[test]
    fn tailing_reads_catch_up(
        n in 0u64..80,
        offset in 0u64..100,
        actions in proptest::collection::vec(action(), 1..30),
    ) {
        let records = model_records(n);
        let request = ReadRequest::new(ReadStart::TailOffset(offset));
        let outcome = simulate(&records, request, &actions);
        prop_assert!(outcome.failed.is_none());
        prop_assert!(!outcome.finished);
        let from = n.saturating_sub(offset);
        let want = &records[from as usize..];
        prop_assert!(outcome.delivered.len() <= want.len());
        prop_assert_eq!(&outcome.delivered[..], &want[..outcome.delivered.len()]);
        if outcome.caught_up {
            prop_assert_eq!(outcome.delivered.len(), want.len());
        }
    }
}

#[test]
fn start_past_tail_reports_tail() {
    let records = model_records(3);
    let outcome = simulate(
        &records,
        ReadRequest::new(ReadStart::SeqNum(10)),
        &[Action::Deliver(100, 1)],
    );
    assert_eq!(outcome.tail.map(|t| t.seq_num), Some(3));
}

#[test]
fn gives_up_after_retry_budget() {
    let now = Instant::now();
    let config =
        ReadSessionConfig::default().with_backoff(BackoffConfig::default().with_max_retries(2));
    let mut session = ReadSession::new(ReadRequest::default(), config, now);
    let mut failures = 0;
    let mut t = now;
    while !session.is_finished() {
        while let Some(event) = session.poll_event() {
            match event {
                ReadEvent::Connect { connection, .. } => {
                    failures += 1;
                    session.handle(
                        Input::Connection(
                            connection,
                            ConnectionEvent::Failed(Error::transport(Sent::No, "refused")),
                        ),
                        t,
                    );
                }
                ReadEvent::Failed(e) => assert!(e.is_retryable()),
                other => panic!("unexpected {other:?}"),
            }
        }
        if let Some(deadline) = session.poll_timeout() {
            t = deadline;
            session.handle(Input::Timeout, t);
        }
    }
    assert_eq!(failures, 3);
}

#[test]
fn non_retryable_error_fails_at_once() {
    let now = Instant::now();
    let mut session = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    let Some(ReadEvent::Connect { connection, .. }) = session.poll_event() else {
        panic!("expected a connect");
    };
    let mut out = BytesMut::new();
    encode_terminal(
        &mut out,
        404,
        br#"{"code":"stream_not_found","message":"no"}"#,
    )
    .unwrap();
    session.handle(
        Input::Connection(connection, ConnectionEvent::Data(out.freeze())),
        now,
    );
    assert!(
        matches!(session.poll_event(), Some(ReadEvent::Failed(Error::Service(e))) if e.status == 404)
    );
    assert!(session.is_finished());
}

#[test]
fn stale_connection_inputs_are_ignored() {
    let now = Instant::now();
    let mut session = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    let Some(ReadEvent::Connect {
        connection: first, ..
    }) = session.poll_event()
    else {
        panic!("expected a connect");
    };
    session.handle(
        Input::Connection(
            first,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
        ),
        now,
    );
    let deadline = session.poll_timeout().unwrap();
    session.handle(Input::Timeout, deadline);
    let Some(ReadEvent::Connect {
        connection: second, ..
    }) = session.poll_event()
    else {
        panic!("expected a reconnect");
    };
    assert_ne!(first, second);
    session.handle(
        Input::Connection(
            first,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "late")),
        ),
        deadline,
    );
    assert!(session.poll_event().is_none());
    assert_eq!(
        session.poll_timeout(),
        Some(deadline + DEFAULT_HEARTBEAT_TIMEOUT)
    );
}

#[test]
fn garbage_from_the_server_is_a_protocol_error() {
    let now = Instant::now();
    let mut session = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    let Some(ReadEvent::Connect { connection, .. }) = session.poll_event() else {
        panic!("expected a connect");
    };
    session.handle(
        Input::Connection(
            connection,
            ConnectionEvent::Data(Bytes::from_static(&[0xff, 0xff, 0xff, 0x00])),
        ),
        now,
    );
    assert!(matches!(
        session.poll_event(),
        Some(ReadEvent::Failed(Error::Protocol(_)))
    ));
}

#[test]
fn huge_retry_hint_ends_the_session_with_its_error() {
    let now = Instant::now();
    let mut s = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    let Some(ReadEvent::Connect { connection, .. }) = s.poll_event() else {
        panic!("expected a connect")
    };
    let e = Error::Service(crate::error::ServiceError {
        status: 503,
        code: "unavailable".into(),
        message: String::new(),
        retry_after: Some(Duration::from_millis(u64::MAX)),
    });
    s.handle(
        Input::Connection(connection, ConnectionEvent::Failed(e)),
        now,
    );
    match s.poll_event() {
        Some(ReadEvent::Failed(Error::Service(e))) => {
            assert_eq!(e.retry_after, Some(Duration::from_millis(u64::MAX)))
        }
        other => panic!("expected the 503 at once, got {other:?}"),
    }
}

#[test]
fn sessions_ended_by_the_server_reconnect_through_the_backoff() {
    let start = Instant::now();
    let mut now = start;
    let config = ReadSessionConfig::default();
    let mut s = ReadSession::new(ReadRequest::default(), config, now);
    let mut connects = 0;
    loop {
        match s.poll_event() {
            Some(ReadEvent::Connect { connection, .. }) => {
                connects += 1;
                s.handle(
                    Input::Connection(connection, ConnectionEvent::Connected),
                    now,
                );
                s.handle(Input::Connection(connection, ConnectionEvent::End), now);
            }
            Some(ReadEvent::Failed(_)) => break,
            Some(other) => panic!("unexpected {other:?}"),
            None => {
                let at = s.poll_timeout().expect("backing off");
                assert!(at > now, "an ended session must not reconnect at once");
                now = at;
                s.handle(Input::Timeout, now);
            }
        }
    }
    // Through the whole window, and no further, from the first end.
    assert_eq!(now - start, config.backoff().retry_window());
    assert!((10..40).contains(&connects), "{connects}");
}

#[test]
fn healthy_connections_renew_the_retry_budget() {
    let mut now = Instant::now();
    let mut s = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    for _ in 0..10 {
        let connection = loop {
            match s.poll_event() {
                Some(ReadEvent::Connect { connection, .. }) => break connection,
                Some(ReadEvent::Failed(e)) => panic!("gave up on a healthy stream: {e}"),
                Some(_) => continue,
                None => {
                    now = s.poll_timeout().expect("a timer");
                    s.handle(Input::Timeout, now);
                }
            }
        };
        s.handle(
            Input::Connection(connection, ConnectionEvent::Connected),
            now,
        );
        let heartbeat = ReadBatch {
            records: vec![],
            tail: Some(StreamPosition::new(5, 0)),
        };
        let mut out = BytesMut::new();
        encode_message(&mut out, &heartbeat, Compression::None).unwrap();
        s.handle(
            Input::Connection(connection, ConnectionEvent::Data(out.freeze())),
            now,
        );
        now += Duration::from_secs(3600);
        s.handle(
            Input::Connection(
                connection,
                ConnectionEvent::Failed(Error::transport(Sent::Maybe, "reset by a load balancer")),
            ),
            now,
        );
    }
}

#[test]
fn a_heartbeat_does_not_move_an_explicit_start() {
    let now = Instant::now();
    let mut s = ReadSession::new(
        ReadRequest::new(ReadStart::SeqNum(2)),
        ReadSessionConfig::default(),
        now,
    );
    let Some(ReadEvent::Connect { connection, .. }) = s.poll_event() else {
        panic!("expected a connect")
    };
    let heartbeat = ReadBatch {
        records: vec![],
        tail: Some(StreamPosition::new(9, 0)),
    };
    let mut out = BytesMut::new();
    encode_message(&mut out, &heartbeat, Compression::None).unwrap();
    s.handle(
        Input::Connection(connection, ConnectionEvent::Data(out.freeze())),
        now,
    );
    assert_eq!(s.next_seq_num(), None);
    assert_eq!(s.remaining_request(now).start, ReadStart::SeqNum(2));
}

/// Encodes one read message.
fn message(records: &[SequencedRecord], tail: Option<u64>) -> Bytes {
    let message = ReadBatch {
        records: records.to_vec(),
        tail: tail.map(|seq_num| StreamPosition::new(seq_num, 0)),
    };
    let mut out = BytesMut::new();
    encode_message(&mut out, &message, Compression::None).unwrap();
    out.freeze()
}

/// The next connect, skipping events before it.
fn connect(s: &mut ReadSession) -> (ConnectionId, ReadRequest) {
    loop {
        match s.poll_event() {
            Some(ReadEvent::Connect {
                connection,
                request,
            }) => return (connection, request),
            Some(ReadEvent::Batch(_) | ReadEvent::CaughtUp(_)) => {}
            other => panic!("expected a connect, got {other:?}"),
        }
    }
}

fn events(s: &mut ReadSession) -> Vec<ReadEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn delivered(events: &[ReadEvent]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            ReadEvent::Batch(b) => Some(b.records.iter().map(|r| r.seq_num())),
            _ => None,
        })
        .flatten()
        .collect()
}

fn protocol_failure(events: &[ReadEvent]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, ReadEvent::Failed(Error::Protocol(_))))
}

#[test]
fn records_going_backwards_are_a_protocol_error() {
    let now = Instant::now();
    let mut s = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    let (c, _) = connect(&mut s);
    let records = model_records(6);
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&records[0..4], None))),
        now,
    );
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&records[2..6], None))),
        now,
    );
    let events = events(&mut s);
    assert_eq!(delivered(&events), vec![0, 1, 2, 3]);
    assert!(protocol_failure(&events), "{events:?}");
    assert!(s.is_finished());
}

#[test]
fn a_record_before_an_explicit_start_is_a_protocol_error() {
    let now = Instant::now();
    let request = ReadRequest::new(ReadStart::SeqNum(4));
    let mut s = ReadSession::new(request, ReadSessionConfig::default(), now);
    let (c, _) = connect(&mut s);
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Data(message(&model_records(6)[2..6], None)),
        ),
        now,
    );
    let events = events(&mut s);
    assert!(delivered(&events).is_empty());
    assert!(protocol_failure(&events), "{events:?}");
}

#[test]
fn a_record_at_the_last_seq_num_is_a_protocol_error() {
    let now = Instant::now();
    let mut s = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    let (c, _) = connect(&mut s);
    let record = model_records(1).remove(0);
    let record = SequencedRecord::new(StreamPosition::new(u64::MAX, record.timestamp()), "r0");
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&[record], None))),
        now,
    );
    let events = events(&mut s);
    assert!(protocol_failure(&events), "{events:?}");
    assert!(delivered(&events).is_empty());
    assert_eq!(s.next_seq_num(), None, "no wrap to 0");
}

#[test]
fn a_heartbeat_tail_before_what_was_delivered_is_a_protocol_error() {
    let now = Instant::now();
    let mut s = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    let (c, _) = connect(&mut s);
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&model_records(4), None))),
        now,
    );
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&[], Some(2)))),
        now,
    );
    assert!(protocol_failure(&events(&mut s)));
}

#[test]
fn a_batch_tail_before_its_records_is_a_protocol_error() {
    let now = Instant::now();
    let mut s = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    let (c, _) = connect(&mut s);
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Data(message(&model_records(4), Some(3))),
        ),
        now,
    );
    assert!(protocol_failure(&events(&mut s)));
}

#[test]
fn a_gap_within_a_connection_resumes_from_the_next_record() {
    let mut now = Instant::now();
    let mut s = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    let (c, _) = connect(&mut s);
    let records = model_records(8);
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&records[0..2], None))),
        now,
    );
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&records[4..6], None))),
        now,
    );
    let first = events(&mut s);
    assert_eq!(delivered(&first), vec![0, 1], "nothing past the gap");
    assert!(!s.is_finished());
    now = s.poll_timeout().expect("backing off");
    s.handle(Input::Timeout, now);
    let (c, request) = connect(&mut s);
    assert_eq!(request.start, ReadStart::SeqNum(2));
    // Records 2 and 3 were trimmed meanwhile: a new connection may start
    // past them.
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&records[4..6], None))),
        now,
    );
    assert_eq!(delivered(&events(&mut s)), vec![4, 5]);
}

#[test]
fn a_gap_within_a_batch_is_not_delivered() {
    let now = Instant::now();
    let mut s = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    let (c, _) = connect(&mut s);
    let records = model_records(8);
    let batch = [records[0].clone(), records[1].clone(), records[5].clone()];
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&batch, None))),
        now,
    );
    assert!(delivered(&events(&mut s)).is_empty());
    assert!(s.poll_timeout().is_some() && !s.is_finished());
}

#[test]
fn a_server_that_keeps_skipping_records_fails_the_session() {
    let mut now = Instant::now();
    let mut s = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    let records = model_records(8);
    let (c, _) = connect(&mut s);
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&records[0..1], None))),
        now,
    );
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
        ),
        now,
    );
    let first_failure = now;
    let mut connects = 0;
    loop {
        now = s.poll_timeout().expect("backing off");
        s.handle(Input::Timeout, now);
        let (c, request) = connect(&mut s);
        connects += 1;
        assert_eq!(request.start, ReadStart::SeqNum(1));
        // Every connection skips record 1.
        s.handle(
            Input::Connection(c, ConnectionEvent::Data(message(&[], Some(8)))),
            now,
        );
        s.handle(
            Input::Connection(c, ConnectionEvent::Data(message(&records[3..4], None))),
            now,
        );
        if protocol_failure(&events(&mut s)) {
            break;
        }
        assert!(
            connects < 100,
            "a gap every time must not be retried forever"
        );
    }
    // It gave up when the window closed, not before.
    assert_eq!(now - first_failure, BackoffConfig::default().retry_window());
}

#[test]
fn heartbeats_alone_do_not_renew_the_retry_budget() {
    let start = Instant::now();
    let mut now = start;
    let config = ReadSessionConfig::default();
    let mut s = ReadSession::new(ReadRequest::default(), config, now);
    let mut connects = 0;
    loop {
        match s.poll_event() {
            Some(ReadEvent::Connect { connection, .. }) => {
                connects += 1;
                assert!(connects < 100, "reconnects without limit");
                s.handle(
                    Input::Connection(connection, ConnectionEvent::Connected),
                    now,
                );
                s.handle(
                    Input::Connection(connection, ConnectionEvent::Data(message(&[], Some(5)))),
                    now,
                );
                s.handle(
                    Input::Connection(
                        connection,
                        ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
                    ),
                    now,
                );
            }
            Some(ReadEvent::Failed(_)) => break,
            Some(_) => {}
            None => {
                now = s.poll_timeout().expect("backing off");
                s.handle(Input::Timeout, now);
            }
        }
    }
    assert_eq!(now - start, config.backoff().retry_window());
}

/// Drives `s` through an outage from `now` until `back`: every connect is
/// refused; returns the time of the first connect at or after `back`, with
/// its connection, and how many were refused.
fn ride_out(
    s: &mut ReadSession,
    mut now: Instant,
    back: Instant,
) -> Option<(Instant, ConnectionId, u32)> {
    let mut refused = 0;
    loop {
        match s.poll_event() {
            Some(ReadEvent::Connect { connection, .. }) if now >= back => {
                return Some((now, connection, refused));
            }
            Some(ReadEvent::Connect { connection, .. }) => {
                refused += 1;
                s.handle(
                    Input::Connection(
                        connection,
                        ConnectionEvent::Failed(Error::transport(Sent::No, "connection refused")),
                    ),
                    now,
                );
            }
            Some(ReadEvent::Failed(e)) => {
                assert!(e.is_retryable(), "{e}");
                return None;
            }
            Some(other) => panic!("unexpected {other:?}"),
            None => {
                now = s.poll_timeout().expect("backing off");
                s.handle(Input::Timeout, now);
            }
        }
    }
}

/// With the default budget, a session rides out a server down for 45 s,
/// twice with progress in between (90 s in all: progress renews the
/// window), resuming each time where it was; a third outage, past the
/// window, ends it with the connection's error.
#[test]
fn default_retries_ride_out_outages_shorter_than_the_window() {
    let records = model_records(9);
    let mut now = Instant::now();
    let mut s = ReadSession::new(
        ReadRequest::new(ReadStart::SeqNum(0)),
        ReadSessionConfig::default(),
        now,
    );
    let (mut c, _) = connect(&mut s);
    let mut seen = Vec::new();
    for round in 0..2 {
        let from = round * 3;
        s.handle(Input::Connection(c, ConnectionEvent::Connected), now);
        s.handle(
            Input::Connection(
                c,
                ConnectionEvent::Data(message(&records[from..from + 3], None)),
            ),
            now,
        );
        seen.extend(delivered(&events(&mut s)));
        s.handle(
            Input::Connection(
                c,
                ConnectionEvent::Failed(Error::transport(Sent::Maybe, "server killed")),
            ),
            now,
        );
        let back = now + Duration::from_secs(45);
        let (at, next, refused) = ride_out(&mut s, now, back).expect("rides out 45 s");
        assert!(
            at - back <= crate::backoff::DEFAULT_MAX_DELAY,
            "back at once"
        );
        assert!(refused >= 10, "{refused}");
        (now, c) = (at, next);
    }
    s.handle(Input::Connection(c, ConnectionEvent::Connected), now);
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&records[6..9], None))),
        now,
    );
    seen.extend(delivered(&events(&mut s)));
    assert_eq!(
        seen,
        (0..9).collect::<Vec<_>>(),
        "every record once, in order"
    );
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "server killed")),
        ),
        now,
    );
    let forever = now + Duration::from_secs(3600);
    assert!(ride_out(&mut s, now, forever).is_none(), "gives up");
    assert!(s.is_finished());
}

#[test]
fn advice_on_every_frame_reconnects_at_most_once_a_minute() {
    let start = Instant::now();
    let mut now = start;
    let mut s = ReadSession::new(
        ReadRequest::new(ReadStart::SeqNum(0)),
        ReadSessionConfig::default(),
        now,
    );
    let records = model_records(1000);
    let mut connects = 0;
    let mut conn = None;
    let mut seen = Vec::new();
    // Every advised frame tells the driver, though the session moves at
    // most once a minute.
    let mut advised = Vec::new();
    // Ten minutes of virtual time, a frame every second, each advising a
    // reconnect.
    for _ in 0..600 {
        for event in events(&mut s) {
            match event {
                ReadEvent::Connect { connection, .. } => {
                    connects += 1;
                    conn = Some(connection);
                }
                ReadEvent::Batch(b) => seen.extend(b.records.iter().map(|r| r.seq_num())),
                ReadEvent::Advised(connection) => advised.push(connection),
                ReadEvent::Failed(e) => panic!("failed: {e}"),
                _ => {}
            }
        }
        let c = conn.expect("connected");
        let next = s.next_seq_num().unwrap_or(0) as usize;
        let mut frame = BytesMut::from(&message(&records[next..next + 1], None)[..]);
        frame[3] |= crate::frame::FLAG_RECONNECT_ADVISED;
        s.handle(
            Input::Connection(c, ConnectionEvent::Data(frame.freeze())),
            now,
        );
        now += Duration::from_secs(1);
        s.handle(Input::Timeout, now);
    }
    let last = events(&mut s);
    advised.extend(last.iter().filter_map(|e| match e {
        ReadEvent::Advised(connection) => Some(*connection),
        _ => None,
    }));
    seen.extend(delivered(&last));
    assert_eq!(seen, (0..600).collect::<Vec<_>>());
    assert_eq!(advised.len(), 600, "one advice event per advised frame");
    assert!(connects <= 10 + 2, "{connects} connects in 10 minutes");
}

#[test]
fn a_bounded_read_resumed_at_the_tail_finishes() {
    let mut now = Instant::now();
    let request = ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(10));
    let mut s = ReadSession::new(request, ReadSessionConfig::default(), now);
    let (c, _) = connect(&mut s);
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&model_records(3), None))),
        now,
    );
    // Cut before the clean end.
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
        ),
        now,
    );
    now = s.poll_timeout().expect("backing off");
    s.handle(Input::Timeout, now);
    let events_before = events(&mut s);
    let Some(ReadEvent::Connect { connection, .. }) = events_before.last() else {
        panic!("expected a reconnect: {events_before:?}")
    };
    let tail = StreamPosition {
        seq_num: 3,
        timestamp: 0,
    };
    s.handle(
        Input::Connection(
            *connection,
            ConnectionEvent::Rejected(SessionRejection::past_tail(tail, None)),
        ),
        now,
    );
    let events = events(&mut s);
    assert!(
        matches!(events.last(), Some(ReadEvent::Finished)),
        "{events:?}"
    );
    assert!(s.is_finished());
}

#[test]
fn a_tailing_read_resumed_at_the_tail_keeps_following() {
    let mut now = Instant::now();
    let mut s = ReadSession::new(
        ReadRequest::new(ReadStart::SeqNum(0)),
        ReadSessionConfig::default(),
        now,
    );
    let (c, _) = connect(&mut s);
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&model_records(3), None))),
        now,
    );
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
        ),
        now,
    );
    now = s.poll_timeout().expect("backing off");
    s.handle(Input::Timeout, now);
    let (c, _) = connect(&mut s);
    let tail = StreamPosition {
        seq_num: 3,
        timestamp: 0,
    };
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Rejected(SessionRejection::past_tail(tail, None)),
        ),
        now,
    );
    let evs = events(&mut s);
    assert!(
        evs.iter().all(|e| !matches!(
            e,
            ReadEvent::Tail(_) | ReadEvent::Finished | ReadEvent::Failed(_)
        )),
        "{evs:?}"
    );
    assert!(!s.is_finished());
    if let Some(t) = s.poll_timeout() {
        now = t;
        s.handle(Input::Timeout, now);
    }
    let (_, request) = connect(&mut s);
    assert_eq!(request.start, ReadStart::SeqNum(3));
    assert!(request.clamp, "follows from the tail");
}

#[test]
fn a_resume_past_the_tail_is_a_protocol_error() {
    let mut now = Instant::now();
    let mut s = ReadSession::new(
        ReadRequest::new(ReadStart::SeqNum(0)),
        ReadSessionConfig::default(),
        now,
    );
    let (c, _) = connect(&mut s);
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(message(&model_records(3), None))),
        now,
    );
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
        ),
        now,
    );
    now = s.poll_timeout().expect("backing off");
    s.handle(Input::Timeout, now);
    let (c, _) = connect(&mut s);
    let tail = StreamPosition {
        seq_num: 1,
        timestamp: 0,
    };
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Rejected(SessionRejection::past_tail(tail, None)),
        ),
        now,
    );
    assert!(protocol_failure(&events(&mut s)));
}

#[test]
fn a_draining_server_does_not_spend_the_retry_budget_once_a_minute() {
    let now = Instant::now();
    let config =
        ReadSessionConfig::default().with_backoff(BackoffConfig::default().with_max_retries(0));
    let mut s = ReadSession::new(ReadRequest::default(), config, now);
    let draining = || {
        Error::Service(crate::error::ServiceError {
            status: 503,
            code: "server_draining".into(),
            message: String::new(),
            retry_after: None,
        })
    };
    let (c, _) = connect(&mut s);
    s.handle(
        Input::Connection(c, ConnectionEvent::Failed(draining())),
        now,
    );
    let (c, _) = connect(&mut s);
    // Again at once: now it counts, and there is no budget.
    s.handle(
        Input::Connection(c, ConnectionEvent::Failed(draining())),
        now,
    );
    assert!(matches!(
        s.poll_event(),
        Some(ReadEvent::Failed(Error::Service(_)))
    ));
}

#[test]
fn a_clamped_start_past_the_tail_reads_from_the_tail() {
    let now = Instant::now();
    let request = ReadRequest::new(ReadStart::SeqNum(10)).with_clamp(true);
    let mut s = ReadSession::new(request, ReadSessionConfig::default(), now);
    let (c, _) = connect(&mut s);
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Data(message(&model_records(5)[3..5], None)),
        ),
        now,
    );
    assert_eq!(delivered(&events(&mut s)), vec![3, 4]);
}

#[test]
fn absurd_timeouts_do_not_overflow_the_clock() {
    let now = Instant::now();
    let config = ReadSessionConfig::default()
        .with_heartbeat_timeout(Duration::MAX)
        .with_backoff(
            BackoffConfig::default()
                .with_base_delay(Duration::MAX)
                .with_max_delay(Duration::MAX)
                .with_max_retries(3),
        );
    let mut s = ReadSession::new(ReadRequest::default(), config, now);
    let (c, _) = connect(&mut s);
    s.handle(Input::Connection(c, ConnectionEvent::Connected), now);
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
        ),
        now,
    );
    assert!(s.poll_timeout().is_some_and(|t| t > now));
}

#[test]
fn a_count_bounded_read_ended_before_the_reported_tail_resumes() {
    let mut now = Instant::now();
    let request = ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(500));
    let mut s = ReadSession::new(request, ReadSessionConfig::default(), now);
    let (c, _) = connect(&mut s);
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Data(message(&model_records(10), Some(1000))),
        ),
        now,
    );
    // A clean end, though the server said 990 more records are there.
    s.handle(Input::Connection(c, ConnectionEvent::End), now);
    let ended = events(&mut s);
    assert!(
        !ended.iter().any(|e| matches!(e, ReadEvent::Finished)),
        "a read cut short is not finished: {ended:?}"
    );
    now = s.poll_timeout().expect("backing off");
    s.handle(Input::Timeout, now);
    let (_, resumed) = connect(&mut s);
    assert_eq!(resumed.start, ReadStart::SeqNum(10));
    assert_eq!(resumed.limit.count, Some(490));
}

#[test]
fn a_count_bounded_read_ended_at_the_reported_tail_finishes() {
    let now = Instant::now();
    let request = ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(500));
    let mut s = ReadSession::new(request, ReadSessionConfig::default(), now);
    let (c, _) = connect(&mut s);
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Data(message(&model_records(10), Some(10))),
        ),
        now,
    );
    s.handle(Input::Connection(c, ConnectionEvent::End), now);
    assert!(
        events(&mut s)
            .iter()
            .any(|e| matches!(e, ReadEvent::Finished))
    );
}

fn with_wait(request: ReadRequest, secs: u32) -> ReadRequest {
    request.with_wait_secs(secs)
}

#[test]
fn a_session_asks_for_its_wait_and_resumes_with_what_is_left() {
    let start = Instant::now();
    let mut now = start;
    let request = with_wait(
        ReadRequest::new(ReadStart::SeqNum(0)).with_limit(ReadLimit::count(10)),
        30,
    );
    let mut s = ReadSession::new(request, ReadSessionConfig::default(), now);
    let (connection, sent) = connect(&mut s);
    assert_eq!(sent.wait_secs, Some(30));
    s.handle(
        Input::Connection(connection, ConnectionEvent::Connected),
        now,
    );
    // 12.5 s at the tail without a record, then the connection fails.
    now += Duration::from_millis(12_500);
    s.handle(
        Input::Connection(
            connection,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
        ),
        now,
    );
    let at = s.poll_timeout().expect("backing off");
    now = at;
    s.handle(Input::Timeout, now);
    let (connection, sent) = connect(&mut s);
    // What is left of the wait, in whole seconds, rounded down: a session
    // waits up to its wait, not past it.
    let left = (start + Duration::from_secs(30)) - now;
    assert!(left < Duration::from_millis(17_500));
    assert_eq!(sent.wait_secs, Some(left.as_secs() as u32));
    // A record restarts the wait (the service measures it between records).
    s.handle(
        Input::Connection(connection, ConnectionEvent::Connected),
        now,
    );
    now += Duration::from_secs(5);
    let record_at = now;
    s.handle(
        Input::Connection(
            connection,
            ConnectionEvent::Data(message(&model_records(1), Some(1))),
        ),
        now,
    );
    now += Duration::from_secs(3);
    s.handle(
        Input::Connection(
            connection,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
        ),
        now,
    );
    now = s.poll_timeout().expect("backing off");
    s.handle(Input::Timeout, now);
    let (_, sent) = connect(&mut s);
    let left = (record_at + Duration::from_secs(30)) - now;
    assert_eq!(sent.wait_secs, Some(left.as_secs() as u32));
    assert!(left.as_secs() < 27);
    assert_eq!(sent.start, ReadStart::SeqNum(1));
}

#[test]
fn a_session_without_a_wait_sends_none() {
    let now = Instant::now();
    let mut s = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    let (_, sent) = connect(&mut s);
    assert_eq!(sent.wait_secs, None);
    let mut s = ReadSession::new(
        with_wait(ReadRequest::default(), 0),
        ReadSessionConfig::default(),
        now,
    );
    let (_, sent) = connect(&mut s);
    assert_eq!(sent.wait_secs, Some(0));
}

#[test]
fn a_tailing_session_whose_wait_ran_out_is_finished() {
    let mut now = Instant::now();
    let mut s = ReadSession::new(
        with_wait(ReadRequest::default(), 5),
        ReadSessionConfig::default(),
        now,
    );
    let (connection, _) = connect(&mut s);
    s.handle(
        Input::Connection(connection, ConnectionEvent::Connected),
        now,
    );
    s.handle(
        Input::Connection(connection, ConnectionEvent::Data(message(&[], Some(0)))),
        now,
    );
    // The service ends the session once 5 s pass without a record.
    now += Duration::from_millis(5_020);
    s.handle(Input::Connection(connection, ConnectionEvent::End), now);
    let events = events(&mut s);
    assert!(
        matches!(events.last(), Some(ReadEvent::Finished)),
        "{events:?}"
    );
    assert!(s.is_finished());
}

#[test]
fn a_tailing_session_ended_before_its_wait_reconnects_for_the_rest() {
    let start = Instant::now();
    let mut now = start;
    let mut s = ReadSession::new(
        with_wait(ReadRequest::default(), 10),
        ReadSessionConfig::default(),
        now,
    );
    let (connection, _) = connect(&mut s);
    s.handle(
        Input::Connection(connection, ConnectionEvent::Connected),
        now,
    );
    now += Duration::from_secs(4);
    // The server went away early: not the end of the wait.
    s.handle(Input::Connection(connection, ConnectionEvent::End), now);
    assert!(!s.is_finished());
    now = s.poll_timeout().expect("backing off");
    s.handle(Input::Timeout, now);
    let (_, sent) = connect(&mut s);
    let left = (start + Duration::from_secs(10)) - now;
    assert!(left.as_secs() >= 1);
    assert_eq!(sent.wait_secs, Some(left.as_secs() as u32));
}
