//! Decides whether a history is linearizable against the stream model.
//!
//! S2 gives the order of every append that landed for free: the final
//! content of the stream, read once every client is done. Record keys are
//! unique, so each landed batch is found in it, and the model's states are
//! fixed: `S_0` (empty), then `S_i` after the `i`-th landed batch. What is
//! left to decide is whether every operation can take effect at one instant
//! inside its `[invoke, complete]` window (an unknown-outcome append: any
//! instant after its invocation) so that
//!
//! - the landed batches take effect in stream order, each one's conditions
//!   holding in the state before it, each ack naming where it landed;
//! - every batch reported as not applied is absent from the stream;
//! - every observation (a tail, records read, a rejection's reported tail
//!   or token) holds in the state current at its instant.
//!
//! An observation holds in a contiguous range of states `S_lo..=S_hi`
//! (fencing tokens are unique per fence, so a token names one range too).
//! Seeing a state in that range within its window means batch `lo` took
//! effect before the observation completed and batch `hi + 1` after it was
//! invoked. So every observation narrows the windows of two batches, and the
//! history is linearizable exactly when batch instants can increase through
//! the narrowed windows: for every `i`, the latest lower bound among batches
//! `1..=i` lies before batch `i`'s upper bound. An observation that fits
//! several disjoint ranges (a token reused) is searched over, Wing–Gong
//! style. A failure names the two batches and the two bounds that clash:
//! at most four operations, a minimal counter-example.

use std::{collections::HashMap, fmt};

use super::{
    history::{AppendOutcome, History, Op, OpKind, RecordKey, SessionItem, Time},
    model::{Conditions, Rejection, StreamState},
};

/// What a successful check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Batches found in the final stream.
    pub landed: usize,
    /// Of those, repeats of an at-least-once batch.
    pub repeats: usize,
    /// Unknown-outcome appends that landed.
    pub unknown_landed: usize,
    /// Unknown-outcome appends that did not.
    pub unknown_lost: usize,
    /// Observations placed (tails, reads, rejections, session batches).
    pub observations: usize,
}

/// Why a history is not linearizable, with the operations that show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// What is wrong.
    pub reason: String,
    /// The operations involved: a minimal counter-example.
    pub ops: Vec<Op>,
    /// The part of the final stream that matters, `(seq_num, key)`.
    pub stream: Vec<(u64, RecordKey)>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "NOT LINEARIZABLE: {}", self.reason)?;
        writeln!(f, "counter-example ({} operations):", self.ops.len())?;
        for op in &self.ops {
            writeln!(f, "  {op}")?;
        }
        if !self.stream.is_empty() {
            writeln!(f, "final stream (excerpt):")?;
            let n = self.stream.len();
            for (i, (seq_num, key)) in self.stream.iter().enumerate() {
                // The ends of a long range are what matter.
                if n > 12 && (4..n - 4).contains(&i) {
                    if i == 4 {
                        writeln!(f, "  ... {} more ...", n - 8)?;
                    }
                    continue;
                }
                writeln!(f, "  {seq_num}: {key}")?;
            }
        }
        Ok(())
    }
}

/// Checks `history` against `stream`, the final content of the stream (its
/// record keys in sequence order).
pub fn check(history: &History, stream: &[RecordKey]) -> Result<Summary, Violation> {
    let analysis = Analysis::new(history, stream)?;
    analysis.check_landed()?;
    analysis.check_session_order()?;
    let observations = analysis.observations()?;
    analysis.solve(&observations)?;
    let unknown = |landed: bool| {
        history
            .ops
            .iter()
            .enumerate()
            .filter(|(i, op)| {
                matches!(
                    op.kind,
                    OpKind::Append {
                        outcome: AppendOutcome::Unknown,
                        ..
                    }
                ) && analysis.landed_at.contains_key(i) == landed
            })
            .count()
    };
    Ok(Summary {
        landed: analysis.landings.len(),
        repeats: analysis.landings.len() - analysis.landed_at.len(),
        unknown_landed: unknown(true),
        unknown_lost: unknown(false),
        observations: observations.len(),
    })
}

/// A landed batch: its operation and where it is.
#[derive(Debug, Clone, Copy)]
struct Landing {
    op: usize,
    start: u64,
    end: u64,
}

