//! Read positions, limits and results.

use bytes::{Bytes, BytesMut};

use crate::{
    error::{ProtocolError, ValidationError},
    frame::{WireMessage, message::Sealed},
    proto,
    types::{StreamPosition, record::SequencedRecord},
};

/// Most records one unary read returns.
pub const MAX_READ_RECORDS: u64 = 1000;
/// Most metered bytes one unary read returns (1 MiB).
pub const MAX_READ_BYTES: u64 = 1024 * 1024;

/// Where a read starts (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadStart {
    /// At this sequence number.
    SeqNum(u64),
    /// At the first record with a timestamp at or after this one.
    Timestamp(u64),
    /// This many records before the tail.
    TailOffset(u64),
}

impl Default for ReadStart {
    fn default() -> Self {
        ReadStart::SeqNum(0)
    }
}

/// Bounds on how much a read returns; either bound may end it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ReadLimit {
    /// Most records.
    pub count: Option<u64>,
    /// Most metered bytes.
    pub bytes: Option<u64>,
}

impl ReadLimit {
    /// No bound.
    pub fn none() -> Self {
        Self::default()
    }

    /// At most `count` records.
    pub fn count(count: u64) -> Self {
        Self {
            count: Some(count),
            bytes: None,
        }
    }

    /// At most `bytes` metered bytes.
    pub fn bytes(bytes: u64) -> Self {
        Self {
            count: None,
            bytes: Some(bytes),
        }
    }

    /// Adds a record-count bound.
    pub fn with_count(mut self, count: u64) -> Self {
        self.count = Some(count);
        self
    }

    /// Adds a metered-bytes bound.
    pub fn with_bytes(mut self, bytes: u64) -> Self {
        self.bytes = Some(bytes);
        self
    }

    /// Whether either bound is set.
    pub fn is_bounded(&self) -> bool {
        self.count.is_some() || self.bytes.is_some()
    }
}

/// What to read: where to start and when to stop.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ReadRequest {
    /// Inclusive start position.
    pub start: ReadStart,
    /// Record and byte bounds.
    pub limit: ReadLimit,
    /// Exclusive timestamp bound: only records with smaller timestamps.
    pub until: Option<u64>,
    /// Start at the tail instead of failing when `start` is past it.
    pub clamp: bool,
    /// Drop command records (fence, trim) from the results.
    pub ignore_command_records: bool,
    /// Seconds to wait for records when none are available yet. A unary
    /// read waits at most this long (long poll, at most 60); a session waits
    /// up to this long between records, then ends.
    pub wait_secs: Option<u32>,
}

impl ReadRequest {
    /// A read from `start` with no other bound.
    pub fn new(start: ReadStart) -> Self {
        Self {
            start,
            ..Self::default()
        }
    }

    /// Sets the record/byte bounds.
    pub fn with_limit(mut self, limit: ReadLimit) -> Self {
        self.limit = limit;
        self
    }

    /// Sets the exclusive timestamp bound.
    pub fn with_until(mut self, until: u64) -> Self {
        self.until = Some(until);
        self
    }

    /// Sets `clamp`.
    pub fn with_clamp(mut self, clamp: bool) -> Self {
        self.clamp = clamp;
        self
    }

    /// Sets whether command records are dropped.
    pub fn with_ignore_command_records(mut self, ignore: bool) -> Self {
        self.ignore_command_records = ignore;
        self
    }

    /// Sets the wait for records (see [`wait_secs`](Self::wait_secs)).
    pub fn with_wait_secs(mut self, secs: u32) -> Self {
        self.wait_secs = Some(secs);
        self
    }

    /// Checks the bounds a unary read accepts.
    pub fn validate_unary(&self) -> Result<(), ValidationError> {
        if self.limit.count.is_some_and(|c| c > MAX_READ_RECORDS) {
            return Err(ValidationError::InvalidReadLimit {
                reason: "count is at most 1000 for a unary read",
            });
        }
        if self.limit.bytes.is_some_and(|b| b > MAX_READ_BYTES) {
            return Err(ValidationError::InvalidReadLimit {
                reason: "bytes is at most 1 MiB for a unary read",
            });
        }
        if self.wait_secs.is_some_and(|w| w > 60) {
            return Err(ValidationError::InvalidReadLimit {
                reason: "wait is at most 60 seconds",
            });
        }
        Ok(())
    }
}

