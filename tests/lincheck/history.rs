//! Histories: each operation's invocation, completion and result, stamped
//! with a logical clock shared by every client of a run.

use std::{
    fmt,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use s2_client::types::{Header, SequencedRecord};

/// A point on the run's logical clock. Every invocation and completion takes
/// a fresh tick, so two events never share one and the order of ticks is
/// the real-time order in which the events were seen.
pub type Time = u64;

/// The identity of a record: its body for a data record (bodies are unique
/// in a run), `<fence TOKEN>` for a fence command record.
pub type RecordKey = String;

/// The key of a record read from the stream.
pub fn key_of(headers: &[Header], body: &[u8]) -> RecordKey {
    let body = String::from_utf8_lossy(body);
    match headers {
        [header] if header.name().is_empty() => {
            format!("<{} {body}>", String::from_utf8_lossy(header.value()))
        }
        _ => body.into_owned(),
    }
}

/// The key of a fence command record carrying `token`.
pub fn fence_key(token: &str) -> RecordKey {
    format!("<fence {token}>")
}

/// The key of a record read back from the stream.
pub fn sequenced_key(record: &SequencedRecord) -> RecordKey {
    key_of(record.headers(), record.body())
}

/// Which API carried an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `Stream::append`.
    Unary,
    /// The `index`-th batch submitted to append session `session`.
    Session {
        /// Unique in the history.
        session: u64,
        /// Submission order within the session.
        index: u64,
    },
    /// The `index`-th record submitted to producer `producer`.
    Producer {
        /// Unique in the history (shared numbering with sessions).
        producer: u64,
        /// Submission order within the producer.
        index: u64,
    },
}

impl Source {
    /// The session or producer this append went through, with its index.
    pub fn ordered(&self) -> Option<(u64, u64)> {
        match *self {
            Source::Unary => None,
            Source::Session { session, index } => Some((session, index)),
            Source::Producer { producer, index } => Some((producer, index)),
        }
    }
}

/// How an append ended, as the client reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Acknowledged at `start..end`; the ack also reported `tail`.
    Acked {
        /// First sequence number of the batch.
        start: u64,
        /// One past the last.
        end: u64,
        /// The tail the ack reported.
        tail: u64,
    },
    /// Rejected: `match_seq_num` differed from the tail, which was this.
    SeqNumMismatch(u64),
    /// Rejected: the fencing token differed from the stream's, which was
    /// this.
    FencingMismatch(String),
    /// Failed with a proof that it had no effect.
    NotApplied,
    /// Its submit was dropped before it was accepted: safe cancellation
    /// promises no effect.
    Cancelled,
    /// Failed in a way that may have had an effect, or never completed.
    Unknown,
}

/// One item a read session yielded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionItem {
    /// Records with their sequence numbers, and the tail if reported.
    Batch {
        /// `(seq_num, key)` in delivery order.
        records: Vec<(u64, RecordKey)>,
        /// The tail the batch carried (a heartbeat has no records).
        tail: Option<u64>,
    },
    /// Caught up with the tail, which was this.
    CaughtUp(u64),
    /// The start was past the tail, which was this.
    Tail(u64),
}

/// What an operation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpKind {
    /// An append of one batch (a fence command is a batch of one record).
    Append {
        /// The API used.
        source: Source,
        /// Keys of the records, in order.
        records: Vec<RecordKey>,
        /// The token the batch sets, when it is a fence command.
        fence: Option<String>,
        /// The `match_seq_num` the batch carried (for a session, the one
        /// the session is documented to give it).
        match_seq_num: Option<u64>,
        /// The fencing token the batch carried.
        fencing_token: Option<String>,
        /// At-least-once delivery (`AppendRetryPolicy::All`, no
        /// `match_seq_num`): the batch may land more than once, each extra
        /// landing at any time after the invocation.
        may_repeat: bool,
        /// The result.
        outcome: AppendOutcome,
    },
    /// `check_tail` returned this tail.
    CheckTail(u64),
    /// A unary read from `start` returned these records (the service may
    /// also report the tail).
    Read {
        /// The requested start.
        start: u64,
        /// `(seq_num, key)` in order.
        records: Vec<(u64, RecordKey)>,
        /// The tail, when reported.
        tail: Option<u64>,
    },
    /// A unary read from `start` found it at or past the tail, `tail`.
    ReadPastTail {
        /// The requested start.
        start: u64,
        /// The tail the service reported.
        tail: u64,
    },
    /// A read session from `start` for at most `limit` records, and what it
    /// yielded, each item with the time it was received. The session's
    /// invocation is its opening.
    ReadSession {
        /// The requested start.
        start: u64,
        /// The record limit.
        limit: u64,
        /// Items with their receipt times.
        items: Vec<(Time, SessionItem)>,
        /// Whether the session ended by meeting its limit (or its tail).
        finished: bool,
    },
}

/// One operation of one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// The client that ran it.
    pub client: usize,
    /// When it was invoked.
    pub invoke: Time,
    /// When it completed; `None` if it never did (an unknown outcome may
    /// take effect at any time after the invocation).
    pub complete: Option<Time>,
    /// What it did.
    pub kind: OpKind,
}

impl Op {
    /// Whether this is an append that may have taken effect after it
    /// returned, so its completion does not bound its effect.
    pub fn effect_deadline(&self) -> Option<Time> {
        match &self.kind {
            OpKind::Append {
                outcome: AppendOutcome::Unknown,
                ..
            } => None,
            _ => self.complete,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let complete = match self.complete {
            Some(t) => t.to_string(),
            None => "never".to_string(),
        };
        write!(f, "[{}..{}] client {} ", self.invoke, complete, self.client)?;
        match &self.kind {
            OpKind::Append {
                source,
                records,
                fence,
                match_seq_num,
                fencing_token,
                may_repeat,
                outcome,
            } => {
                match fence {
                    Some(token) => write!(f, "fence({token:?})")?,
                    None => write!(f, "append{records:?}")?,
                }
                if let Some(m) = match_seq_num {
                    write!(f, " match_seq_num={m}")?;
                }
                if let Some(t) = fencing_token {
                    write!(f, " fencing_token={t:?}")?;
                }
                if *source != Source::Unary {
                    write!(f, " via {source:?}")?;
                }
                if *may_repeat {
                    write!(f, " at-least-once")?;
                }
                write!(f, " -> {outcome:?}")
            }
            OpKind::CheckTail(tail) => write!(f, "check_tail -> {tail}"),
            OpKind::Read {
                start,
                records,
                tail,
            } => write!(f, "read(from {start}) -> {records:?} tail={tail:?}"),
            OpKind::ReadPastTail { start, tail } => {
                write!(f, "read(from {start}) -> past tail {tail}")
            }
            OpKind::ReadSession {
                start,
                limit,
                items,
                finished,
            } => write!(
                f,
                "read_session(from {start}, limit {limit}, finished {finished}) -> {items:?}"
            ),
        }
    }
}

/// A complete history: every operation of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// The operations, in no particular order.
    pub ops: Vec<Op>,
}

/// Collects a history from concurrent clients.
#[derive(Debug, Default)]
pub struct Recorder {
    clock: AtomicU64,
    ops: Mutex<Vec<Op>>,
}

impl Recorder {
    /// A fresh tick of the logical clock.
    pub fn now(&self) -> Time {
        self.clock.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Records a finished operation.
    pub fn record(&self, op: Op) {
        self.ops.lock().unwrap_or_else(|p| p.into_inner()).push(op);
    }

    /// The history recorded so far.
    pub fn history(&self) -> History {
        History {
            ops: self.ops.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }
}
