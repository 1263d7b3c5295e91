//! One client: random operations on the stream, each recorded with its
//! invocation, completion and result.

use std::{
    future::Future,
    pin::pin,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use futures_util::{
    FutureExt, StreamExt,
    future::{Either, select},
};
use rand::{Rng, rngs::SmallRng};
use s2_client::{
    Error, Runtime, S2Stream,
    config::{AppendRetryPolicy, BatcherConfig},
    error::AppendConditionFailed,
    session::ReadItem,
    types::{
        AppendAck, AppendInput, AppendRecord, CommandRecord, FencingToken, ReadLimit, ReadOutput,
        ReadRequest, ReadStart,
    },
};

use super::Stats;
use crate::lincheck::history::{
    AppendOutcome, Op, OpKind, RecordKey, Recorder, SessionItem, Source, fence_key, sequenced_key,
};

/// How long one operation may take before it is abandoned (recorded as an
/// unknown outcome, and counted as hung): past the default retry window (a
/// minute) and one last attempt.
const OP_TIMEOUT: Duration = Duration::from_secs(90);

/// Runs `future`, or gives up after [`OP_TIMEOUT`].
async fn within<R: Runtime + Default, F: Future>(future: F) -> Option<F::Output> {
    match select(pin!(future), R::default().sleep(OP_TIMEOUT)).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(_) => None,
    }
}

/// The outcome an error reports.
fn outcome_of(error: &Error) -> AppendOutcome {
    match error {
        Error::AppendCondition(AppendConditionFailed::SeqNumMismatch { expected }) => {
            AppendOutcome::SeqNumMismatch(*expected)
        }
        Error::AppendCondition(AppendConditionFailed::FencingTokenMismatch { expected }) => {
            AppendOutcome::FencingMismatch(expected.clone())
        }
        e if e.may_have_side_effect() => AppendOutcome::Unknown,
        _ => AppendOutcome::NotApplied,
    }
}

/// The outcome of a refused submit. A session or producer that stopped
/// refuses with the error that stopped it, which may be older than the
/// submit: a rejection's tail or token is no observation of this one.
fn refused_outcome_of(error: &Error) -> AppendOutcome {
    match outcome_of(error) {
        AppendOutcome::SeqNumMismatch(_) | AppendOutcome::FencingMismatch(_) => {
            AppendOutcome::NotApplied
        }
        outcome => outcome,
    }
}

/// The outcome a session's error reports for input `id`.
fn session_outcome_of(error: &Error, id: u64) -> AppendOutcome {
    match error {
        Error::AppendSession { not_applied, .. } if not_applied.contains(&id) => {
            AppendOutcome::NotApplied
        }
        Error::AppendSession { .. } => AppendOutcome::Unknown,
        e => outcome_of(e),
    }
}

fn acked(ack: &AppendAck) -> AppendOutcome {
    AppendOutcome::Acked {
        start: ack.start.seq_num,
        end: ack.end.seq_num,
        tail: ack.tail.seq_num,
    }
}

/// An append about to be made, and what the history should say of it.
struct Batch {
    input: AppendInput,
    records: Vec<RecordKey>,
    fence: Option<String>,
    match_seq_num: Option<u64>,
    fencing_token: Option<String>,
}

pub(crate) struct Client<'a, R: Runtime> {
    id: usize,
    /// Whether unknown outcomes are retried (at-least-once) or not.
    policy: AppendRetryPolicy,
    stream: S2Stream<R>,
    rng: SmallRng,
    recorder: &'a Recorder,
    next_session: &'a AtomicU64,
    /// The last tail this client saw.
    tail: u64,
    /// The last fencing token this client knew of.
    token: String,
    /// Numbers this client's operations, for unique record keys.
    serial: u64,
    stats: Stats,
}

