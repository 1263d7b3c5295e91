//! The producer's intake: records admitted, batched in the caller's task,
//! and closed batches waiting for the driver.

use std::{collections::VecDeque, task::Waker, time::Instant};

use s2_core::{
    Error,
    batcher::Batcher,
    types::{AppendInput, AppendRecord},
};

use super::ack::{BatchAcks, RecordAckFuture};

/// A closed batch, with the acks of its records.
pub(super) struct Batch {
    pub(super) input: AppendInput,
    pub(super) acks: BatchAcks,
}

/// Records admitted and not yet handed to the session. Records are batched
/// here, in the caller's task; the driver is woken once per batch (or when
/// the linger deadline moves).
pub(super) struct Intake {
    pub(super) batcher: Batcher,
    /// Acks of the batch the batcher is filling.
    pub(super) open: BatchAcks,
    /// Closed batches for the driver.
    pub(super) closed: VecDeque<Batch>,
    /// Batches closed so far.
    pub(super) batches_closed: u64,
    /// The driver's waker.
    pub(super) driver: Option<Waker>,
    /// The client is closing: end the input, send what is held, finish.
    pub(super) stop_requested: bool,
}

impl Intake {
    /// An intake batching with `batcher`, holding nothing yet.
    pub(super) fn new(batcher: Batcher) -> Self {
        Self {
            batcher,
            open: BatchAcks::new(),
            closed: VecDeque::new(),
            batches_closed: 0,
            driver: None,
            stop_requested: false,
        }
    }

    /// Moves the batcher's closed batches to `closed`; says whether any.
    pub(super) fn collect(&mut self) -> bool {
        let mut any = false;
        while let Some(input) = self.batcher.poll_output() {
            // The batcher closes its open batch whole.
            let acks = std::mem::replace(&mut self.open, BatchAcks::new());
            self.closed.push_back(Batch { input, acks });
            self.batches_closed += 1;
            any = true;
        }
        any
    }

    /// Takes the acks of every batch the driver has not taken, the open
    /// one last, for the driver to answer outside the gate's lock once the
    /// gate is stopped.
    pub(super) fn take_unsent(&mut self) -> Vec<BatchAcks> {
        let open = std::mem::replace(&mut self.open, BatchAcks::new());
        let closed = self.closed.drain(..).map(|batch| batch.acks);
        closed.chain([open]).collect()
    }

    pub(super) fn wake_driver(&self) {
        if let Some(waker) = &self.driver {
            waker.wake_by_ref();
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.batcher.is_empty() && self.closed.is_empty()
    }

    /// Takes admitted record `id` into the batch being filled; returns the
    /// future of its ack.
    pub(super) fn take(
        &mut self,
        id: u64,
        record: AppendRecord,
        now: Instant,
    ) -> Result<RecordAckFuture, Error> {
        let linger = self.batcher.poll_timeout();
        self.batcher.handle_record(record, now)?;
        let closed = self.collect();
        // The newest record is the last of the open batch, or else of the
        // batch it just closed.
        let ack = match self.batcher.pending_records() {
            0 => {
                let batch = self.closed.back().expect("the record went somewhere");
                batch.acks.record(id, batch.input.len() - 1)
            }
            pending => self.open.record(id, pending - 1),
        };
        if closed || self.batcher.poll_timeout() != linger {
            self.wake_driver();
        }
        Ok(ack)
    }
}

#[cfg(test)]
mod tests {
    use std::{
        future::Future,
        pin::Pin,
        sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        },
        task::{Context, Poll, Wake, Waker},
    };

    use s2_core::{
        batcher::BatcherConfig,
        error::Sent,
        types::{AppendAck, StreamPosition},
    };

    use super::*;
    use crate::producer::RecordAck;

    fn intake(config: BatcherConfig) -> Intake {
        Intake::new(Batcher::new(config.with_linger(None)).expect("a valid config"))
    }

    fn record(body_len: usize) -> AppendRecord {
        AppendRecord::new(vec![7; body_len])
    }

    fn poll(future: &mut RecordAckFuture, waker: &Waker) -> Poll<Result<RecordAck, Error>> {
        Pin::new(future).poll(&mut Context::from_waker(waker))
    }

    /// The ack of a batch of `len` records appended at `start`.
    fn ack(start: u64, len: u64) -> AppendAck {
        let at = |seq_num| StreamPosition::new(seq_num, 100 + seq_num);
        AppendAck {
            start: at(start),
            end: at(start + len),
            tail: at(start + len),
        }
    }

    /// Acks the closed batches in order from sequence number 0, and returns
    /// each record's sequence number as its future reads it.
    fn seq_nums(intake: &mut Intake, futures: &mut [RecordAckFuture]) -> Vec<u64> {
        let mut next = 0;
        for batch in intake.closed.drain(..) {
            let len = batch.input.len() as u64;
            batch.acks.ack(ack(next, len));
            next += len;
        }
        futures
            .iter_mut()
            .map(|f| match poll(f, Waker::noop()) {
                Poll::Ready(Ok(ack)) => ack.seq_num,
                other => panic!("record {} not acked: {other:?}", f.id()),
            })
            .collect()
    }

