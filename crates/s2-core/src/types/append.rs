//! Append batches and their acknowledgements.

use bytes::{BufMut, Bytes, BytesMut};
use prost::encoding::WireType;

use crate::{
    error::{ProtocolError, ValidationError},
    frame::{WireMessage, message::Sealed},
    names::FencingToken,
    proto,
    types::record::{AppendRecord, MeteredBytes, StreamPosition},
};

/// Most records one append batch may hold.
pub const MAX_BATCH_RECORDS: usize = 1000;
/// Most metered bytes one append batch may hold (1 MiB).
pub const MAX_BATCH_METERED_BYTES: u64 = 1024 * 1024;

/// Room for the conditions (a varint and a 36-byte token) besides the
/// records of an encoded [`AppendInput`].
const CONDITIONS_MAX: usize = 64;

/// Most bytes the records of one batch may take once encoded, so that the
/// batch with its conditions fits one session frame.
pub(crate) const MAX_RECORDS_ENCODED_LEN: usize = crate::frame::MAX_PAYLOAD_LEN - CONDITIONS_MAX;

mod wire;

/// Bytes `record` takes in an encoded [`AppendInput`] (a record costs more on
/// the wire than it is metered when it has many tiny headers).
pub(crate) use wire::{RecordSizes, encoded_record_len, record_sizes};

/// One atomic append: 1 to 1000 records of at most 1 MiB metered in total,
/// optionally conditioned on the tail (`match_seq_num`) or a fencing token.
///
/// Built with [`AppendInput::new`], which checks the limits and the header
/// rules, so a value of this type is always acceptable to the service.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AppendInput {
    records: Vec<AppendRecord>,
    match_seq_num: Option<u64>,
    fencing_token: Option<FencingToken>,
    /// Metered size of `records` (at most 1 MiB; `u32` keeps the type, and
    /// the errors carrying it, small).
    metered_bytes: u32,
    /// Encoded length of `records` (keys and length prefixes included, at
    /// most 2 MiB), so that framing a batch measures it once.
    records_encoded_len: u32,
}

impl AppendInput {
    /// Validates `records` as one batch.
    pub fn new(records: impl Into<Vec<AppendRecord>>) -> Result<Self, ValidationError> {
        let records = records.into();
        if records.is_empty() {
            return Err(ValidationError::EmptyBatch);
        }
        if records.len() > MAX_BATCH_RECORDS {
            return Err(ValidationError::TooManyRecords {
                count: records.len(),
            });
        }
        let metered_bytes = records.metered_bytes();
        if metered_bytes > MAX_BATCH_METERED_BYTES {
            return Err(ValidationError::BatchTooLarge { metered_bytes });
        }
        for (index, record) in records.iter().enumerate() {
            record.validate(index)?;
        }
        let records_len = records.iter().map(encoded_record_len).sum::<usize>();
        if records_len > MAX_RECORDS_ENCODED_LEN {
            return Err(ValidationError::EncodedBatchTooLarge {
                encoded_bytes: records_len + CONDITIONS_MAX,
            });
        }
        Ok(Self::checked(records, metered_bytes, records_len))
    }

    /// Checks the batch-wide limits again, in constant time: at least one
    /// and at most 1000 records, at most 1 MiB metered, small enough to
    /// encode into one frame. An input from [`new`](Self::new) always
    /// passes; one decoded ([`WireMessage::decode`]) or made by `Default`
    /// may not, and sessions refuse it before anything is sent.
    pub fn check_limits(&self) -> Result<(), ValidationError> {
        if self.records.is_empty() {
            return Err(ValidationError::EmptyBatch);
        }
        if self.records.len() > MAX_BATCH_RECORDS {
            return Err(ValidationError::TooManyRecords {
                count: self.records.len(),
            });
        }
        if self.metered_bytes() > MAX_BATCH_METERED_BYTES {
            return Err(ValidationError::BatchTooLarge {
                metered_bytes: self.metered_bytes(),
            });
        }
        let records_len = self.records_encoded_len as usize;
        if records_len > MAX_RECORDS_ENCODED_LEN {
            return Err(ValidationError::EncodedBatchTooLarge {
                encoded_bytes: records_len + CONDITIONS_MAX,
            });
        }
        Ok(())
    }

