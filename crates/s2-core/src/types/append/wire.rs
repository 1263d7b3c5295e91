//! The protobuf encoding of the records of an append batch, written by hand.
//!
//! prost's generated code measures every nested message again when it
//! writes its length prefix, and writes varints a byte at a time; a batch of
//! a thousand records paid for that more than for copying its bodies. This
//! encoder writes the same bytes as `proto::AppendRecord` (fields in tag
//! order, empty `bytes` fields left out, a present timestamp always written)
//! with one measuring pass per record.

use bytes::BufMut;
use prost::encoding::encoded_len_varint;

use crate::types::record::{AppendRecord, Header};

/// Key of a length-delimited field `tag` (tags here are all below 16).
const fn len_key(tag: u8) -> u8 {
    (tag << 3) | 2
}

/// Key of a varint field `tag`.
const fn varint_key(tag: u8) -> u8 {
    tag << 3
}

/// Bytes `record` takes as field 1 of an `AppendInput`: key, length prefix
/// and fields.
#[inline]
pub(crate) fn encoded_record_len(record: &AppendRecord) -> usize {
    nested_len(record_fields_len(record))
}

/// What the batcher needs to know of a record, measured in one pass over
/// its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordSizes {
    /// Its metered size.
    pub(crate) metered: u64,
    /// Bytes it takes in an encoded `AppendInput` ([`encoded_record_len`]).
    pub(crate) encoded: usize,
    /// It has a header with an empty name: a command record, or an invalid
    /// one, to be checked by `AppendRecord::validate`.
    pub(crate) command: bool,
}

/// The sizes of `record`, in one pass over its headers.
#[inline]
pub(crate) fn record_sizes(record: &AppendRecord) -> RecordSizes {
    // Metered in u64, as `MeteredBytes` does: the metered size is checked
    // first and bounds everything else, so it must not wrap where `usize`
    // is 32 bits.
    let mut header_bytes = 0u64;
    let mut headers_encoded = 0;
    let mut command = false;
    for header in record.headers() {
        header_bytes += header.name().len() as u64 + header.value().len() as u64;
        headers_encoded += nested_len(header_fields_len(header));
        command |= header.name().is_empty();
    }
    let timestamp = record
        .timestamp()
        .map_or(0, |timestamp| 1 + encoded_len_varint(timestamp));
    let fields = timestamp + headers_encoded + bytes_len(record.body().len());
    RecordSizes {
        metered: 8 + 2 * record.headers().len() as u64 + header_bytes + record.body().len() as u64,
        encoded: nested_len(fields),
        command,
    }
}

/// Appends `records`, each as field 1 of an `AppendInput`.
pub(crate) fn encode_records(records: &[AppendRecord], buf: &mut impl BufMut) {
    // One scratch for the batch: zeroing it per record showed in profiles.
    let mut scratch = Scratch::default();
    for record in records {
        // Everything before the body goes out in one `put_slice` when it
        // fits the scratch (a few small headers): per-call overhead, not
        // copying, is what a record of 1 KiB pays for.
        match scratch.record_prefix(record) {
            Some(prefix) => buf.put_slice(prefix),
            None => put_record_prefix(record, buf),
        }
        buf.put_slice(record.body());
    }
}

/// Appends everything of `record` before its body, field by field: for
/// records whose headers do not fit the scratch.
#[cold]
fn put_record_prefix(record: &AppendRecord, buf: &mut impl BufMut) {
    let mut out = Unbounded(buf);
    out.put_u8(len_key(1));
    out.put_varint(record_fields_len(record) as u64);
    put_fields_before_body(record, &mut out).expect("an unbounded buffer has room");
}

