use s2_core::{
    FencingToken,
    types::{AppendRecord, CommandRecord, Timestamping},
};

use super::*;

fn input(bodies: &[&str]) -> AppendInput {
    AppendInput::new(
        bodies
            .iter()
            .map(|b| AppendRecord::new(b.to_string()))
            .collect::<Vec<_>>(),
    )
    .expect("batch")
}

fn bodies(records: &[SequencedRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8_lossy(r.body()).into_owned())
        .collect()
}

#[test]
fn appends_sequence_and_ack_like_s2_lite() {
    let mut log = Log::default();
    let ack = log.append(&input(&["a", "b"]), 100).expect("append");
    assert_eq!(
        (ack.start.seq_num, ack.end.seq_num, ack.tail.seq_num),
        (0, 2, 2)
    );
    assert_eq!((ack.start.timestamp, ack.end.timestamp), (100, 100));
    let ack = log.append(&input(&["c"]), 105).expect("append");
    assert_eq!((ack.start.seq_num, ack.end.seq_num), (2, 3));
    assert_eq!(log.tail(), StreamPosition::new(3, 105));
    assert_eq!(bodies(log.records()), ["a", "b", "c"]);
}

#[test]
fn match_seq_num_is_checked_before_anything_is_applied() {
    let mut log = Log::default();
    log.append(&input(&["a"]), 1).expect("append");
    let stale = input(&["b"]).with_match_seq_num(0);
    assert_eq!(log.append(&stale, 2), Err(ServiceError::SeqNumMismatch(1)));
    assert_eq!(log.tail().seq_num, 1);
    let right = input(&["b"]).with_match_seq_num(1);
    assert!(log.append(&right, 2).is_ok());
}

#[test]
fn fence_commands_set_the_token_appends_must_carry() {
    let mut log = Log::default();
    let token = FencingToken::new("writer-1").expect("token");
    // Before any fence, the token is empty: presenting another fails.
    let fenced = input(&["x"]).with_fencing_token(token.clone());
    assert_eq!(
        log.append(&fenced, 1),
        Err(ServiceError::FencingTokenMismatch(String::new()))
    );
    let fence = AppendInput::new(vec![CommandRecord::fence(token.clone())]).expect("fence");
    log.append(&fence, 1).expect("fence");
    assert_eq!(log.fencing_token(), "writer-1");
    assert!(log.append(&fenced, 2).is_ok());
    let other = input(&["y"]).with_fencing_token(FencingToken::new("writer-2").expect("token"));
    assert_eq!(
        log.append(&other, 3),
        Err(ServiceError::FencingTokenMismatch("writer-1".into()))
    );
    // Appends without a token are not fenced out.
    assert!(log.append(&input(&["z"]), 4).is_ok());
}

#[test]
fn trims_hide_records_but_reach_at_most_past_themselves() {
    let mut log = Log::default();
    log.append(&input(&["a", "b", "c"]), 1).expect("append");
    let trim = AppendInput::new(vec![CommandRecord::trim(100)]).expect("trim");
    log.append(&trim, 2).expect("trim");
    // The trim record is seq 3: the point is capped at 4.
    assert_eq!(log.trim_point(), 4);
    log.append(&input(&["d"]), 3).expect("append");
    let chunk = log.chunk(0, &Budget::default());
    assert_eq!(bodies(&chunk.records), ["d"]);
    // Trims never move back.
    let back = AppendInput::new(vec![CommandRecord::trim(1)]).expect("trim");
    log.append(&back, 4).expect("trim");
    assert_eq!(log.trim_point(), 4);
    assert_eq!(log.records().len(), 6, "the checker still sees everything");
}

