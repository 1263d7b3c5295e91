//! Deterministic simulation of the append session against a model server:
//! random interleavings of submits, acks, cuts (before and after the server
//! applied a batch), stalls, retryable errors and virtual time.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use prost::Message;

use super::*;
use crate::{
    backoff::BackoffConfig,
    frame::{Compression, encode_message, encode_terminal},
    types::{AppendRecord, ReadBatch, ReadStart, SequencedRecord},
};

/// The model server's stream.
#[derive(Default)]
struct Log {
    records: Vec<AppendRecord>,
    timestamps: u64,
}

impl Log {
    fn tail(&self) -> StreamPosition {
        StreamPosition::new(self.records.len() as u64, self.timestamps)
    }

    fn apply(&mut self, input: &AppendInput) -> AppendAck {
        let start = self.tail();
        self.timestamps += 1;
        for record in input.records() {
            self.records.push(record.clone());
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
            .map(|(i, r)| {
                SequencedRecord::new(StreamPosition::new(from + i as u64, 7), r.body().clone())
                    .with_headers(r.headers().iter().cloned())
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
    /// A connection the client abandoned (cut, reset) still has frames the
    /// server received: it applies one (its ack is never delivered).
    ProcessZombie,
    /// The next ack advises reconnecting.
    Advise,
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
        2 => Just(Action::ProcessZombie),
        1 => Just(Action::Advise),
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
    /// Abandoned connections whose received frames may still be applied.
    zombies: Vec<ServerConn>,
    now: Instant,
    outcome: Outcome,
    draining_next: bool,
    /// A hostile server: every ack frame advises reconnecting.
    advise_always: bool,
    /// The next ack advises reconnecting.
    advise_next: bool,
    /// Connections the session opened.
    connects: usize,
    /// The server is down: connects are refused, unary calls fail unsent.
    down: bool,
}

impl Sim {
    fn new(config: AppendSessionConfig) -> Self {
        Self {
            session: AppendSession::new(config),
            log: Log::default(),
            conn: None,
            zombies: Vec::new(),
            now: Instant::now(),
            outcome: Outcome::default(),
            draining_next: false,
            advise_always: false,
            advise_next: false,
            connects: 0,
            down: false,
        }
    }

    /// Drains events and frames, as a driver would.
    fn drive(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(event) = self.session.poll_event() {
                progressed = true;
                match event {
                    AppendEvent::Connect(id) if self.down => {
                        self.session.handle(
                            Input::Connection(id, ConnectionEvent::Failed(refused())),
                            self.now,
                        );
                    }
                    AppendEvent::CheckTail if self.down => {
                        self.session.handle(Input::Tail(Err(refused())), self.now);
                    }
                    AppendEvent::Read(_) if self.down => {
                        self.session
                            .handle(Input::ReadBack(Err(refused())), self.now);
                    }
                    AppendEvent::Connect(id) => {
                        self.connects += 1;
                        self.conn = Some(ServerConn {
                            id,
                            inbound: Vec::new(),
                            outbound: BytesMut::new(),
                            terminated: false,
                        });
                    }
                    // The model server does not go away after advising it.
                    AppendEvent::Advised(_) => {}
                    AppendEvent::CheckTail => {
                        let tail = self.log.tail();
                        self.session.handle(Input::Tail(Ok(tail)), self.now);
                    }
                    AppendEvent::Read(request) => {
                        let out = self.log.read(&request);
                        self.session.handle(Input::ReadBack(Ok(out)), self.now);
                    }
                    AppendEvent::Disconnect(id) => {
                        if self.conn.as_ref().is_some_and(|c| c.id == id) {
                            self.abandon();
                        }
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
                            .try_submit(input)
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
                        self.session.handle(
                            Input::Connection(id, ConnectionEvent::Data(chunk)),
                            self.now,
                        );
                    }
                }
            }
            Action::Cut => {
                if let Some(id) = self.conn.as_ref().map(|c| c.id) {
                    self.abandon();
                    self.session.handle(
                        Input::Connection(
                            id,
                            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
                        ),
                        self.now,
                    );
                }
            }
            Action::ProcessZombie => {
                if let Some(i) = self.zombies.iter().position(|z| !z.inbound.is_empty()) {
                    let mut zombie = self.zombies.swap_remove(i);
                    Self::process_on(&mut self.log, &mut zombie, false);
                    if !zombie.terminated {
                        self.zombies.push(zombie);
                    }
                }
            }
            Action::Draining => self.draining_next = true,
            Action::Advise => self.advise_next = true,
            Action::Stall => {
                self.now += Duration::from_secs(11);
                self.session.handle(Input::Timeout, self.now);
            }
            Action::Tick => {
                if let Some(t) = self.session.poll_timeout() {
                    self.now = self.now.max(t);
                }
                self.session.handle(Input::Timeout, self.now);
            }
        }
        self.drive();
    }

    /// The current connection becomes a zombie: the client is gone, but
    /// frames the server already received may still be applied.
    fn abandon(&mut self) {
        if let Some(conn) = self.conn.take()
            && !conn.terminated
        {
            self.zombies.push(conn);
        }
    }

    /// The server handles the oldest unprocessed frame.
    fn process(&mut self) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let draining = std::mem::take(&mut self.draining_next);
        let from = conn.outbound.len();
        Self::process_on(&mut self.log, conn, draining);
        if conn.outbound.len() > from && !conn.terminated {
            let advise = self.advise_always || std::mem::take(&mut self.advise_next);
            if advise {
                conn.outbound[from + 3] |= crate::frame::FLAG_RECONNECT_ADVISED;
            }
        }
    }

    fn process_on(log: &mut Log, conn: &mut ServerConn, draining: bool) {
        if conn.terminated || conn.inbound.is_empty() {
            return;
        }
        let frame = conn.inbound.remove(0);
        if draining {
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
            && m != log.tail().seq_num
        {
            let body = format!(r#"{{"seq_num_mismatch":{}}}"#, log.tail().seq_num);
            encode_terminal(&mut conn.outbound, 412, body.as_bytes()).unwrap();
            conn.terminated = true;
            return;
        }
        let ack = log.apply(&input);
        encode_message(&mut conn.outbound, &ack, Compression::None).unwrap();
    }
}

/// What connecting to a server that is down gets.
fn refused() -> Error {
    Error::transport(Sent::No, "connection refused")
}

fn config(policy: AppendRetryPolicy, max_batches: usize) -> AppendSessionConfig {
    // Faults, not budgets, are under test: the retries never run out.
    AppendSessionConfig::default()
        .with_max_unacked_batches(max_batches)
        .with_retry_policy(policy)
        .with_backoff(
            BackoffConfig::default()
                .with_max_retries(1_000)
                .with_retry_window(Duration::MAX),
        )
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
    sim.log.records.clone()
}

fn check_acks(sim: &Sim, batches: &[Vec<AppendRecord>]) -> Result<(), TestCaseError> {
    for (i, (id, ack)) in sim.outcome.acks.iter().enumerate() {
        prop_assert_eq!(*id, i as u64, "acks in submission order");
        let batch = &batches[i];
        prop_assert_eq!(ack.record_count(), batch.len() as u64);
        let landed = &sim.log.records[ack.start.seq_num as usize..ack.end.seq_num as usize];
        prop_assert_eq!(landed, &batch[..], "ack {} points at its records", i);
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
    sim.log.apply(&foreign);
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
fn an_absurd_size_has_no_capacity_rather_than_an_overflow() {
    let mut session = AppendSession::new(AppendSessionConfig::default());
    let input = AppendInput::new(vec![AppendRecord::new("x")]).unwrap();
    session.try_submit(input).unwrap();
    assert!(!session.has_capacity(u64::MAX));
}

#[test]
fn caps_apply_backpressure() {
    let mut session =
        AppendSession::new(AppendSessionConfig::default().with_max_unacked_batches(2));
    let input = || AppendInput::new(vec![AppendRecord::new("x")]).unwrap();
    assert_eq!(session.try_submit(input()).unwrap(), 0);
    assert_eq!(session.try_submit(input()).unwrap(), 1);
    assert!(!session.has_capacity(9));
    assert!(matches!(
        session.try_submit(input()),
        Err(SubmitError::Full(_))
    ));
    session.close();
    assert!(matches!(
        session.try_submit(input()),
        Err(SubmitError::Closed(_))
    ));
}

#[test]
fn mismatch_on_first_attempt_is_a_writer_conflict() {
    let batches = vec![vec![AppendRecord::new("a")], vec![AppendRecord::new("b")]];
    let mut sim = Sim::new(config(AppendRetryPolicy::All, 10));
    sim.log
        .apply(&AppendInput::new(vec![AppendRecord::new("x")]).unwrap());
    sim.step(Action::Submit, &batches, true);
    sim.step(Action::Submit, &batches, true);
    sim.step(Action::Process, &batches, true);
    sim.step(Action::Deliver(1000), &batches, true);
    let error = sim.outcome.failed.expect("mismatch");
    assert!(!error.may_have_side_effect());
    let Error::AppendSession {
        cause,
        maybe_applied,
        not_applied,
    } = error
    else {
        panic!()
    };
    assert!(
        matches!(*cause, Error::WriterConflict { seq_num: 1, .. }),
        "{cause:?}"
    );
    assert_eq!((maybe_applied, not_applied), (0..0, 0..2));
}

#[test]
fn a_landed_batch_before_a_foreign_record_is_acked() {
    // A = 1 record, B = 2 records. A lands, its ack is lost, another writer
    // appends 1 record: the tail (2) lies inside B (1..3).
    let batches = vec![
        vec![AppendRecord::new("a")],
        vec![AppendRecord::new("b1"), AppendRecord::new("b2")],
    ];
    let mut sim = Sim::new(config(AppendRetryPolicy::All, 10));
    sim.step(Action::Submit, &batches, true);
    sim.step(Action::Submit, &batches, true);
    sim.step(Action::Process, &batches, true);
    sim.log
        .apply(&AppendInput::new(vec![AppendRecord::new("intruder")]).unwrap());
    sim.step(Action::Cut, &batches, true);
    for _ in 0..20 {
        sim.step(Action::Tick, &batches, true);
        sim.step(Action::Process, &batches, true);
        sim.step(Action::Deliver(1000), &batches, true);
    }
    assert_eq!(sim.outcome.acks.len(), 1, "A is on the stream: it is acked");
    let error = sim.outcome.failed.expect("B conflicts");
    let (maybe, not) = failure_ranges(&error).unwrap();
    assert_eq!((maybe, not), (1..1, 1..2));
}

#[test]
fn read_back_across_responses_keeps_the_start_timestamp() {
    let now = Instant::now();
    let mut s = AppendSession::new(config(AppendRetryPolicy::All, 10));
    let input = AppendInput::new(vec![AppendRecord::new("x"), AppendRecord::new("y")])
        .unwrap()
        .with_match_seq_num(0);
    s.try_submit(input).unwrap();
    let Some(AppendEvent::Connect(c)) = s.poll_event() else {
        panic!("expected a connect")
    };
    s.poll_transmit(now).unwrap();
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
        ),
        now,
    );
    assert!(matches!(s.poll_event(), Some(AppendEvent::Disconnect(_))));
    let t = s.poll_timeout().unwrap();
    s.handle(Input::Timeout, t);
    assert!(matches!(s.poll_event(), Some(AppendEvent::CheckTail)));
    s.handle(Input::Tail(Ok(StreamPosition::new(2, 50))), t);
    let record = |seq_num, timestamp, body: &'static str| {
        SequencedRecord::new(StreamPosition::new(seq_num, timestamp), body)
    };
    for (i, (ts, body)) in [(40, "x"), (41, "y")].into_iter().enumerate() {
        assert!(matches!(s.poll_event(), Some(AppendEvent::Read(_))));
        let batch = ReadBatch {
            records: vec![record(i as u64, ts, body)],
            tail: None,
        };
        s.handle(Input::ReadBack(Ok(ReadOutput::Batch(batch))), t);
    }
    let Some(AppendEvent::Ack { ack, .. }) = s.poll_event() else {
        panic!("expected the ack")
    };
    assert_eq!((ack.start.timestamp, ack.end.timestamp), (40, 41));
}

#[test]
fn reconnect_advice_drains_instead_of_failing() {
    let now = Instant::now();
    let mut s = AppendSession::new(config(AppendRetryPolicy::NoSideEffects, 10));
    let input = || AppendInput::new(vec![AppendRecord::new("x")]).unwrap();
    s.try_submit(input()).unwrap();
    s.try_submit(input()).unwrap();
    let Some(AppendEvent::Connect(c)) = s.poll_event() else {
        panic!("expected a connect")
    };
    while s.poll_transmit(now).is_some() {}
    let ack = |seq_num| {
        let mut out = BytesMut::new();
        let ack = AppendAck {
            start: StreamPosition::new(seq_num, 1),
            end: StreamPosition::new(seq_num + 1, 1),
            tail: StreamPosition::new(seq_num + 1, 1),
        };
        encode_message(&mut out, &ack, Compression::None).unwrap();
        out
    };
    let mut advised = ack(0);
    advised[3] |= crate::frame::FLAG_RECONNECT_ADVISED;
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(advised.freeze())),
        now,
    );
    s.try_submit(input()).unwrap();
    // Nothing more goes out on the advised connection.
    assert!(s.poll_transmit(now).is_none());
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(ack(1).freeze())),
        now,
    );
    let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(
        events.iter().all(|e| !matches!(e, AppendEvent::Failed(_))),
        "{events:?}"
    );
    assert!(matches!(events[events.len() - 2], AppendEvent::Disconnect(d) if d == c));
    let Some(AppendEvent::Connect(next)) = events.last() else {
        panic!("expected a reconnect: {events:?}")
    };
    assert_eq!(s.poll_transmit(now).map(|(c, _)| c), Some(*next));
}