/// Writes `record`'s fields that come before its body (timestamp, headers,
/// then the body's key and length) to `out`, or stops with `None` at a
/// header that would leave no room for the body's key and length.
#[inline]
fn put_fields_before_body(record: &AppendRecord, out: &mut impl Out) -> Option<()> {
    if let Some(timestamp) = record.timestamp() {
        out.put_u8(varint_key(1));
        out.put_varint(timestamp);
    }
    for header in record.headers() {
        let fields_len = header_fields_len(header);
        if out.room() < nested_len(fields_len) + BODY_PREFIX_MAX {
            return None;
        }
        out.put_u8(len_key(2));
        out.put_varint(fields_len as u64);
        out.put_bytes(1, header.name());
        out.put_bytes(2, header.value());
    }
    if !record.body().is_empty() {
        out.put_u8(len_key(3));
        out.put_varint(record.body().len() as u64);
    }
    Some(())
}

/// A record's key and length, at most: one byte and a 10-byte varint.
const RECORD_PREFIX_MAX: usize = 11;

/// The body's key and its length as a varint, at most.
const BODY_PREFIX_MAX: usize = 11;

/// A small stack buffer for the bytes before a record's body.
struct Scratch([u8; 128]);

impl Default for Scratch {
    fn default() -> Self {
        Self([0; 128])
    }
}

impl Scratch {
    /// Everything of `record` before its body, in one pass over its
    /// headers, or `None` when its headers do not fit.
    ///
    /// The fields are written first, after room for the record's key and
    /// length; the length, known once they are written, is then put right
    /// in front of them.
    #[inline]
    fn record_prefix(&mut self, record: &AppendRecord) -> Option<&[u8]> {
        // A cursor local to this call keeps its position in a register:
        // kept beside the bytes, it went back to memory after every byte.
        let mut fields = Cursor {
            bytes: &mut self.0,
            pos: RECORD_PREFIX_MAX,
        };
        put_fields_before_body(record, &mut fields)?;
        let end = fields.pos;
        let fields_len = (end - RECORD_PREFIX_MAX + record.body().len()) as u64;
        let start = RECORD_PREFIX_MAX - 1 - encoded_len_varint(fields_len);
        let mut key = Cursor {
            bytes: &mut self.0,
            pos: start,
        };
        key.put_u8(len_key(1));
        key.put_varint(fields_len);
        debug_assert_eq!(key.pos, RECORD_PREFIX_MAX);
        Some(&self.0[start..end])
    }
}

/// Where the bytes before a record's body are written: a [`Cursor`] into
/// the scratch, or [`Unbounded`] into the output.
trait Out {
    /// Bytes that can still be written.
    fn room(&self) -> usize;

    fn put_u8(&mut self, byte: u8);

    fn put_slice(&mut self, bytes: &[u8]);

    #[inline]
    fn put_varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.put_u8((value as u8) | 0x80);
            value >>= 7;
        }
        self.put_u8(value as u8);
    }

    /// A `bytes` field; proto3 leaves an empty one out.
    #[inline]
    fn put_bytes(&mut self, tag: u8, value: &[u8]) {
        if !value.is_empty() {
            self.put_u8(len_key(tag));
            self.put_varint(value.len() as u64);
            self.put_slice(value);
        }
    }
}

/// Writes into a [`Scratch`]; callers check the room first.
struct Cursor<'a> {
    bytes: &'a mut [u8; 128],
    pos: usize,
}

impl Out for Cursor<'_> {
    /// The timestamp (11 bytes at most) always fits after the record's
    /// prefix; headers are written only when the body's prefix still fits
    /// after them.
    #[inline]
    fn room(&self) -> usize {
        self.bytes.len() - self.pos
    }

    #[inline]
    fn put_u8(&mut self, byte: u8) {
        self.bytes[self.pos] = byte;
        self.pos += 1;
    }

    #[inline]
    fn put_slice(&mut self, bytes: &[u8]) {
        self.bytes[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }
}

/// Writes straight into the output buffer.
struct Unbounded<'a, B>(&'a mut B);

