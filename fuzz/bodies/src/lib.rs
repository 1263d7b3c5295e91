//! Bodies of the fuzz targets of s2-core: every parser of server bytes and
//! the session state machines.
//!
//! Each target is a `pub fn <target>(data: &[u8])` that accepts any input
//! and panics only when a property is violated. cargo-fuzz runs them from
//! `fuzz/fuzz_targets/`; `tests/random.rs` runs them on random inputs, on
//! the seed corpus (`fuzz/corpus/<target>/`, written by
//! `examples/write_corpus.rs` from [`seeds`]) and on the recorded crashes
//! (`fuzz/regressions/<target>/`) under stable `cargo test`.
//!
//! ```text
//! cargo test -p s2-fuzz-bodies                # a few seconds per target
//! S2_FUZZ_SECS=60 cargo test -p s2-fuzz-bodies --test random read_session
//! scripts/fuzz.sh 10000000                    # cargo-fuzz, every target
//! ```

mod append;
mod frame;
pub mod input;
pub mod known;
mod names;
mod proto;
mod read;
pub mod seeds;
mod unary;
pub mod wire;

pub use append::append_session;
pub use frame::frame_decoder;
pub use known::fuzz;
pub use names::endpoints;
pub use proto::proto_messages;
pub use read::read_session;
pub use unary::unary_response;

/// A fuzz target body.
pub type Body = fn(&[u8]);

/// Every target: its name (that of its cargo-fuzz binary and corpus
/// directory) and its body.
pub const TARGETS: &[(&str, Body)] = &[
    ("frame_decoder", frame_decoder),
    ("proto_messages", proto_messages),
    ("unary_response", unary_response),
    ("append_session", append_session),
    ("read_session", read_session),
    ("endpoints", endpoints),
];
