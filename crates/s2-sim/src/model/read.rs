//! A read in progress, shared by unary reads and read sessions: where it
//! is, what it may still deliver, and what comes next (a batch, a
//! heartbeat at the tail, or the end), with s2-lite's rules for following
//! the tail.

use std::{
    future::poll_fn,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use bytes::Bytes;
use h2::{SendStream, server::SendResponse};
use s2_client::runtime::{Runtime, SleepFuture};
use s2_core::types::{ReadBatch, StreamPosition};

use super::{
    Shared,
    error::ServiceError,
    log::{Budget, Start},
    route::{Target, query_param},
    state::AutoCreate,
};

/// s2-lite sends a heartbeat after 5 to 15 s (uniformly) without a batch.
const HEARTBEAT_MILLIS: std::ops::Range<u64> = 5_000..15_000;

/// What a read asks for, from its query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadParams {
    pub(crate) start: Start,
    pub(crate) clamp: bool,
    pub(crate) budget: Budget,
    /// How long to wait at the tail: for a session, between records; for
    /// a unary read, for the first.
    pub(crate) wait: Option<Duration>,
}

impl ReadParams {
    pub(crate) fn parse(query: &[(String, String)]) -> Result<Self, ServiceError> {
        let seq_num = query_param::<u64>(query, "seq_num")?;
        let timestamp = query_param::<u64>(query, "timestamp")?;
        let tail_offset = query_param::<u64>(query, "tail_offset")?;
        let start = match (seq_num, timestamp, tail_offset) {
            (Some(n), None, None) => Start::SeqNum(n),
            (None, Some(t), None) => Start::Timestamp(t),
            (None, None, Some(o)) => Start::TailOffset(o),
            (None, None, None) => Start::TailOffset(0),
            _ => {
                return Err(ServiceError::invalid(
                    "only one of seq_num, timestamp, or tail_offset can be provided",
                ));
            }
        };
        let budget = Budget {
            count: query_param(query, "count")?,
            bytes: query_param(query, "bytes")?,
            until: query_param(query, "until")?,
        };
        if let (Start::Timestamp(t), Some(until)) = (start, budget.until)
            && t >= until
        {
            return Err(ServiceError::invalid(
                "start `timestamp` exceeds or equal to `until`",
            ));
        }
        Ok(Self {
            start,
            clamp: query_param(query, "clamp")?.unwrap_or(false),
            budget,
            wait: query_param::<u32>(query, "wait")?.map(|w| Duration::from_secs(w.into())),
        })
    }

    /// Whether the read may wait at the tail (s2-lite's `may_follow`).
    fn may_follow(&self) -> bool {
        self.budget.unbounded() || self.wait.is_some_and(|w| !w.is_zero())
    }
}

/// What a read delivers next.
#[derive(Debug)]
pub(crate) enum Step {
    /// Records (from storage, `tail` unset; or new ones while following the
    /// tail, `tail` set).
    Batch(ReadBatch),
    /// Caught up, or idle at the tail: the tail as it is.
    Heartbeat(StreamPosition),
    /// Nothing more: the budget is spent, the read does not wait, or its
    /// wait ran out.
    End,
    /// The client went away.
    Gone,
    /// The read cannot go on.
    Failed(ServiceError),
}

