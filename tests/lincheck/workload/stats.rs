//! Counts of operations, outcomes, errors and faults, for the report.

use std::{collections::BTreeMap, fmt};

use s2_client::Error;

/// Operation, outcome and fault counts.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Operations by kind.
    pub ops: BTreeMap<&'static str, u64>,
    /// Append outcomes by kind.
    pub outcomes: BTreeMap<&'static str, u64>,
    /// Faults injected by kind.
    pub faults: BTreeMap<&'static str, u64>,
    /// Errors operations failed with, by kind.
    pub errors: BTreeMap<String, u64>,
    /// Connections the proxies accepted.
    pub connections: u64,
}

impl Stats {
    pub(crate) fn count(map: &mut BTreeMap<&'static str, u64>, key: &'static str) {
        *map.entry(key).or_default() += 1;
    }

    pub(crate) fn merge(&mut self, other: Stats) {
        for (map, theirs) in [
            (&mut self.ops, other.ops),
            (&mut self.outcomes, other.outcomes),
            (&mut self.faults, other.faults),
        ] {
            for (key, n) in theirs {
                *map.entry(key).or_default() += n;
            }
        }
        for (key, n) in other.errors {
            *self.errors.entry(key).or_default() += n;
        }
        self.connections += other.connections;
    }

    pub(crate) fn error(&mut self, error: &Error) {
        let kind = match error {
            Error::AppendSession { cause, .. } => format!("AppendSession({})", error_kind(cause)),
            e => error_kind(e),
        };
        *self.errors.entry(kind).or_default() += 1;
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |map: &BTreeMap<&str, u64>| {
            map.iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let errors = self
            .errors
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        write!(
            f,
            "ops: {}\n  append outcomes: {}\n  errors: {errors}\n  faults: {}; connections {}",
            list(&self.ops),
            list(&self.outcomes),
            list(&self.faults),
            self.connections
        )
    }
}

/// An error's variant name.
fn error_kind(error: &Error) -> String {
    let debug = format!("{error:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_owned()
}