    /// A batch of records already checked one by one and as a whole, with
    /// their metered and encoded sizes: the [`Batcher`](crate::batcher::Batcher)
    /// checks every record as it arrives, so closing a batch does not check
    /// it again.
    pub(crate) fn checked(
        records: Vec<AppendRecord>,
        metered_bytes: u64,
        records_encoded_len: usize,
    ) -> Self {
        debug_assert!(!records.is_empty() && records.len() <= MAX_BATCH_RECORDS);
        debug_assert!(metered_bytes <= MAX_BATCH_METERED_BYTES);
        debug_assert!(records_encoded_len <= MAX_RECORDS_ENCODED_LEN);
        debug_assert_eq!(metered_bytes, records.metered_bytes());
        debug_assert_eq!(
            records_encoded_len,
            records.iter().map(encoded_record_len).sum::<usize>()
        );
        Self {
            records,
            match_seq_num: None,
            fencing_token: None,
            metered_bytes: u32::try_from(metered_bytes).expect("a batch is at most 1 MiB metered"),
            records_encoded_len: u32::try_from(records_encoded_len)
                .expect("a batch's records encode to at most 2 MiB"),
        }
    }

    /// Only append if the first record would get this sequence number.
    pub fn with_match_seq_num(mut self, seq_num: u64) -> Self {
        self.match_seq_num = Some(seq_num);
        self
    }

    /// Only append if the stream's fencing token is this one.
    pub fn with_fencing_token(mut self, token: FencingToken) -> Self {
        self.fencing_token = Some(token);
        self
    }

    /// Sets or clears the `match_seq_num` condition.
    pub fn set_match_seq_num(&mut self, seq_num: Option<u64>) {
        self.match_seq_num = seq_num;
    }

    /// The records, in order.
    pub fn records(&self) -> &[AppendRecord] {
        &self.records
    }

    /// Takes the records back.
    pub fn into_records(self) -> Vec<AppendRecord> {
        self.records
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Always `false`: a batch has at least one record. Present for symmetry
    /// with [`len`](Self::len).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The `match_seq_num` condition.
    pub fn match_seq_num(&self) -> Option<u64> {
        self.match_seq_num
    }

    /// The fencing token condition.
    pub fn fencing_token(&self) -> Option<&FencingToken> {
        self.fencing_token.as_ref()
    }

    /// Metered size of all records.
    pub fn metered_bytes(&self) -> u64 {
        self.metered_bytes.into()
    }
}

impl MeteredBytes for AppendInput {
    fn metered_bytes(&self) -> u64 {
        self.metered_bytes.into()
    }
}

impl Sealed for AppendInput {}

// Encoded directly from the records (no conversion into the generated
// `proto::AppendInput`), so encoding an input copies each body exactly
// once: into the output buffer. Field numbers follow `proto::AppendInput`.
impl WireMessage for AppendInput {
    fn encoded_len(&self) -> usize {
        self.records_encoded_len as usize
            + self
                .match_seq_num
                .as_ref()
                .map_or(0, |s| prost::encoding::uint64::encoded_len(2, s))
            + self.fencing_token.as_ref().map_or(0, |t| {
                prost::encoding::key_len(3)
                    + prost::encoding::encoded_len_varint(t.len() as u64)
                    + t.len()
            })
    }

    fn encode(&self, out: &mut BytesMut) {
        wire::encode_records(&self.records, out);
        if let Some(seq_num) = &self.match_seq_num {
            prost::encoding::uint64::encode(2, seq_num, out);
        }
        if let Some(token) = &self.fencing_token {
            prost::encoding::encode_key(3, WireType::LengthDelimited, out);
            prost::encoding::encode_varint(token.len() as u64, out);
            out.put_slice(token.as_bytes());
        }
    }

