//! Bounded decoding of `ReadBatch` messages, for unary reads and read
//! session frames alike.
//!
//! Decoding allocates a record for every occurrence of field 1, however
//! small: the two bytes `0a 00` become one empty record of ~70 bytes, so a
//! 2 MiB frame or a 16 MiB body would grow into hundreds of megabytes. The
//! service never sends more than [`MAX_READ_RECORDS`] records or
//! [`MAX_READ_BYTES`] metered bytes in one batch (s2-common's
//! `RECORD_BATCH_MAX`), so a cheap scan of the wire bytes checks both bounds
//! before anything is allocated; the decoder then makes room for the records
//! the scan counted, once.

use bytes::Bytes;

use crate::{
    error::ProtocolError,
    types::{MAX_READ_BYTES, MAX_READ_RECORDS, ReadBatch},
};

/// Decodes a `ReadBatch`, refusing one that holds more records or metered
/// bytes than the service sends in a batch. Record bodies and headers become
/// slices of `bytes` (no copy).
pub fn decode_read_batch(bytes: Bytes) -> Result<ReadBatch, ProtocolError> {
    let records = check_read_batch_bounds(&bytes)?;
    crate::types::record::decode::read_batch(bytes, records).map_err(ProtocolError::protobuf)
}

/// Walks the top-level fields of a `ReadBatch` and of its records, adding up
/// records and metered bytes; returns the number of records. Malformed
/// bytes it cannot walk are refused here, and so are groups among these
/// fields (prost would skip an unknown group; the service never sends one).
fn check_read_batch_bounds(bytes: &[u8]) -> Result<usize, ProtocolError> {
    let mut batch = Fields::new(bytes);
    let mut records: u64 = 0;
    let mut metered: u64 = 0;
    while let Some((field, value)) = batch.next_field()? {
        // `ReadBatch.records = 1`.
        let (1, Value::Len(record)) = (field, value) else {
            continue;
        };
        records += 1;
        if records > MAX_READ_RECORDS {
            return Err(ProtocolError::ReadBatchTooLarge {
                what: "records",
                limit: MAX_READ_RECORDS,
            });
        }
        metered += record_metered_bytes(record)?;
        if metered > MAX_READ_BYTES {
            return Err(ProtocolError::ReadBatchTooLarge {
                what: "metered bytes",
                limit: MAX_READ_BYTES,
            });
        }
    }
    Ok(records as usize)
}

/// Metered size of an encoded `SequencedRecord`: `8 + 2 * headers + header
/// names and values + body`. A field repeated on the wire is counted each
/// time, which can only overestimate.
fn record_metered_bytes(record: &[u8]) -> Result<u64, ProtocolError> {
    let mut fields = Fields::new(record);
    let mut metered: u64 = 8;
    while let Some((field, value)) = fields.next_field()? {
        match (field, value) {
            // `SequencedRecord.headers = 3`.
            (3, Value::Len(header)) => {
                metered += 2;
                let mut header = Fields::new(header);
                while let Some((field, value)) = header.next_field()? {
                    // `Header.name = 1`, `Header.value = 2`.
                    if let (1 | 2, Value::Len(part)) = (field, value) {
                        metered += part.len() as u64;
                    }
                }
            }
            // `SequencedRecord.body = 4`.
            (4, Value::Len(body)) => metered += body.len() as u64,
            _ => {}
        }
    }
    Ok(metered)
}

/// The value of one field on the wire; only length-delimited contents matter
/// to the scan.
enum Value<'a> {
    Len(&'a [u8]),
    Other,
}

/// Iterates over the fields of one encoded protobuf message.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    fn next_field(&mut self) -> Result<Option<(u64, Value<'a>)>, ProtocolError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 {
            return Err(malformed("field number 0"));
        }
        let value = match key & 7 {
            0 => {
                self.varint()?;
                Value::Other
            }
            1 => {
                self.take(8)?;
                Value::Other
            }
            2 => {
                let len = usize::try_from(self.varint()?)
                    .map_err(|_| malformed("length does not fit in memory"))?;
                Value::Len(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Value::Other
            }
            // Groups (3, 4) are not part of this schema; 6 and 7 do not exist.
            _ => return Err(malformed("unexpected wire type")),
        };
        Ok(Some((field, value)))
    }

    fn varint(&mut self) -> Result<u64, ProtocolError> {
        let mut value: u64 = 0;
        for (i, &byte) in self.rest.iter().enumerate().take(10) {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.rest = &self.rest[i + 1..];
                return Ok(value);
            }
        }
        Err(malformed("truncated or overlong varint"))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], ProtocolError> {
        if len > self.rest.len() {
            return Err(malformed("field runs past the end of its message"));
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }
}