/// An observation: it must take effect within `[invoke, complete]` in a
/// state of one of `choices` (inclusive ranges of state indices).
#[derive(Debug, Clone)]
struct Observation {
    op: usize,
    invoke: Time,
    complete: Option<Time>,
    choices: Vec<(usize, usize)>,
}

/// Why a batch's instant is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    /// The batch's own invocation or completion.
    Own(usize),
    /// An observation that did not see the batch (lower bound) or did
    /// (upper bound).
    Observed(usize),
}

type Bound = (Time, Why);

struct Analysis<'h> {
    history: &'h History,
    stream: &'h [RecordKey],
    /// The `i`-th landed batch takes the model from state `i` to `i + 1`.
    landings: Vec<Landing>,
    /// Op index → indices in `landings` (more than one only for an
    /// at-least-once batch).
    landed_at: HashMap<usize, Vec<usize>>,
    /// The model's states, `landings.len() + 1` of them.
    states: Vec<StreamState>,
}

impl<'h> Analysis<'h> {
    /// Finds every batch in the final stream.
    fn new(history: &'h History, stream: &'h [RecordKey]) -> Result<Self, Violation> {
        let mut owner: HashMap<&str, (usize, usize)> = HashMap::new();
        for (i, op) in history.ops.iter().enumerate() {
            if let OpKind::Append { records, .. } = &op.kind {
                for (r, key) in records.iter().enumerate() {
                    if let Some((other, _)) = owner.insert(key, (i, r)) {
                        return Err(Violation {
                            reason: format!("malformed history: record {key} sent twice"),
                            ops: vec![history.ops[other].clone(), op.clone()],
                            stream: Vec::new(),
                        });
                    }
                }
            }
        }
        let mut analysis = Self {
            history,
            stream,
            landings: Vec::new(),
            landed_at: HashMap::new(),
            states: vec![StreamState::default()],
        };
        let mut pos = 0;
        while pos < stream.len() {
            let key = &stream[pos];
            let Some(&(op, r)) = owner.get(key.as_str()) else {
                return Err(analysis.violation(
                    format!("position {pos} holds {key}, which no operation appended"),
                    &[],
                    pos..pos + 1,
                ));
            };
            let OpKind::Append {
                records,
                fence,
                may_repeat,
                ..
            } = &history.ops[op].kind
            else {
                unreachable!("only appends own records");
            };
            let end = pos + records.len();
            if r != 0 || stream.get(pos..end) != Some(&records[..]) {
                return Err(analysis.violation(
                    format!(
                        "the batch holding {key} did not land whole and contiguous at position {pos}"
                    ),
                    &[op],
                    pos.saturating_sub(r)..end.min(stream.len()).max(pos + 1),
                ));
            }
            if let Some(earlier) = analysis.landed_at.get(&op)
                && !may_repeat
            {
                let first = analysis.landings[earlier[0]].start as usize;
                return Err(analysis.violation(
                    format!("one batch landed twice: at {first} and at {pos}"),
                    &[op],
                    first..end,
                ));
            }
            let mut state = analysis.states.last().expect("state 0 exists").clone();
            state.apply(records, fence.as_deref());
            analysis.states.push(state);
            let l = analysis.landings.len();
            analysis.landed_at.entry(op).or_default().push(l);
            analysis.landings.push(Landing {
                op,
                start: pos as u64,
                end: end as u64,
            });
            pos = end;
        }
        Ok(analysis)
    }

    fn violation(
        &self,
        reason: String,
        ops: &[usize],
        stream: std::ops::Range<usize>,
    ) -> Violation {
        let mut unique = ops.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let end = stream.end.min(self.stream.len());
        let start = stream.start.min(end);
        Violation {
            reason,
            ops: unique
                .iter()
                .map(|&i| self.history.ops[i].clone())
                .collect(),
            stream: (start..end)
                .map(|i| (i as u64, self.stream[i].clone()))
                .collect(),
        }
    }

    fn stream_range(&self, op: usize) -> std::ops::Range<usize> {
        match self.landed_at.get(&op).map(|l| (l[0], l[l.len() - 1])) {
            Some((first, last)) => {
                self.landings[first].start as usize..self.landings[last].end as usize
            }
            None => 0..0,
        }
    }