impl<'a, R: Runtime + Default> Client<'a, R> {
    /// A client that has seen nothing of the stream yet.
    pub(crate) fn new(
        id: usize,
        policy: AppendRetryPolicy,
        stream: S2Stream<R>,
        rng: SmallRng,
        recorder: &'a Recorder,
        next_session: &'a AtomicU64,
    ) -> Self {
        Self {
            id,
            policy,
            stream,
            rng,
            recorder,
            next_session,
            tail: 0,
            token: String::new(),
            serial: 0,
            stats: Stats::default(),
        }
    }

    /// Runs `ops` random operations; returns what it counted.
    pub(crate) async fn run(mut self, ops: usize) -> Stats {
        for _ in 0..ops {
            self.serial += 1;
            match self.rng.random_range(0..100) {
                0..=10 => self.unary_append(Condition::None).await,
                11..=20 => self.unary_append(Condition::SeqNum).await,
                21..=29 => self.unary_append(Condition::Token).await,
                30..=33 => self.unary_append(Condition::Both).await,
                34..=39 => self.fence().await,
                40..=51 => self.check_tail().await,
                52..=63 => self.read().await,
                64..=75 => self.read_session().await,
                76..=89 => self.append_all().await,
                _ => self.producer().await,
            }
        }
        self.stats
    }

    fn data_batch(&mut self, tag: &str, count: usize) -> Vec<RecordKey> {
        (0..count)
            .map(|i| format!("c{}-{tag}{}-r{i}", self.id, self.serial))
            .collect()
    }

    fn batch(&mut self, records: Vec<RecordKey>, condition: Condition) -> Batch {
        let input = AppendInput::new(
            records
                .iter()
                .map(|k| AppendRecord::new(k.clone()))
                .collect::<Vec<_>>(),
        )
        .expect("batch");
        let mut batch = Batch {
            input,
            records,
            fence: None,
            match_seq_num: None,
            fencing_token: None,
        };
        batch.condition(condition, self.tail, &self.token);
        batch
    }

    fn record(&self, invoke: u64, kind: OpKind) {
        self.recorder.record(Op {
            client: self.id,
            invoke,
            complete: Some(self.recorder.now()),
            kind,
        });
    }

    fn count_outcome(&mut self, outcome: &AppendOutcome) {
        let key = match outcome {
            AppendOutcome::Acked { .. } => "acked",
            AppendOutcome::SeqNumMismatch(_) => "seq_num mismatch",
            AppendOutcome::FencingMismatch(_) => "fencing mismatch",
            AppendOutcome::NotApplied => "not applied",
            AppendOutcome::Cancelled => "cancelled",
            AppendOutcome::Unknown => "unknown",
        };
        Stats::count(&mut self.stats.outcomes, key);
    }

    /// Learns what an outcome says of the stream.
    fn learn(&mut self, outcome: &AppendOutcome, fence: Option<&str>) {
        match outcome {
            AppendOutcome::Acked { tail, .. } => {
                self.tail = *tail;
                if let Some(token) = fence {
                    self.token = token.to_owned();
                }
            }
            AppendOutcome::SeqNumMismatch(tail) => self.tail = *tail,
            AppendOutcome::FencingMismatch(token) => self.token = token.clone(),
            AppendOutcome::NotApplied | AppendOutcome::Cancelled | AppendOutcome::Unknown => {}
        }
    }

    fn append_op(&mut self, batch: Batch, source: Source, invoke: u64, outcome: AppendOutcome) {
        self.count_outcome(&outcome);
        self.learn(&outcome, batch.fence.as_deref());
        self.record(
            invoke,
            OpKind::Append {
                source,
                records: batch.records,
                fence: batch.fence,
                match_seq_num: batch.match_seq_num,
                fencing_token: batch.fencing_token,
                may_repeat: self.policy == AppendRetryPolicy::All && batch.match_seq_num.is_none(),
                outcome,
            },
        );
    }