#[test]
fn inputs_too_large_to_encode_are_refused_up_front() {
    let mut record = AppendRecord::new("");
    for _ in 0..262_142 {
        record = record.with_header("k", "v");
    }
    assert!(matches!(
        AppendInput::new(vec![record]),
        Err(crate::error::ValidationError::EncodedBatchTooLarge { .. })
    ));
}

/// `AppendInput` is a public `WireMessage`, so a caller can decode one
/// that `AppendInput::new` would have refused; submitting it must not panic.
#[test]
fn a_decoded_input_too_large_for_a_frame_is_refused_not_a_panic() {
    let decoded = |records: Vec<AppendRecord>, fencing_token| {
        let generated = proto::AppendInput {
            records: records.into_iter().map(From::from).collect(),
            match_seq_num: None,
            fencing_token,
        };
        AppendInput::decode(generated.encode_to_vec().into()).unwrap()
    };
    let mut s = AppendSession::new(AppendSessionConfig::default());
    // Over the batch limits: refused by the limit check.
    let huge = decoded(
        vec![AppendRecord::new(vec![7u8; crate::frame::MAX_PAYLOAD_LEN])],
        None,
    );
    match s.try_submit(huge) {
        Err(SubmitError::Invalid(_, ValidationError::BatchTooLarge { .. })) => {}
        other => panic!("expected a size refusal: {other:?}"),
    }
    // Within the limits, but a fencing token no constructor allows makes
    // it too large to frame: refused when encoding.
    let fenced = decoded(
        vec![AppendRecord::new("x")],
        Some("t".repeat(crate::frame::MAX_PAYLOAD_LEN)),
    );
    match s.try_submit(fenced) {
        Err(SubmitError::Invalid(_, ValidationError::EncodedBatchTooLarge { encoded_bytes })) => {
            assert!(encoded_bytes > crate::frame::MAX_PAYLOAD_LEN)
        }
        other => panic!("expected an encoded-size refusal: {other:?}"),
    }
    match s.try_submit(AppendInput::default()) {
        Err(SubmitError::Invalid(_, ValidationError::EmptyBatch)) => {}
        other => panic!("expected an empty-batch refusal: {other:?}"),
    }
    assert_eq!(s.unacked_len(), 0);
    assert!(
        s.poll_event().is_none(),
        "nothing is sent for a refused input"
    );
    // The session still takes valid inputs.
    let valid = AppendInput::new(vec![AppendRecord::new("x")]).unwrap();
    assert_eq!(s.try_submit(valid).unwrap(), 0);
}

