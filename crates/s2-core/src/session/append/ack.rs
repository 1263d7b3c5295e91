//! Acks on the open connection, and the server's advice to leave it.

use std::time::Instant;

use super::{AppendEvent, AppendSession, Phase, failure::Failure};
use crate::{
    error::{Error, ProtocolError},
    proto,
    session::{ConnectionId, deadline},
    types::AppendAck,
};

impl AppendSession {
    /// An ack arrived on the current connection.
    pub(super) fn handle_ack(&mut self, ack: proto::AppendAck, now: Instant) {
        let link = self
            .phase
            .link()
            .expect("acks are read from the current connection only");
        if link.sent == 0 {
            // The server's view of the session is not ours: none of its acks
            // can be trusted, so stop rather than reconnect to it quietly.
            let reason = "an ack arrived for a batch never sent";
            return self.fail(ProtocolError::Inconsistent(reason.into()).into());
        }
        let ack = match AppendAck::try_from(ack) {
            Ok(ack) => ack,
            Err(e) => return self.handle_failure(e.into(), now, Failure::Broken),
        };
        if let Err(reason) = self.check_ack(&ack) {
            let error = Error::from(ProtocolError::Inconsistent(reason.into()));
            return self.handle_failure(error, now, Failure::Broken);
        }
        self.acked_end = Some(ack.end.seq_num);
        let ack_timeout = self.config.ack_timeout();
        let link = self.phase.link_mut().expect("checked above");
        link.sent -= 1;
        // The next batch in flight, if any, has its own time from now.
        link.ack_deadline = (link.sent > 0).then(|| deadline(now, ack_timeout));
        self.complete_front(ack);
        self.backoff.reset();
        self.finish_if_drained();
        self.leave_if_drained();
    }

    /// Whether `ack` fits the oldest batch and the acks before it (`start
    /// <= end <= tail` is checked on decoding): it covers the batch's
    /// records, at its `match_seq_num` if it has one, and starts at or after
    /// the end of every earlier ack of the session (batches apply in order,
    /// on a log that only grows). Anything else is a server acknowledging
    /// what it was not sent, and no ack of it can be trusted.
    ///
    /// Unconditioned acks need not be contiguous, even on one connection:
    /// the service admits each batch of a session on its own, so other
    /// writers' appends may land between two of them. Conditioned ones are,
    /// through their `match_seq_num`.
    fn check_ack(&self, ack: &AppendAck) -> Result<(), String> {
        let entry = self
            .pending
            .front()
            .expect("a batch was sent on the connection, so one is pending");
        let start = ack.start.seq_num;
        let misfit = ack
            .misfit(entry.input.len(), entry.input.match_seq_num())
            .or_else(|| {
                self.acked_end
                    .is_some_and(|e| start < e)
                    .then_some("it starts before the previous ack ended")
            });
        match misfit {
            Some(what) => Err(format!(
                "ack {start}..{} does not fit batch {} of {} records: {what}",
                ack.end.seq_num,
                entry.id,
                entry.input.len()
            )),
            None => Ok(()),
        }
    }

    /// Pops the oldest entry and reports its ack.
    pub(super) fn complete_front(&mut self, ack: AppendAck) {
        let entry = self
            .pending
            .pop_front()
            .expect("an ack is only ever matched to a pending batch");
        self.pending_bytes -= entry.input.metered_bytes();
        self.events
            .push_back(AppendEvent::Ack { id: entry.id, ack });
    }

    /// The server advised reconnecting on `connection`: send nothing more
    /// on it and move to a new one once its acks are in, unless an advised
    /// reconnect happened recently (then the connection stays until it
    /// fails). Free of the retry budget: nothing failed.
    pub(super) fn handle_advice(&mut self, connection: ConnectionId, now: Instant) {
        let Some(link) = self.phase.link_mut() else {
            return;
        };
        if link.id != connection || link.draining || !self.advice.try_acquire(now) {
            return;
        }
        link.draining = true;
        self.leave_if_drained();
    }

    /// Once a draining connection has nothing in flight, leaves it for a new
    /// one (when anything is left to send).
    fn leave_if_drained(&mut self) {
        if let Some(link) = self.phase.link()
            && link.draining
            && link.sent == 0
        {
            self.events.push_back(AppendEvent::Disconnect(link.id));
            self.phase = Phase::Idle;
            if !self.pending.is_empty() {
                self.connect();
            }
        }
    }
}
