//! Protobuf messages of the data plane, generated from `proto/s2/v1/s2.proto`.
//!
//! Private to the crate: the public types are the SDK's own
//! ([`crate::types`]), converted from and to these by moving their bytes.
//! `bytes` fields are [`bytes::Bytes`], so decoding from a `Bytes` buffer
//! slices record bodies out of it instead of copying them.

#![allow(missing_docs, unreachable_pub, clippy::all)]

include!(concat!(env!("OUT_DIR"), "/s2.v1.rs"));
