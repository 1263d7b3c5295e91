use super::{Contents, ReadBack, TailAt, Unverified, resolve_read_back, verify};
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

/// The record sent to `seq_num` by batches `inputs`, contiguous from
/// `start`, as an append session's batches are.
fn sent_at<'a>(
    inputs: &'a [AppendInput],
    start: u64,
    end: u64,
) -> impl Fn(u64) -> Option<&'a AppendRecord> {
    move |seq_num| {
        if seq_num >= end {
            return None;
        }
        let mut m = start;
        for input in inputs {
            if let Some(sent) = seq_num
                .checked_sub(m)
                .and_then(|i| input.records().get(usize::try_from(i).ok()?))
            {
                return Some(sent);
            }
            m += input.len() as u64;
        }
        None
    }
}

#[test]
fn the_tail_is_placed_against_the_span() {
    assert_eq!(TailAt::of(6, 7, 9), TailAt::Before);
    assert_eq!(TailAt::of(7, 7, 9), TailAt::Start);
    assert_eq!(TailAt::of(8, 7, 9), TailAt::Inside);
    assert_eq!(TailAt::of(9, 7, 9), TailAt::PastEnd);
    assert_eq!(TailAt::of(u64::MAX, 7, 9), TailAt::PastEnd);
}

#[test]
fn verifies_across_batches_up_to_the_span_end() {
    // Two batches at 7..9 and 9..11, read back 7..11 and one record past.
    let inputs = [input(), input()];
    let mut read = stored(&inputs[0], 7);
    read.extend(stored(&inputs[1], 9));
    read.push(changed(&read[0], Some(11), None, None));
    let all = verify(&read, 7, sent_at(&inputs, 7, 11));
    // The record past the span is nothing sent: it stops the verification
    // without being anyone's.
    assert_eq!(all.verified, 4);
    let past = Unverified {
        index: 4,
        in_place: true,
        contents: Contents::Unsent,
    };
    assert_eq!(all.stop, Some(past));
    assert_eq!(all.first_foreign, Some(past));
    // A read-back on from the middle of the span, as after a short read.
    let rest = verify(&read[3..4], 10, sent_at(&inputs, 7, 11));
    assert_eq!(
        (rest.verified, rest.stop, rest.first_foreign),
        (1, None, None)
    );
    // An empty read verifies nothing and stops nowhere.
    let empty = verify(&[], 7, sent_at(&inputs, 7, 11));
    assert_eq!(
        (empty.verified, empty.stop, empty.first_foreign),
        (0, None, None)
    );
}

#[test]
fn says_where_and_why_verification_stops() {
    let inputs = [input(), input()];
    let sent = || sent_at(&inputs, 7, 11);
    let mut good = stored(&inputs[0], 7);
    good.extend(stored(&inputs[1], 9));
    // Trimmed: the first record is ours but not where the read began.
    let trimmed = verify(&good[1..], 7, sent());
    assert_eq!(trimmed.verified, 0);
    assert_eq!(
        trimmed.stop,
        Some(Unverified {
            index: 0,
            in_place: false,
            contents: Contents::Same
        })
    );
    assert_eq!(trimmed.first_foreign, None);
    // A gap after a verified record, then another writer's record: the
    // gap stops the verification, the foreign record is still found.
    let mut gap = vec![good[0].clone(), good[2].clone()];
    gap.push(changed(&good[3], None, Some(b"x"), None));
    let gapped = verify(&gap, 7, sent());
    assert_eq!(gapped.verified, 1);
    assert_eq!(
        gapped.stop,
        Some(Unverified {
            index: 1,
            in_place: false,
            contents: Contents::Same
        })
    );
    assert_eq!(
        gapped.first_foreign,
        Some(Unverified {
            index: 2,
            in_place: false,
            contents: Contents::Differs
        })
    );
    // Another writer's record in place, in the second batch: the first
    // batch's records are verified, and nothing after the foreign one is
    // looked at.
    let mut other = good.clone();
    other[2] = changed(&other[2], None, Some(b"x"), None);
    other[3] = changed(&other[3], Some(99), None, None);
    let differs = Unverified {
        index: 2,
        in_place: true,
        contents: Contents::Differs,
    };
    let verification = verify(&other, 7, sent());
    assert_eq!(verification.verified, 2);
    assert_eq!(verification.stop, Some(differs));
    assert_eq!(verification.first_foreign, Some(differs));
}