    #[test]
    fn each_record_reads_its_own_place_in_the_batch_it_went_in() {
        let now = Instant::now();
        // Closed by count: the record that fills a batch is its last.
        let mut by_count = intake(BatcherConfig::default().with_max_records(3));
        let mut futures: Vec<_> = (0..7)
            .map(|id| by_count.take(id, record(10), now).expect("taken"))
            .collect();
        by_count.batcher.flush();
        by_count.collect();
        assert_eq!(
            seq_nums(&mut by_count, &mut futures),
            (0..7).collect::<Vec<_>>()
        );

        // Closed by size: a record that does not fit closes the open batch
        // and starts the next, which it then fills on its own.
        let max_bytes = 1000;
        let mut by_size = intake(BatcherConfig::default().with_max_bytes(max_bytes));
        let mut futures = vec![
            by_size.take(0, record(100), now).expect("taken"),
            by_size.take(1, record(100), now).expect("taken"),
            // 8 bytes of overhead: exactly max_bytes metered.
            by_size
                .take(2, record(max_bytes as usize - 8), now)
                .expect("taken"),
            by_size.take(3, record(100), now).expect("taken"),
        ];
        assert_eq!(by_size.closed.len(), 2, "[0, 1] and [2] closed, 3 open");
        by_size.batcher.flush();
        by_size.collect();
        assert_eq!(seq_nums(&mut by_size, &mut futures), vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_refused_record_leaves_every_other_record_its_place() {
        let now = Instant::now();
        let max_bytes = 1000;
        let mut intake = intake(
            BatcherConfig::default()
                .with_max_records(3)
                .with_max_bytes(max_bytes),
        );
        let mut futures = vec![intake.take(0, record(10), now).expect("taken")];
        // Refused while a batch is open, and while the open batch would have
        // been closed for it: neither batch nor place moves.
        assert!(intake.take(1, record(max_bytes as usize), now).is_err());
        futures.push(intake.take(1, record(10), now).expect("taken"));
        assert!(intake.take(2, record(max_bytes as usize), now).is_err());
        futures.push(intake.take(2, record(10), now).expect("taken"));
        assert_eq!(intake.closed.len(), 1, "[0, 1, 2] closed by count");
        assert!(intake.take(3, record(max_bytes as usize), now).is_err());
        futures.push(intake.take(3, record(10), now).expect("taken"));
        intake.batcher.flush();
        intake.collect();
        assert_eq!(seq_nums(&mut intake, &mut futures), vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_record_arriving_past_the_linger_starts_the_next_batch() {
        let linger = std::time::Duration::from_millis(5);
        let now = Instant::now();
        let later = now + linger;
        let mut intake = Intake::new(
            Batcher::new(BatcherConfig::default().with_linger(Some(linger)))
                .expect("a valid config"),
        );
        let mut futures = vec![
            intake.take(0, record(10), now).expect("taken"),
            intake.take(1, record(10), now).expect("taken"),
            // The open batch expired: closed before this record joins.
            intake.take(2, record(10), later).expect("taken"),
        ];
        assert_eq!(intake.closed.len(), 1, "[0, 1] closed, 2 open");
        // Closed by the driver's timer this time.
        intake.batcher.handle_timeout(later + linger);
        intake.collect();
        futures.push(intake.take(3, record(10), later + linger).expect("taken"));
        intake.batcher.flush();
        intake.collect();
        assert_eq!(intake.closed.len(), 3);
        assert_eq!(seq_nums(&mut intake, &mut futures), vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_record_ack_future_goes_anywhere_a_task_goes() {
        fn send_sync_unpin<T: Send + Sync + Unpin + 'static>() {}
        send_sync_unpin::<RecordAckFuture>();
    }

    #[test]
    fn waiting_records_are_woken_once_their_batch_is_answered() {
        struct Count(AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let now = Instant::now();
        let mut intake = intake(BatcherConfig::default());
        let mut first = intake.take(0, record(10), now).expect("taken");
        let mut second = intake.take(1, record(10), now).expect("taken");
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        assert!(poll(&mut second, &waker).is_pending());
        assert!(poll(&mut second, &waker).is_pending(), "polled again");
        assert!(poll(&mut first, &waker).is_pending());
        intake.batcher.flush();
        intake.collect();
        let batch = intake.closed.pop_front().expect("one batch");
        batch
            .acks
            .fail(&Error::transport(Sent::Maybe, "gone"), true);
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            2,
            "one wake per waiting record"
        );
        // Each record's error names that record alone.
        for (id, future) in [(0, &mut first), (1, &mut second)] {
            match poll(future, Waker::noop()) {
                Poll::Ready(Err(Error::AppendSession {
                    maybe_applied,
                    not_applied,
                    ..
                })) => {
                    assert_eq!(maybe_applied, id..id + 1);
                    assert!(not_applied.is_empty());
                }
                other => panic!("record {id}: {other:?}"),
            }
        }
        // A later answer changes nothing: the first one wins.
        batch.acks.ack(ack(0, 2));
        assert!(matches!(
            poll(&mut first, Waker::noop()),
            Poll::Ready(Err(_))
        ));
    }

    #[test]
    fn records_of_a_batch_dropped_unanswered_learn_the_producer_stopped() {
        let now = Instant::now();
        let mut intake = intake(BatcherConfig::default());
        let mut open = intake.take(0, record(10), now).expect("taken");
        drop(intake);
        assert!(matches!(
            poll(&mut open, Waker::noop()),
            Poll::Ready(Err(Error::Closed { sent: true, .. }))
        ));
    }
}
