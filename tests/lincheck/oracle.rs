//! A brute-force Wing–Gong search over the same model, knowing nothing of
//! the final-content shortcut: the reference the checker is compared with
//! on thousands of small random histories, linearizable or mutated.

use std::collections::HashSet;

use rand::{Rng, SeedableRng, rngs::SmallRng};

use super::{
    check,
    history::{AppendOutcome, History, Op, OpKind, RecordKey, Source, Time, fence_key},
    model::{Conditions, Rejection, StreamState},
};

/// Whether some order of the operations, consistent with real time,
/// explains every result and ends in `stream`.
fn linearizable(history: &History, stream: &[RecordKey]) -> bool {
    // An at-least-once batch may land once more: an optional copy of it.
    let repeats: Vec<Op> = history
        .ops
        .iter()
        .filter_map(|op| match &op.kind {
            OpKind::Append {
                may_repeat: true,
                outcome: AppendOutcome::Acked { .. } | AppendOutcome::Unknown,
                ..
            } => {
                let mut repeat = op.clone();
                repeat.complete = None;
                if let OpKind::Append { outcome, .. } = &mut repeat.kind {
                    *outcome = AppendOutcome::Unknown;
                }
                Some(repeat)
            }
            _ => None,
        })
        .collect();
    let ops: Vec<&Op> = history
        .ops
        .iter()
        .filter(|op| {
            !matches!(
                op.kind,
                OpKind::Append {
                    outcome: AppendOutcome::NotApplied | AppendOutcome::Cancelled,
                    ..
                }
            )
        })
        .chain(&repeats)
        .collect();
    // Not-applied batches must simply be absent.
    for op in &history.ops {
        if let OpKind::Append {
            outcome: AppendOutcome::NotApplied | AppendOutcome::Cancelled,
            records,
            ..
        } = &op.kind
            && records.iter().any(|r| stream.contains(r))
        {
            return false;
        }
    }
    let mut failed = HashSet::new();
    search(&ops, 0, &StreamState::default(), stream, &mut failed)
}

fn required(op: &Op) -> bool {
    !matches!(
        op.kind,
        OpKind::Append {
            outcome: AppendOutcome::Unknown,
            ..
        }
    )
}

fn search(
    ops: &[&Op],
    done: u32,
    state: &StreamState,
    stream: &[RecordKey],
    failed: &mut HashSet<(u32, StreamState)>,
) -> bool {
    let pending_required = (0..ops.len()).any(|i| done & (1 << i) == 0 && required(ops[i]));
    if !pending_required && state.records == stream {
        return true;
    }
    if !failed.insert((done, state.clone())) {
        return false;
    }
    for (i, op) in ops.iter().enumerate() {
        if done & (1 << i) != 0 {
            continue;
        }
        // Real time: nothing still pending may have completed before `op`
        // was invoked.
        let blocked = ops.iter().enumerate().any(|(j, other)| {
            done & (1 << j) == 0
                && j != i
                && required(other)
                && other.effect_deadline().is_some_and(|c| c < op.invoke)
        });
        if blocked {
            continue;
        }
        if let Some(next) = step(op, state)
            && search(ops, done | (1 << i), &next, stream, failed)
        {
            return true;
        }
    }
    false
}

/// The state after `op` takes effect in `state`, if its result fits.
fn step(op: &Op, state: &StreamState) -> Option<StreamState> {
    let holds = |ok: bool| ok.then(|| state.clone());
    match &op.kind {
        OpKind::Append {
            records,
            fence,
            match_seq_num,
            fencing_token,
            outcome,
            ..
        } => {
            let rejections = state.rejections(Conditions {
                match_seq_num: *match_seq_num,
                fencing_token: fencing_token.as_deref(),
            });
            let mut next = state.clone();
            match outcome {
                AppendOutcome::Acked { start, end, .. } => {
                    if !rejections.is_empty() {
                        return None;
                    }
                    let landed = next.apply(records, fence.as_deref());
                    (landed == (*start, *end)).then_some(next)
                }
                AppendOutcome::Unknown => {
                    if !rejections.is_empty() {
                        return None;
                    }
                    next.apply(records, fence.as_deref());
                    Some(next)
                }
                AppendOutcome::SeqNumMismatch(tail) => {
                    holds(rejections.contains(&Rejection::SeqNum(*tail)))
                }
                AppendOutcome::FencingMismatch(token) => {
                    holds(rejections.contains(&Rejection::Fencing(token.clone())))
                }
                AppendOutcome::NotApplied | AppendOutcome::Cancelled => holds(true),
            }
        }
        OpKind::CheckTail(tail) => holds(state.tail() == *tail),
        OpKind::Read {
            records,
            tail: None,
            ..
        } => holds(
            records
                .iter()
                .all(|(seq, key)| state.records.get(*seq as usize) == Some(key)),
        ),
        OpKind::ReadPastTail { start, tail } => holds(state.tail() == *tail && start >= tail),
        OpKind::Read { tail: Some(_), .. } | OpKind::ReadSession { .. } => {
            unreachable!("the generator makes none of these")
        }
    }
}

