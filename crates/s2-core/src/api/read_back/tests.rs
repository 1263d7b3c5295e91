use super::{ReadBack, resolve_read_back};
use crate::types::{AppendInput, AppendRecord, Header, SequencedRecord, StreamPosition};
use bytes::Bytes;

fn input() -> AppendInput {
    AppendInput::new(vec![
        AppendRecord::new("a"),
        AppendRecord::new("b").with_headers([Header::new(
            Bytes::from_static(b"k"),
            Bytes::from_static(b"v"),
        )]),
    ])
    .expect("batch")
}

/// What the service stores for `input` at `start`, timestamps 100, 101, …
fn stored(input: &AppendInput, start: u64) -> Vec<SequencedRecord> {
    input
        .records()
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let at = StreamPosition::new(start + i as u64, 100 + i as u64);
            SequencedRecord::new(at, r.body().clone()).with_headers(r.headers().iter().cloned())
        })
        .collect()
}

/// `record` with another sequence number, or another body or headers.
fn changed(
    record: &SequencedRecord,
    seq_num: Option<u64>,
    body: Option<&'static [u8]>,
    headers: Option<Vec<Header>>,
) -> SequencedRecord {
    let at = StreamPosition::new(seq_num.unwrap_or(record.seq_num()), record.timestamp());
    let body = body.map_or_else(|| record.body().clone(), Bytes::from_static);
    let headers = headers.unwrap_or_else(|| record.headers().to_vec());
    SequencedRecord::new(at, body).with_headers(headers)
}

fn landed_ack(
    input: &AppendInput,
    start: u64,
    read: &[SequencedRecord],
    tail: StreamPosition,
) -> Option<crate::types::AppendAck> {
    match resolve_read_back(input, start, read, tail) {
        ReadBack::Landed(ack) => Some(ack),
        _ => None,
    }
}

fn tail(seq_num: u64) -> StreamPosition {
    StreamPosition::new(seq_num, 500)
}

#[test]
fn acks_what_landed_like_the_service_would() {
    let input = input();
    let ack = landed_ack(&input, 7, &stored(&input, 7), tail(12)).expect("landed");
    // As s2-lite acks: `end` is the position after the last record, with the
    // last record's timestamp; `tail` is the stream's, not the batch's.
    assert_eq!(ack.start, StreamPosition::new(7, 100));
    assert_eq!(ack.end, StreamPosition::new(9, 101));
    assert_eq!(ack.tail, tail(12));
}

#[test]
fn a_gap_or_a_short_read_proves_nothing() {
    let input = input();
    let unknown = |read: &[SequencedRecord], at: u64| {
        assert_eq!(
            resolve_read_back(&input, 7, read, tail(at)),
            ReadBack::Unknown,
            "{read:?}"
        );
    };
    // Records trimmed: the read starts past the batch's span.
    unknown(&stored(&input, 9), 12);
    // The first record trimmed, the second ours: it may be ours or not.
    unknown(&stored(&input, 7)[1..], 12);
    // Not contiguous.
    let mut gap = stored(&input, 7);
    gap[1] = changed(&gap[1], Some(9), None, None);
    unknown(&gap, 12);
    // Short reads.
    let good = stored(&input, 7);
    unknown(&good[..1], 12);
    unknown(&[], 12);
    // More records than the batch.
    let mut longer = good.clone();
    longer.push(changed(&good[0], Some(9), None, None));
    unknown(&longer, 12);
    // The tail not past `start`: the batch may still be on its way.
    unknown(&[], 7);
    unknown(&[], 3);
    // No overflow at the end of the sequence space.
    assert_eq!(
        resolve_read_back(&input, u64::MAX, &good, tail(u64::MAX)),
        ReadBack::Unknown
    );
}

#[test]
fn a_taken_position_proves_it_never_landed() {
    let input = input();
    let good = stored(&input, 7);
    let not_applied = |read: &[SequencedRecord], at: u64| {
        assert_eq!(
            resolve_read_back(&input, 7, read, tail(at)),
            ReadBack::NotApplied,
            "{read:?}"
        );
    };
    // A different body or different headers where the batch would be.
    let mut other = good.clone();
    other[0] = changed(&other[0], None, Some(b"x"), None);
    not_applied(&other, 12);
    let mut other = good.clone();
    other[1] = changed(&other[1], None, None, Some(Vec::new()));
    not_applied(&other, 12);
    // The second record differs, even with the first trimmed away.
    not_applied(&other[1..], 12);
    // Records shifted by one: what is at 8 is not what we would have put there.
    not_applied(&stored(&input, 8), 12);
    // A tail inside the batch's span: had it landed, the tail would be past it.
    not_applied(&[], 8);
}
