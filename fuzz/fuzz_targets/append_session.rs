//! The append session machine driven by arbitrary event sequences.
//! The body and its properties live in `s2_fuzz_bodies::append_session`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use s2_fuzz_bodies::{append_session, fuzz};

fuzz_target!(|data: &[u8]| fuzz(append_session, data));
