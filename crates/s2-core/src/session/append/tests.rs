//! Deterministic simulation of the append session against a model server:
//! random interleavings of submits, acks, cuts (before and after the server
//! applied a batch), stalls, retryable errors and virtual time.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use prost::Message;

use super::*;
use crate::{
    frame::{Compression, encode_message, encode_terminal},
    types::{AppendRecord, ReadBatch},
};

/// The model server's stream: records with the input id and index that
/// produced them.
#[derive(Default)]
struct Log {
    records: Vec<(AppendRecord, InputId)>,
    timestamps: u64,
}

impl Log {
    fn tail(&self) -> StreamPosition {
        StreamPosition {
            seq_num: self.records.len() as u64,
            timestamp: self.timestamps,
        }
    }

    fn apply(&mut self, input: &AppendInput, id: InputId) -> AppendAck {
        let start = self.tail();
        self.timestamps += 1;
        for record in input.records() {
            self.records.push((record.clone(), id));
        }
        let end = self.tail();
        AppendAck {
            start,
            end,
            tail: end,
        }
    }

    fn read(&self, request: &ReadRequest) -> ReadOutput {
        let ReadStart::SeqNum(from) = request.start else {
            panic!("read-back always starts at a seq num");
        };
        if from >= self.records.len() as u64 {
            return ReadOutput::Tail(self.tail());
        }
        let count = request.limit.count.unwrap_or(1000) as usize;
        let records = self.records[from as usize..]
            .iter()
            .take(count)
            .enumerate()
            .map(|(i, (r, _))| SequencedRecord {
                seq_num: from + i as u64,
                timestamp: 7,
                headers: r.headers.clone(),
                body: r.body.clone(),
            })
            .collect();
        ReadOutput::Batch(ReadBatch {
            records,
            tail: None,
        })
    }
}

/// One session connection on the server side.
struct ServerConn {
    id: ConnectionId,
    inbound: Vec<Bytes>,
    outbound: BytesMut,
    terminated: bool,
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Submit,
    Process,
    Deliver(usize),
    /// The connection breaks: unprocessed frames and undelivered acks are
    /// lost (what was applied stays applied).
    Cut,
    /// The server answers the next frame with a retryable error proving
    /// nothing was applied.
    Draining,
    /// Silence past the ack deadline.
    Stall,
    /// Time passes.
    Tick,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => Just(Action::Submit),
        6 => Just(Action::Process),
        6 => (1usize..100).prop_map(Action::Deliver),
        1 => Just(Action::Cut),
        1 => Just(Action::Draining),
        1 => Just(Action::Stall),
        2 => Just(Action::Tick),
    ]
}

fn inputs(max: usize) -> impl Strategy<Value = Vec<Vec<AppendRecord>>> {
    proptest::collection::vec(
        proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..40), any::<bool>()).prop_map(|(body, h)| {
                let record = AppendRecord::new(body);
                if h {
                    record.with_header("k", "v")
                } else {
                    record
                }
            }),
            1..6,
        ),
        1..max,
    )
}

#[derive(Default, Debug)]
struct Outcome {
    acks: Vec<(InputId, AppendAck)>,
    failed: Option<Error>,
    closed: bool,
    submitted: u64,
}

struct Sim {
    session: AppendSession,
    log: Log,
    conn: Option<ServerConn>,
    now: Instant,
    outcome: Outcome,
    draining_next: bool,
}

impl Sim {
    fn new(config: AppendSessionConfig) -> Self {
        Self {
            session: AppendSession::new(config),
            log: Log::default(),
            conn: None,
            now: Instant::now(),
            outcome: Outcome::default(),
            draining_next: false,
        }
    }