    async fn unary(&mut self, batch: Batch) {
        let invoke = self.recorder.now();
        let outcome = match within::<R, _>(self.stream.append(&batch.input)).await {
            Some(Ok(ack)) => acked(&ack),
            Some(Err(e)) => {
                self.stats.error(&e);
                outcome_of(&e)
            }
            None => {
                Stats::count(&mut self.stats.ops, "hung");
                AppendOutcome::Unknown
            }
        };
        self.append_op(batch, Source::Unary, invoke, outcome);
    }

    async fn unary_append(&mut self, condition: Condition) {
        Stats::count(&mut self.stats.ops, condition.op_name());
        let count = self.rng.random_range(1..=3);
        let records = self.data_batch("u", count);
        let batch = self.batch(records, condition);
        self.unary(batch).await;
    }

    /// A fence command setting a fresh token; sometimes fenced itself by
    /// the token this client knows, sometimes conditioned on its tail.
    async fn fence(&mut self) {
        Stats::count(&mut self.stats.ops, "fence");
        let token = format!("c{}-f{}", self.id, self.serial);
        let record = CommandRecord::fence(FencingToken::new(token.clone()).expect("a short token"));
        let input = AppendInput::new(vec![record]).expect("batch");
        let mut batch = Batch {
            input,
            records: vec![fence_key(&token)],
            fence: Some(token),
            match_seq_num: None,
            fencing_token: None,
        };
        let condition = match self.rng.random_range(0..5) {
            0 | 1 => Condition::Token,
            2 => Condition::SeqNum,
            3 => Condition::Both,
            _ => Condition::None,
        };
        batch.condition(condition, self.tail, &self.token);
        self.unary(batch).await;
    }

    async fn check_tail(&mut self) {
        Stats::count(&mut self.stats.ops, "check_tail");
        let invoke = self.recorder.now();
        match within::<R, _>(self.stream.check_tail()).await {
            Some(Ok(tail)) => {
                self.tail = tail.seq_num;
                self.record(invoke, OpKind::CheckTail(tail.seq_num));
            }
            Some(Err(e)) => self.stats.error(&e),
            None => Stats::count(&mut self.stats.ops, "hung"),
        }
    }

    async fn read(&mut self) {
        Stats::count(&mut self.stats.ops, "read");
        let start = self.rng.random_range(0..=self.tail + 1);
        let count = self.rng.random_range(1..=8);
        let request =
            ReadRequest::new(ReadStart::SeqNum(start)).with_limit(ReadLimit::count(count));
        let invoke = self.recorder.now();
        let kind = match within::<R, _>(self.stream.read(&request)).await {
            Some(Ok(ReadOutput::Batch(batch))) => OpKind::Read {
                start,
                records: batch
                    .records
                    .iter()
                    .map(|r| (r.seq_num(), sequenced_key(r)))
                    .collect(),
                tail: batch.tail.map(|t| t.seq_num),
            },
            Some(Ok(ReadOutput::Tail(tail))) => {
                self.tail = tail.seq_num;
                OpKind::ReadPastTail {
                    start,
                    tail: tail.seq_num,
                }
            }
            Some(Err(e)) => return self.stats.error(&e),
            None => return Stats::count(&mut self.stats.ops, "hung"),
        };
        self.record(invoke, kind);
    }

