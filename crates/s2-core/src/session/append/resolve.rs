//! Exactly-once resolution: after an unknown outcome, read back what may
//! have landed and compare it with what was sent.

use super::{AppendEvent, AppendSession, Phase};
use crate::{
    error::{Error, ProtocolError},
    types::{AppendAck, ReadLimit, ReadRequest, ReadStart, SequencedRecord, StreamPosition},
};

impl AppendSession {
    /// Starts exactly-once resolution with the stream's tail.
    pub(super) fn resolve(&mut self, tail: StreamPosition) {
        let Some(first) = self.pending.front().and_then(|e| e.input.match_seq_num()) else {
            return self.after_resolution();
        };
        if self.acked_end.is_some_and(|end| tail.seq_num < end) {
            return self.fail_behind_acks(tail.seq_num);
        }
        if tail.seq_num < first {
            return self.conflict(tail.seq_num, "the tail is before this session's batches");
        }
        // Read back the batches that may have landed and lie wholly before
        // the tail; the ones after them are decided once those are verified.
        // A batch that never left the client, or whose every attempt
        // provably failed, cannot be on the stream: whatever is at its place
        // belongs to another writer, even if it is byte-identical.
        let mut end = first;
        for entry in &self.pending {
            let (Some(m), Some(batch_end)) = (entry.input.match_seq_num(), entry.end()) else {
                break;
            };
            if m != end || !entry.maybe_landed || batch_end > tail.seq_num {
                break;
            }
            end = batch_end;
        }
        if end > first {
            self.phase = Phase::AwaitRead {
                cursor: first,
                end,
                tail,
            };
            self.events
                .push_back(AppendEvent::Read(read_back(first, end)));
        } else if tail.seq_num == first {
            self.after_resolution();
        } else if !self.pending[0].maybe_landed {
            self.conflict(
                first,
                "records of another writer are where a batch was to go that was never applied",
            );
        } else {
            // Batches land whole: a tail inside this one means another
            // writer's records are where it was to go.
            self.conflict(tail.seq_num, "the tail lies inside a batch");
        }
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
        if records.first().is_none_or(|r| r.seq_num() != cursor) {
            return self.fail(Error::Protocol(ProtocolError::Inconsistent(
                format!("records from {cursor} could not be read back").into(),
            )));
        }
        for record in records {
            if record.seq_num() != cursor {
                return self.conflict(cursor, "records missing where this session wrote");
            }
            if let Err(reason) = self.verify(record) {
                return self.conflict(cursor, reason);
            }
            if self
                .pending
                .front()
                .is_some_and(|e| e.input.match_seq_num() == Some(cursor))
            {
                self.read_back_start_timestamp = record.timestamp();
            }
            cursor += 1;
            self.ack_verified_prefix(cursor, tail, record.timestamp());
            if cursor == end {
                break;
            }
        }
        if cursor < end {
            self.phase = Phase::AwaitRead { cursor, end, tail };
            self.events
                .push_back(AppendEvent::Read(read_back(cursor, end)));
        } else {
            // What lies wholly before the tail is verified; decide the rest.
            self.resolve(tail);
        }
    }

    /// Compares a read-back record with the one this session sent there.
    fn verify(&self, record: &SequencedRecord) -> Result<(), &'static str> {
        for entry in &self.pending {
            let Some(m) = entry.input.match_seq_num() else {
                break;
            };
            let Some(offset) = record.seq_num().checked_sub(m) else {
                continue;
            };
            if let Some(sent) = usize::try_from(offset)
                .ok()
                .and_then(|i| entry.input.records().get(i))
            {
                return if record.has_contents_of(sent) {
                    Ok(())
                } else {
                    Err("a record differs from what this session sent")
                };
            }
        }
        Err("a record lies outside this session's batches")
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
