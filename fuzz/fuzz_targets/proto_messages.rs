//! Protobuf bytes from the server turned into read batches, acks and
//! command records.
//! The body and its properties live in `s2_fuzz_bodies::proto_messages`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use s2_fuzz_bodies::{fuzz, proto_messages};

fuzz_target!(|data: &[u8]| fuzz(proto_messages, data));