#[test]
fn timestamps_follow_the_mode_and_never_go_back() {
    let mut log = Log::default();
    let stamped =
        |t: u64| AppendInput::new(vec![AppendRecord::new("r").with_timestamp(t)]).expect("batch");
    // Client-prefer, capped: a future timestamp becomes now.
    let ack = log.append(&stamped(500), 100).expect("append");
    assert_eq!(ack.start.timestamp, 100);
    // Earlier than the last: raised to it.
    let ack = log.append(&stamped(50), 200).expect("append");
    assert_eq!(ack.start.timestamp, 100);
    let ack = log.append(&stamped(150), 200).expect("append");
    assert_eq!(ack.start.timestamp, 150);

    let mut arrival = Log::new(StreamConfig {
        timestamping: Some(Timestamping {
            mode: Some(TimestampingMode::Arrival),
            uncapped: None,
        }),
        ..StreamConfig::default()
    });
    assert_eq!(
        arrival
            .append(&stamped(5), 70)
            .expect("append")
            .start
            .timestamp,
        70
    );

    let mut required = Log::new(StreamConfig {
        timestamping: Some(Timestamping {
            mode: Some(TimestampingMode::ClientRequire),
            uncapped: Some(true),
        }),
        ..StreamConfig::default()
    });
    assert_eq!(
        required.append(&input(&["a"]), 1).unwrap_err().status(),
        422
    );
    assert_eq!(
        required
            .append(&stamped(900), 1)
            .expect("append")
            .start
            .timestamp,
        900
    );
}

#[test]
fn reads_resolve_their_start_as_s2_lite_does() {
    let mut log = Log::default();
    log.append(&input(&["a"]), 10).expect("append");
    log.append(&input(&["b"]), 20).expect("append");
    let tail = log.tail();
    assert_eq!(log.resolve_start(Start::SeqNum(1), false, false), Ok(1));
    assert_eq!(log.resolve_start(Start::Timestamp(15), false, false), Ok(1));
    assert_eq!(log.resolve_start(Start::TailOffset(5), false, false), Ok(0));
    assert_eq!(
        log.resolve_start(Start::SeqNum(3), false, true),
        Err(ServiceError::Unwritten(tail))
    );
    assert_eq!(log.resolve_start(Start::SeqNum(3), true, true), Ok(2));
    // At the tail: only a read that may wait there starts there.
    assert_eq!(
        log.resolve_start(Start::SeqNum(2), false, false),
        Err(ServiceError::Unwritten(tail))
    );
    assert_eq!(log.resolve_start(Start::TailOffset(0), false, true), Ok(2));
    assert_eq!(
        log.resolve_start(Start::Timestamp(21), false, true),
        Err(ServiceError::Unwritten(tail))
    );
}

#[test]
fn chunks_honour_count_bytes_until_and_batch_limits() {
    let mut log = Log::default();
    for t in 0..5 {
        log.append(&input(&["12345678"]), t).expect("append");
    }
    // Each record meters 8 + 8 = 16 bytes.
    let count = log.chunk(
        0,
        &Budget {
            count: Some(2),
            ..Budget::default()
        },
    );
    assert_eq!((count.records.len(), count.ended), (2, true));
    let bytes = log.chunk(
        1,
        &Budget {
            bytes: Some(40),
            ..Budget::default()
        },
    );
    assert_eq!((bytes.records.len(), bytes.ended), (2, true));
    let until = log.chunk(
        0,
        &Budget {
            until: Some(3),
            ..Budget::default()
        },
    );
    assert_eq!((until.records.len(), until.ended), (3, true));
    let all = log.chunk(0, &Budget::default());
    assert_eq!((all.records.len(), all.ended), (5, false));
    let too_small = log.chunk(
        0,
        &Budget {
            bytes: Some(10),
            ..Budget::default()
        },
    );
    assert_eq!((too_small.records.len(), too_small.ended), (0, true));

    let mut big = Log::default();
    for _ in 0..3 {
        big.append(&input(&vec!["x"; 1000]), 0).expect("append");
    }
    let chunk = big.chunk(0, &Budget::default());
    assert_eq!(
        (chunk.records.len(), chunk.ended),
        (BATCH_MAX_RECORDS, false)
    );
}

#[test]
fn validation_refuses_what_s2_lite_refuses() {
    assert!(Log::validate(&input(&["a"])).is_ok());
    let unknown = AppendInput::new(vec![AppendRecord::new("x").with_header("", "nope")]);
    if let Ok(unknown) = unknown {
        assert_eq!(Log::validate(&unknown).unwrap_err().status(), 422);
    }
}
