//! The whole-client simulation: the client as users run it (drivers, pool,
//! admission gate, producers, close), on a simulated runtime whose
//! executor, clock and network are seeded, against a model S2 server in the
//! same world. One seed is one world, replayable exactly.
//!
//! [`world`] runs one world and checks it; `tests` runs a thousand in CI,
//! replays one, and soaks; `defects` holds one world per defect found by
//! review, each failing before its fix.

mod injector;
pub mod world;

#[cfg(test)]
mod defects;
#[cfg(test)]
mod restart;
#[cfg(test)]
mod tests;
