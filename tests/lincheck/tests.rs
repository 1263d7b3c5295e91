//! The checker itself under test: hand-made histories, good and bad.

use super::{
    check,
    history::{AppendOutcome, History, Op, OpKind, RecordKey, SessionItem, Source, fence_key},
};

fn op(client: usize, invoke: u64, complete: u64, kind: OpKind) -> Op {
    Op {
        client,
        invoke,
        complete: Some(complete),
        kind,
    }
}

fn put(keys: &[&str], outcome: AppendOutcome) -> OpKind {
    OpKind::Append {
        source: Source::Unary,
        records: keys.iter().map(|k| k.to_string()).collect(),
        fence: None,
        match_seq_num: None,
        fencing_token: None,
        may_repeat: false,
        outcome,
    }
}

fn conditioned(keys: &[&str], match_seq_num: u64, outcome: AppendOutcome) -> OpKind {
    let mut kind = put(keys, outcome);
    if let OpKind::Append {
        match_seq_num: m, ..
    } = &mut kind
    {
        *m = Some(match_seq_num);
    }
    kind
}

fn fenced(keys: &[&str], token: &str, outcome: AppendOutcome) -> OpKind {
    let mut kind = put(keys, outcome);
    if let OpKind::Append { fencing_token, .. } = &mut kind {
        *fencing_token = Some(token.to_string());
    }
    kind
}

fn fence(token: &str, outcome: AppendOutcome) -> OpKind {
    OpKind::Append {
        source: Source::Unary,
        records: vec![fence_key(token)],
        fence: Some(token.to_string()),
        match_seq_num: None,
        fencing_token: None,
        may_repeat: false,
        outcome,
    }
}

fn in_session(mut kind: OpKind, session: u64, index: u64) -> OpKind {
    if let OpKind::Append { source, .. } = &mut kind {
        *source = Source::Session { session, index };
    }
    kind
}

fn acked(start: u64, end: u64) -> AppendOutcome {
    AppendOutcome::Acked {
        start,
        end,
        tail: end,
    }
}

fn read(start: u64, keys: &[&str]) -> OpKind {
    OpKind::Read {
        start,
        records: keys
            .iter()
            .enumerate()
            .map(|(i, k)| (start + i as u64, k.to_string()))
            .collect(),
        tail: None,
    }
}

fn stream(keys: &[&str]) -> Vec<RecordKey> {
    keys.iter().map(|k| k.to_string()).collect()
}

fn history(ops: Vec<Op>) -> History {
    History { ops }
}

#[track_caller]
fn assert_violation(history: &History, stream: &[RecordKey], needle: &str) {
    match check(history, stream) {
        Ok(summary) => panic!("a bad history passed: {summary:?}\n{history:#?}"),
        Err(violation) => {
            let text = violation.to_string();
            eprintln!("{text}");
            assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
            assert!(
                !violation.ops.is_empty() || !violation.stream.is_empty(),
                "a counter-example shows something"
            );
        }
    }
}

#[test]
fn a_concurrent_history_with_every_kind_of_operation_passes() {
    let h = history(vec![
        op(0, 1, 6, put(&["a1", "a2"], acked(0, 2))),
        op(
            1,
            2,
            5,
            conditioned(&["b1"], 0, AppendOutcome::SeqNumMismatch(2)),
        ),
        // Concurrent with the first append: may see it or not.
        op(2, 3, 4, OpKind::CheckTail(0)),
        op(2, 7, 8, OpKind::CheckTail(2)),
        op(1, 9, 12, conditioned(&["c1"], 2, acked(2, 3))),
        op(0, 10, 11, read(1, &["a2"])),
        op(0, 13, 14, fence("t1", acked(3, 4))),
        op(1, 15, 16, fenced(&["d1"], "t1", acked(4, 5))),
        op(
            2,
            15,
            17,
            fenced(&["e1"], "t0", AppendOutcome::FencingMismatch("t1".into())),
        ),
        // Unknown: one landed (after it failed), one did not.
        op(2, 18, 19, put(&["f1"], AppendOutcome::Unknown)),
        op(0, 20, 21, put(&["g1"], AppendOutcome::Unknown)),
        op(1, 22, 23, OpKind::ReadPastTail { start: 9, tail: 6 }),
        op(
            1,
            24,
            27,
            OpKind::ReadSession {
                start: 4,
                limit: 2,
                items: vec![
                    (
                        25,
                        SessionItem::Batch {
                            records: vec![(4, "d1".into())],
                            tail: Some(6),
                        },
                    ),
                    (
                        26,
                        SessionItem::Batch {
                            records: vec![(5, "f1".into())],
                            tail: None,
                        },
                    ),
                ],
                finished: true,
            },
        ),
        op(2, 28, 29, put(&["h1"], AppendOutcome::NotApplied)),
    ]);
    let s = stream(&["a1", "a2", "c1", &fence_key("t1"), "d1", "f1"]);
    let summary = check(&h, &s).expect("linearizable");
    assert_eq!(summary.landed, 5);
    assert_eq!((summary.unknown_landed, summary.unknown_lost), (1, 1));
}

