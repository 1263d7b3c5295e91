//! Read batches from the server, checked against what was delivered and
//! requested before they are delivered.

use std::{borrow::Cow, time::Instant};

use super::{ReadEvent, ReadSession};
use crate::{
    error::ProtocolError,
    types::{MeteredBytes, ReadBatch, ReadStart, SequencedRecord, check_read_batch_order},
};

/// Why a read message was refused.
pub(super) enum Refusal {
    /// The server contradicts what it said before: the session fails.
    Fatal(ProtocolError),
    /// Records are missing within a connection: resume from the next one.
    Gap(ProtocolError),
}

impl ReadSession {
    /// Takes in a read batch from the current connection: checks it against
    /// what was delivered and requested, then delivers it and updates the
    /// position, the budgets and whether the session caught up.
    pub(super) fn accept_batch(&mut self, batch: ReadBatch, now: Instant) -> Result<(), Refusal> {
        let ReadBatch { mut records, tail } = batch;
        check_read_batch_order(&records, None).map_err(Refusal::Fatal)?;
        let next = self.check_positions(&records)?;
        if let (Some(tail), Some(next)) = (tail, next)
            && tail.seq_num < next
        {
            return Err(Refusal::Fatal(inconsistent(format!(
                "the tail {} is before {next}, up to which records were delivered",
                tail.seq_num
            ))));
        }
        if let Some(tail) = tail {
            self.known_tail = Some(
                self.known_tail
                    .map_or(tail.seq_num, |k| k.max(tail.seq_num)),
            );
        }
        if !records.is_empty() {
            // Real progress: failures start over. (Not on any message: a
            // server that answers and fails at once must not reset it.)
            self.backoff.reset();
            // The service measures the wait between records, commands too.
            self.restart_wait(now);
        }
        let count = records.len() as u64;
        let bytes = records.metered_bytes();
        if self.remaining_count.is_some_and(|c| count > c)
            || self.remaining_bytes.is_some_and(|b| bytes > b)
        {
            return Err(Refusal::Fatal(inconsistent(
                "read batch exceeds the requested limit",
            )));
        }
        if let Some(until) = self.request.until
            && records.iter().any(|r| r.timestamp() >= until)
        {
            return Err(Refusal::Fatal(inconsistent(
                "read batch has records at or after `until`",
            )));
        }
        if !records.is_empty() {
            self.next_seq_num = next;
        } else if self.next_seq_num.is_none()
            && let Some(tail) = tail
            && self.adopts_tail(tail)
        {
            // A heartbeat before any record: resume from the tail it reports,
            // so a reconnect does not re-resolve a timestamp or offset.
            self.next_seq_num = Some(tail.seq_num);
        }
        self.remaining_count = self.remaining_count.map(|c| c - count);
        self.remaining_bytes = self.remaining_bytes.map(|b| b - bytes);

        if self.request.ignore_command_records {
            records.retain(|r| !r.is_command());
        }
        let at_tail = match (tail, self.next_seq_num) {
            (Some(tail), Some(next)) => next >= tail.seq_num,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if !records.is_empty() {
            self.events
                .push_back(ReadEvent::Batch(ReadBatch { records, tail }));
        }
        match (at_tail, tail) {
            (true, Some(tail)) if !self.caught_up => {
                self.caught_up = true;
                self.events.push_back(ReadEvent::CaughtUp(tail));
            }
            (false, _) if count > 0 => self.caught_up = false,
            _ => {}
        }
        if self.budget_exhausted() {
            self.finish(ReadEvent::Finished);
        }
        Ok(())
    }

    /// Checks where `records` lie against what was delivered and requested;
    /// returns the position after them (the current one if there are none).
    /// `records` are strictly increasing.
    fn check_positions(&self, records: &[SequencedRecord]) -> Result<Option<u64>, Refusal> {
        let Some(first) = records.first() else {
            return Ok(self.next_seq_num);
        };
        // A clamped start past the tail reads from the tail, before it.
        let floor = self.next_seq_num.or(match self.request.start {
            ReadStart::SeqNum(start) if !self.request.clamp => Some(start),
            ReadStart::SeqNum(_) | ReadStart::Timestamp(_) | ReadStart::TailOffset(_) => None,
        });
        if let Some(floor) = floor
            && first.seq_num() < floor
        {
            return Err(Refusal::Fatal(inconsistent(format!(
                "record {} is before {floor}, where the read stands",
                first.seq_num()
            ))));
        }
        let heard = self.phase.link().is_some_and(|link| link.heard);
        // The first record of a connection may lie past the position (what
        // was between is trimmed); after it, nothing may be missing.
        let mut expected = if heard { self.next_seq_num } else { None };
        for record in records {
            if let Some(e) = expected
                && e != record.seq_num()
            {
                return Err(Refusal::Gap(inconsistent(format!(
                    "record {} follows {} on one connection",
                    record.seq_num(),
                    e.saturating_sub(1)
                ))));
            }
            let Some(after) = record.seq_num().checked_add(1) else {
                return Err(Refusal::Fatal(inconsistent(
                    "a record at the last sequence number: no position follows it",
                )));
            };
            expected = Some(after);
        }
        Ok(expected)
    }
}

/// The server contradicts itself or what was asked.
pub(super) fn inconsistent(reason: impl Into<Cow<'static, str>>) -> ProtocolError {
    ProtocolError::Inconsistent(reason.into())
}
