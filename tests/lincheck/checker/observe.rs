//! Observations: what each operation saw, checked for what does not depend
//! on when it took effect, and turned into ranges of states.

use super::{Analysis, Observation, Violation};
use crate::lincheck::history::{AppendOutcome, OpKind, RecordKey, SessionItem, Time};

impl Analysis<'_> {
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
    pub(super) fn observations(&self) -> Result<Vec<Observation>, Violation> {
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
}