    /// Drains events and frames, as a driver would.
    fn drive(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(event) = self.session.poll_event() {
                progressed = true;
                match event {
                    AppendEvent::Connect(id) => {
                        self.conn = Some(ServerConn {
                            id,
                            inbound: Vec::new(),
                            outbound: BytesMut::new(),
                            terminated: false,
                        });
                        self.session.handle_connected(id, self.now);
                    }
                    AppendEvent::CheckTail => {
                        let tail = self.log.tail();
                        self.session.handle_tail(Ok(tail), self.now);
                    }
                    AppendEvent::Read(request) => {
                        let out = self.log.read(&request);
                        self.session.handle_read(Ok(out), self.now);
                    }
                    AppendEvent::Ack { id, ack } => self.outcome.acks.push((id, ack)),
                    AppendEvent::Failed(e) => self.outcome.failed = Some(e),
                    AppendEvent::Closed => self.outcome.closed = true,
                }
            }
            while let Some((id, frame)) = self.session.poll_transmit(self.now) {
                progressed = true;
                let conn = self
                    .conn
                    .as_mut()
                    .expect("frames only for an open connection");
                assert_eq!(conn.id, id);
                conn.inbound.push(frame);
            }
            if !progressed {
                return;
            }
        }
    }

    fn step(&mut self, action: Action, batches: &[Vec<AppendRecord>], conditioned: bool) {
        self.now += Duration::from_millis(1);
        match action {
            Action::Submit => {
                let i = self.outcome.submitted as usize;
                if i < batches.len() {
                    let mut input = AppendInput::new(batches[i].clone()).unwrap();
                    if conditioned && i == 0 {
                        input = input.with_match_seq_num(0);
                    }
                    if self.session.has_capacity(input.metered_bytes()) {
                        self.session
                            .try_submit(input, self.now)
                            .expect("capacity was checked");
                        self.outcome.submitted += 1;
                    }
                } else {
                    self.session.close();
                }
            }
            Action::Process => self.process(),
            Action::Deliver(n) => {
                if let Some(conn) = self.conn.as_mut() {
                    let n = n.min(conn.outbound.len());
                    if n > 0 {
                        let chunk = conn.outbound.split_to(n).freeze();
                        let id = conn.id;
                        self.session.handle_data(id, chunk, self.now);
                    }
                }
            }
            Action::Cut => {
                if let Some(conn) = self.conn.take() {
                    self.session
                        .handle_error(conn.id, Error::transport(true, "cut"), self.now);
                }
            }
            Action::Draining => self.draining_next = true,
            Action::Stall => {
                self.now += Duration::from_secs(11);
                self.session.handle_timeout(self.now);
            }
            Action::Tick => {
                if let Some(t) = self.session.poll_timeout() {
                    self.now = self.now.max(t);
                }
                self.session.handle_timeout(self.now);
            }
        }
        self.drive();
    }

    /// The server handles the oldest unprocessed frame.
    fn process(&mut self) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if conn.terminated || conn.inbound.is_empty() {
            return;
        }
        let frame = conn.inbound.remove(0);
        if std::mem::take(&mut self.draining_next) {
            encode_terminal(
                &mut conn.outbound,
                503,
                br#"{"code":"server_draining","message":"bye"}"#,
            )
            .unwrap();
            conn.terminated = true;
            return;
        }
        let mut decoder = FrameDecoder::new(FrameLimits::PROTOCOL);
        decoder.handle_data(frame);
        let Some(Frame::Message { payload, .. }) = decoder.poll_frame().unwrap() else {
            panic!("client sent a bad frame");
        };
        let input = AppendInput::decode(payload).unwrap();
        if let Some(m) = input.match_seq_num()
            && m != self.log.tail().seq_num
        {
            let body = format!(r#"{{"seq_num_mismatch":{}}}"#, self.log.tail().seq_num);
            encode_terminal(&mut conn.outbound, 412, body.as_bytes()).unwrap();
            conn.terminated = true;
            return;
        }
        let ack = self.log.apply(&input, u64::MAX);
        encode_message(
            &mut conn.outbound,
            &proto::AppendAck::from(ack),
            Compression::None,
        )
        .unwrap();
    }
}

fn config(policy: AppendRetryPolicy, max_batches: usize) -> AppendSessionConfig {
    AppendSessionConfig {
        max_unacked_batches: max_batches,
        retry_policy: policy,
        backoff: BackoffConfig {
            max_retries: 1_000,
            ..BackoffConfig::default()
        },
        ..AppendSessionConfig::default()
    }
}

