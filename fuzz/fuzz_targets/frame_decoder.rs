//! The `s2s` frame decoder fed arbitrary bytes in two chunks.
//! The body and its properties live in `s2_fuzz_bodies::frame_decoder`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use s2_fuzz_bodies::{frame_decoder, fuzz};

fuzz_target!(|data: &[u8]| fuzz(frame_decoder, data));
