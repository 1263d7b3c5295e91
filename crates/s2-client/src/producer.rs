//! The producer: submit single records, get each record's ack. Records are
//! batched by the sans-IO [`Batcher`] and sent through one append session,
//! so the session's retries and exactly-once resolution apply.

use std::{
    collections::VecDeque,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use futures_channel::{mpsc, oneshot};
use futures_util::{FutureExt, StreamExt, future::poll_fn};
use s2_core::{
    Error,
    batcher::{Batcher, BatcherConfig},
    types::{AppendAck, AppendInput, AppendRecord},
};

use crate::{
    runtime::Runtime,
    session::{
        BoxFuture, Deadline,
        append::{AckFuture, AppendSessionHandle},
    },
};

/// The acknowledgement of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordAck {
    /// The record's sequence number.
    pub seq_num: u64,
    /// The record's timestamp, when the ack determines it: for the first and
    /// last record of its batch, or when the whole batch got one timestamp.
    pub timestamp: Option<u64>,
    /// The ack of the batch the record went in.
    pub batch: AppendAck,
}

impl RecordAck {
    fn new(batch: AppendAck, index: u64) -> Self {
        let seq_num = batch.start.seq_num + index;
        let timestamp = if batch.start.timestamp == batch.end.timestamp || index == 0 {
            Some(batch.start.timestamp)
        } else if seq_num + 1 == batch.end.seq_num {
            Some(batch.end.timestamp)
        } else {
            None
        };
        Self {
            seq_num,
            timestamp,
            batch,
        }
    }
}

type RecordSender = oneshot::Sender<Result<RecordAck, Error>>;

/// A batch being handed to the session, with its records' ack senders.
type Submitting = (BoxFuture<Result<AckFuture, Error>>, Vec<RecordSender>);

enum Command {
    Submit {
        record: AppendRecord,
        accepted: oneshot::Sender<Result<(), Error>>,
        ack: RecordSender,
    },
    Flush(oneshot::Sender<Result<(), Error>>),
    Close(oneshot::Sender<Result<(), Error>>),
}

/// Submits records one by one and acknowledges each. Submitting waits while
/// the session's unacknowledged caps are reached (backpressure).
pub struct Producer {
    commands: mpsc::UnboundedSender<Command>,
    failure: Arc<Mutex<Option<Error>>>,
}

/// The acknowledgement of one submitted record.
pub struct RecordAckFuture(oneshot::Receiver<Result<RecordAck, Error>>);

impl std::future::Future for RecordAckFuture {
    type Output = Result<RecordAck, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0
            .poll_unpin(cx)
            .map(|r| r.unwrap_or_else(|_| Err(Error::Closed("the producer stopped".into()))))
    }
}

impl Producer {
    pub(crate) fn start<R: Runtime>(
        runtime: R,
        session: AppendSessionHandle,
        config: BatcherConfig,
    ) -> Result<Self, Error> {
        let batcher = Batcher::new(config)?;
        let (commands, receiver) = mpsc::unbounded();
        let failure = Arc::new(Mutex::new(None));
        let driver = Driver {
            runtime: runtime.clone(),
            session: Some(Arc::new(session)),
            batcher,
            commands: Some(receiver),
            queued: VecDeque::new(),
            batches_created: 0,
            open_senders: Vec::new(),
            submitting: None,
            in_flight: VecDeque::new(),
            batches_sent: 0,
            batches_acked: 0,
            flushes: Vec::new(),
            closing: None,
            deadline: Deadline::new(),
            failure: failure.clone(),
        };
        runtime.spawn(Box::pin(driver.run()));
        Ok(Self { commands, failure })
    }

    fn stopped(&self) -> Error {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| Error::Closed("the producer stopped".into()))
    }

    /// Submits one record; resolves once it is accepted (at once unless the
    /// caps are reached) to the future of its ack.
    pub async fn submit(&self, record: AppendRecord) -> Result<RecordAckFuture, Error> {
        let (accepted, accepted_rx) = oneshot::channel();
        let (ack, ack_rx) = oneshot::channel();
        self.commands
            .unbounded_send(Command::Submit {
                record,
                accepted,
                ack,
            })
            .map_err(|_| self.stopped())?;
        accepted_rx.await.map_err(|_| self.stopped())??;
        Ok(RecordAckFuture(ack_rx))
    }

    /// Waits until every record submitted so far is durable.
    pub async fn flush(&self) -> Result<(), Error> {
        let (done, done_rx) = oneshot::channel();
        self.commands
            .unbounded_send(Command::Flush(done))
            .map_err(|_| self.stopped())?;
        done_rx.await.map_err(|_| self.stopped())?
    }

    /// Sends what is pending, waits for every ack, and stops.
    pub async fn close(self) -> Result<(), Error> {
        let (done, done_rx) = oneshot::channel();
        self.commands
            .unbounded_send(Command::Close(done))
            .map_err(|_| self.stopped())?;
        done_rx.await.map_err(|_| self.stopped())?
    }
}

struct Driver<R: Runtime> {
    runtime: R,
    session: Option<Arc<AppendSessionHandle>>,
    batcher: Batcher,
    commands: Option<mpsc::UnboundedReceiver<Command>>,
    /// Closed batches not yet handed to the session, with their records'
    /// ack senders.
    queued: VecDeque<(AppendInput, Vec<RecordSender>)>,
    /// Batches the batcher has closed so far.
    batches_created: u64,
    /// Record senders of the batch the batcher is filling.
    open_senders: Vec<RecordSender>,
    /// A batch being submitted to the session, with its record senders.
    submitting: Option<Submitting>,
    /// Batches sent, awaiting their acks in order.
    in_flight: VecDeque<(AckFuture, Vec<RecordSender>)>,
    batches_sent: u64,
    batches_acked: u64,
    /// Flush waiters and the batch count they wait for.
    flushes: Vec<(u64, oneshot::Sender<Result<(), Error>>)>,
    closing: Option<oneshot::Sender<Result<(), Error>>>,
    deadline: Deadline,
    failure: Arc<Mutex<Option<Error>>>,
}

