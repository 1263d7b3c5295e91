//! The hostile suite on async-std, with a counting allocator for its memory
//! bounds.

s2_conformance::counting_allocator!(ALLOCATOR);

s2_conformance::hostile_tests!(
    s2_async_std::AsyncStdRuntime,
    async_std::task::block_on,
    ALLOCATOR
);
