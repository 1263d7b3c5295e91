//! Endpoint and name handling: the host of any basin is under the
//! configured suffix.
//! The body and its properties live in `s2_fuzz_bodies::endpoints`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| s2_fuzz_bodies::endpoints(data));