/// An at-least-once batch's records, fence and token, to land again.
type Repeat = (Vec<RecordKey>, Option<String>, Option<String>);

/// A random history of a correct stream, its final content, and whether
/// a mutation was applied (which may or may not break it).
fn random_history(rng: &mut SmallRng) -> (History, Vec<RecordKey>) {
    let mut state = StreamState::default();
    let mut tokens = vec![String::new()];
    let mut ops = Vec::new();
    let mut repeats: Vec<Repeat> = Vec::new();
    let land_repeat =
        |state: &mut StreamState, tokens: &mut Vec<String>, repeats: &mut Vec<Repeat>| {
            let Some((records, fence, fencing_token)) = repeats.pop() else {
                return;
            };
            let fencing_token: Option<String> = fencing_token;
            let conditions = Conditions {
                match_seq_num: None,
                fencing_token: fencing_token.as_deref(),
            };
            if state.rejections(conditions).is_empty() {
                state.apply(&records, fence.as_deref());
                if let Some(token) = fence {
                    tokens.push(token);
                }
            }
        };
    let count = rng.random_range(2..=6);
    for k in 0..count {
        if rng.random_bool(0.3) {
            land_repeat(&mut state, &mut tokens, &mut repeats);
        }
        let at = 10 * k as Time + 50;
        let invoke = at - rng.random_range(1..40);
        let mut complete = Some(at + rng.random_range(1..40));
        let kind = match rng.random_range(0..6) {
            0..=2 => {
                let fence = (rng.random_range(0..4) == 0).then(|| format!("t{k}"));
                let records = match &fence {
                    Some(token) => vec![fence_key(token)],
                    None => (0..rng.random_range(1..=2))
                        .map(|r| format!("k{k}-{r}"))
                        .collect(),
                };
                let match_seq_num = (rng.random_range(0..3) == 0).then(|| {
                    (state.tail() + rng.random_range(0..=1)).saturating_sub(rng.random_range(0..=1))
                });
                let fencing_token = (rng.random_range(0..3) == 0)
                    .then(|| tokens[rng.random_range(0..tokens.len())].clone());
                let rejections = state.rejections(Conditions {
                    match_seq_num,
                    fencing_token: fencing_token.as_deref(),
                });
                let outcome = if let Some(rejection) = rejections.first() {
                    match rejection {
                        Rejection::SeqNum(tail) => AppendOutcome::SeqNumMismatch(*tail),
                        Rejection::Fencing(token) => AppendOutcome::FencingMismatch(token.clone()),
                    }
                } else if rng.random_range(0..4) == 0 {
                    // Unknown: it may or may not happen.
                    if rng.random_bool(0.5) {
                        complete = None;
                    }
                    if rng.random_bool(0.5) {
                        state.apply(&records, fence.as_deref());
                        if let Some(token) = &fence {
                            tokens.push(token.clone());
                        }
                    }
                    AppendOutcome::Unknown
                } else {
                    let (start, end) = state.apply(&records, fence.as_deref());
                    if let Some(token) = &fence {
                        tokens.push(token.clone());
                    }
                    AppendOutcome::Acked {
                        start,
                        end,
                        tail: end,
                    }
                };
                let may_repeat = match_seq_num.is_none() && rng.random_bool(0.3);
                if may_repeat
                    && matches!(
                        outcome,
                        AppendOutcome::Acked { .. } | AppendOutcome::Unknown
                    )
                    && rng.random_bool(0.5)
                {
                    repeats.push((records.clone(), fence.clone(), fencing_token.clone()));
                }
                OpKind::Append {
                    source: Source::Unary,
                    records,
                    fence,
                    match_seq_num,
                    fencing_token,
                    may_repeat,
                    outcome,
                }
            }
            3 | 4 => OpKind::CheckTail(state.tail()),
            _ => {
                let start = rng.random_range(0..=state.tail() + 1);
                if start >= state.tail() {
                    OpKind::ReadPastTail {
                        start,
                        tail: state.tail(),
                    }
                } else {
                    let end = (start + rng.random_range(1..=3)).min(state.tail());
                    OpKind::Read {
                        start,
                        records: (start..end)
                            .map(|s| (s, state.records[s as usize].clone()))
                            .collect(),
                        tail: None,
                    }
                }
            }
        };
        ops.push(Op {
            client: k,
            invoke,
            complete,
            kind,
        });
    }
    while !repeats.is_empty() {
        land_repeat(&mut state, &mut tokens, &mut repeats);
    }
    let mut stream = state.records;
    if rng.random_bool(0.5) {
        mutate(rng, &mut ops, &mut stream);
    }
    distinct_ticks(rng, &mut ops);
    (History { ops }, stream)
}

