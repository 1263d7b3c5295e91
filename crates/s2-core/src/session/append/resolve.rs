//! Exactly-once resolution: after an unknown outcome, read back what may
//! have landed and compare it with what was sent.

use super::{AppendEvent, AppendSession, Phase};
use crate::{
    error::{Error, ProtocolError},
    read_back::{Contents, TailAt, Unverified, verify},
    types::{
        AppendAck, AppendRecord, ReadLimit, ReadRequest, ReadStart, SequencedRecord, StreamPosition,
    },
};

impl AppendSession {
    /// Starts exactly-once resolution with the stream's tail.
    pub(super) fn resolve(&mut self, tail: StreamPosition) {
        let Some((first, first_end, maybe_landed)) = self.pending.front().and_then(|front| {
            Some((
                front.input.match_seq_num()?,
                front.end()?,
                front.maybe_landed,
            ))
        }) else {
            return self.after_resolution();
        };
        if self.acked_end.is_some_and(|end| tail.seq_num < end) {
            return self.fail_behind_acks(tail.seq_num);
        }
        // A batch that never left the client, or whose every attempt
        // provably failed, cannot be on the stream: whatever is at its place
        // belongs to another writer, even if it is byte-identical.
        match TailAt::of(tail.seq_num, first, first_end) {
            TailAt::Before => {
                self.conflict(tail.seq_num, "the tail is before this session's batches")
            }
            TailAt::Start => self.after_resolution(),
            _ if !maybe_landed => self.conflict(
                first,
                "records of another writer are where a batch was to go that was never applied",
            ),
            // Batches land whole: a tail inside this one means another
            // writer's records are where it was to go.
            TailAt::Inside => self.conflict(tail.seq_num, "the tail lies inside a batch"),
            TailAt::PastEnd => {
                let end = self.read_back_end(first, tail.seq_num);
                self.phase = Phase::AwaitRead {
                    cursor: first,
                    end,
                    tail,
                };
                self.events
                    .push_back(AppendEvent::Read(read_back(first, end)));
            }
        }
    }

    /// The end of the batches to read back from `first`: those that may
    /// have landed and lie wholly before the tail, contiguous from `first`;
    /// the ones after them are decided once those are verified.
    fn read_back_end(&self, first: u64, tail: u64) -> u64 {
        let mut end = first;
        for entry in &self.pending {
            let (Some(m), Some(batch_end)) = (entry.input.match_seq_num(), entry.end()) else {
                break;
            };
            if m != end || !entry.maybe_landed || batch_end > tail {
                break;
            }
            end = batch_end;
        }
        end
    }

    /// Checks records read back from `cursor` (up to `end`, below `tail`),
    /// acknowledging the batches they verify; then reads on or decides
    /// the rest.
    pub(super) fn read_back_records(
        &mut self,
        records: &[SequencedRecord],
        mut cursor: u64,
        end: u64,
        tail: StreamPosition,
    ) {
        let verification = verify(records, cursor, |seq_num| self.sent_at(seq_num, end));
        let verified = &records[..verification.verified];
        for record in verified {
            if self
                .pending
                .front()
                .is_some_and(|e| e.input.match_seq_num() == Some(cursor))
            {
                self.read_back_start_timestamp = record.timestamp();
            }
            cursor += 1;
            self.ack_verified_prefix(cursor, tail, record.timestamp());
        }
        if cursor == end {
            // What lies wholly before the tail is verified (records past
            // `end` are not looked at); decide the rest.
            return self.resolve(tail);
        }
        match verification.stop {
            // Nothing from `cursor`: records this session may have written
            // cannot be read back (trimmed, say), so their outcome stays
            // unknown.
            None if verified.is_empty() => self.cannot_read_back(cursor),
            Some(stop) if stop.index == 0 && !stop.in_place => self.cannot_read_back(cursor),
            // A short read: read on.
            None => {
                self.phase = Phase::AwaitRead { cursor, end, tail };
                self.events
                    .push_back(AppendEvent::Read(read_back(cursor, end)));
            }
            Some(stop) if !stop.in_place => {
                self.conflict(cursor, "records missing where this session wrote")
            }
            Some(Unverified {
                contents: Contents::Differs,
                ..
            }) => self.conflict(cursor, "a record differs from what this session sent"),
            // In place, where this session sent nothing.
            Some(_) => self.conflict(cursor, "a record lies outside this session's batches"),
        }
    }

    /// Fails the session: the read-back from `cursor` does not start there.
    fn cannot_read_back(&mut self, cursor: u64) {
        self.fail(Error::Protocol(ProtocolError::Inconsistent(
            format!("records from {cursor} could not be read back").into(),
        )))
    }

    /// The record this session sent to `seq_num`, among the batches read
    /// back (those before `end`).
    fn sent_at(&self, seq_num: u64, end: u64) -> Option<&AppendRecord> {
        if seq_num >= end {
            return None;
        }
        for entry in &self.pending {
            let m = entry.input.match_seq_num()?;
            let Some(offset) = seq_num.checked_sub(m) else {
                continue;
            };
            if let Some(sent) = usize::try_from(offset)
                .ok()
                .and_then(|i| entry.input.records().get(i))
            {
                return Some(sent);
            }
        }
        None
    }

    /// Acknowledges every pending batch that ends at or before `cursor`,
    /// from the read-back: `last_timestamp` is that of record `cursor - 1`.
    fn ack_verified_prefix(&mut self, cursor: u64, tail: StreamPosition, last_timestamp: u64) {
        while let Some(entry) = self.pending.front() {
            let (Some(m), Some(end)) = (entry.input.match_seq_num(), entry.end()) else {
                return;
            };
            if end > cursor {
                return;
            }
            let ack = AppendAck {
                start: StreamPosition {
                    seq_num: m,
                    timestamp: self.read_back_start_timestamp,
                },
                end: StreamPosition {
                    seq_num: end,
                    timestamp: last_timestamp,
                },
                tail,
            };
            self.acked_end = Some(end);
            self.complete_front(ack);
            self.backoff.reset();
        }
    }

    /// Resolution done: what is left is not on the stream; send it again.
    /// (`maybe_landed` stays: an abandoned connection may still deliver a
    /// stale attempt, which its condition then keeps from landing twice.)
    fn after_resolution(&mut self) {
        if self.pending.is_empty() {
            self.phase = Phase::Idle;
            self.finish_if_drained();
        } else {
            self.connect();
        }
    }
}

/// A unary read of `[from, to)`, at most one request's worth.
fn read_back(from: u64, to: u64) -> ReadRequest {
    ReadRequest::new(ReadStart::SeqNum(from)).with_limit(ReadLimit::count((to - from).min(1000)))
}
