//! `append_inputs`: an async stream of records turned into batches ready for
//! an append session, driving the sans-IO [`Batcher`] with the runtime's
//! timer for linger.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use futures_core::Stream as AsyncStream;
use s2_core::{
    Error,
    batcher::{Batcher, BatcherConfig},
    types::{AppendInput, AppendRecord},
};

use crate::runtime::{Deadline, Runtime};

/// Batches `records` into [`AppendInput`]s under `config` (the reference
/// SDK's `append_inputs_gen`): a batch is yielded when it is full, when its
/// linger time is up, or at the end of the records. `match_seq_num`, if set,
/// advances batch by batch; the fencing token goes on every batch.
///
/// A record that can never fit a batch ends the stream with a validation
/// error (it is not dropped silently).
pub fn append_inputs<R, S>(
    runtime: R,
    records: S,
    config: BatcherConfig,
) -> Result<AppendInputs<R, S>, Error>
where
    R: Runtime,
    S: AsyncStream<Item = AppendRecord> + Unpin,
{
    Ok(AppendInputs {
        runtime,
        records: Some(records),
        batcher: Batcher::new(config)?,
        deadline: Deadline::new(),
        failed: false,
    })
}

/// The stream returned by [`append_inputs`].
pub struct AppendInputs<R: Runtime, S> {
    runtime: R,
    records: Option<S>,
    batcher: Batcher,
    deadline: Deadline,
    failed: bool,
}

impl<R, S> AsyncStream for AppendInputs<R, S>
where
    R: Runtime,
    S: AsyncStream<Item = AppendRecord> + Unpin,
{
    type Item = Result<AppendInput, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.failed {
            return Poll::Ready(None);
        }
        loop {
            if let Some(batch) = this.batcher.poll_output() {
                return Poll::Ready(Some(Ok(batch)));
            }
            let Some(records) = this.records.as_mut() else {
                return Poll::Ready(None);
            };
            match Pin::new(records).poll_next(cx) {
                Poll::Ready(Some(record)) => {
                    if let Err(e) = this.batcher.handle_record(record, this.runtime.now()) {
                        this.failed = true;
                        return Poll::Ready(Some(Err(e.into())));
                    }
                    continue;
                }
                Poll::Ready(None) => {
                    this.records = None;
                    this.batcher.flush();
                    continue;
                }
                Poll::Pending => {}
            }
            let at = this.batcher.poll_timeout();
            if this.deadline.poll(&this.runtime, at, cx).is_ready() {
                this.batcher.handle_timeout(this.runtime.now());
                continue;
            }
            return Poll::Pending;
        }
    }
}
