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

mod bounds;
mod retries;
mod server_input;