#[test]
fn a_stale_attempt_keeps_its_batch_maybe_applied() {
    let mut now = Instant::now();
    let mut s = AppendSession::new(
        AppendSessionConfig::default().with_backoff(BackoffConfig::default().with_max_retries(3)),
    );
    let input = AppendInput::new(vec![AppendRecord::new("a")])
        .unwrap()
        .with_match_seq_num(0);
    s.try_submit(input).unwrap();
    let mut conn = None;
    let mut failed = None;
    let drain = |s: &mut AppendSession,
                 conn: &mut Option<ConnectionId>,
                 failed: &mut Option<Error>,
                 now| {
        while let Some(event) = s.poll_event() {
            match event {
                AppendEvent::Connect(c) => *conn = Some(c),
                // The server has not applied A yet: it is stuck behind a stall.
                AppendEvent::CheckTail => s.handle(
                    Input::Tail(Ok(StreamPosition {
                        seq_num: 0,
                        timestamp: 0,
                    })),
                    now,
                ),
                AppendEvent::Failed(e) => *failed = Some(e),
                _ => {}
            }
        }
        while s.poll_transmit(now).is_some() {}
    };
    drain(&mut s, &mut conn, &mut failed, now);
    now += Duration::from_secs(11);
    s.handle(Input::Timeout, now);
    drain(&mut s, &mut conn, &mut failed, now);
    for _ in 0..10 {
        if let Some(t) = s.poll_timeout() {
            now = now.max(t);
            s.handle(Input::Timeout, now);
        }
        drain(&mut s, &mut conn, &mut failed, now);
        // Every new connection is refused before anything is sent, while
        // the stalled first attempt may still be applied.
        if let Some(c) = conn.take() {
            s.handle(
                Input::Connection(
                    c,
                    ConnectionEvent::Failed(Error::transport(Sent::No, "refused")),
                ),
                now,
            );
        }
        drain(&mut s, &mut conn, &mut failed, now);
        if failed.is_some() {
            break;
        }
    }
    let (maybe, _) = failure_ranges(&failed.expect("gave up")).unwrap();
    assert!(maybe.contains(&0), "A may have landed: {maybe:?}");
}

