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
//! - every batch reported as not applied (or whose submit was cancelled) is
//!   absent from the stream; only an at-least-once batch may land twice,
//!   its extra landings at any instant after its invocation;
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

mod landed;
mod observe;
mod solve;

use std::{collections::HashMap, fmt};

use super::{
    history::{AppendOutcome, History, Op, OpKind, RecordKey, Time},
    model::StreamState,
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
}
