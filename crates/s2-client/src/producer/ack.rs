//! Record acks answered per batch: the records of a batch share one cell
//! that its ack (or the producer's failure) fills once, so a record costs
//! no channel of its own.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, Waker},
};

use s2_core::{Error, types::AppendAck};

use super::RecordAck;
use crate::sync::Mutex;

/// How a batch ended, for each of its records to read.
enum Outcome {
    Acked(AppendAck),
    /// The producer failed; `landed`: the batch may have been applied.
    Failed {
        cause: Error,
        landed: bool,
    },
    /// The producer's task ended without answering (its runtime shut down).
    Dropped,
}

#[derive(Default)]
struct State {
    outcome: Option<Outcome>,
    /// The wakers of records waiting, by index in the batch.
    waiting: Vec<Option<Waker>>,
}

/// One batch's outcome and the records waiting for it.
#[derive(Default)]
struct Cell(Mutex<State>);

/// The producer's side of a batch's cell: answers every record of the
/// batch at once. Dropped unanswered, it answers them that the producer
/// stopped.
pub(super) struct BatchAcks(Arc<Cell>);

impl BatchAcks {
    pub(super) fn new() -> Self {
        Self(Arc::default())
    }

    /// The ack future of record `id`, at `index` in the batch.
    pub(super) fn record(&self, id: u64, index: usize) -> RecordAckFuture {
        RecordAckFuture {
            id,
            index,
            cell: self.0.clone(),
        }
    }

    /// Answers each record with its part of the batch's `ack`.
    pub(super) fn ack(&self, ack: AppendAck) {
        self.answer(Outcome::Acked(ack));
    }

    /// Answers each record with its own error for `cause` (see
    /// [`RecordAckFuture`]); `landed`: the batch may have been applied.
    pub(super) fn fail(&self, cause: &Error, landed: bool) {
        self.answer(Outcome::Failed {
            cause: cause.clone(),
            landed,
        });
    }

    /// The first answer wins.
    fn answer(&self, outcome: Outcome) {
        let waiting = {
            let mut state = self.0.0.lock();
            if state.outcome.is_some() {
                return;
            }
            state.outcome = Some(outcome);
            std::mem::take(&mut state.waiting)
        };
        for waker in waiting.into_iter().flatten() {
            waker.wake();
        }
    }
}

impl Drop for BatchAcks {
    fn drop(&mut self) {
        self.answer(Outcome::Dropped);
    }
}

/// The acknowledgement of one submitted record.
///
/// Resolves to the record's [`RecordAck`], or, when the producer stopped
/// without acknowledging it, to an [`Error::AppendSession`] about this
/// record alone: its ranges hold only the record's [`id`](Self::id), in
/// `maybe_applied` when the record may have been applied, in `not_applied`
/// when it certainly was not, so `may_have_side_effect()` answers for this
/// record; `cause` says why the producer stopped.
pub struct RecordAckFuture {
    id: u64,
    index: usize,
    cell: Arc<Cell>,
}

impl RecordAckFuture {
    /// The record's id: its position in submission order (0, 1, 2, …).
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl std::fmt::Debug for RecordAckFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordAckFuture")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl std::future::Future for RecordAckFuture {
    type Output = Result<RecordAck, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.cell.0.lock();
        let answer = match &state.outcome {
            Some(Outcome::Acked(ack)) => Ok(RecordAck::new(*ack, self.index as u64)),
            Some(Outcome::Failed { cause, landed }) => Err(record_error(cause, self.id, *landed)),
            // The batch may have gone out before the producer went away.
            Some(Outcome::Dropped) => Err(Error::Closed {
                sent: true,
                reason: "the producer stopped without acknowledging the record".into(),
            }),
            None => {
                if state.waiting.len() <= self.index {
                    state.waiting.resize(self.index + 1, None);
                }
                let slot = &mut state.waiting[self.index];
                if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *slot = Some(cx.waker().clone());
                }
                return Poll::Pending;
            }
        };
        Poll::Ready(answer)
    }
}

/// The error of one record of a failed producer, from the producer's
/// `cause`: see [`RecordAckFuture`].
fn record_error(cause: &Error, record: u64, may_have_landed: bool) -> Error {
    let (maybe_applied, not_applied) = if may_have_landed {
        (record..record + 1, record + 1..record + 1)
    } else {
        (record..record, record..record + 1)
    };
    Error::AppendSession {
        cause: Box::new(cause.clone()),
        maybe_applied,
        not_applied,
    }
}