/// A session whose open was answered with `status`/`code`, after its one
/// batch was sent on it.
fn rejected_session(status: u16, code: &str, now: Instant) -> Vec<AppendEvent> {
    let mut s = AppendSession::new(config(AppendRetryPolicy::NoSideEffects, 10));
    s.try_submit(AppendInput::new(vec![AppendRecord::new("x")]).unwrap())
        .unwrap();
    let Some(AppendEvent::Connect(c)) = s.poll_event() else {
        panic!("expected a connect")
    };
    assert!(s.poll_transmit(now).is_some());
    let error = Error::Service(crate::error::ServiceError {
        status,
        code: code.into(),
        message: String::new(),
        retry_after: None,
    });
    s.handle(
        Input::Connection(c, ConnectionEvent::Rejected(error.into())),
        now,
    );
    let mut events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    if let Some(t) = s.poll_timeout() {
        s.handle(Input::Timeout, t);
        events.extend(std::iter::from_fn(|| s.poll_event()));
    }
    events
}

#[test]
fn a_session_refused_with_a_no_effect_status_proves_nothing_was_applied() {
    // Refused, it provably did not apply: a no-side-effects session retries.
    let events = rejected_session(429, "rate_limited", Instant::now());
    assert!(
        events.iter().all(|e| !matches!(e, AppendEvent::Failed(_))),
        "{events:?}"
    );
    assert!(events.iter().any(|e| matches!(e, AppendEvent::Connect(_))));
}

#[test]
fn a_session_refused_with_an_unknown_outcome_status_may_have_applied() {
    // A gateway's 504 (or a 503 `unavailable`) may come after the frames
    // reached the service: a no-side-effects session gives up, saying the
    // batch may have landed.
    for (status, code) in [(504, ""), (503, "unavailable"), (502, "")] {
        let events = rejected_session(status, code, Instant::now());
        let failed = events.iter().find_map(|e| match e {
            AppendEvent::Failed(error) => Some(error),
            _ => None,
        });
        let Some(Error::AppendSession { maybe_applied, .. }) = failed else {
            panic!("{status} {code}: expected the session to fail, got {events:?}")
        };
        assert_eq!(maybe_applied, &(0..1), "{status} {code}");
    }
}

