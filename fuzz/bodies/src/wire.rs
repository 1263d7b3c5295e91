//! Server bytes built the way a well-behaved server would: frames around
//! protobuf messages and terminal errors. The bodies mix them with hostile
//! bytes so the fuzzer reaches deep states, and the seed corpus uses them.

use bytes::{BufMut, Bytes, BytesMut};
use s2_core::frame::{self, Compression, FLAG_RECONNECT_ADVISED, PREFIX_LEN, WireMessage};

/// One regular frame carrying `msg`, with the reconnect-advised flag if asked.
pub fn message_frame<M: WireMessage>(
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

/// One regular frame carrying `payload` as it is: for message bytes no
/// [`WireMessage`] encodes (a field left out, say).
pub fn payload_frame(payload: &[u8], compression: Compression) -> Bytes {
    let mut out = BytesMut::new();
    frame::encode_frame(&mut out, payload, compression)
        .expect("fuzz payloads are far below the frame limit");
    out.freeze()
}

/// Appends a length-delimited protobuf field: key (`field`, wire type 2),
/// varint length, then `value`.
pub fn put_len_field(out: &mut BytesMut, field: u8, value: &[u8]) {
    out.put_u8((field << 3) | 2);
    let mut len = value.len() as u64;
    while len >= 0x80 {
        out.put_u8((len as u8) | 0x80);
        len >>= 7;
    }
    out.put_u8(len as u8);
    out.put_slice(value);
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
