//! Feeds arbitrary bytes, split in two at a point chosen by the first input
//! byte, into the `s2s` frame decoder and drains every frame. The decoder
//! must never panic, whatever the bytes and wherever the split.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use s2_core::frame::FrameDecoder;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let input = Bytes::copy_from_slice(rest);
    // Spread the split point over the whole input, ends included.
    let split = usize::from(selector) * input.len() / usize::from(u8::MAX);

    let mut decoder = FrameDecoder::default();
    for chunk in [input.slice(..split), input.slice(split..)] {
        decoder.handle_data(chunk);
        loop {
            match decoder.poll_frame() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                // Errors are fatal to a session; nothing more to exercise.
                Err(_) => return,
            }
        }
    }
    let _ = decoder.finish();
});
