//! The `s2s` frame decoder fed arbitrary bytes in two chunks.

use bytes::Bytes;
use s2_core::frame::{Frame, FrameDecoder, FrameLimits, MAX_FRAME_LEN, PREFIX_LEN};

/// Splits the input in two at a point chosen by its first byte and drains
/// every frame. Properties: no panic; every frame decoded is a whole frame
/// of the input (its payload no larger than the protocol allows once
/// decompressed); after an error the decoder is not asked for more.
pub fn frame_decoder(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let input = Bytes::copy_from_slice(rest);
    // Spread the split point over the whole input, ends included.
    let split = usize::from(selector) * input.len() / usize::from(u8::MAX);
    let limits = FrameLimits::PROTOCOL;

    let mut decoder = FrameDecoder::new(limits);
    let mut fed = 0usize;
    let mut consumed_at_least = 0usize;
    for chunk in [input.slice(..split), input.slice(split..)] {
        fed += chunk.len();
        decoder.handle_data(chunk);
        loop {
            match decoder.poll_frame() {
                Ok(Some(frame)) => {
                    // A frame takes at least its 3-byte prefix and flag byte.
                    consumed_at_least += PREFIX_LEN + 1;
                    assert!(
                        consumed_at_least <= fed,
                        "decoded more frames than the input holds"
                    );
                    let len = match &frame {
                        Frame::Message { payload, .. } => payload.len(),
                        Frame::Terminal { body, .. } => body.len() + 2,
                    };
                    assert!(
                        len <= limits.max_decompressed_len.max(MAX_FRAME_LEN),
                        "frame of {len} bytes passed the decompression limit"
                    );
                }
                Ok(None) => break,
                // Errors are fatal to a session; nothing more to exercise.
                Err(_) => return,
            }
        }
        assert!(
            decoder.buffered_len() <= fed,
            "the decoder buffers more than it was given"
        );
    }
    let _ = decoder.finish();
}