#[test]
fn an_append_landed_twice_is_flagged() {
    let h = history(vec![
        op(0, 1, 2, put(&["a"], acked(0, 1))),
        op(1, 3, 4, put(&["b"], acked(1, 2))),
    ]);
    assert_violation(&h, &stream(&["a", "b", "a"]), "landed twice");
}

#[test]
fn an_acknowledged_record_missing_from_the_stream_is_flagged() {
    let h = history(vec![
        op(0, 1, 2, put(&["a"], acked(0, 1))),
        op(1, 3, 4, put(&["b"], acked(1, 2))),
    ]);
    assert_violation(&h, &stream(&["a"]), "absent from the stream");
}

#[test]
fn an_ack_at_a_position_holding_other_content_is_flagged() {
    let h = history(vec![
        op(0, 1, 4, put(&["a"], acked(0, 1))),
        op(1, 2, 3, put(&["b"], AppendOutcome::Unknown)),
    ]);
    assert_violation(
        &h,
        &stream(&["b", "a"]),
        "acknowledged at 0..1, but it landed at 1..2",
    );
}

#[test]
fn a_read_of_a_record_never_appended_is_flagged() {
    let h = history(vec![
        op(0, 1, 2, put(&["a"], acked(0, 1))),
        op(1, 3, 4, read(0, &["ghost"])),
    ]);
    assert_violation(&h, &stream(&["a"]), "a read returned ghost at 0");
    // Nor may the final stream hold it.
    let h = history(vec![op(0, 1, 2, put(&["a"], acked(0, 1)))]);
    assert_violation(&h, &stream(&["a", "ghost"]), "which no operation appended");
}

#[test]
fn a_check_tail_older_than_an_append_finished_before_it_is_flagged() {
    let h = history(vec![
        op(0, 1, 2, put(&["a"], acked(0, 1))),
        op(1, 3, 4, OpKind::CheckTail(0)),
    ]);
    assert_violation(&h, &stream(&["a"]), "saw the stream without it");
    // Concurrent with it, the same answer is fine.
    let h = history(vec![
        op(0, 1, 3, put(&["a"], acked(0, 1))),
        op(1, 2, 4, OpKind::CheckTail(0)),
    ]);
    check(&h, &stream(&["a"])).expect("concurrent");
}

#[test]
fn a_fenced_append_with_a_stale_token_is_flagged() {
    let h = history(vec![
        op(0, 1, 2, fence("t1", acked(0, 1))),
        op(1, 3, 4, fence("t2", acked(1, 2))),
        op(0, 5, 6, fenced(&["a"], "t1", acked(2, 3))),
    ]);
    let s = stream(&[&fence_key("t1"), &fence_key("t2"), "a"]);
    assert_violation(&h, &s, "condition failed there");
}

#[test]
fn a_rejection_by_a_token_the_stream_no_longer_had_is_flagged() {
    // t2 replaced t1 before the fenced append started: the rejection cannot
    // have seen t1.
    let h = history(vec![
        op(0, 1, 2, fence("t1", acked(0, 1))),
        op(1, 3, 4, fence("t2", acked(1, 2))),
        op(
            0,
            5,
            6,
            fenced(&["a"], "t0", AppendOutcome::FencingMismatch("t1".into())),
        ),
    ]);
    let s = stream(&[&fence_key("t1"), &fence_key("t2")]);
    assert_violation(&h, &s, "saw the stream without it");
}

#[test]
fn appends_out_of_real_time_order_are_flagged() {
    let h = history(vec![
        op(0, 1, 2, put(&["a"], acked(1, 2))),
        op(1, 3, 4, put(&["b"], acked(0, 1))),
    ]);
    assert_violation(&h, &stream(&["b", "a"]), "must take effect before");
}

#[test]
fn a_batch_reported_not_applied_that_landed_is_flagged() {
    // An error proving no effect.
    let h = history(vec![op(0, 1, 2, put(&["a"], AppendOutcome::NotApplied))]);
    assert_violation(&h, &stream(&["a"]), "reported as not applied");
    // A cancelled submit landing unseen.
    let h = history(vec![op(
        0,
        1,
        2,
        in_session(put(&["a"], AppendOutcome::Cancelled), 3, 1),
    )]);
    assert_violation(&h, &stream(&["a"]), "(Cancelled), but it landed");
    // A conditioned append reported as rejected although it landed.
    let h = history(vec![
        op(0, 1, 2, put(&["x"], acked(0, 1))),
        op(
            1,
            3,
            6,
            conditioned(&["a"], 1, AppendOutcome::SeqNumMismatch(2)),
        ),
    ]);
    assert_violation(&h, &stream(&["x", "a"]), "reported as not applied");
}