impl<R: Runtime> Driver<R> {
    async fn run(mut self) {
        poll_fn(|cx| self.poll(cx)).await;
    }

    fn fail(&mut self, error: Error) {
        *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.clone());
        let senders = self
            .in_flight
            .drain(..)
            .flat_map(|(_, s)| s)
            .chain(self.submitting.take().into_iter().flat_map(|(_, s)| s))
            .chain(self.queued.drain(..).flat_map(|(_, s)| s))
            .chain(self.open_senders.drain(..));
        for sender in senders {
            let _ = sender.send(Err(error.clone()));
        }
        for (_, done) in self.flushes.drain(..) {
            let _ = done.send(Err(error.clone()));
        }
        if let Some(done) = self.closing.take() {
            let _ = done.send(Err(error.clone()));
        }
        self.commands = None;
        self.session = None;
    }

    /// Moves closed batches from the batcher into the queue for the session.
    fn collect_batches(&mut self) {
        while let Some(batch) = self.batcher.poll_output() {
            let senders: Vec<_> = self.open_senders.drain(..batch.len()).collect();
            self.queued.push_back((batch, senders));
            self.batches_created += 1;
        }
    }

    fn handle_command(&mut self, command: Command) {
        match command {
            // A submit whose caller gave up is not appended behind its back.
            Command::Submit { accepted, .. } if accepted.is_canceled() => {}
            Command::Submit {
                record,
                accepted,
                ack,
            } => match self.batcher.handle_record(record, self.runtime.now()) {
                Ok(()) => {
                    self.open_senders.push(ack);
                    self.collect_batches();
                    let _ = accepted.send(Ok(()));
                }
                // A record that can never be sent is refused; the producer
                // goes on.
                Err(e) => {
                    let _ = accepted.send(Err(e.into()));
                }
            },
            Command::Flush(done) => {
                self.batcher.flush();
                self.collect_batches();
                self.flushes.push((self.batches_created, done));
            }
            Command::Close(done) => {
                self.begin_close();
                self.closing = Some(done);
            }
        }
    }

    fn begin_close(&mut self) {
        self.commands = None;
        self.batcher.flush();
        self.collect_batches();
    }

    fn drained(&self) -> bool {
        self.queued.is_empty()
            && self.submitting.is_none()
            && self.in_flight.is_empty()
            && self.batcher.is_empty()
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let mut progressed = false;
            // Take records only while the session keeps up (backpressure).
            if self.queued.len() < 2
                && let Some(commands) = self.commands.as_mut()
            {
                match commands.poll_next_unpin(cx) {
                    Poll::Ready(Some(command)) => {
                        self.handle_command(command);
                        progressed = true;
                    }
                    Poll::Ready(None) => {
                        // Every producer handle is gone: finish what was
                        // submitted.
                        self.begin_close();
                        progressed = true;
                    }
                    Poll::Pending => {}
                }
            }
            let linger = self.batcher.poll_timeout();
            if self.deadline.poll(&self.runtime, linger, cx).is_ready() {
                self.batcher.handle_timeout(self.runtime.now());
                self.collect_batches();
                progressed = true;
            }
            if self.submitting.is_none()
                && let Some(session) = self.session.clone()
                && let Some((batch, senders)) = self.queued.pop_front()
            {
                let submit: BoxFuture<_> = Box::pin(async move { session.submit(batch).await });
                self.submitting = Some((submit, senders));
                progressed = true;
            }
            if let Some((submit, _)) = self.submitting.as_mut()
                && let Poll::Ready(result) = submit.as_mut().poll(cx)
            {
                let senders = self.submitting.take().map(|(_, s)| s).unwrap_or_default();
                match result {
                    Ok(ack) => {
                        self.in_flight.push_back((ack, senders));
                        self.batches_sent += 1;
                    }
                    Err(e) => {
                        self.fail(e);
                        return Poll::Ready(());
                    }
                }
                progressed = true;
            }
            while let Some((ack, _)) = self.in_flight.front_mut() {
                match ack.poll_unpin(cx) {
                    Poll::Ready(Ok(ack)) => {
                        let senders = self
                            .in_flight
                            .pop_front()
                            .map(|(_, s)| s)
                            .unwrap_or_default();
                        for (index, sender) in senders.into_iter().enumerate() {
                            // A dropped ack future only discards that ack.
                            let _ = sender.send(Ok(RecordAck::new(ack, index as u64)));
                        }
                        self.batches_acked += 1;
                        progressed = true;
                    }
                    Poll::Ready(Err(e)) => {
                        self.fail(e);
                        return Poll::Ready(());
                    }
                    Poll::Pending => break,
                }
            }
            let acked = self.batches_acked;
            let mut i = 0;
            while i < self.flushes.len() {
                if self.flushes[i].0 <= acked {
                    let (_, done) = self.flushes.swap_remove(i);
                    let _ = done.send(Ok(()));
                } else {
                    i += 1;
                }
            }
            if self.commands.is_none() && self.drained() {
                // Everything is acked: dropping the session handle closes it.
                self.session = None;
                if let Some(done) = self.closing.take() {
                    let _ = done.send(Ok(()));
                }
                return Poll::Ready(());
            }
            if !progressed {
                return Poll::Pending;
            }
        }
    }
}
