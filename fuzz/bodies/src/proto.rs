//! Protobuf bytes from the server turned into domain values: read batches,
//! acks and command records.

use bytes::{Bytes, BytesMut};
use s2_core::{
    frame::WireMessage,
    types::{
        AppendAck, AppendInput, Command, MeteredBytes, ReadBatch, SequencedRecord,
        check_read_batch_order,
    },
};

/// The first byte picks the message; the rest is its encoding. Properties:
/// no panic; a decoded message re-encodes to a value that decodes equal;
/// the domain conversions uphold what they promise (ordered batches, ordered
/// acks whose record count is `end - start`, commands of the right shape).
pub fn proto_messages(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let bytes = Bytes::copy_from_slice(rest);
    match selector % 4 {
        0 => read_batch(bytes),
        1 => append_ack(bytes),
        2 => append_input(bytes),
        // The bytes as the one record of a batch, so that every input
        // reaches the record decoder.
        _ => read_batch(one_record_batch(rest)),
    }
}

/// A `ReadBatch` encoding whose only field is `record` as its first record.
fn one_record_batch(record: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(record.len() + 11);
    crate::wire::put_len_field(&mut out, 1, record);
    out.freeze()
}

fn read_batch(bytes: Bytes) {
    let Ok(batch) = ReadBatch::decode(bytes) else {
        return;
    };
    round_trips(&batch);
    if check_read_batch_order(&batch.records, None).is_ok() {
        for pair in batch.records.windows(2) {
            assert!(
                pair[0].seq_num() < pair[1].seq_num(),
                "an accepted batch is not strictly increasing"
            );
        }
    }
    if let Some(first) = batch.records.first() {
        let from_first = check_read_batch_order(&batch.records, Some(first.seq_num()));
        let unanchored = check_read_batch_order(&batch.records, None);
        assert_eq!(
            from_first.is_ok(),
            unanchored.is_ok(),
            "anchoring at the first record changed the verdict"
        );
    }
    let total: u64 = batch.records.iter().map(MeteredBytes::metered_bytes).sum();
    assert_eq!(batch.records.metered_bytes(), total);
    for record in &batch.records {
        sequenced_record(record);
    }
}

fn sequenced_record(record: &SequencedRecord) {
    let position = record.position();
    assert_eq!(
        (position.seq_num, position.timestamp),
        (record.seq_num(), record.timestamp())
    );
    let command = record.command();
    assert_eq!(
        record.is_command(),
        command.is_some(),
        "is_command disagrees with command()"
    );
    match command {
        Some(Command::Trim(seq_num)) => {
            assert_eq!(&record.body()[..], &seq_num.to_be_bytes(), "trim body")
        }
        Some(Command::Fence(token)) => {
            assert_eq!(token.as_bytes(), &record.body()[..], "fence body")
        }
        _ => {}
    }
    let parts = record.clone().into_parts();
    assert_eq!(
        (
            parts.seq_num,
            parts.timestamp,
            &parts.headers[..],
            &parts.body
        ),
        (
            record.seq_num(),
            record.timestamp(),
            record.headers(),
            record.body()
        ),
        "into_parts loses something"
    );
}

fn append_ack(bytes: Bytes) {
    let Ok(ack) = AppendAck::decode(bytes) else {
        return;
    };
    assert!(ack.start.seq_num <= ack.end.seq_num);
    assert!(ack.end.seq_num <= ack.tail.seq_num);
    assert_eq!(ack.record_count(), ack.end.seq_num - ack.start.seq_num);
    round_trips(&ack);
}

fn append_input(bytes: Bytes) {
    let Ok(input) = AppendInput::decode(bytes) else {
        return;
    };
    assert_eq!(
        input.metered_bytes(),
        input.records().metered_bytes(),
        "decoded metering differs from the records'"
    );
    round_trips(&input);
    for record in input.records() {
        let _ = record.command();
    }
}

fn round_trips<M: WireMessage + PartialEq + std::fmt::Debug>(msg: &M) {
    let encoded = msg.encode_to_bytes();
    assert_eq!(encoded.len(), msg.encoded_len());
    let again = M::decode(encoded).expect("a re-encoded message decodes");
    assert_eq!(&again, msg, "message does not round-trip");
}