    /// The state whose tail is `tail`, if any.
    fn state_with_tail(&self, tail: u64) -> Option<(usize, usize)> {
        let k = self.states.partition_point(|s| s.tail() < tail);
        (k < self.states.len() && self.states[k].tail() == tail).then_some((k, k))
    }

    /// The states holding at least `len` records.
    fn states_holding(&self, len: u64) -> Option<(usize, usize)> {
        let k = self.states.partition_point(|s| s.tail() < len);
        (k < self.states.len()).then_some((k, self.states.len() - 1))
    }

    /// The ranges of states whose token is `token`.
    fn states_with_token(&self, token: &str) -> Vec<(usize, usize)> {
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        for (k, state) in self.states.iter().enumerate() {
            if state.token == token {
                match ranges.last_mut() {
                    Some(range) if range.1 + 1 == k => range.1 = k,
                    _ => ranges.push((k, k)),
                }
            }
        }
        ranges
    }

    /// Checks that records read are the stream's, from `start` on without
    /// gaps.
    fn check_read(
        &self,
        op: usize,
        start: u64,
        records: &[(u64, RecordKey)],
    ) -> Result<(), Violation> {
        for (k, (seq_num, key)) in records.iter().enumerate() {
            let expected_seq = start + k as u64;
            let pos = *seq_num as usize;
            let reason = if *seq_num != expected_seq {
                format!(
                    "a read delivered {key} at {seq_num} where {expected_seq} was next (gap or repeat)"
                )
            } else if self.stream.get(pos) != Some(key) {
                format!(
                    "a read returned {key} at {seq_num}, which the stream holds {}",
                    match self.stream.get(pos) {
                        Some(other) => format!("{other} at"),
                        None => "nothing at".to_string(),
                    }
                )
            } else {
                continue;
            };
            return Err(self.violation(
                reason,
                &[op],
                pos.saturating_sub(1)..pos.max(expected_seq as usize) + 2,
            ));
        }
        Ok(())
    }

