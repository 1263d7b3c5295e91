//! Protobuf messages of the data plane, generated from `proto/s2/v1/s2.proto`.
//!
//! Private to the crate: the public types are the SDK's own
//! ([`crate::types`]), converted from and to these by moving their bytes.
//! `bytes` fields are [`bytes::Bytes`], so decoding from a `Bytes` buffer
//! slices record bodies out of it instead of copying them.
//!
//! The generated code is checked in (`proto/s2.v1.rs`), so building this
//! crate needs neither a protobuf compiler nor code generation; the test
//! `generated_proto` regenerates it from the workspace's `proto/` and fails
//! when the two differ (`S2_BLESS=1` rewrites it).

#![allow(missing_docs, unreachable_pub, clippy::all)]

include!("proto/s2.v1.rs");
