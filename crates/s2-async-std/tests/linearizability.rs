//! Linearizability on async-std: concurrent clients under faults, their
//! history checked against a sequential model of a stream. The soak:
//! `LINCHECK_SOAK_SECS=600 cargo test -p s2-async-std --test linearizability -- --ignored --nocapture soak`.

s2_conformance::linearizability_tests!(s2_async_std::AsyncStdRuntime, async_std::task::block_on, 2);