    /// Decodes an input as a server receives it. Neither the batch limits
    /// nor the records are checked ([`check_limits`](AppendInput::check_limits)
    /// checks the former), and the fencing token is taken as sent.
    fn decode(bytes: Bytes) -> Result<Self, ProtocolError> {
        let generated = <proto::AppendInput as prost::Message>::decode(bytes)
            .map_err(ProtocolError::protobuf)?;
        let records: Vec<AppendRecord> = generated.records.into_iter().map(From::from).collect();
        // Saturating: decoded inputs are not held to the limits.
        let (mut metered_bytes, mut records_encoded_len) = (0u32, 0u32);
        for record in &records {
            let metered = u32::try_from(record.metered_bytes()).unwrap_or(u32::MAX);
            let encoded = u32::try_from(encoded_record_len(record)).unwrap_or(u32::MAX);
            metered_bytes = metered_bytes.saturating_add(metered);
            records_encoded_len = records_encoded_len.saturating_add(encoded);
        }
        Ok(Self {
            records,
            match_seq_num: generated.match_seq_num,
            fencing_token: generated.fencing_token.map(FencingToken::new_unchecked),
            metered_bytes,
            records_encoded_len,
        })
    }
}

/// The service's acknowledgement of one durable batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendAck {
    /// Position of the first record of the batch.
    pub start: StreamPosition,
    /// One past the last record's sequence number, with the last record's
    /// timestamp. `end.seq_num - start.seq_num` is the number of records.
    pub end: StreamPosition,
    /// The stream's tail at acknowledgement; ahead of `end` when others
    /// appended concurrently.
    pub tail: StreamPosition,
}

impl AppendAck {
    /// Number of records the ack covers.
    pub fn record_count(&self) -> u64 {
        self.end.seq_num - self.start.seq_num
    }

    /// Why this ack cannot acknowledge a batch of `records` records
    /// conditioned on `match_seq_num`, if it cannot: it covers another
    /// number of records, or starts elsewhere than the condition put the
    /// batch.
    pub(crate) fn misfit(
        &self,
        records: usize,
        match_seq_num: Option<u64>,
    ) -> Option<&'static str> {
        if self.record_count() != records as u64 {
            Some("its record count")
        } else if match_seq_num.is_some_and(|m| m != self.start.seq_num) {
            Some("its match_seq_num")
        } else {
            None
        }
    }
}

impl TryFrom<proto::AppendAck> for AppendAck {
    type Error = ProtocolError;

    fn try_from(ack: proto::AppendAck) -> Result<Self, Self::Error> {
        let start = ack.start.ok_or(ProtocolError::MissingField("ack start"))?;
        let end = ack.end.ok_or(ProtocolError::MissingField("ack end"))?;
        let tail = ack.tail.ok_or(ProtocolError::MissingField("ack tail"))?;
        if end.seq_num < start.seq_num || tail.seq_num < end.seq_num {
            return Err(ProtocolError::Inconsistent(
                "ack positions are not ordered start <= end <= tail".into(),
            ));
        }
        Ok(Self {
            start: start.into(),
            end: end.into(),
            tail: tail.into(),
        })
    }
}

impl From<AppendAck> for proto::AppendAck {
    fn from(ack: AppendAck) -> Self {
        Self {
            start: Some(ack.start.into()),
            end: Some(ack.end.into()),
            tail: Some(ack.tail.into()),
        }
    }
}

impl Sealed for AppendAck {}

// Acks travel as the generated `proto::AppendAck`; only servers (and
// tests) encode them.
impl WireMessage for AppendAck {
    fn encoded_len(&self) -> usize {
        prost::Message::encoded_len(&proto::AppendAck::from(*self))
    }

    fn encode(&self, out: &mut BytesMut) {
        prost::Message::encode_raw(&proto::AppendAck::from(*self), out);
    }

