//! Linearizability on smol: concurrent clients under faults, their history
//! checked against a sequential model of a stream. The soak:
//! `LINCHECK_SOAK_SECS=600 cargo test -p s2-smol --test linearizability -- --ignored --nocapture soak`.

s2_conformance::linearizability_tests!(s2_smol::SmolRuntime, smol::block_on, 3);