    /// A read session: over records known to exist, or following the tail
    /// for a while (abandoned at a deadline) while others append.
    async fn read_session(&mut self) {
        if self.tail == 0 {
            return self.check_tail().await;
        }
        let follow = self.rng.random_bool(0.4);
        let (start, limit, patience) = if follow {
            Stats::count(&mut self.stats.ops, "read_session following");
            let start = self
                .rng
                .random_range(self.tail.saturating_sub(3)..=self.tail);
            let patience = Duration::from_millis(self.rng.random_range(200..1500));
            (start, self.rng.random_range(1..=30), patience)
        } else {
            Stats::count(&mut self.stats.ops, "read_session");
            let start = self.rng.random_range(0..self.tail);
            let limit = self.rng.random_range(1..=(self.tail - start).min(30));
            (start, limit, OP_TIMEOUT)
        };
        let request =
            ReadRequest::new(ReadStart::SeqNum(start)).with_limit(ReadLimit::count(limit));
        let invoke = self.recorder.now();
        let mut session = self.stream.read_session(request);
        let mut deadline = R::default().sleep(patience);
        let mut items = Vec::new();
        let finished = loop {
            let item = match select(pin!(session.next()), &mut deadline).await {
                Either::Right(_) => {
                    if !follow {
                        Stats::count(&mut self.stats.ops, "hung");
                    }
                    break false;
                }
                Either::Left((None, _)) => break true,
                Either::Left((Some(Err(e)), _)) => {
                    self.stats.error(&e);
                    break false;
                }
                Either::Left((Some(Ok(item)), _)) => item,
            };
            let item = match item {
                ReadItem::Batch(batch) => SessionItem::Batch {
                    records: batch
                        .records
                        .iter()
                        .map(|r| (r.seq_num(), sequenced_key(r)))
                        .collect(),
                    tail: batch.tail.map(|t| t.seq_num),
                },
                ReadItem::CaughtUp(tail) => SessionItem::CaughtUp(tail.seq_num),
                ReadItem::Tail(tail) => SessionItem::Tail(tail.seq_num),
                other => panic!("an item the history cannot record: {other:?}"),
            };
            items.push((self.recorder.now(), item));
        };
        self.record(
            invoke,
            OpKind::ReadSession {
                start,
                limit,
                items,
                finished,
            },
        );
    }

    /// An append session of a few batches: conditioned on this client's
    /// tail (the session advances `match_seq_num`), fenced, or neither;
    /// some submits are cancelled (polled once, then dropped).
    async fn append_all(&mut self) {
        Stats::count(&mut self.stats.ops, "append_session");
        let session_id = self.next_session.fetch_add(1, Ordering::SeqCst);
        let condition = match self.rng.random_range(0..10) {
            0..=4 => Condition::SeqNum,
            5..=7 => Condition::Token,
            _ => Condition::None,
        };
        let handle = self.stream.append_session().expect("append session");
        let mut next_match = self.tail;
        let mut pending = Vec::new();
        let batches = self.rng.random_range(1..=5);
        for index in 0..batches {
            Stats::count(&mut self.stats.ops, "session batch");
            let count = self.rng.random_range(1..=3);
            let records = self.data_batch(&format!("s{index}-"), count);
            let mut batch = self.batch(records, Condition::None);
            match condition {
                Condition::SeqNum if index == 0 => {
                    batch.condition(Condition::SeqNum, next_match, &self.token)
                }
                // The session gives later batches the next match_seq_num.
                Condition::SeqNum => batch.match_seq_num = Some(next_match),
                Condition::Token => batch.condition(Condition::Token, 0, &self.token),
                Condition::None | Condition::Both => {}
            }
            let source = Source::Session {
                session: session_id,
                index,
            };
            let len = batch.input.len() as u64;
            let invoke = self.recorder.now();
            let submitted = if index > 0 && self.rng.random_range(0..6) == 0 {
                Stats::count(&mut self.stats.ops, "cancelled submit");
                match handle.submit(batch.input.clone()).now_or_never() {
                    Some(submitted) => Some(submitted),
                    None => {
                        // Dropped before it was accepted: promised not
                        // to be appended.
                        self.append_op(batch, source, invoke, AppendOutcome::Cancelled);
                        continue;
                    }
                }
            } else {
                within::<R, _>(handle.submit(batch.input.clone())).await
            };
            match submitted {
                Some(Ok(ack)) => {
                    next_match += len;
                    pending.push((batch, source, invoke, ack));
                }
                Some(Err(e)) => {
                    self.stats.error(&e);
                    let outcome = refused_outcome_of(&e);
                    self.append_op(batch, source, invoke, outcome);
                }
                None => {
                    Stats::count(&mut self.stats.ops, "hung");
                    self.append_op(batch, source, invoke, AppendOutcome::Unknown);
                }
            }
        }
        for (batch, source, invoke, ack) in pending {
            let id = ack.id();
            let outcome = match within::<R, _>(ack).await {
                Some(Ok(ack)) => acked(&ack),
                Some(Err(e)) => {
                    self.stats.error(&e);
                    session_outcome_of(&e, id)
                }
                None => {
                    Stats::count(&mut self.stats.ops, "hung");
                    AppendOutcome::Unknown
                }
            };
            self.append_op(batch, source, invoke, outcome);
        }
        let _ = within::<R, _>(handle.close()).await;
    }