/// A batch of records read from a stream.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReadBatch {
    /// Records in sequence order.
    pub records: Vec<SequencedRecord>,
    /// The stream's tail, when the service reported it.
    pub tail: Option<StreamPosition>,
}

// Reads decode straight into `ReadBatch` (`api::decode_read_batch`); tests
// hold that against prost's decoding through this.
#[cfg(test)]
impl From<proto::ReadBatch> for ReadBatch {
    fn from(batch: proto::ReadBatch) -> Self {
        Self {
            records: batch.records.into_iter().map(From::from).collect(),
            tail: batch.tail.map(From::from),
        }
    }
}

impl From<ReadBatch> for proto::ReadBatch {
    fn from(batch: ReadBatch) -> Self {
        Self {
            records: batch.records.into_iter().map(From::from).collect(),
            tail: batch.tail.map(From::from),
        }
    }
}

impl Sealed for ReadBatch {}

// Batches travel as the generated `proto::ReadBatch`; only servers (and
// tests) encode them, so encoding goes through a copy of the records.
impl WireMessage for ReadBatch {
    fn encoded_len(&self) -> usize {
        prost::Message::encoded_len(&proto::ReadBatch::from(self.clone()))
    }

    fn encode(&self, out: &mut BytesMut) {
        prost::Message::encode_raw(&proto::ReadBatch::from(self.clone()), out);
    }

    /// Decodes a batch as [`decode_read_batch`](crate::api::decode_read_batch)
    /// does: refusing one over the service's bounds on records and metered
    /// bytes. Their order is checked by [`check_read_batch_order`].
    fn decode(bytes: Bytes) -> Result<Self, ProtocolError> {
        crate::api::decode_read_batch(bytes)
    }
}

/// The result of a unary read: records, or the tail when the start was at or
/// past it.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadOutput {
    /// Records in sequence order; empty only if a bound (count, bytes,
    /// until) could not be met otherwise.
    Batch(ReadBatch),
    /// The start was at or past the tail; this is the tail.
    Tail(StreamPosition),
}

impl ReadOutput {
    /// The records, if this is a batch.
    pub fn records(&self) -> &[SequencedRecord] {
        match self {
            ReadOutput::Batch(b) => &b.records,
            ReadOutput::Tail(_) => &[],
        }
    }

    /// Takes the records, if this is a batch.
    pub fn into_records(self) -> Vec<SequencedRecord> {
        match self {
            ReadOutput::Batch(b) => b.records,
            ReadOutput::Tail(_) => Vec::new(),
        }
    }
}

/// Checks that records from the service are in strictly increasing sequence
/// order, starting at `expected_first` when given, and below `u64::MAX` (a
/// record there would leave no tail after it).
pub fn check_read_batch_order(
    records: &[SequencedRecord],
    expected_first: Option<u64>,
) -> Result<(), ProtocolError> {
    let mut previous: Option<u64> = None;
    for (i, record) in records.iter().enumerate() {
        if record.seq_num() == u64::MAX {
            return Err(ProtocolError::Inconsistent(
                format!("read batch has a record at seq_num {}", u64::MAX).into(),
            ));
        }
        let in_order = match (i, previous, expected_first) {
            (0, _, Some(expected)) => record.seq_num() == expected,
            (_, Some(prev), _) => record.seq_num() > prev,
            _ => true,
        };
        if !in_order {
            return Err(ProtocolError::Inconsistent(
                format!(
                    "read batch out of order at record {i} (seq_num {})",
                    record.seq_num()
                )
                .into(),
            ));
        }
        previous = Some(record.seq_num());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seq_num: u64) -> SequencedRecord {
        SequencedRecord::new(StreamPosition::new(seq_num, 0), Bytes::new())
    }

    #[test]
    fn order_check_refuses_the_last_seq_num_and_going_backwards() {
        assert!(check_read_batch_order(&[at(1), at(2), at(9)], Some(1)).is_ok());
        assert!(check_read_batch_order(&[at(u64::MAX)], None).is_err());
        assert!(check_read_batch_order(&[at(u64::MAX - 1), at(u64::MAX)], None).is_err());
        assert!(check_read_batch_order(&[at(3), at(3)], None).is_err());
        assert!(check_read_batch_order(&[at(3)], Some(2)).is_err());
    }
}
