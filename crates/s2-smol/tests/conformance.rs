//! The conformance suite on smol.

s2_conformance::conformance_tests!(s2_smol::SmolRuntime, smol::block_on);