fn malformed(reason: &'static str) -> ProtocolError {
    ProtocolError::MalformedReadBatch(reason)
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::{
        proto::{self, Header, SequencedRecord, StreamPosition},
        types::MeteredBytes,
    };

    fn record(seq_num: u64, headers: usize, body: usize) -> SequencedRecord {
        SequencedRecord {
            seq_num,
            timestamp: 1_700_000_000_000,
            headers: (0..headers)
                .map(|i| Header {
                    name: Bytes::from(format!("h{i}")),
                    value: Bytes::from_static(b"value"),
                })
                .collect(),
            body: Bytes::from(vec![7u8; body]),
        }
    }

    fn batch(records: Vec<SequencedRecord>) -> proto::ReadBatch {
        proto::ReadBatch {
            records,
            tail: Some(StreamPosition {
                seq_num: 1 << 40,
                timestamp: u64::MAX,
            }),
        }
    }

    fn too_large(result: Result<ReadBatch, ProtocolError>) -> bool {
        matches!(result, Err(ProtocolError::ReadBatchTooLarge { .. }))
    }

    #[test]
    fn full_batches_decode_unchanged() {
        // 1000 records, and 1 MiB metered in one record or spread out.
        let many = batch((0..1000).map(|i| record(i, 2, 100)).collect());
        let big = batch(vec![record(0, 0, (MAX_READ_BYTES - 8) as usize)]);
        let headers = batch(vec![record(0, 3, 1_000), record(1, 0, 0)]);
        for original in [many, big, headers, batch(Vec::new())] {
            let bytes = Bytes::from(original.encode_to_vec());
            let original = ReadBatch::from(original);
            assert!(original.records.metered_bytes() <= MAX_READ_BYTES);
            assert_eq!(decode_read_batch(bytes).expect("within bounds"), original);
        }
    }

    #[test]
    fn metered_scan_matches_metering() {
        let r = record(3, 4, 77);
        let scanned = record_metered_bytes(&r.encode_to_vec()).unwrap();
        assert_eq!(
            scanned,
            crate::types::SequencedRecord::from(r).metered_bytes()
        );
    }

    #[test]
    fn too_many_records_are_refused() {
        let over = batch((0..1001).map(|i| record(i, 0, 0)).collect());
        assert!(too_large(decode_read_batch(over.encode_to_vec().into())));
        // Empty records cost two bytes each on the wire.
        let empties = Bytes::from(b"\x0a\x00".repeat(8 * 1024 * 1024));
        assert!(too_large(decode_read_batch(empties)));
    }

    #[test]
    fn refusal_comes_at_the_first_record_over_the_bound() {
        // 1001 empty records, then bytes prost would choke on: the scan
        // stops at record 1001, before reading further or allocating any
        // record, so the error is about size, not about the garbage.
        let mut bytes = b"\x0a\x00".repeat(1001);
        bytes.extend_from_slice(b"\x0a\xff\xff\xff\x7f");
        assert!(<proto::ReadBatch as Message>::decode(&bytes[..]).is_err());
        assert!(matches!(
            decode_read_batch(bytes.into()),
            Err(ProtocolError::ReadBatchTooLarge {
                what: "records",
                limit: 1000
            })
        ));
        // The same garbage after 1000 records is reported as malformed.
        let mut bytes = b"\x0a\x00".repeat(1000);
        bytes.extend_from_slice(b"\x0a\xff\xff\xff\x7f");
        assert!(matches!(
            decode_read_batch(bytes.into()),
            Err(ProtocolError::MalformedReadBatch(_))
        ));
    }

    #[test]
    fn too_many_metered_bytes_are_refused() {
        let over = batch(vec![
            record(0, 0, (MAX_READ_BYTES - 8) as usize),
            record(1, 0, 1),
        ]);
        assert!(too_large(decode_read_batch(over.encode_to_vec().into())));
        // Empty headers cost two bytes on the wire and two metered: a
        // single record full of them is still bounded.
        let mut headers = b"\x08\x01".to_vec();
        headers.extend(b"\x1a\x00".repeat(600_000));
        let mut wire = vec![0x0a];
        let mut len = headers.len();
        while len >= 0x80 {
            wire.push((len as u8) | 0x80);
            len >>= 7;
        }
        wire.push(len as u8);
        wire.extend(headers);
        assert!(too_large(decode_read_batch(wire.into())));
    }

    proptest::proptest! {
        /// Arbitrary bytes never panic, and whatever the scan lets through
        /// decodes exactly as prost alone decodes it.
        #[test]
        fn agrees_with_prost(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let ours = decode_read_batch(Bytes::from(bytes.clone()));
            let prost = <proto::ReadBatch as Message>::decode(&bytes[..]);
            if let Ok(batch) = ours {
                proptest::prop_assert_eq!(Some(batch), prost.ok().map(ReadBatch::from));
            }
        }

        /// Every batch within the service's bounds decodes unchanged.
        #[test]
        fn accepts_every_batch_within_bounds(
            shape in proptest::collection::vec((0usize..4, 0usize..64), 0..40),
        ) {
            let original = batch(
                shape
                    .iter()
                    .enumerate()
                    .map(|(i, &(headers, body))| record(i as u64, headers, body))
                    .collect(),
            );
            let bytes = Bytes::from(original.encode_to_vec());
            proptest::prop_assert_eq!(decode_read_batch(bytes).ok(), Some(ReadBatch::from(original)));
        }

        /// Valid batches with bytes changed, inserted or cut out: whatever
        /// prost refuses is refused; whatever prost decodes decodes the
        /// same, or is refused by the scan's bounds and rules, never by the
        /// decoder itself.
        #[test]
        fn damaged_batches_decode_as_prost_decodes(
            shape in proptest::collection::vec((0usize..3, 0usize..20), 1..6),
            edits in proptest::collection::vec((proptest::num::usize::ANY, 0u8..3, proptest::num::u8::ANY), 1..4),
        ) {
            let original = batch(
                shape
                    .iter()
                    .enumerate()
                    .map(|(i, &(headers, body))| record(i as u64, headers, body))
                    .collect(),
            );
            let mut bytes = original.encode_to_vec();
            for (at, edit, byte) in edits {
                let at = at % (bytes.len() + 1);
                match edit {
                    0 if at < bytes.len() => bytes[at] = byte,
                    1 => bytes.insert(at, byte),
                    _ if at < bytes.len() => { bytes.remove(at); }
                    _ => bytes.push(byte),
                }
            }
            let ours = decode_read_batch(Bytes::from(bytes.clone()));
            let prost = <proto::ReadBatch as Message>::decode(&bytes[..]).map(ReadBatch::from);
            match (ours, prost) {
                (Ok(ours), Ok(prost)) => proptest::prop_assert_eq!(ours, prost),
                (Ok(ours), Err(e)) => proptest::prop_assert!(false, "prost refused ({e}) what decoded as {ours:?}"),
                (Err(ProtocolError::Protobuf(e)), Ok(_)) => proptest::prop_assert!(false, "the decoder refused what prost decodes: {e}"),
                (Err(_), _) => {}
            }
        }
    }

    /// A field repeated on the wire: the last scalar or bytes value wins,
    /// positions merge field by field, records and headers add up, and
    /// unknown fields are skipped, as in prost.
    #[test]
    fn repeated_and_unknown_fields_decode_as_prost_decodes() {
        let cases: [&[u8]; 5] = [
            // A record whose seq_num and body come twice.
            b"\x0a\x0d\x08\x01\x08\x02\x22\x01a\x22\x02bc\x10\x07",
            // A tail in two parts, then again with one field.
            b"\x12\x02\x08\x05\x12\x02\x10\x09\x12\x02\x08\x06",
            // A header whose name comes twice, and unknown fields in every
            // message: varint, 64-bit, 32-bit and length-delimited.
            b"\x28\x01\x0a\x1d\x1a\x0b\x0a\x01x\x0a\x01y\x12\x01z\x28\x01\x29\x00\x00\x00\x00\x00\x00\x00\x00\x2d\x00\x00\x00\x00\x3a\x00",
            // Two records, the second empty.
            b"\x0a\x02\x08\x03\x0a\x00",
            // Nothing at all.
            b"",
        ];
        for bytes in cases {
            let prost = <proto::ReadBatch as Message>::decode(bytes).map(ReadBatch::from);
            let ours = decode_read_batch(Bytes::from_static(bytes));
            assert!(prost.is_ok(), "{bytes:02x?}: {prost:?}");
            assert_eq!(ours.ok(), prost.ok(), "{bytes:02x?}");
        }
        let batch = decode_read_batch(Bytes::from_static(cases[0])).unwrap();
        let record = &batch.records[0];
        assert_eq!((record.seq_num(), record.timestamp()), (2, 7));
        assert_eq!(&record.body()[..], b"bc");
        let tail = decode_read_batch(Bytes::from_static(cases[1]))
            .unwrap()
            .tail;
        assert_eq!(tail, Some(crate::types::StreamPosition::new(6, 9)));
    }

    #[test]
    fn malformed_bytes_are_refused_without_panic() {
        for bytes in [
            &b"\x0a"[..],
            b"\x0a\x05ab",
            b"\x0a\x80",
            b"\x00\x00",
            b"\x0b",
            b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
            b"\x0a\x02\x1a\x05",
        ] {
            assert!(decode_read_batch(Bytes::copy_from_slice(bytes)).is_err());
        }
    }
}