/// One encoded ack frame.
fn ack_frame(start: u64, end: u64, tail: u64) -> Bytes {
    let position = |seq_num| StreamPosition::new(seq_num, 1);
    let ack = AppendAck {
        start: position(start),
        end: position(end),
        tail: position(tail),
    };
    let mut out = BytesMut::new();
    encode_message(&mut out, &ack, Compression::None).unwrap();
    out.freeze()
}

/// A session with `batches` unconditioned batches of `len` records, all
/// sent on one connection.
fn sent_session(batches: usize, len: usize, now: Instant) -> (AppendSession, ConnectionId) {
    let mut s = AppendSession::new(config(AppendRetryPolicy::All, 10));
    for _ in 0..batches {
        let input = AppendInput::new(vec![AppendRecord::new("x"); len]).unwrap();
        s.try_submit(input).unwrap();
    }
    let Some(AppendEvent::Connect(c)) = s.poll_event() else {
        panic!("expected a connect")
    };
    while s.poll_transmit(now).is_some() {}
    (s, c)
}

fn failure(s: &mut AppendSession) -> Option<Error> {
    std::iter::from_fn(|| s.poll_event()).find_map(|e| match e {
        AppendEvent::Failed(e) => Some(e),
        _ => None,
    })
}

#[test]
fn acks_going_backwards_are_a_protocol_error() {
    let now = Instant::now();
    let (mut s, c) = sent_session(2, 3, now);
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(ack_frame(10, 13, 13))),
        now,
    );
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(ack_frame(3, 6, 13))),
        now,
    );
    let Some(Error::AppendSession { cause, .. }) = failure(&mut s) else {
        panic!("expected a failure")
    };
    assert!(matches!(*cause, Error::Protocol(_)), "{cause:?}");
}

#[test]
fn overlapping_acks_are_a_protocol_error() {
    let now = Instant::now();
    let (mut s, c) = sent_session(2, 3, now);
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(ack_frame(10, 13, 20))),
        now,
    );
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(ack_frame(12, 15, 20))),
        now,
    );
    let Some(Error::AppendSession { cause, .. }) = failure(&mut s) else {
        panic!("expected a failure")
    };
    assert!(matches!(*cause, Error::Protocol(_)), "{cause:?}");
}

#[test]
fn acks_are_increasing_across_connections() {
    let now = Instant::now();
    let (mut s, c) = sent_session(2, 3, now);
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(ack_frame(10, 13, 13))),
        now,
    );
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
        ),
        now,
    );
    let t = s.poll_timeout().expect("backing off");
    s.handle(Input::Timeout, t);
    let c = std::iter::from_fn(|| s.poll_event())
        .find_map(|e| match e {
            AppendEvent::Connect(c) => Some(c),
            _ => None,
        })
        .expect("a reconnect");
    while s.poll_transmit(t).is_some() {}
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(ack_frame(12, 15, 15))),
        t,
    );
    let Some(Error::AppendSession { cause, .. }) = failure(&mut s) else {
        panic!("expected a failure")
    };
    assert!(matches!(*cause, Error::Protocol(_)), "{cause:?}");
}

#[test]
fn other_writers_may_land_between_unconditioned_acks() {
    let now = Instant::now();
    let (mut s, c) = sent_session(2, 3, now);
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(ack_frame(10, 13, 20))),
        now,
    );
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(ack_frame(14, 17, 20))),
        now,
    );
    let acks = std::iter::from_fn(|| s.poll_event())
        .filter(|e| matches!(e, AppendEvent::Ack { .. }))
        .count();
    assert_eq!(acks, 2);
}

#[test]
fn acks_with_a_tail_before_their_end_are_a_protocol_error() {
    let now = Instant::now();
    let (mut s, c) = sent_session(1, 3, now);
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(ack_frame(10, 13, 12))),
        now,
    );
    let Some(Error::AppendSession { cause, .. }) = failure(&mut s) else {
        panic!("expected a failure")
    };
    assert!(matches!(*cause, Error::Protocol(_)), "{cause:?}");
}

#[test]
fn a_match_seq_num_that_would_overflow_is_refused_at_submit() {
    let mut s = AppendSession::new(AppendSessionConfig::default());
    let three = || AppendInput::new(vec![AppendRecord::new("x"); 3]).unwrap();
    assert!(matches!(
        s.try_submit(three().with_match_seq_num(u64::MAX - 2)),
        Err(SubmitError::Invalid(
            _,
            crate::error::ValidationError::MatchSeqNumOverflow { .. }
        ))
    ));
    // Ending exactly at u64::MAX is representable; nothing can follow it.
    s.try_submit(three().with_match_seq_num(u64::MAX - 3))
        .unwrap();
    assert!(matches!(
        s.try_submit(three()),
        Err(SubmitError::Invalid(
            _,
            crate::error::ValidationError::MatchSeqNumOverflow { .. }
        ))
    ));
    assert_eq!(s.unacked_len(), 1);
}

