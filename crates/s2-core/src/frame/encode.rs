//! Encoding: payloads and protobuf messages into frames.

use bytes::{BufMut, BytesMut};

use super::{
    COMPRESSION_THRESHOLD, FLAG_TERMINAL, FrameError, HEADER_LEN, MAX_PAYLOAD_LEN, WireMessage,
};
use crate::compression::{Compression, compress_into};

/// Appends one regular frame carrying `payload` to `out`.
///
/// The payload is compressed with `compression` only when it is at least
/// [`COMPRESSION_THRESHOLD`] bytes long and compression actually shrinks it;
/// otherwise it is sent as is. Compression writes straight into `out`, so no
/// buffer is allocated besides `out` growing (the compression library's own
/// state aside). Fails, leaving `out` untouched, when `payload` exceeds
/// [`MAX_PAYLOAD_LEN`].
pub fn encode_frame(
    out: &mut BytesMut,
    payload: &[u8],
    compression: Compression,
) -> Result<(), FrameError> {
    check_payload_len(payload.len())?;
    let start = out.len();
    if worth_compressing(compression, payload.len()) {
        // Room for one byte less than the payload: a compressor that cannot
        // shrink it runs out of space and we fall back to no compression.
        out.resize(start + HEADER_LEN + payload.len() - 1, 0);
        if let Some(n) = compress_into(compression, payload, &mut out[start + HEADER_LEN..]) {
            out.truncate(start + HEADER_LEN + n);
            out[start..start + HEADER_LEN].copy_from_slice(&header(n, compression.flag_bits()));
            return Ok(());
        }
        out.truncate(start);
    }
    out.reserve(HEADER_LEN + payload.len());
    out.put_slice(&header(payload.len(), 0));
    out.put_slice(payload);
    Ok(())
}

/// Appends one regular frame carrying the protobuf encoding of `msg` to `out`.
///
/// Same rules as [`encode_frame`]. When the frame goes out uncompressed the
/// message is encoded directly after the frame header, so record bodies are
/// copied exactly once. When compressing, the message is encoded into `out`
/// past the frame, compressed in front of it and moved into place, so no
/// other buffer is allocated either.
pub fn encode_message<M: WireMessage>(
    out: &mut BytesMut,
    msg: &M,
    compression: Compression,
) -> Result<(), FrameError> {
    let len = msg.encoded_len();
    check_payload_len(len)?;
    let start = out.len();
    if !worth_compressing(compression, len) {
        out.reserve(HEADER_LEN + len);
        out.put_slice(&header(len, 0));
        msg.encode(out);
        return Ok(());
    }

    // Layout while compressing: [raw message][header][compressed...], with
    // room for one byte less than the message (see `encode_frame`).
    out.reserve(len + HEADER_LEN + len);
    msg.encode(out);
    let raw_end = start + len;
    out.resize(raw_end + HEADER_LEN + len - 1, 0);
    let (raw, dst) = out.split_at_mut(raw_end);
    if let Some(n) = compress_into(compression, &raw[start..], &mut dst[HEADER_LEN..]) {
        dst[..HEADER_LEN].copy_from_slice(&header(n, compression.flag_bits()));
        out.copy_within(raw_end..raw_end + HEADER_LEN + n, start);
        out.truncate(start + HEADER_LEN + n);
    } else {
        // Incompressible: slide the raw message right to make room for the header.
        out.truncate(raw_end + HEADER_LEN);
        out.copy_within(start..raw_end, start + HEADER_LEN);
        out[start..start + HEADER_LEN].copy_from_slice(&header(len, 0));
    }
    Ok(())
}

/// Appends one uncompressed terminal frame to `out`: the `status` code and a
/// JSON error `body`. Servers send these; the client only decodes them.
pub fn encode_terminal(out: &mut BytesMut, status: u16, body: &[u8]) -> Result<(), FrameError> {
    let len = 2 + body.len();
    check_payload_len(len)?;
    out.reserve(HEADER_LEN + len);
    out.put_slice(&header(len, FLAG_TERMINAL));
    out.put_u16(status);
    out.put_slice(body);
    Ok(())
}

fn check_payload_len(len: usize) -> Result<(), FrameError> {
    if len > MAX_PAYLOAD_LEN {
        return Err(FrameError::PayloadTooLarge {
            len,
            max: MAX_PAYLOAD_LEN,
        });
    }
    Ok(())
}

fn worth_compressing(compression: Compression, len: usize) -> bool {
    compression != Compression::None && len >= COMPRESSION_THRESHOLD
}

/// Length prefix and flag byte of a frame whose body is `body_len` bytes.
/// Callers have checked `body_len <= MAX_PAYLOAD_LEN`, so it fits 3 bytes.
pub(super) fn header(body_len: usize, flag: u8) -> [u8; HEADER_LEN] {
    let [_, a, b, c] = ((body_len + 1) as u32).to_be_bytes();
    [a, b, c, flag]
}