    /// Every observation in the history, checked for what does not depend
    /// on when it took effect.
    fn observations(&self) -> Result<Vec<Observation>, Violation> {
        let mut observations = Vec::new();
        for (i, op) in self.history.ops.iter().enumerate() {
            let observe = |choices: Option<(usize, usize)>,
                           invoke: Time,
                           complete: Option<Time>,
                           what: &str|
             -> Result<Observation, Violation> {
                match choices {
                    Some(range) => Ok(Observation {
                        op: i,
                        invoke,
                        complete,
                        choices: vec![range],
                    }),
                    None => Err(self.violation(
                        format!(
                            "{what}, which is no state of the stream (final tail {})",
                            self.stream.len()
                        ),
                        &[i],
                        self.stream.len().saturating_sub(3)..self.stream.len(),
                    )),
                }
            };
            let tail_was = |tail: u64, invoke, complete| {
                observe(
                    self.state_with_tail(tail),
                    invoke,
                    complete,
                    &format!("it saw the tail at {tail}"),
                )
            };
            let static_violation =
                |reason: String| Err(self.violation(reason, &[i], self.stream_range(i)));
            match &op.kind {
                OpKind::Append {
                    outcome,
                    match_seq_num,
                    fencing_token,
                    ..
                } => match outcome {
                    AppendOutcome::Acked { end, tail, .. } => {
                        if tail < end {
                            return static_violation(format!(
                                "its ack's tail {tail} is before its end {end}"
                            ));
                        }
                        observations.push(tail_was(*tail, op.invoke, op.complete)?);
                    }
                    AppendOutcome::SeqNumMismatch(expected) => {
                        if *match_seq_num == Some(*expected) || match_seq_num.is_none() {
                            return static_violation(format!(
                                "a match_seq_num mismatch at {expected} for match_seq_num {match_seq_num:?}"
                            ));
                        }
                        observations.push(tail_was(*expected, op.invoke, op.complete)?);
                    }
                    AppendOutcome::FencingMismatch(expected) => {
                        if fencing_token.as_ref() == Some(expected) || fencing_token.is_none() {
                            return static_violation(format!(
                                "a fencing mismatch against {expected:?} for token {fencing_token:?}"
                            ));
                        }
                        let choices = self.states_with_token(expected);
                        if choices.is_empty() {
                            return static_violation(format!(
                                "it was rejected by token {expected:?}, which the stream never had"
                            ));
                        }
                        observations.push(Observation {
                            op: i,
                            invoke: op.invoke,
                            complete: op.complete,
                            choices,
                        });
                    }
                    AppendOutcome::NotApplied
                    | AppendOutcome::Cancelled
                    | AppendOutcome::Unknown => {}
                },
                OpKind::CheckTail(tail) => {
                    observations.push(tail_was(*tail, op.invoke, op.complete)?)
                }
                OpKind::Read {
                    start,
                    records,
                    tail,
                } => {
                    self.check_read(i, *start, records)?;
                    let end = start + records.len() as u64;
                    if !records.is_empty() {
                        observations.push(observe(
                            self.states_holding(end),
                            op.invoke,
                            op.complete,
                            "it read records",
                        )?);
                    }
                    if let Some(tail) = tail {
                        if *tail < end {
                            return static_violation(format!(
                                "it read up to {end} but reported the tail at {tail}"
                            ));
                        }
                        observations.push(tail_was(*tail, op.invoke, op.complete)?);
                    }
                }
                OpKind::ReadPastTail { start, tail } => {
                    if start < tail {
                        return static_violation(format!(
                            "a read from {start} was refused as past the tail {tail}"
                        ));
                    }
                    observations.push(tail_was(*tail, op.invoke, op.complete)?);
                }
                OpKind::ReadSession {
                    start,
                    limit,
                    items,
                    ..
                } => {
                    let mut next = *start;
                    for (received, item) in items {
                        let received = Some(*received);
                        match item {
                            SessionItem::Batch { records, tail } => {
                                self.check_read(i, next, records)?;
                                next += records.len() as u64;
                                if next - start > *limit {
                                    return static_violation(format!(
                                        "a read session delivered {} records, over its limit {limit}",
                                        next - start
                                    ));
                                }
                                if !records.is_empty() {
                                    observations.push(observe(
                                        self.states_holding(next),
                                        op.invoke,
                                        received,
                                        "it read records",
                                    )?);
                                }
                                if let Some(tail) = tail {
                                    if *tail < next {
                                        return static_violation(format!(
                                            "a read session delivered up to {next} but reported the tail at {tail}"
                                        ));
                                    }
                                    observations.push(tail_was(*tail, op.invoke, received)?);
                                }
                            }
                            SessionItem::CaughtUp(tail) => {
                                if *tail < next {
                                    return static_violation(format!(
                                        "a read session delivered up to {next} but caught up at tail {tail}"
                                    ));
                                }
                                observations.push(tail_was(*tail, op.invoke, received)?);
                            }
                            SessionItem::Tail(tail) => {
                                if next < *tail {
                                    return static_violation(format!(
                                        "a read session at {next} was refused as past the tail {tail}"
                                    ));
                                }
                                observations.push(tail_was(*tail, op.invoke, received)?);
                            }
                        }
                    }
                }
            }
        }
        Ok(observations)
    }

