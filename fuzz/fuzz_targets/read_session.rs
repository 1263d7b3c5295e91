//! The read session machine driven by arbitrary event sequences.
//! The body and its properties live in `s2_fuzz_bodies::read_session`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use s2_fuzz_bodies::{fuzz, read_session};

fuzz_target!(|data: &[u8]| fuzz(read_session, data));
