//! The conformance suite on async-std.

s2_conformance::conformance_tests!(s2_async_std::AsyncStdRuntime, async_std::task::block_on);
