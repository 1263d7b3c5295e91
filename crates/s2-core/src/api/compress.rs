//! Compression of request bodies (`Content-Encoding`), with the same rule
//! as session frames: bodies under [`COMPRESSION_THRESHOLD`] bytes, and
//! bodies compression does not shrink, go as they are.

use bytes::Bytes;

use crate::{
    compression::{self, Compression},
    frame::COMPRESSION_THRESHOLD,
};

/// `body` compressed under `compression`, or `None` when it goes as it is.
pub(super) fn body(compression: Compression, body: &[u8]) -> Option<Bytes> {
    if body.len() < COMPRESSION_THRESHOLD {
        return None;
    }
    let compressed = compression::compress_to_vec(compression, body)?;
    (compressed.len() < body.len()).then(|| Bytes::from(compressed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::decompress;

    #[test]
    fn only_large_compressible_bodies_are_compressed() {
        let large = "compressible ".repeat(200).into_bytes();
        // xorshift64: incompressible enough.
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        let random: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for compression in [Compression::Zstd, Compression::Gzip] {
            let compressed = body(compression, &large).expect("compressible");
            assert_eq!(
                decompress(compression, compressed, 1 << 20).unwrap(),
                Bytes::from(large.clone())
            );
            assert_eq!(body(compression, &large[..COMPRESSION_THRESHOLD - 1]), None);
            assert_eq!(body(compression, &random), None, "it would not shrink");
        }
        assert_eq!(body(Compression::None, &large), None);
    }
}