/// The other end of a read, watched for going away while the read waits.
pub(crate) trait Peer {
    /// Ready once the client reset the stream or the connection ended.
    fn poll_gone(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

impl Peer for SendStream<Bytes> {
    fn poll_gone(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_reset(cx).map(|_| ())
    }
}

impl Peer for SendResponse<Bytes> {
    fn poll_gone(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_reset(cx).map(|_| ())
    }
}

/// A read in progress.
pub(crate) struct Cursor {
    target: Target,
    next: u64,
    budget: Budget,
    wait: Option<Duration>,
    may_follow: bool,
    /// Caught up once: batches from now on carry the tail.
    following: bool,
    /// The budget or `until` stopped the last batch.
    ended: bool,
    /// When waiting at the tail ends the read (armed when first caught up,
    /// moved by every batch).
    deadline: Option<Instant>,
}

impl Cursor {
    /// Opens a read of `target` (creating the stream if its basin creates
    /// streams on read), or the error s2-lite answers before any record.
    pub(crate) fn open<R: Runtime>(
        shared: &Shared<R>,
        target: &Target,
        params: ReadParams,
    ) -> Result<Self, ServiceError> {
        let now_ms = shared.now_ms();
        let mut state = shared.state();
        let stream = state.stream_mut(&target.basin, &target.stream, AutoCreate::OnRead, now_ms)?;
        let may_follow = params.may_follow();
        let mut cursor = Self {
            target: target.clone(),
            next: 0,
            budget: params.budget,
            wait: params.wait,
            may_follow,
            following: false,
            ended: false,
            deadline: None,
        };
        // A spent budget ends the read, even from a start not yet written.
        if params.budget.exhausted() {
            cursor.ended = true;
            return Ok(cursor);
        }
        cursor.next = stream
            .log
            .resolve_start(params.start, params.clamp, may_follow)?;
        Ok(cursor)
    }

    /// The next batch, heartbeat or end. Waits at the tail (until records
    /// come, a heartbeat is due, the wait runs out or `peer` goes away).
    pub(crate) async fn next<R: Runtime>(
        &mut self,
        shared: &Arc<Shared<R>>,
        peer: &mut (dyn Peer + Send),
    ) -> Step {
        loop {
            if self.ended || self.budget.exhausted() {
                return Step::End;
            }
            let tail = {
                let state = shared.state();
                let stream = match state.stream(&self.target.basin, &self.target.stream) {
                    Ok(stream) => stream,
                    Err(e) => return Step::Failed(e),
                };
                let tail = stream.log.tail();
                if self.next < tail.seq_num {
                    let chunk = stream.log.chunk(self.next, &self.budget);
                    self.ended = chunk.ended;
                    if let Some(last) = chunk.records.last() {
                        self.next = last.seq_num() + 1;
                        self.budget.spend(&chunk.records);
                        self.deadline = self.wait.map(|w| shared.runtime.now() + w);
                        return Step::Batch(ReadBatch {
                            records: chunk.records,
                            tail: self.following.then_some(tail),
                        });
                    }
                    // What is left before the tail is trimmed.
                    self.next = tail.seq_num;
                    continue;
                }
                tail
            };
            if !self.may_follow {
                return Step::End;
            }
            if !self.following {
                self.following = true;
                if self.deadline.is_none() {
                    self.deadline = self.wait.map(|w| shared.runtime.now() + w);
                }
                if self.deadline_passed(shared) {
                    return Step::End;
                }
                return Step::Heartbeat(tail);
            }
            match self.wait_at_tail(shared, tail.seq_num, peer).await {
                Waited::Moved => {}
                Waited::HeartbeatDue => {
                    let state = shared.state();
                    return match state.stream(&self.target.basin, &self.target.stream) {
                        Ok(stream) => Step::Heartbeat(stream.log.tail()),
                        Err(e) => Step::Failed(e),
                    };
                }
                Waited::DeadlinePassed => return Step::End,
                Waited::Gone => return Step::Gone,
            }
        }
    }

    fn deadline_passed<R: Runtime>(&self, shared: &Shared<R>) -> bool {
        self.deadline
            .is_some_and(|deadline| deadline <= shared.runtime.now())
    }

    /// Waits at the tail `seen` for whichever comes first.
    async fn wait_at_tail<R: Runtime>(
        &self,
        shared: &Arc<Shared<R>>,
        seen: u64,
        peer: &mut (dyn Peer + Send),
    ) -> Waited {
        let mut heartbeat = shared
            .runtime
            .sleep(shared.dice.millis_in(HEARTBEAT_MILLIS));
        let mut deadline: Option<SleepFuture> = self.deadline.map(|deadline| {
            let left = deadline.saturating_duration_since(shared.runtime.now());
            shared.runtime.sleep(left)
        });
        poll_fn(|cx| {
            if peer.poll_gone(cx).is_ready() {
                return Poll::Ready(Waited::Gone);
            }
            if shared.poll_tail_moved(&self.target, seen, cx).is_ready() {
                return Poll::Ready(Waited::Moved);
            }
            if let Some(deadline) = deadline.as_mut()
                && deadline.as_mut().poll(cx).is_ready()
            {
                return Poll::Ready(Waited::DeadlinePassed);
            }
            if heartbeat.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Waited::HeartbeatDue);
            }
            Poll::Pending
        })
        .await
    }
}

/// How a wait at the tail ended.
enum Waited {
    Moved,
    HeartbeatDue,
    DeadlinePassed,
    Gone,
}
