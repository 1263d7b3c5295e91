//! The `s2s` frame decoder fed arbitrary bytes in two chunks.
//! The body and its properties live in `s2_fuzz_bodies::frame_decoder`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| s2_fuzz_bodies::frame_decoder(data));