    /// Landed batches: conditions held, acks name where they are; batches
    /// reported as not landed are absent.
    fn check_landed(&self) -> Result<(), Violation> {
        for (i, op) in self.history.ops.iter().enumerate() {
            let OpKind::Append {
                outcome,
                match_seq_num,
                fencing_token,
                ..
            } = &op.kind
            else {
                continue;
            };
            let Some(landed) = self.landed_at.get(&i) else {
                if let AppendOutcome::Acked { start, end, .. } = outcome {
                    let (start, end) = (*start as usize, *end as usize);
                    return Err(self.violation(
                        format!("acknowledged at {start}..{end}, but absent from the stream"),
                        &[i],
                        start..end,
                    ));
                }
                continue;
            };
            for &l in landed {
                let landing = self.landings[l];
                let range = landing.start as usize..landing.end as usize;
                let before = &self.states[l];
                let rejections = before.rejections(Conditions {
                    match_seq_num: *match_seq_num,
                    fencing_token: fencing_token.as_deref(),
                });
                if let Some(rejection) = rejections.first() {
                    let why = match rejection {
                        Rejection::SeqNum(tail) => {
                            format!("match_seq_num {match_seq_num:?} but the tail was {tail}")
                        }
                        Rejection::Fencing(token) => format!(
                            "fencing token {fencing_token:?} but the stream's was {token:?}"
                        ),
                    };
                    return Err(self.violation(
                        format!(
                            "landed at {} although its condition failed there: {why}",
                            landing.start
                        ),
                        &[i],
                        range,
                    ));
                }
                if let AppendOutcome::SeqNumMismatch(_)
                | AppendOutcome::FencingMismatch(_)
                | AppendOutcome::NotApplied
                | AppendOutcome::Cancelled = outcome
                {
                    // Show what the rejection saw: the fence that set the
                    // token it reports, or the batch ending at its tail.
                    let witness = self.landings.iter().find(|w| {
                        w.op != i
                            && match outcome {
                                AppendOutcome::FencingMismatch(token) => matches!(
                                    &self.history.ops[w.op].kind,
                                    OpKind::Append { fence: Some(f), .. } if f == token
                                ),
                                AppendOutcome::SeqNumMismatch(tail) => w.end == *tail,
                                _ => false,
                            }
                    });
                    let (ops, range) = match witness {
                        Some(w) => (
                            vec![i, w.op],
                            range.start.min(w.start as usize)..range.end.max(w.end as usize),
                        ),
                        None => (vec![i], range),
                    };
                    return Err(self.violation(
                        format!(
                            "reported as not applied ({outcome:?}), but it landed at {}..{}",
                            landing.start, landing.end
                        ),
                        &ops,
                        range,
                    ));
                }
            }
            if let AppendOutcome::Acked { start, end, .. } = outcome
                && self.acked_landing(i).is_none()
            {
                let range = self.stream_range(i);
                let (s, e) = (*start as usize, *end as usize);
                return Err(self.violation(
                    format!(
                        "acknowledged at {start}..{end}, but it landed at {}..{}",
                        range.start, range.end
                    ),
                    &[i],
                    s.min(range.start)..e.max(range.end),
                ));
            }
        }
        Ok(())
    }

    /// The landing an ack names, if it names one.
    fn acked_landing(&self, op: usize) -> Option<usize> {
        let OpKind::Append {
            outcome: AppendOutcome::Acked { start, end, .. },
            ..
        } = &self.history.ops[op].kind
        else {
            return None;
        };
        self.landed_at
            .get(&op)?
            .iter()
            .copied()
            .find(|&l| (self.landings[l].start, self.landings[l].end) == (*start, *end))
    }

    /// When landing `l` must have taken effect by: its operation's
    /// completion if the operation reported it (an ack naming it, a
    /// rejection), never for an unknown outcome or an at-least-once
    /// repeat.
    fn deadline(&self, l: usize) -> Option<Time> {
        let op = &self.history.ops[self.landings[l].op];
        match &op.kind {
            OpKind::Append {
                outcome: AppendOutcome::Acked { .. },
                ..
            } => (self.acked_landing(self.landings[l].op) == Some(l))
                .then_some(op.complete)
                .flatten(),
            _ => op.effect_deadline(),
        }
    }

    /// Batches of one session or producer land in submission order (their
    /// first landings: at-least-once repeats may come later).
    fn check_session_order(&self) -> Result<(), Violation> {
        let mut last: HashMap<u64, (u64, usize)> = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        for landing in &self.landings {
            if !seen.insert(landing.op) {
                continue;
            }
            let OpKind::Append { source, .. } = &self.history.ops[landing.op].kind else {
                continue;
            };
            let Some((session, index)) = source.ordered() else {
                continue;
            };
            if let Some(&(previous, op)) = last.get(&session)
                && previous > index
            {
                let first = self.stream_range(op);
                return Err(self.violation(
                    format!("session {session}: input {index} landed after input {previous}, which was submitted later"),
                    &[op, landing.op],
                    first.start..landing.end as usize,
                ));
            }
            last.insert(session, (index, landing.op));
        }
        Ok(())
    }