impl<B: BufMut> Out for Unbounded<'_, B> {
    fn room(&self) -> usize {
        usize::MAX
    }

    fn put_u8(&mut self, byte: u8) {
        self.0.put_u8(byte);
    }

    fn put_slice(&mut self, bytes: &[u8]) {
        self.0.put_slice(bytes);
    }

    /// With one `put_slice`, not one call per byte.
    fn put_varint(&mut self, mut value: u64) {
        let mut scratch = [0u8; 10];
        let mut len = 0;
        while value >= 0x80 {
            scratch[len] = (value as u8) | 0x80;
            value >>= 7;
            len += 1;
        }
        scratch[len] = value as u8;
        self.0.put_slice(&scratch[..=len]);
    }
}

#[inline]
fn record_fields_len(record: &AppendRecord) -> usize {
    let timestamp = record
        .timestamp()
        .map_or(0, |timestamp| 1 + encoded_len_varint(timestamp));
    let headers: usize = record
        .headers()
        .iter()
        .map(|header| nested_len(header_fields_len(header)))
        .sum();
    timestamp + headers + bytes_len(record.body().len())
}

#[inline]
fn header_fields_len(header: &Header) -> usize {
    bytes_len(header.name().len()) + bytes_len(header.value().len())
}

/// A nested message of `fields_len` bytes with its one-byte key and length.
#[inline]
fn nested_len(fields_len: usize) -> usize {
    1 + encoded_len_varint(fields_len as u64) + fields_len
}