/// Runs the actions, then lets the system settle without faults so the
/// session can finish.
fn run(
    batches: &[Vec<AppendRecord>],
    actions: &[Action],
    conditioned: bool,
    policy: AppendRetryPolicy,
    max_batches: usize,
) -> Sim {
    let mut sim = Sim::new(config(policy, max_batches));
    for &action in actions {
        sim.step(action, batches, conditioned);
        if sim.outcome.failed.is_some() {
            return sim;
        }
    }
    let calm = [
        Action::Submit,
        Action::Process,
        Action::Deliver(1000),
        Action::Tick,
    ];
    for _ in 0..(batches.len() * 20 + 50) {
        for action in calm {
            sim.step(action, batches, conditioned);
        }
        if sim.outcome.closed || sim.outcome.failed.is_some() {
            break;
        }
    }
    sim
}

fn flatten(batches: &[Vec<AppendRecord>]) -> Vec<AppendRecord> {
    batches.iter().flatten().cloned().collect()
}

fn log_records(sim: &Sim) -> Vec<AppendRecord> {
    sim.log.records.iter().map(|(r, _)| r.clone()).collect()
}

fn check_acks(sim: &Sim, batches: &[Vec<AppendRecord>]) -> Result<(), TestCaseError> {
    for (i, (id, ack)) in sim.outcome.acks.iter().enumerate() {
        prop_assert_eq!(*id, i as u64, "acks in submission order");
        let batch = &batches[i];
        prop_assert_eq!(ack.record_count(), batch.len() as u64);
        let landed: Vec<_> = sim.log.records[ack.start.seq_num as usize..ack.end.seq_num as usize]
            .iter()
            .map(|(r, _)| r.clone())
            .collect();
        prop_assert_eq!(&landed, batch, "ack {} points at its records", i);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Conditioned sessions are exactly-once: every record lands once, in
    /// order, and is acknowledged where it landed, whatever fails.
    #[test]
    fn exactly_once_under_faults(
        batches in inputs(12),
        actions in proptest::collection::vec(action(), 0..80),
        max_batches in 1usize..6,
        policy in prop_oneof![Just(AppendRetryPolicy::All), Just(AppendRetryPolicy::NoSideEffects)],
    ) {
        let sim = run(&batches, &actions, true, policy, max_batches);
        prop_assert!(sim.outcome.failed.is_none(), "failed: {:?}", sim.outcome.failed);
        prop_assert!(sim.outcome.closed);
        prop_assert_eq!(log_records(&sim), flatten(&batches));
        prop_assert_eq!(sim.outcome.acks.len(), batches.len());
        check_acks(&sim, &batches)?;
    }

    /// At-least-once sessions lose nothing: every batch is on the stream, in
    /// order, where its ack says (duplicates of unacked batches allowed).
    #[test]
    fn at_least_once_loses_nothing(
        batches in inputs(10),
        actions in proptest::collection::vec(action(), 0..60),
        max_batches in 1usize..5,
    ) {
        let sim = run(&batches, &actions, false, AppendRetryPolicy::All, max_batches);
        prop_assert!(sim.outcome.failed.is_none(), "failed: {:?}", sim.outcome.failed);
        prop_assert!(sim.outcome.closed);
        prop_assert_eq!(sim.outcome.acks.len(), batches.len());
        check_acks(&sim, &batches)?;
        let log = log_records(&sim);
        prop_assert!(log.len() >= flatten(&batches).len());
    }

    /// No-side-effects sessions never duplicate; when they stop, they say
    /// exactly which inputs may have landed and which did not.
    #[test]
    fn no_side_effects_never_duplicates(
        batches in inputs(10),
        actions in proptest::collection::vec(action(), 0..60),
        max_batches in 1usize..5,
    ) {
        let sim = run(&batches, &actions, false, AppendRetryPolicy::NoSideEffects, max_batches);
        check_acks(&sim, &batches)?;
        let log = log_records(&sim);
        let acked = sim.outcome.acks.len();
        match &sim.outcome.failed {
            None => {
                prop_assert!(sim.outcome.closed);
                prop_assert_eq!(log, flatten(&batches));
            }
            Some(error) => {
                let (maybe, not) = failure_ranges(error).expect("a session error");
                prop_assert_eq!(maybe.start, acked as u64);
                prop_assert_eq!(not.end, sim.outcome.submitted);
                // The log is the acked batches, then a prefix of the
                // maybe-applied ones, then nothing else.
                let mut expected = flatten(&batches[..acked]);
                prop_assert_eq!(&log[..expected.len()], &expected[..]);
                let mut i = maybe.start as usize;
                while expected.len() < log.len() && i < maybe.end as usize {
                    expected.extend(batches[i].iter().cloned());
                    i += 1;
                }
                prop_assert_eq!(log, expected);
            }
        }
    }
}

#[test]
fn another_writer_is_a_conflict_not_a_duplicate() {
    let batches = vec![vec![AppendRecord::new("a")], vec![AppendRecord::new("b")]];
    let mut sim = Sim::new(config(AppendRetryPolicy::All, 10));
    sim.step(Action::Submit, &batches, true);
    sim.step(Action::Submit, &batches, true);
    // Both frames reach the server, the first is applied, then the
    // connection breaks before any ack arrives.
    sim.step(Action::Process, &batches, true);
    // Meanwhile another writer appends.
    let foreign = AppendInput::new(vec![AppendRecord::new("intruder")]).unwrap();
    sim.log.apply(&foreign, 99);
    sim.step(Action::Cut, &batches, true);
    for _ in 0..20 {
        sim.step(Action::Tick, &batches, true);
        sim.step(Action::Process, &batches, true);
        sim.step(Action::Deliver(1000), &batches, true);
    }
    // Batch 0 is recognised as landed; batch 1's place is taken.
    assert_eq!(sim.outcome.acks.len(), 1);
    let error = sim.outcome.failed.expect("a conflict");
    let (maybe, not) = failure_ranges(&error).unwrap();
    assert!(maybe.is_empty());
    assert_eq!(not, 1..2);
    let Error::AppendSession { cause, .. } = error else {
        unreachable!()
    };
    assert!(matches!(*cause, Error::WriterConflict { .. }), "{cause:?}");
    assert_eq!(sim.log.records.len(), 2);
}

#[test]
fn caps_apply_backpressure() {
    let mut session = AppendSession::new(AppendSessionConfig {
        max_unacked_batches: 2,
        ..AppendSessionConfig::default()
    });
    let now = Instant::now();
    let input = || AppendInput::new(vec![AppendRecord::new("x")]).unwrap();
    assert_eq!(session.try_submit(input(), now).unwrap(), 0);
    assert_eq!(session.try_submit(input(), now).unwrap(), 1);
    assert!(!session.has_capacity(9));
    assert!(matches!(
        session.try_submit(input(), now),
        Err(SubmitError::Full(_))
    ));
    session.close();
    assert!(matches!(
        session.try_submit(input(), now),
        Err(SubmitError::Closed(_))
    ));
}

#[test]
fn mismatch_on_first_attempt_is_the_callers_condition() {
    let batches = vec![vec![AppendRecord::new("a")]];
    let mut sim = Sim::new(config(AppendRetryPolicy::All, 10));
    sim.log
        .apply(&AppendInput::new(vec![AppendRecord::new("x")]).unwrap(), 9);
    sim.step(Action::Submit, &batches, true);
    sim.step(Action::Process, &batches, true);
    sim.step(Action::Deliver(1000), &batches, true);
    let error = sim.outcome.failed.expect("mismatch");
    let Error::AppendSession {
        cause, not_applied, ..
    } = error
    else {
        panic!()
    };
    assert!(matches!(
        *cause,
        Error::AppendCondition(AppendConditionFailed::SeqNumMismatch { expected: 1 })
    ));
    assert_eq!(not_applied, 0..1);
}