#[test]
fn a_conditioned_append_landing_elsewhere_is_flagged() {
    let h = history(vec![
        op(0, 1, 2, put(&["x"], acked(0, 1))),
        op(1, 1, 3, conditioned(&["a"], 0, AppendOutcome::Unknown)),
    ]);
    assert_violation(&h, &stream(&["x", "a"]), "condition failed there");
}

#[test]
fn a_partial_batch_is_flagged() {
    let h = history(vec![op(
        0,
        1,
        2,
        put(&["a1", "a2"], AppendOutcome::Unknown),
    )]);
    assert_violation(&h, &stream(&["a1"]), "did not land whole");
}

#[test]
fn session_inputs_landing_out_of_order_are_flagged() {
    let h = history(vec![
        op(0, 1, 5, in_session(put(&["a"], acked(1, 2)), 7, 0)),
        op(0, 2, 6, in_session(put(&["b"], acked(0, 1)), 7, 1)),
    ]);
    assert_violation(&h, &stream(&["b", "a"]), "session 7");
}

#[test]
fn a_read_session_with_a_gap_or_repeat_is_flagged() {
    let session = |second: (u64, &str)| {
        history(vec![
            op(0, 1, 2, put(&["a", "b", "c"], acked(0, 3))),
            op(
                1,
                3,
                6,
                OpKind::ReadSession {
                    start: 0,
                    limit: 3,
                    items: vec![
                        (
                            4,
                            SessionItem::Batch {
                                records: vec![(0, "a".into())],
                                tail: None,
                            },
                        ),
                        (
                            5,
                            SessionItem::Batch {
                                records: vec![(second.0, second.1.into())],
                                tail: None,
                            },
                        ),
                    ],
                    finished: true,
                },
            ),
        ])
    };
    let s = stream(&["a", "b", "c"]);
    check(&session((1, "b")), &s).expect("gap-free");
    assert_violation(&session((2, "c")), &s, "gap or repeat");
    assert_violation(&session((0, "a")), &s, "gap or repeat");
}

#[test]
fn a_tail_inside_a_batch_is_flagged() {
    let h = history(vec![
        op(0, 1, 2, put(&["a", "b"], acked(0, 2))),
        op(1, 3, 4, OpKind::CheckTail(1)),
    ]);
    assert_violation(&h, &stream(&["a", "b"]), "no state of the stream");
}

#[test]
fn an_unknown_append_may_land_long_after_it_failed() {
    let h = history(vec![
        op(0, 1, 2, put(&["a"], AppendOutcome::Unknown)),
        op(1, 3, 4, OpKind::CheckTail(0)),
        op(1, 5, 6, put(&["b"], acked(0, 1))),
        op(1, 7, 8, OpKind::CheckTail(2)),
    ]);
    check(&h, &stream(&["b", "a"])).expect("a late landing is allowed");
}

#[test]
fn observations_chain_into_a_violation() {
    // c saw a before b's invocation; the stream puts b first.
    let h = history(vec![
        op(0, 1, 10, put(&["a"], acked(1, 2))),
        op(1, 2, 3, read(1, &["a"])),
        op(2, 4, 10, put(&["b"], acked(0, 1))),
    ]);
    assert_violation(&h, &stream(&["b", "a"]), "must take effect");
}

fn at_least_once(mut kind: OpKind) -> OpKind {
    if let OpKind::Append { may_repeat, .. } = &mut kind {
        *may_repeat = true;
    }
    kind
}

#[test]
fn an_at_least_once_batch_may_land_twice_but_no_more_silently() {
    let h = history(vec![
        op(0, 1, 4, at_least_once(put(&["a"], acked(1, 2)))),
        op(1, 2, 3, put(&["b"], acked(0, 1))),
    ]);
    check(&h, &stream(&["b", "a", "a"])).expect("a repeat is at-least-once");
    // Its ack must still name one of its landings.
    let h = history(vec![op(0, 1, 4, at_least_once(put(&["a"], acked(2, 3))))]);
    assert_violation(&h, &stream(&["a", "a"]), "acknowledged at 2..3");
}

#[test]
fn an_earlier_attempt_hidden_behind_a_fencing_rejection_is_flagged() {
    // The first attempt lands, its response is lost; a fence moves the
    // token; the retry is rejected and the client says "nothing happened".
    let h = history(vec![
        op(
            0,
            1,
            10,
            at_least_once(fenced(
                &["a"],
                "t1",
                AppendOutcome::FencingMismatch("t2".into()),
            )),
        ),
        op(1, 0, 1, fence("t1", acked(0, 1))),
        op(1, 3, 4, fence("t2", acked(2, 3))),
    ]);
    let s = stream(&[&fence_key("t1"), "a", &fence_key("t2")]);
    assert_violation(&h, &s, "reported as not applied");
}