/// A `bytes` field of `len` bytes; proto3 leaves an empty one out.
#[inline]
fn bytes_len(len: usize) -> usize {
    if len == 0 { 0 } else { nested_len(len) }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use proptest::prelude::*;
    use prost::Message;

    use super::*;
    use crate::proto;

    /// `record` as the generated message, for prost to encode.
    fn as_generated(record: &AppendRecord) -> proto::AppendRecord {
        record.clone().into()
    }

    /// A record with every field given.
    fn record_of(timestamp: Option<u64>, headers: Vec<Header>, body: Bytes) -> AppendRecord {
        let record = AppendRecord::new(body).with_headers(headers);
        match timestamp {
            Some(timestamp) => record.with_timestamp(timestamp),
            None => record,
        }
    }

    fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
        prop::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
    }

    fn record() -> impl Strategy<Value = AppendRecord> {
        let header = (bytes(8), bytes(120)).prop_map(|(name, value)| Header::new(name, value));
        (
            prop::option::of(any::<u64>()),
            prop::collection::vec(header, 0..8),
            bytes(20_000),
        )
            .prop_map(|(timestamp, headers, body)| record_of(timestamp, headers, body))
    }

    proptest! {
        /// The hand encoder writes exactly what prost's generated code writes.
        #[test]
        fn matches_generated_encoding(record in record()) {
            let mut ours = Vec::new();
            encode_records(std::slice::from_ref(&record), &mut ours);
            let mut generated = Vec::new();
            prost::encoding::message::encode(1, &as_generated(&record), &mut generated);
            prop_assert_eq!(encoded_record_len(&record), generated.len());
            let sizes = record_sizes(&record);
            prop_assert_eq!(sizes.encoded, generated.len());
            prop_assert_eq!(sizes.metered, crate::types::MeteredBytes::metered_bytes(&record));
            prop_assert_eq!(sizes.command, record.headers().iter().any(|h| h.name().is_empty()));
            prop_assert_eq!(ours, generated);
            let fields_len = as_generated(&record).encoded_len();
            prop_assert_eq!(fields_len + 1 + encoded_len_varint(fields_len as u64), encoded_record_len(&record));
        }
    }

    proptest! {
        /// Records encoded back to back (one scratch for all) are each
        /// encoded as alone.
        #[test]
        fn batches_encode_record_by_record(records in prop::collection::vec(record(), 1..6)) {
            let mut ours = Vec::new();
            encode_records(&records, &mut ours);
            let mut generated = Vec::new();
            for record in &records {
                prost::encoding::message::encode(1, &as_generated(record), &mut generated);
            }
            prop_assert_eq!(ours, generated);
        }
    }

    /// Every header size around the scratch's room checks, after every
    /// width of timestamp and with or without a body, in one batch: each
    /// record is encoded as prost encodes it alone, and measured as such.
    #[test]
    fn scratch_boundaries_match_generated_encoding() {
        let mut records = Vec::new();
        for timestamp in [None, Some(0), Some(127), Some(u64::MAX)] {
            for body in [Bytes::new(), Bytes::from_static(b"b")] {
                for value_len in 0..=140 {
                    for count in [1, 2, 3, 7] {
                        let header =
                            Header::new(Bytes::from_static(b"n"), Bytes::from(vec![7; value_len]));
                        let mut headers = vec![header; count];
                        // An empty name and value: a 2-byte header.
                        headers.push(Header::new(Bytes::new(), Bytes::new()));
                        records.push(record_of(timestamp, headers, body.clone()));
                    }
                }
            }
        }
        let mut ours = Vec::new();
        encode_records(&records, &mut ours);
        let mut generated = Vec::new();
        for record in &records {
            let before = generated.len();
            prost::encoding::message::encode(1, &as_generated(record), &mut generated);
            assert_eq!(record_sizes(record).encoded, generated.len() - before);
        }
        assert!(ours == generated, "hand encoding differs from prost's");
    }

    /// A record's own length prefix at every varint width change (1 -> 2
    /// bytes at 128, 2 -> 3 at 16 384, 3 -> 4 at 2 097 152), with the
    /// prefix in the scratch or field by field, with every width of
    /// timestamp: each record as prost encodes it.
    #[test]
    fn record_length_varint_boundaries_match_generated_encoding() {
        let big = Bytes::from(vec![9u8; 2_097_152 + 4]);
        // Headers that fit the scratch, and one that does not.
        let small = vec![Header::new(
            Bytes::from_static(b"k"),
            Bytes::from_static(b"v"),
        )];
        let large = vec![Header::new(
            Bytes::from_static(b"k"),
            Bytes::from(vec![1u8; 200]),
        )];
        let mut encoded = Vec::new();
        let mut generated = Vec::new();
        let mut checked = 0;
        for boundary in [128usize, 16_384, 2_097_152] {
            for timestamp in [None, Some(0), Some(200), Some(u64::MAX)] {
                for headers in [Vec::new(), small.clone(), large.clone()] {
                    // Field bytes besides the body (its prefix included)
                    // stay under 240: every body length that puts the
                    // record's length within a few bytes of the boundary.
                    for body_len in boundary.saturating_sub(240)..boundary + 3 {
                        let record = record_of(timestamp, headers.clone(), big.slice(..body_len));
                        let fields_len = record_fields_len(&record);
                        if fields_len + 3 < boundary || fields_len > boundary + 2 {
                            continue;
                        }
                        checked += 1;
                        encoded.clear();
                        generated.clear();
                        encode_records(std::slice::from_ref(&record), &mut encoded);
                        prost::encoding::message::encode(1, &as_generated(&record), &mut generated);
                        assert!(
                            encoded == generated,
                            "{timestamp:?}, {} headers, body {body_len}",
                            headers.len()
                        );
                        assert_eq!(encoded_record_len(&record), generated.len());
                    }
                }
            }
        }
        // Six record lengths around each boundary, for every shape (fewer
        // at 128, which the large header alone passes).
        assert!(checked >= 3 * 4 * 2 * 6, "{checked} records checked");
    }

    #[test]
    fn varints_of_every_width() {
        for value in [0, 1, 127, 128, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
            let mut ours = Vec::new();
            Unbounded(&mut ours).put_varint(value);
            let mut generated = Vec::new();
            prost::encoding::encode_varint(value, &mut generated);
            assert_eq!(ours, generated, "{value}");
        }
    }
}
