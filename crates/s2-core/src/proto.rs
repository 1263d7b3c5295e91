//! Protobuf messages of the data plane, generated from `proto/s2/v1/s2.proto`.
//!
//! `bytes` fields are [`bytes::Bytes`], so decoding from a `Bytes` buffer
//! slices record bodies out of it instead of copying them.

#![allow(missing_docs, clippy::all)]

include!(concat!(env!("OUT_DIR"), "/s2.v1.rs"));