    /// Places every batch and observation in time.
    fn solve(&self, observations: &[Observation]) -> Result<(), Violation> {
        let mut lower: Vec<Bound> = Vec::with_capacity(self.landings.len());
        let mut upper: Vec<Option<Bound>> = Vec::with_capacity(self.landings.len());
        for (l, landing) in self.landings.iter().enumerate() {
            let op = &self.history.ops[landing.op];
            lower.push((op.invoke, Why::Own(landing.op)));
            upper.push(self.deadline(l).map(|t| (t, Why::Own(landing.op))));
        }
        let (fixed, branching): (Vec<_>, Vec<_>) =
            observations.iter().partition(|o| o.choices.len() == 1);
        for observation in fixed {
            narrow(&mut lower, &mut upper, observation, observation.choices[0]);
        }
        let mut budget = 1_000_000u64;
        self.search(lower, upper, &branching, &mut budget)
    }

    fn search(
        &self,
        lower: Vec<Bound>,
        upper: Vec<Option<Bound>>,
        branching: &[&Observation],
        budget: &mut u64,
    ) -> Result<(), Violation> {
        let Some((observation, rest)) = branching.split_first() else {
            return self.increasing(&lower, &upper);
        };
        let mut first_failure = None;
        for &choice in &observation.choices {
            if *budget == 0 {
                return Err(self.violation(
                    "inconclusive: search budget exhausted".into(),
                    &[observation.op],
                    0..0,
                ));
            }
            *budget -= 1;
            let (mut lower, mut upper) = (lower.clone(), upper.clone());
            narrow(&mut lower, &mut upper, observation, choice);
            match self.search(lower, upper, rest, budget) {
                Ok(()) => return Ok(()),
                Err(violation) => {
                    first_failure.get_or_insert(violation);
                }
            }
        }
        Err(first_failure.expect("an observation has at least one choice"))
    }

    /// Whether batch instants can increase through their windows; if not,
    /// the two clashing bounds.
    fn increasing(&self, lower: &[Bound], upper: &[Option<Bound>]) -> Result<(), Violation> {
        let mut latest = 0;
        for i in 0..lower.len() {
            if lower[i].0 > lower[latest].0 {
                latest = i;
            }
            if let Some(bound) = upper[i]
                && lower[latest].0 >= bound.0
            {
                return Err(self.clash(latest, lower[latest], i, bound));
            }
        }
        Ok(())
    }

    fn clash(&self, j: usize, after: Bound, i: usize, before: Bound) -> Violation {
        let describe = |l: usize| {
            let landing = self.landings[l];
            format!("the batch at {}..{}", landing.start, landing.end)
        };
        let why_after = match after.1 {
            Why::Own(_) => format!("it was invoked at t={}", after.0),
            Why::Observed(o) => format!(
                "an operation invoked at t={} saw the stream without it: {}",
                after.0, self.history.ops[o]
            ),
        };
        let why_before = match before.1 {
            Why::Own(_) => format!("it completed at t={}", before.0),
            Why::Observed(o) => format!(
                "an operation that completed at t={} saw it: {}",
                before.0, self.history.ops[o]
            ),
        };
        let reason = if i == j {
            format!(
                "{} must take effect after t={} ({why_after}) and before t={} ({why_before})",
                describe(j),
                after.0,
                before.0
            )
        } else {
            format!(
                "{} must take effect after t={} ({why_after}), but {}, which the stream puts after it, must take effect before t={} ({why_before})",
                describe(j),
                after.0,
                describe(i),
                before.0
            )
        };
        let mut ops = vec![self.landings[j].op, self.landings[i].op];
        for why in [after.1, before.1] {
            if let Why::Observed(o) = why {
                ops.push(o);
            }
        }
        let range = self.landings[j].start as usize..self.landings[i].end as usize;
        self.violation(reason, &ops, range)
    }
}

/// Narrows batch windows for `observation` seeing a state in `choice`.
fn narrow(
    lower: &mut [Bound],
    upper: &mut [Option<Bound>],
    observation: &Observation,
    (lo, hi): (usize, usize),
) {
    // Batch `lo - 1` (into state `lo`) took effect before the observation
    // completed.
    if lo >= 1
        && let Some(complete) = observation.complete
        && upper[lo - 1].is_none_or(|(t, _)| complete < t)
    {
        upper[lo - 1] = Some((complete, Why::Observed(observation.op)));
    }
    // Batch `hi` (out of state `hi`) took effect after it was invoked.
    if hi < lower.len() && observation.invoke > lower[hi].0 {
        lower[hi] = (observation.invoke, Why::Observed(observation.op));
    }
}
