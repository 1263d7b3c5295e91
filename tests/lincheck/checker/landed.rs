//! Landed batches: their conditions, their acks, their order within a
//! session.

use std::collections::HashMap;

use super::{Analysis, Violation};
use crate::lincheck::{
    history::{AppendOutcome, OpKind, Time},
    model::{Conditions, Rejection},
};

impl Analysis<'_> {
    /// Landed batches: conditions held, acks name where they are; batches
    /// reported as not landed are absent.
    pub(super) fn check_landed(&self) -> Result<(), Violation> {
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
    pub(super) fn acked_landing(&self, op: usize) -> Option<usize> {
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
    pub(super) fn deadline(&self, l: usize) -> Option<Time> {
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
    pub(super) fn check_session_order(&self) -> Result<(), Violation> {
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
}