    /// Decodes an ack, refusing one that lacks a position or whose
    /// positions are not ordered `start <= end <= tail`.
    fn decode(bytes: Bytes) -> Result<Self, ProtocolError> {
        Self::try_from(
            <proto::AppendAck as prost::Message>::decode(bytes).map_err(ProtocolError::protobuf)?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn limits() {
        assert_eq!(AppendInput::new(vec![]), Err(ValidationError::EmptyBatch));
        let many = vec![AppendRecord::new("x"); 1001];
        assert_eq!(
            AppendInput::new(many),
            Err(ValidationError::TooManyRecords { count: 1001 })
        );
        assert!(AppendInput::new(vec![AppendRecord::new("x"); 1000]).is_ok());
        let exact = vec![AppendRecord::new(vec![0u8; 1024 * 1024 - 8])];
        assert!(AppendInput::new(exact).is_ok());
        let over = vec![AppendRecord::new(vec![0u8; 1024 * 1024 - 7])];
        assert_eq!(
            AppendInput::new(over),
            Err(ValidationError::BatchTooLarge {
                metered_bytes: 1024 * 1024 + 1
            })
        );
    }

    #[test]
    fn decoded_and_default_inputs_are_held_to_the_limits() {
        assert_eq!(
            AppendInput::default().check_limits(),
            Err(ValidationError::EmptyBatch)
        );
        let valid = AppendInput::new(vec![AppendRecord::new("x"); 3]).unwrap();
        assert_eq!(valid.check_limits(), Ok(()));
        let decoded = |records: Vec<AppendRecord>| {
            let generated = proto::AppendInput {
                records: records.into_iter().map(From::from).collect(),
                match_seq_num: None,
                fencing_token: None,
            };
            AppendInput::decode(generated.encode_to_vec().into()).unwrap()
        };
        assert_eq!(decoded(vec![AppendRecord::new("x"); 3]), valid);
        assert_eq!(
            decoded(vec![AppendRecord::new("x"); 1001]).check_limits(),
            Err(ValidationError::TooManyRecords { count: 1001 })
        );
        assert_eq!(
            decoded(vec![AppendRecord::new(vec![0u8; 1024 * 1024])]).check_limits(),
            Err(ValidationError::BatchTooLarge {
                metered_bytes: 1024 * 1024 + 8
            })
        );
    }

    #[test]
    fn encoding_matches_generated_message() {
        let input = AppendInput::new(vec![
            AppendRecord::new("a")
                .with_header("k", "v")
                .with_timestamp(7),
            AppendRecord::new(vec![1u8; 300]),
        ])
        .unwrap()
        .with_match_seq_num(42)
        .with_fencing_token(FencingToken::new("fence-1").unwrap());
        let generated = proto::AppendInput {
            records: input.records().iter().cloned().map(From::from).collect(),
            match_seq_num: Some(42),
            fencing_token: Some("fence-1".into()),
        };
        let ours = input.encode_to_bytes();
        assert_eq!(ours, generated.encode_to_vec());
        assert_eq!(ours.len(), input.encoded_len());
        let back = AppendInput::decode(ours).unwrap();
        assert_eq!(back, input);
    }

    #[test]
    fn acks_round_trip() {
        let at = |seq_num| StreamPosition::new(seq_num, 1_000 + seq_num);
        let ack = AppendAck {
            start: at(1),
            end: at(3),
            tail: at(5),
        };
        let bytes = ack.encode_to_bytes();
        assert_eq!(bytes.len(), ack.encoded_len());
        assert_eq!(bytes, proto::AppendAck::from(ack).encode_to_vec());
        assert_eq!(AppendAck::decode(bytes), Ok(ack));
        let unordered = proto::AppendAck {
            end: Some(at(0).into()),
            ..proto::AppendAck::from(ack)
        };
        assert!(matches!(
            AppendAck::decode(unordered.encode_to_vec().into()),
            Err(ProtocolError::Inconsistent(_))
        ));
        assert!(matches!(
            AppendAck::decode(Bytes::from_static(b"\x0a")),
            Err(ProtocolError::Protobuf(_))
        ));
    }

    #[test]
    fn ack_validation() {
        let pos = |seq_num| Some(proto::StreamPosition::from(StreamPosition::new(seq_num, 0)));
        let ok = proto::AppendAck {
            start: pos(1),
            end: pos(3),
            tail: pos(5),
        };
        assert_eq!(AppendAck::try_from(ok).unwrap().record_count(), 2);
        let missing = proto::AppendAck {
            start: pos(1),
            end: None,
            tail: pos(5),
        };
        assert!(AppendAck::try_from(missing).is_err());
        let backwards = proto::AppendAck {
            start: pos(3),
            end: pos(1),
            tail: pos(5),
        };
        assert!(AppendAck::try_from(backwards).is_err());
    }
}
