//! Endpoint and name handling: the host of any basin is under the
//! configured suffix.
//! The body and its properties live in `s2_fuzz_bodies::endpoints`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use s2_fuzz_bodies::{endpoints, fuzz};

fuzz_target!(|data: &[u8]| fuzz(endpoints, data));
