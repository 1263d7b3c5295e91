//! The append session machine driven by arbitrary event sequences.
//! The body and its properties live in `s2_fuzz_bodies::append_session`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| s2_fuzz_bodies::append_session(data));