#[test]
fn a_batch_never_sent_is_not_acknowledged_from_another_writers_records() {
    let batches = vec![vec![AppendRecord::new("a")], vec![AppendRecord::new("b")]];
    let mut sim = Sim::new(config(AppendRetryPolicy::All, 10));
    sim.step(Action::Submit, &batches, true);
    // A lands, its ack is lost with the connection.
    sim.step(Action::Process, &batches, true);
    sim.step(Action::Cut, &batches, true);
    // B is submitted during the backoff: it never leaves the client...
    sim.step(Action::Submit, &batches, true);
    assert!(matches!(sim.session.phase, Phase::Backoff { .. }));
    // ...while another writer appends records identical to B where B was
    // to go.
    sim.log
        .apply(&AppendInput::new(batches[1].clone()).unwrap());
    for _ in 0..20 {
        sim.step(Action::Tick, &batches, true);
        sim.step(Action::Process, &batches, true);
        sim.step(Action::Deliver(1000), &batches, true);
    }
    assert_eq!(sim.outcome.acks.len(), 1, "A is on the stream: it is acked");
    let error = sim.outcome.failed.expect("B conflicts");
    let (maybe, not) = failure_ranges(&error).unwrap();
    assert_eq!((maybe, not), (1..1, 1..2));
    let Error::AppendSession { cause, .. } = error else {
        unreachable!()
    };
    assert!(
        matches!(*cause, Error::WriterConflict { seq_num: 1, .. }),
        "{cause:?}"
    );
}

#[test]
fn advice_on_every_frame_reconnects_at_most_once_a_minute() {
    let batches: Vec<_> = (0..400)
        .map(|i| vec![AppendRecord::new(format!("r{i}"))])
        .collect();
    for conditioned in [false, true] {
        let mut sim = Sim::new(config(AppendRetryPolicy::All, 4));
        sim.advise_always = true;
        let start = sim.now;
        for _ in 0..batches.len() + 1 {
            for action in [Action::Submit, Action::Process, Action::Deliver(1000)] {
                sim.step(action, &batches, conditioned);
            }
            // One second per round: 400 s of virtual time.
            sim.now += Duration::from_secs(1);
        }
        assert!(sim.outcome.failed.is_none(), "{:?}", sim.outcome.failed);
        assert!(sim.outcome.closed);
        assert_eq!(log_records(&sim), flatten(&batches));
        let minutes = (sim.now - start).as_secs() / 60;
        assert!(
            sim.connects as u64 <= minutes + 2,
            "{} connects in {minutes} minutes",
            sim.connects
        );
    }
}

#[test]
fn a_connection_failing_after_advice_does_not_spend_the_retry_budget() {
    let now = Instant::now();
    let mut s = AppendSession::new(
        AppendSessionConfig::default().with_backoff(BackoffConfig::default().with_max_retries(0)),
    );
    for _ in 0..2 {
        let input = AppendInput::new(vec![AppendRecord::new("x")]).unwrap();
        s.try_submit(input).unwrap();
    }
    let Some(AppendEvent::Connect(c)) = s.poll_event() else {
        panic!("expected a connect")
    };
    while s.poll_transmit(now).is_some() {}
    let mut advised = BytesMut::from(&ack_frame(0, 1, 1)[..]);
    advised[3] |= crate::frame::FLAG_RECONNECT_ADVISED;
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(advised.freeze())),
        now,
    );
    // The server goes away as it said, before the second ack.
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "gone")),
        ),
        now,
    );
    assert!(failure(&mut s).is_none(), "an announced drop is no failure");
    s.handle(Input::Timeout, s.poll_timeout().expect("reconnecting"));
    assert!(matches!(s.poll_event(), Some(AppendEvent::Connect(_))));
}

#[test]
fn absurd_timeouts_do_not_overflow_the_clock() {
    let now = Instant::now();
    let mut s = AppendSession::new(
        AppendSessionConfig::default()
            .with_ack_timeout(Duration::MAX)
            .with_backoff(
                BackoffConfig::default()
                    .with_base_delay(Duration::MAX)
                    .with_max_delay(Duration::MAX)
                    .with_max_retries(3),
            ),
    );
    let input = AppendInput::new(vec![AppendRecord::new("x")]).unwrap();
    s.try_submit(input).unwrap();
    let Some(AppendEvent::Connect(c)) = s.poll_event() else {
        panic!("expected a connect")
    };
    assert!(s.poll_transmit(now).is_some());
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Failed(Error::transport(Sent::No, "refused")),
        ),
        now,
    );
    assert!(s.poll_timeout().is_some_and(|t| t > now));
}

