//! [`AckStream`]: the stream API of an append session, inputs in, acks out.

use std::{
    collections::VecDeque,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use futures_core::Stream as AsyncStream;
use s2_core::{
    Error,
    types::{AppendAck, AppendInput},
};

use super::{AckFuture, AppendSession};
use crate::session::BoxFuture;

/// Submits inputs as they come (waiting while the caps are reached) and
/// yields their acks in order. Ends after the last ack, or with the first
/// error.
pub(crate) struct AckStream<S> {
    /// Shared with the submit under way; taken to close the session.
    handle: Option<Arc<AppendSession>>,
    /// `None` once they ended or a submit was refused.
    inputs: Option<Pin<Box<S>>>,
    submitting: Option<BoxFuture<Result<AckFuture, Error>>>,
    /// Acks of the inputs submitted, in submission order.
    acks: VecDeque<AckFuture>,
    /// A refused submit, reported once the acks before it are out.
    refused: Option<Error>,
    closing: Option<BoxFuture<Result<(), Error>>>,
    /// Ended: after the last ack, or after an error.
    done: bool,
}

impl<S> AckStream<S>
where
    S: AsyncStream<Item = AppendInput> + Send + 'static,
{
    pub(crate) fn new(handle: AppendSession, inputs: S) -> Self {
        Self {
            handle: Some(Arc::new(handle)),
            inputs: Some(Box::pin(inputs)),
            submitting: None,
            acks: VecDeque::new(),
            refused: None,
            closing: None,
            done: false,
        }
    }

    /// The next ack (or error), or the end once everything is acknowledged
    /// and the session closed.
    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<AppendAck, Error>>> {
        loop {
            let progressed = self.drive_submit(cx) | self.drive_inputs(cx);
            if let Some(front) = self.acks.front_mut()
                && let Poll::Ready(result) = Pin::new(front).poll(cx)
            {
                self.acks.pop_front();
                return Poll::Ready(Some(result));
            }
            if self.inputs.is_none() && self.submitting.is_none() && self.acks.is_empty() {
                return self.poll_close(cx);
            }
            if !progressed {
                return Poll::Pending;
            }
        }
    }

    /// The submit under way: its ack joins the queue, or its refusal ends
    /// the input.
    fn drive_submit(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(submitting) = self.submitting.as_mut() else {
            return false;
        };
        let Poll::Ready(result) = submitting.as_mut().poll(cx) else {
            return false;
        };
        self.submitting = None;
        match result {
            Ok(ack) => self.acks.push_back(ack),
            // Batches submitted before this one may have landed: their acks
            // come first, then this error ends the stream.
            Err(e) => {
                self.refused = Some(e);
                self.inputs = None;
            }
        }
        true
    }

    /// The next input, submitted once the one before it is.
    fn drive_inputs(&mut self, cx: &mut Context<'_>) -> bool {
        if self.submitting.is_some() {
            return false;
        }
        let Some(inputs) = self.inputs.as_mut() else {
            return false;
        };
        let Poll::Ready(next) = inputs.as_mut().poll_next(cx) else {
            return false;
        };
        match (next, self.handle.clone()) {
            (Some(input), Some(handle)) => {
                self.submitting = Some(Box::pin(async move { handle.submit(input).await }));
            }
            _ => self.inputs = None,
        }
        true
    }

    /// Everything is acknowledged: the refusal that ended the input, if
    /// any, else the session's close.
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<AppendAck, Error>>> {
        if let Some(e) = self.refused.take() {
            return Poll::Ready(Some(Err(e)));
        }
        let closing = self.closing.get_or_insert_with(|| {
            // No submit is under way: this is the last holder of the handle.
            let handle = self.handle.take().and_then(|h| Arc::try_unwrap(h).ok());
            Box::pin(async move {
                match handle {
                    Some(handle) => handle.close().await,
                    None => Ok(()),
                }
            })
        });
        match ready!(closing.as_mut().poll(cx)) {
            Ok(()) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(e))),
        }
    }
}

impl<S> AsyncStream for AckStream<S>
where
    S: AsyncStream<Item = AppendInput> + Send + 'static,
{
    type Item = Result<AppendAck, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let item = ready!(this.poll_item(cx));
        // The stream ends after its first error, or after its end; what it
        // holds goes at once, so an ended stream kept by the caller keeps
        // no session open.
        if !matches!(item, Some(Ok(_))) {
            this.end();
        }
        Poll::Ready(item)
    }
}

impl<S> AckStream<S> {
    fn end(&mut self) {
        self.done = true;
        self.handle = None;
        self.inputs = None;
        self.submitting = None;
        self.acks.clear();
        self.closing = None;
    }
}
