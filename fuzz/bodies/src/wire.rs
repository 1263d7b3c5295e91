//! Server bytes built the way a well-behaved server would: frames around
//! protobuf messages and terminal errors. The bodies mix them with hostile
//! bytes so the fuzzer reaches deep states, and the seed corpus uses them.

use bytes::{Bytes, BytesMut};
use s2_core::frame::{self, Compression, FLAG_RECONNECT_ADVISED, PREFIX_LEN};

/// One regular frame carrying `msg`, with the reconnect-advised flag if asked.
pub fn message_frame<M: prost::Message>(
    msg: &M,
    compression: Compression,
    reconnect_advised: bool,
) -> Bytes {
    let mut out = BytesMut::new();
    frame::encode_message(&mut out, msg, compression)
        .expect("fuzz messages are far below the frame limit");
    if reconnect_advised {
        out[PREFIX_LEN] |= FLAG_RECONNECT_ADVISED;
    }
    out.freeze()
}

/// One terminal frame with `status` and a JSON error `body`.
pub fn terminal_frame(status: u16, body: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    frame::encode_terminal(&mut out, status, body)
        .expect("fuzz error bodies are far below the frame limit");
    out.freeze()
}

/// `body` compressed as `Content-Encoding: gzip` or `zstd`.
pub fn content_encode(compression: Compression, body: &[u8]) -> Vec<u8> {
    use std::io::Write;
    match compression {
        Compression::None => body.to_vec(),
        Compression::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder
                .write_all(body)
                .expect("writing to a Vec cannot fail");
            encoder.finish().expect("writing to a Vec cannot fail")
        }
        Compression::Zstd => zstd::bulk::compress(body, 1).expect("zstd compresses any input"),
    }
}
