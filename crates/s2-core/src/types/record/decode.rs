//! Read batches decoded straight into the SDK's types.
//!
//! Field for field what the generated `merge_field`s of `proto::ReadBatch`,
//! `proto::SequencedRecord`, `proto::Header` and `proto::StreamPosition` do,
//! with prost's own helpers: well-formed batches decode to the same values
//! (`api::read_batch`'s tests hold the two against each other). Decoding
//! into the generated structs and converting them afterwards cost a tenth
//! more than decoding alone, for nothing.
//!
//! Where the two differ is only on malformed input, never in what a
//! well-formed batch means: the bounds scan before decoding refuses a
//! group among the batch's and its records' fields (prost would skip an
//! unknown one), and groups nested inside a record's tail fields are
//! skipped here to any depth prost's `skip_field` allows, where prost's
//! recursion limit would refuse past 100. Neither panics or allocates
//! more: skipping moves forward through the input.

use bytes::{Buf, Bytes};
use prost::{
    DecodeError,
    encoding::{
        DecodeContext, WireType, bytes as bytes_field, check_wire_type, decode_key, merge_loop,
        skip_field, uint64,
    },
};

use super::{Header, SequencedRecord, StreamPosition};
use crate::types::ReadBatch;

/// Decodes a `ReadBatch` whose `records` field occurs `records` times (room
/// is made for them up front). Bodies and header bytes are slices of
/// `bytes`.
pub(crate) fn read_batch(mut bytes: Bytes, records: usize) -> Result<ReadBatch, DecodeError> {
    let ctx = DecodeContext::default();
    let mut batch = ReadBatch {
        records: Vec::with_capacity(records),
        tail: None,
    };
    while bytes.has_remaining() {
        let (tag, wire_type) = decode_key(&mut bytes)?;
        match tag {
            1 => {
                let record = SequencedRecord::decode_nested(wire_type, &mut bytes, ctx.clone())?;
                batch.records.push(record);
            }
            2 => {
                let tail = batch.tail.get_or_insert_with(StreamPosition::default);
                tail.merge_nested(wire_type, &mut bytes, ctx.clone())?;
            }
            _ => skip_field(wire_type, tag, &mut bytes, ctx.clone())?,
        }
    }
    Ok(batch)
}

impl SequencedRecord {
    /// One record, the value of a length-delimited field.
    #[inline]
    fn decode_nested(
        wire_type: WireType,
        buf: &mut Bytes,
        ctx: DecodeContext,
    ) -> Result<Self, DecodeError> {
        check_wire_type(WireType::LengthDelimited, wire_type)?;
        let mut record = Self {
            seq_num: 0,
            timestamp: 0,
            headers: Vec::new(),
            body: Bytes::new(),
        };
        merge_loop(&mut record, buf, ctx, |record, buf, ctx| {
            let (tag, wire_type) = decode_key(buf)?;
            match tag {
                1 => uint64::merge(wire_type, &mut record.seq_num, buf, ctx),
                2 => uint64::merge(wire_type, &mut record.timestamp, buf, ctx),
                3 => {
                    let header = Header::decode_nested(wire_type, buf, ctx)?;
                    record.headers.push(header);
                    Ok(())
                }
                4 => bytes_field::merge(wire_type, &mut record.body, buf, ctx),
                _ => skip_field(wire_type, tag, buf, ctx),
            }
        })?;
        Ok(record)
    }
}

impl Header {
    /// One header, the value of a length-delimited field.
    #[inline]
    fn decode_nested(
        wire_type: WireType,
        buf: &mut Bytes,
        ctx: DecodeContext,
    ) -> Result<Self, DecodeError> {
        check_wire_type(WireType::LengthDelimited, wire_type)?;
        let mut header = Self {
            name: Bytes::new(),
            value: Bytes::new(),
        };
        merge_loop(&mut header, buf, ctx, |header, buf, ctx| {
            let (tag, wire_type) = decode_key(buf)?;
            match tag {
                1 => bytes_field::merge(wire_type, &mut header.name, buf, ctx),
                2 => bytes_field::merge(wire_type, &mut header.value, buf, ctx),
                _ => skip_field(wire_type, tag, buf, ctx),
            }
        })
        .map(|()| header)
    }
}

impl StreamPosition {
    /// Merges a position, the value of a length-delimited field, into this
    /// one: a field repeated on the wire overrides what came before.
    fn merge_nested(
        &mut self,
        wire_type: WireType,
        buf: &mut Bytes,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        check_wire_type(WireType::LengthDelimited, wire_type)?;
        merge_loop(self, buf, ctx, |position, buf, ctx| {
            let (tag, wire_type) = decode_key(buf)?;
            match tag {
                1 => uint64::merge(wire_type, &mut position.seq_num, buf, ctx),
                2 => uint64::merge(wire_type, &mut position.timestamp, buf, ctx),
                _ => skip_field(wire_type, tag, buf, ctx),
            }
        })
    }
}
