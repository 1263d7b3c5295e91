//! A linearizability checker for concurrent clients under faults.
//!
//! Several clients, each its own [`S2`](s2_client::S2) behind its own fault
//! proxy, run random operations on one stream ([`workload`]); every
//! invocation and completion goes into a [`History`]. At the end the stream
//! is read back: its content is the order of every append that landed. The
//! [`checker`] then decides whether the history is linearizable against the
//! sequential [`model`] of a stream — every operation taking effect at one
//! instant between its invocation and completion — and prints a minimal
//! counter-example when it is not.

pub mod checker;
pub mod history;
pub mod model;

#[cfg(test)]
mod oracle;
#[cfg(test)]
mod tests;

pub use checker::{Summary, Violation, check};
pub use history::{History, Op, OpKind, Recorder};