    /// A producer of a few single records, fenced or not.
    async fn producer(&mut self) {
        Stats::count(&mut self.stats.ops, "producer");
        let producer_id = self.next_session.fetch_add(1, Ordering::SeqCst);
        let fenced = self.rng.random_bool(0.3);
        let config = BatcherConfig::default()
            .with_linger(Some(Duration::from_millis(self.rng.random_range(1..=10))))
            .with_fencing_token(
                fenced.then(|| FencingToken::new(self.token.clone()).expect("a known token")),
            );
        let Ok(producer) = self.stream.producer(config) else {
            return;
        };
        let mut pending = Vec::new();
        for index in 0..self.rng.random_range(1..=6) {
            Stats::count(&mut self.stats.ops, "producer record");
            let records = self.data_batch(&format!("p{index}-"), 1);
            let mut batch = self.batch(records, Condition::None);
            if fenced {
                batch.fencing_token = Some(self.token.clone());
            }
            let source = Source::Producer {
                producer: producer_id,
                index,
            };
            let record = batch.input.records()[0].clone();
            let invoke = self.recorder.now();
            match within::<R, _>(producer.submit(record)).await {
                Some(Ok(ack)) => pending.push((batch, source, invoke, ack)),
                Some(Err(e)) => {
                    self.stats.error(&e);
                    let outcome = refused_outcome_of(&e);
                    self.append_op(batch, source, invoke, outcome);
                }
                None => {
                    Stats::count(&mut self.stats.ops, "hung");
                    self.append_op(batch, source, invoke, AppendOutcome::Unknown);
                }
            }
        }
        for (batch, source, invoke, ack) in pending {
            let outcome = match within::<R, _>(ack).await {
                Some(Ok(ack)) => AppendOutcome::Acked {
                    start: ack.seq_num,
                    end: ack.seq_num + 1,
                    tail: ack.batch.tail.seq_num,
                },
                Some(Err(e)) => {
                    self.stats.error(&e);
                    outcome_of(&e)
                }
                None => {
                    Stats::count(&mut self.stats.ops, "hung");
                    AppendOutcome::Unknown
                }
            };
            self.append_op(batch, source, invoke, outcome);
        }
        let _ = within::<R, _>(producer.close()).await;
    }
}

/// The condition an append carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition {
    None,
    /// `match_seq_num` = the client's last seen tail.
    SeqNum,
    /// The fencing token the client last knew of.
    Token,
    /// Both.
    Both,
}

impl Condition {
    fn op_name(self) -> &'static str {
        match self {
            Condition::None => "append",
            Condition::SeqNum => "conditioned append",
            Condition::Token => "fenced append",
            Condition::Both => "fenced conditioned append",
        }
    }
}

impl Batch {
    fn condition(&mut self, condition: Condition, tail: u64, token: &str) {
        match condition {
            Condition::None => {}
            Condition::SeqNum => {
                self.input.set_match_seq_num(Some(tail));
                self.match_seq_num = Some(tail);
            }
            Condition::Token => {
                let fencing = FencingToken::new(token).expect("a known token");
                self.input = self.input.clone().with_fencing_token(fencing);
                self.fencing_token = Some(token.to_owned());
            }
            Condition::Both => {
                self.condition(Condition::SeqNum, tail, token);
                self.condition(Condition::Token, tail, token);
            }
        }
    }
}
