//! The hostile suite on smol, with a counting allocator for its memory
//! bounds.

s2_conformance::counting_allocator!(ALLOCATOR);

s2_conformance::hostile_tests!(s2_smol::SmolRuntime, smol::block_on, ALLOCATOR);
