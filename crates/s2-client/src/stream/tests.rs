use bytes::Bytes;
use s2_core::types::{AppendInput, AppendRecord, Header, SequencedRecord, StreamPosition};

use super::landed_ack;

fn input() -> AppendInput {
    AppendInput::new(vec![
        AppendRecord::new("a"),
        AppendRecord {
            headers: vec![Header {
                name: Bytes::from_static(b"k"),
                value: Bytes::from_static(b"v"),
            }],
            ..AppendRecord::new("b")
        },
    ])
    .expect("batch")
}

/// What the service stores for `input` at `start`, timestamps 100, 101, …
fn stored(input: &AppendInput, start: u64) -> Vec<SequencedRecord> {
    input
        .records()
        .iter()
        .enumerate()
        .map(|(i, r)| SequencedRecord {
            seq_num: start + i as u64,
            timestamp: 100 + i as u64,
            headers: r.headers.clone(),
            body: r.body.clone(),
        })
        .collect()
}

fn tail(seq_num: u64) -> StreamPosition {
    StreamPosition {
        seq_num,
        timestamp: 500,
    }
}

#[test]
fn acks_what_landed_like_the_service_would() {
    let input = input();
    let ack = landed_ack(&input, 7, &stored(&input, 7), tail(12)).expect("landed");
    // As s2-lite acks: `end` is the position after the last record, with the
    // last record's timestamp; `tail` is the stream's, not the batch's.
    assert_eq!(
        ack.start,
        StreamPosition {
            seq_num: 7,
            timestamp: 100
        }
    );
    assert_eq!(
        ack.end,
        StreamPosition {
            seq_num: 9,
            timestamp: 101
        }
    );
    assert_eq!(ack.tail, tail(12));
}

#[test]
fn records_elsewhere_are_not_ours() {
    let input = input();
    // Same bodies, but found past a gap (records trimmed in between).
    assert_eq!(landed_ack(&input, 7, &stored(&input, 8), tail(12)), None);
    // Not contiguous.
    let mut gap = stored(&input, 7);
    gap[1].seq_num = 9;
    assert_eq!(landed_ack(&input, 7, &gap, tail(12)), None);
}

#[test]
fn anything_but_an_exact_match_is_unknown() {
    let input = input();
    let good = stored(&input, 7);
    // Short read.
    assert_eq!(landed_ack(&input, 7, &good[..1], tail(12)), None);
    assert_eq!(landed_ack(&input, 7, &[], tail(12)), None);
    // A different body, or different headers.
    let mut other = good.clone();
    other[0].body = Bytes::from_static(b"x");
    assert_eq!(landed_ack(&input, 7, &other, tail(12)), None);
    let mut other = good.clone();
    other[1].headers.clear();
    assert_eq!(landed_ack(&input, 7, &other, tail(12)), None);
    // More records than the batch.
    let mut longer = good.clone();
    longer.push(SequencedRecord {
        seq_num: 9,
        ..good[0].clone()
    });
    assert_eq!(landed_ack(&input, 7, &longer, tail(12)), None);
    // A tail before the batch's end contradicts the read.
    assert_eq!(landed_ack(&input, 7, &good, tail(8)), None);
    // No overflow at the end of the sequence space.
    assert_eq!(landed_ack(&input, u64::MAX, &good, tail(u64::MAX)), None);
}
