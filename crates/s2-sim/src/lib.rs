//! Deterministic simulation of the S2 client.
//!
//! A world is one seed: a single-threaded executor with a virtual clock that
//! jumps to the next timer whenever every task waits, an in-memory network
//! whose latency and faults the seed chooses, and a model S2 server on h2 in
//! the same world. The client runs in it unchanged, through the public
//! [`Runtime`](s2_client::Runtime) trait; the same seed gives the same run.

pub mod model;
pub mod net;
mod runtime;
mod world;

pub use net::{NetConfig, NetCounts, NetHandle, SimConn, SimListener};
pub use runtime::SimRuntime;
pub use world::{Stuck, World, WorldConfig};
