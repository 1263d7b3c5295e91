//! Protobuf bytes from the server turned into domain values: read batches,
//! acks and command records.

use bytes::Bytes;
use prost::Message;
use s2_core::{
    proto,
    types::{AppendAck, AppendInput, Command, MeteredBytes, check_read_batch_order},
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
        _ => {
            if let Ok(record) = proto::SequencedRecord::decode(bytes) {
                sequenced_record(&record);
            }
        }
    }
}

fn read_batch(bytes: Bytes) {
    let Ok(batch) = proto::ReadBatch::decode(bytes) else {
        return;
    };
    round_trips(&batch);
    if check_read_batch_order(&batch.records, None).is_ok() {
        for pair in batch.records.windows(2) {
            assert!(
                pair[0].seq_num < pair[1].seq_num,
                "an accepted batch is not strictly increasing"
            );
        }
    }
    if let Some(first) = batch.records.first() {
        let from_first = check_read_batch_order(&batch.records, Some(first.seq_num));
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

fn sequenced_record(record: &proto::SequencedRecord) {
    let _ = record.position();
    let command = record.command();
    assert_eq!(
        record.is_command(),
        command.is_some(),
        "is_command disagrees with command()"
    );
    match command {
        Some(Command::Trim(seq_num)) => {
            assert_eq!(&record.body[..], &seq_num.to_be_bytes(), "trim body")
        }
        Some(Command::Fence(token)) => assert_eq!(token.as_bytes(), &record.body[..], "fence body"),
        _ => {}
    }
}

fn append_ack(bytes: Bytes) {
    let Ok(ack) = proto::AppendAck::decode(bytes) else {
        return;
    };
    round_trips(&ack);
    if let Ok(domain) = AppendAck::try_from(ack) {
        assert!(domain.start.seq_num <= domain.end.seq_num);
        assert!(domain.end.seq_num <= domain.tail.seq_num);
        assert_eq!(
            domain.record_count(),
            domain.end.seq_num - domain.start.seq_num
        );
        assert_eq!(proto::AppendAck::from(domain), ack, "ack conversion lossy");
    }
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
    let again =
        AppendInput::decode(input.encode_to_vec().as_slice()).expect("our own encoding decodes");
    assert_eq!(again, input, "append input does not round-trip");
    for record in input.records() {
        let _ = record.command();
    }
}

fn round_trips<M: Message + Default + PartialEq + std::fmt::Debug>(msg: &M) {
    let encoded = msg.encode_to_vec();
    assert_eq!(encoded.len(), msg.encoded_len());
    let again = M::decode(encoded.as_slice()).expect("a re-encoded message decodes");
    assert_eq!(&again, msg, "message does not round-trip");
}