/// The size check at submit and the encoding at transmit agree to the byte,
/// with or without compression: an input of exactly the largest payload is
/// framed on every send (the resend too), one byte more is refused, and a
/// `match_seq_num` the session adds counts.
#[test]
fn the_submit_size_check_and_the_frame_agree_at_the_limit() {
    let max = crate::frame::MAX_PAYLOAD_LEN;
    // A decoded input (not held to the constructors' limits) whose
    // fencing token makes it `len` bytes once encoded.
    let decoded = |len: usize| {
        let mut token_len = len - 16;
        loop {
            let generated = proto::AppendInput {
                records: vec![AppendRecord::new("x").into()],
                match_seq_num: None,
                fencing_token: Some("t".repeat(token_len)),
            };
            let bytes = generated.encode_to_vec();
            if bytes.len() == len {
                return AppendInput::decode(bytes.into()).unwrap();
            }
            assert!(bytes.len() < len, "no token makes {len} bytes");
            token_len += 1;
        }
    };
    for compression in [Compression::None, Compression::Zstd, Compression::Gzip] {
        let config = AppendSessionConfig::default().with_compression(compression);
        let mut now = Instant::now();
        let mut s = AppendSession::new(config);
        let input = decoded(max);
        assert_eq!(input.encoded_len(), max);
        s.try_submit(input.clone())
            .expect("exactly the largest payload");
        let Some(AppendEvent::Connect(first)) = s.poll_event() else {
            panic!("expected a connect");
        };
        let check = |(connection, frame): (ConnectionId, Bytes), expected: ConnectionId| {
            assert_eq!(connection, expected);
            let mut decoder = FrameDecoder::new(FrameLimits::PROTOCOL);
            decoder.handle_data(frame);
            match decoder.poll_frame() {
                Ok(Some(Frame::Message { payload, .. })) => {
                    assert_eq!(payload, input.encode_to_bytes(), "{compression:?}")
                }
                other => panic!("expected the input's frame: {other:?}"),
            }
        };
        check(s.poll_transmit(now).expect("the frame"), first);
        // A cut: the batch goes out again, encoded again.
        s.handle(
            Input::Connection(
                first,
                ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
            ),
            now,
        );
        while s.poll_event().is_some() {}
        now += Duration::from_secs(60);
        s.handle(Input::Timeout, now);
        let second = loop {
            match s.poll_event() {
                Some(AppendEvent::Connect(c)) => break c,
                Some(_) => {}
                None => panic!("expected a reconnect"),
            }
        };
        check(s.poll_transmit(now).expect("the resent frame"), second);

        let mut s = AppendSession::new(config);
        match s.try_submit(decoded(max + 1)) {
            Err(SubmitError::Invalid(
                _,
                ValidationError::EncodedBatchTooLarge { encoded_bytes },
            )) => {
                assert_eq!(encoded_bytes, max + 1)
            }
            other => panic!("expected an encoded-size refusal: {other:?}"),
        }
        // Two bytes under the limit, until the session conditions it on
        // the position after a conditioned input (2 bytes more: over).
        let conditioned = AppendInput::new(vec![AppendRecord::new("a")])
            .unwrap()
            .with_match_seq_num(0);
        s.try_submit(conditioned).unwrap();
        match s.try_submit(decoded(max - 1)) {
            Err(SubmitError::Invalid(
                _,
                ValidationError::EncodedBatchTooLarge { encoded_bytes },
            )) => {
                assert_eq!(encoded_bytes, max + 1)
            }
            other => panic!("expected an encoded-size refusal: {other:?}"),
        }
        s.try_submit(decoded(max - 2))
            .expect("conditioned, exactly the largest payload");
        assert!(matches!(s.poll_event(), Some(AppendEvent::Connect(_))));
        while let Some(frame) = s.poll_transmit(now) {
            assert!(frame.1.len() <= crate::frame::MAX_FRAME_LEN + 3);
        }
    }
}

/// A session of two conditioned batches of one record each, from 0, both
/// sent on one connection, the first acknowledged (0..1).
fn first_of_two_acked(now: Instant) -> (AppendSession, ConnectionId) {
    let mut s = AppendSession::new(config(AppendRetryPolicy::All, 10));
    let one = |body: &str| AppendInput::new(vec![AppendRecord::new(body.to_owned())]).unwrap();
    s.try_submit(one("a").with_match_seq_num(0)).unwrap();
    s.try_submit(one("b")).unwrap();
    let Some(AppendEvent::Connect(c)) = s.poll_event() else {
        panic!("expected a connect")
    };
    while s.poll_transmit(now).is_some() {}
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(ack_frame(0, 1, 1))),
        now,
    );
    (s, c)
}

/// The failure a session stopped with, as (cause, maybe_applied,
/// not_applied).
fn stopped_with(s: &mut AppendSession) -> (Error, Range<InputId>, Range<InputId>) {
    match failure(s) {
        Some(Error::AppendSession {
            cause,
            maybe_applied,
            not_applied,
        }) => (*cause, maybe_applied, not_applied),
        other => panic!("expected the session to stop, got {other:?}"),
    }
}

