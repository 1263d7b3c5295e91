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

mod acks;
mod limits;
mod other_writers;
mod reconnects;
