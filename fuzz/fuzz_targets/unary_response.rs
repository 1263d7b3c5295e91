//! Every endpoint's response parser fed an arbitrary status, headers
//! (content encoding included) and body.
//! The body and its properties live in `s2_fuzz_bodies::unary_response`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use s2_fuzz_bodies::{fuzz, unary_response};

fuzz_target!(|data: &[u8]| fuzz(unary_response, data));