#[test]
fn a_tail_behind_the_acknowledged_end_leaves_the_pending_inputs_unknown() {
    let now = Instant::now();
    let (mut s, c) = first_of_two_acked(now);
    // The second batch's outcome is unknown: resolution asks for the tail.
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
        ),
        now,
    );
    let t = s.poll_timeout().expect("backing off");
    s.handle(Input::Timeout, t);
    assert!(
        std::iter::from_fn(|| s.poll_event()).any(|e| matches!(e, AppendEvent::CheckTail)),
        "expected a tail check"
    );
    // The server acknowledged record 0, and now says the stream is empty:
    // that contradicts its ack, and proves nothing about the second batch.
    s.handle(Input::Tail(Ok(StreamPosition::new(0, 0))), t);
    let (cause, maybe, not) = stopped_with(&mut s);
    assert!(matches!(cause, Error::Protocol(_)), "{cause:?}");
    assert_eq!((maybe, not), (1..2, 2..2));
}

#[test]
fn a_mismatch_behind_the_acknowledged_end_leaves_the_pending_inputs_unknown() {
    let now = Instant::now();
    let (mut s, c) = first_of_two_acked(now);
    // The second batch is refused as if the stream ended at 0, before the
    // record the server acknowledged: a server contradicting itself.
    let mut frame = BytesMut::new();
    encode_terminal(&mut frame, 412, br#"{"seq_num_mismatch":0}"#).unwrap();
    s.handle(
        Input::Connection(c, ConnectionEvent::Data(frame.freeze())),
        now,
    );
    let (cause, maybe, not) = stopped_with(&mut s);
    assert!(matches!(cause, Error::Protocol(_)), "{cause:?}");
    assert_eq!((maybe, not), (1..2, 2..2));
}

/// With the default budget, a conditioned session rides out a server that
/// is down for 45 s (connects refused, tail checks failing) just after it
/// applied batches whose acks were lost, twice with acks in between (90 s
/// in all: progress renews the window), and lands every batch exactly once;
/// an outage past the window ends it a minute after its first failure,
/// saying which inputs may have landed.
#[test]
fn default_retries_ride_out_outages_shorter_than_the_window() {
    let batches: Vec<_> = (0..25)
        .map(|i| vec![AppendRecord::new(format!("r{i}"))])
        .collect();
    let mut sim = Sim::new(AppendSessionConfig::default());
    let step = |sim: &mut Sim, action| sim.step(action, &batches, true);
    for round in 1..=2 {
        for _ in 0..10 {
            step(&mut sim, Action::Submit);
        }
        for _ in 0..5 {
            step(&mut sim, Action::Process);
        }
        sim.down = true;
        step(&mut sim, Action::Cut);
        let back = sim.now + Duration::from_secs(45);
        while sim.now < back {
            step(&mut sim, Action::Tick);
            assert!(sim.outcome.failed.is_none(), "{:?}", sim.outcome.failed);
        }
        sim.down = false;
        for _ in 0..100 {
            for action in [Action::Tick, Action::Process, Action::Deliver(1000)] {
                step(&mut sim, action);
            }
        }
        assert!(sim.outcome.failed.is_none(), "{:?}", sim.outcome.failed);
        assert_eq!(sim.outcome.acks.len(), round * 10);
    }
    assert_eq!(log_records(&sim), flatten(&batches[..20]), "exactly once");
    check_acks(&sim, &batches).unwrap();

    for _ in 0..5 {
        step(&mut sim, Action::Submit);
    }
    step(&mut sim, Action::Process);
    sim.down = true;
    step(&mut sim, Action::Cut);
    let first_failure = sim.now;
    while sim.outcome.failed.is_none() {
        step(&mut sim, Action::Tick);
        assert!(
            sim.now - first_failure < Duration::from_secs(61),
            "gives up"
        );
    }
    assert!(sim.now - first_failure >= Duration::from_secs(60));
    let error = sim.outcome.failed.take().unwrap();
    let (maybe, not) = failure_ranges(&error).unwrap();
    let Error::AppendSession { cause, .. } = error else {
        unreachable!()
    };
    assert!(cause.is_retryable(), "the outage's own error: {cause}");
    // All five were sent on the connection that broke: any may have landed.
    assert_eq!((maybe, not), (20..25, 25..25));
    assert_eq!(log_records(&sim), flatten(&batches[..21]));
}

#[test]
fn only_an_ack_past_its_deadline_is_overdue() {
    let now = Instant::now();
    let config = AppendSessionConfig::default()
        .with_backoff(BackoffConfig::default().with_base_delay(Duration::ZERO));
    let mut s = AppendSession::new(config);
    s.try_submit(AppendInput::new(vec![AppendRecord::new("a")]).unwrap())
        .unwrap();
    let mut conn = None;
    while let Some(event) = s.poll_event() {
        if let AppendEvent::Connect(c) = event {
            conn = Some(c);
        }
    }
    let conn = conn.expect("connects");
    assert!(!s.is_ack_overdue(now), "nothing sent yet");
    while s.poll_transmit(now).is_some() {}
    let due = s.poll_timeout().expect("an ack deadline");
    assert!(!s.is_ack_overdue(due - Duration::from_millis(1)));
    assert!(s.is_ack_overdue(due));
    // A failure starts a zero backoff: its end is due at once, and is no
    // ack timeout.
    s.handle(
        Input::Connection(
            conn,
            ConnectionEvent::Failed(Error::transport(Sent::No, "refused")),
        ),
        now,
    );
    assert_eq!(s.poll_timeout(), Some(now));
    assert!(!s.is_ack_overdue(now));
}
