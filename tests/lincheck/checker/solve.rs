//! Placing batches and observations in time: narrowed windows, a search
//! over observations that fit several ranges, and the clash that explains a
//! failure.

use super::{Analysis, Bound, Observation, Violation, Why};

impl Analysis<'_> {
    /// Places every batch and observation in time.
    pub(super) fn solve(&self, observations: &[Observation]) -> Result<(), Violation> {
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