fn mutate(rng: &mut SmallRng, ops: &mut [Op], stream: &mut Vec<RecordKey>) {
    let i = rng.random_range(0..ops.len());
    let j = rng.random_range(0..ops.len());
    let delta = |rng: &mut SmallRng, v: u64| {
        if rng.random_bool(0.5) {
            v + 1
        } else {
            v.saturating_sub(1)
        }
    };
    match rng.random_range(0..7) {
        0 => {
            // Swap two operations' windows.
            let (a, b) = (
                (ops[i].invoke, ops[i].complete),
                (ops[j].invoke, ops[j].complete),
            );
            (ops[i].invoke, ops[i].complete) = b;
            (ops[j].invoke, ops[j].complete) = a;
        }
        1 if stream.len() >= 2 => {
            let k = rng.random_range(0..stream.len() - 1);
            stream.swap(k, k + 1);
        }
        2 => {
            stream.pop();
        }
        _ => match &mut ops[i].kind {
            OpKind::CheckTail(tail) => *tail = delta(rng, *tail),
            OpKind::ReadPastTail { tail, .. } => *tail = delta(rng, *tail),
            OpKind::Read { records, .. } => {
                if let Some(record) = records.first_mut() {
                    record.1 = format!("k{}-0", rng.random_range(0..7));
                }
            }
            OpKind::Append { outcome, .. } => {
                *outcome = match outcome.clone() {
                    AppendOutcome::Acked { start, end, .. } if rng.random_bool(0.5) => {
                        let start = delta(rng, start);
                        let end = start + (end - start.min(end)).max(1);
                        AppendOutcome::Acked {
                            start,
                            end,
                            tail: end,
                        }
                    }
                    AppendOutcome::Acked { .. } => AppendOutcome::Unknown,
                    AppendOutcome::Unknown if rng.random_bool(0.5) => AppendOutcome::Cancelled,
                    AppendOutcome::Unknown => AppendOutcome::NotApplied,
                    AppendOutcome::SeqNumMismatch(tail) => {
                        AppendOutcome::SeqNumMismatch(delta(rng, tail))
                    }
                    AppendOutcome::FencingMismatch(_) => {
                        AppendOutcome::FencingMismatch(format!("t{}", rng.random_range(0..7)))
                    }
                    AppendOutcome::NotApplied | AppendOutcome::Cancelled => AppendOutcome::Unknown,
                };
                if matches!(outcome, AppendOutcome::Unknown) && rng.random_bool(0.5) {
                    ops[i].complete = None;
                }
            }
            OpKind::ReadSession { .. } => {}
        },
    }
}

/// Renumbers times so every event has its own tick, keeping each
/// operation's invocation before its completion.
fn distinct_ticks(rng: &mut SmallRng, ops: &mut [Op]) {
    let mut events: Vec<(Time, u64, usize, bool)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        events.push((op.invoke, rng.random(), i, false));
        if let Some(complete) = op.complete {
            events.push((complete.max(op.invoke + 1), rng.random(), i, true));
        }
    }
    events.sort_unstable();
    for (tick, (_, _, i, is_complete)) in events.into_iter().enumerate() {
        let tick = tick as Time + 1;
        if is_complete {
            ops[i].complete = Some(tick);
        } else {
            ops[i].invoke = tick;
        }
    }
}

#[test]
fn the_checker_agrees_with_a_brute_force_search() {
    let (mut good, mut bad) = (0, 0);
    for seed in 0..20_000u64 {
        let mut rng = SmallRng::seed_from_u64(seed);
        let (history, stream) = random_history(&mut rng);
        let expected = linearizable(&history, &stream);
        let verdict = check(&history, &stream);
        assert_eq!(
            verdict.is_ok(),
            expected,
            "seed {seed}: checker says {verdict:?}, brute force says {expected}\n{history:#?}\nstream {stream:?}"
        );
        if expected { good += 1 } else { bad += 1 }
    }
    eprintln!("{good} linearizable, {bad} not");
    assert!(good > 5_000 && bad > 2_000, "{good} good, {bad} bad");
}
