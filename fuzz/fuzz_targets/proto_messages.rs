//! Protobuf bytes from the server turned into read batches, acks and
//! command records.
//! The body and its properties live in `s2_fuzz_bodies::proto_messages`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| s2_fuzz_bodies::proto_messages(data));
