//! The `s2s` session frame codec: how S2 v1 `s2s/proto` sessions cut an
//! HTTP/2 byte stream into messages. Sans-IO: bytes in, frames out.
//!
//! Every frame is laid out as:
//!
//! ```text
//! +----------------+--------+-------------------------------------------+
//! | length: 3 B BE | flag   | body: `length - 1` bytes                  |
//! +----------------+--------+-------------------------------------------+
//! ```
//!
//! * `length` counts the flag byte and the body, not itself.
//! * flag bit 7 is *terminal*, bits 6-5 the [`Compression`] of the body,
//!   bit 4 *reconnect advised* (the server is about to go away), bits 3-0 are
//!   reserved and must be zero.
//! * A regular frame's body is a (possibly compressed) protobuf message. A
//!   terminal frame's body is a 2-byte big-endian HTTP status followed by a
//!   JSON error; it is decompressed as a whole if its flag says so.
//!
//! Bodies under [`COMPRESSION_THRESHOLD`] bytes are always sent uncompressed,
//! a frame is at most [`MAX_FRAME_LEN`] bytes and a decompressed body at most
//! [`MAX_PAYLOAD_LEN`] bytes.
//!
//! Encode with [`encode_frame`] or [`encode_message`]; decode with
//! [`FrameDecoder`].

use std::{collections::VecDeque, fmt, io::Read, mem};

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Bytes of the big-endian length prefix that starts every frame.
pub const PREFIX_LEN: usize = 3;
/// Bytes before a frame's body: the length prefix and the flag byte.
pub const HEADER_LEN: usize = PREFIX_LEN + 1;
/// Largest frame (flag byte + body) the protocol allows: 2 MiB.
pub const MAX_FRAME_LEN: usize = 2 * 1024 * 1024;
/// Largest (decompressed) body the protocol allows: 2 MiB - 1, so that an
/// uncompressed body plus its flag byte fits in [`MAX_FRAME_LEN`].
pub const MAX_PAYLOAD_LEN: usize = MAX_FRAME_LEN - 1;
/// Bodies shorter than this (1 KiB) are always sent uncompressed.
pub const COMPRESSION_THRESHOLD: usize = 1024;

/// Flag bit: the frame is the last of the session and carries an error.
pub const FLAG_TERMINAL: u8 = 0x80;
/// Flag bit: the server advises the client to reconnect soon.
pub const FLAG_RECONNECT_ADVISED: u8 = 0x10;
/// Flag bits 6-5 hold the compression code.
const COMPRESSION_MASK: u8 = 0x60;
const COMPRESSION_SHIFT: u32 = 5;
/// Flag bits 3-0 are reserved; a peer setting them speaks another protocol.
const RESERVED_MASK: u8 = 0x0F;

/// zstd level 3 is zstd's own default: a good speed/ratio trade-off.
const ZSTD_LEVEL: i32 = 3;
/// Largest zstd window accepted when decompressing (8 MiB). zstd's default
/// (128 MiB) would let a crafted frame make the decoder allocate far more
/// than [`MAX_PAYLOAD_LEN`]; 8 MiB still covers streaming encoders up to
/// level 19.
const ZSTD_WINDOW_LOG_MAX: u32 = 23;
/// First allocation when decompressing, before doubling.
const MIN_DECOMPRESS_BUF: usize = 8 * 1024;

/// How a frame body is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// Not compressed.
    #[default]
    None,
    /// Zstandard.
    Zstd,
    /// Gzip (RFC 1952).
    Gzip,
}

impl Compression {
    /// This compression's code already shifted into flag bits 6-5, ready to
    /// be OR-ed into a flag byte.
    pub const fn flag_bits(self) -> u8 {
        let code = match self {
            Compression::None => 0,
            Compression::Zstd => 1,
            Compression::Gzip => 2,
        };
        code << COMPRESSION_SHIFT
    }

    /// Reads the compression from a whole flag byte (other bits are ignored).
    pub const fn from_flag_byte(flag: u8) -> Result<Self, FrameError> {
        match (flag & COMPRESSION_MASK) >> COMPRESSION_SHIFT {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Zstd),
            2 => Ok(Compression::Gzip),
            code => Err(FrameError::UnknownCompression(code)),
        }
    }

    /// The `Accept-Encoding` value a client sends to ask for this
    /// compression, or `None` when no header should be sent.
    pub const fn accept_encoding_value(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Zstd => Some("zstd"),
            Compression::Gzip => Some("gzip"),
        }
    }

    /// Parses a `Content-Encoding` (or `Accept-Encoding` token) value,
    /// ignoring case and surrounding spaces. `identity` is
    /// [`Compression::None`]; an unknown coding gives `None`.
    pub fn from_content_encoding(value: &str) -> Option<Self> {
        let value = value.trim();
        if value.eq_ignore_ascii_case("zstd") {
            Some(Compression::Zstd)
        } else if value.eq_ignore_ascii_case("gzip") || value.eq_ignore_ascii_case("x-gzip") {
            Some(Compression::Gzip)
        } else if value.eq_ignore_ascii_case("identity") {
            Some(Compression::None)
        } else {
            None
        }
    }
}

/// Ways a frame can break the framing rules or the codec's limits.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// A frame's length prefix announces more than the allowed frame size.
    #[error("frame of {len} bytes exceeds the {max} byte limit")]
    FrameTooLarge {
        /// Announced length (flag byte + body).
        len: usize,
        /// Largest length allowed.
        max: usize,
    },
    /// A body to encode is larger than the protocol allows.
    #[error("payload of {len} bytes exceeds the {max} byte limit")]
    PayloadTooLarge {
        /// Length of the rejected body.
        len: usize,
        /// Largest body allowed.
        max: usize,
    },
    /// A frame's length prefix is 0, so it has no flag byte.
    #[error("frame of length 0 has no flag byte")]
    EmptyFrame,
    /// A flag byte sets reserved bits 3-0 (the whole flag byte is given).
    #[error("flag byte {0:#04x} sets reserved bits")]
    ReservedFlagBits(u8),
    /// A flag byte names compression code 3, which is not defined.
    #[error("unknown compression code {0}")]
    UnknownCompression(u8),
    /// A compressed body could not be decompressed.
    #[error("cannot decompress frame body: {0}")]
    Decompress(String),
    /// A compressed body decompresses to more than the allowed size.
    #[error("decompressed frame body exceeds the {max} byte limit")]
    DecompressedTooLarge {
        /// Largest decompressed body allowed.
        max: usize,
    },
    /// A terminal frame's body is too short to hold its 2-byte status code.
    #[error("terminal frame body is shorter than its 2-byte status code")]
    TerminalTooShort,
    /// The stream ended in the middle of a frame.
    #[error("stream ended inside a frame ({buffered} bytes buffered)")]
    Truncated {
        /// Bytes of the incomplete frame received before the end.
        buffered: usize,
    },
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

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
pub fn encode_message<M: prost::Message>(
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
        return encode_protobuf(out, msg);
    }

    // Layout while compressing: [raw message][header][compressed...], with
    // room for one byte less than the message (see `encode_frame`).
    out.reserve(len + HEADER_LEN + len);
    encode_protobuf(out, msg)?;
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
fn header(body_len: usize, flag: u8) -> [u8; HEADER_LEN] {
    let [_, a, b, c] = ((body_len + 1) as u32).to_be_bytes();
    [a, b, c, flag]
}

fn encode_protobuf<M: prost::Message>(out: &mut BytesMut, msg: &M) -> Result<(), FrameError> {
    // A `BytesMut` grows on demand, so prost's only error (no capacity) cannot happen.
    msg.encode(out).map_err(|_| FrameError::PayloadTooLarge {
        len: msg.encoded_len(),
        max: MAX_PAYLOAD_LEN,
    })
}

/// Compresses `src` into `dst`, returning the compressed length; `None` when
/// it fails or does not fit, which callers treat as "send uncompressed".
fn compress_into(compression: Compression, src: &[u8], dst: &mut [u8]) -> Option<usize> {
    match compression {
        Compression::None => None,
        Compression::Zstd => zstd::bulk::compress_to_buffer(src, dst, ZSTD_LEVEL).ok(),
        Compression::Gzip => gzip_into(src, dst),
    }
}

fn gzip_into(src: &[u8], dst: &mut [u8]) -> Option<usize> {
    use std::io::Write as _;

    let capacity = dst.len();
    let mut rest = dst;
    // Writing to a full `&mut [u8]` fails, which is how "does not fit" surfaces.
    let mut encoder = flate2::write::GzEncoder::new(&mut rest, flate2::Compression::default());
    encoder.write_all(src).ok()?;
    encoder.finish().ok()?;
    Some(capacity - rest.len())
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

/// A decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A regular frame.
    Message {
        /// The protobuf message, decompressed.
        payload: Bytes,
        /// The server advises reconnecting: it is about to go away.
        reconnect_advised: bool,
    },
    /// The last frame of a session, carrying an error.
    Terminal {
        /// HTTP status code of the error.
        status: u16,
        /// JSON error body, decompressed.
        body: Bytes,
    },
}

/// Limits a [`FrameDecoder`] enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Largest announced frame length (flag byte + body) accepted. Checked
    /// before anything is allocated for the frame.
    pub max_frame_len: usize,
    /// Largest decompressed body accepted.
    pub max_decompressed_len: usize,
}

impl FrameLimits {
    /// The protocol's limits: [`MAX_FRAME_LEN`] and [`MAX_PAYLOAD_LEN`].
    pub const PROTOCOL: FrameLimits = FrameLimits {
        max_frame_len: MAX_FRAME_LEN,
        max_decompressed_len: MAX_PAYLOAD_LEN,
    };

    fn check_frame_len(&self, len: usize) -> Result<usize, FrameError> {
        if len == 0 {
            return Err(FrameError::EmptyFrame);
        }
        if len > self.max_frame_len {
            return Err(FrameError::FrameTooLarge {
                len,
                max: self.max_frame_len,
            });
        }
        Ok(len)
    }
}

impl Default for FrameLimits {
    fn default() -> Self {
        Self::PROTOCOL
    }
}

/// Incremental frame decoder.
///
/// Feed the response body's chunks, of any size, with
/// [`handle_data`](Self::handle_data), then call
/// [`poll_frame`](Self::poll_frame) until it returns `Ok(None)`. At the end of
/// the stream call [`finish`](Self::finish) to tell a clean end from a
/// truncated frame.
///
/// A frame body that lies within one received chunk is returned as a slice
/// of that chunk without copying; one spanning chunks is assembled in a
/// buffer of exactly the announced length, allocated only after that length
/// passed the limits.
///
/// Any error is fatal: the stream can no longer be trusted, and every later
/// `poll_frame` returns the same error.
pub struct FrameDecoder {
    limits: FrameLimits,
    input: ChunkQueue,
    stage: Stage,
    failed: Option<FrameError>,
}

/// Where the decoder is within the current frame.
enum Stage {
    /// Reading the length prefix; `filled` of its bytes seen so far.
    Prefix {
        bytes: [u8; PREFIX_LEN],
        filled: usize,
    },
    /// Reading a body (flag byte + payload) of `len` bytes. `buf` holds what
    /// arrived so far when it spans chunks (empty and unallocated otherwise).
    Body { len: usize, buf: BytesMut },
}

impl Stage {
    const START: Stage = Stage::Prefix {
        bytes: [0; PREFIX_LEN],
        filled: 0,
    };

    /// Bytes of the current frame consumed so far (prefix included).
    fn consumed(&self) -> usize {
        match self {
            Stage::Prefix { filled, .. } => *filled,
            Stage::Body { buf, .. } => PREFIX_LEN + buf.len(),
        }
    }
}

impl FrameDecoder {
    /// A decoder with no data yet, enforcing `limits`.
    pub fn new(limits: FrameLimits) -> Self {
        Self {
            limits,
            input: ChunkQueue::default(),
            stage: Stage::START,
            failed: None,
        }
    }

    /// Adds the next chunk of the byte stream. Chunks may split frames
    /// anywhere, down to one byte at a time.
    pub fn handle_data(&mut self, chunk: Bytes) {
        self.input.push(chunk);
    }

    /// Returns the next complete frame, or `Ok(None)` when more data is
    /// needed. After `Ok(None)` all data handed in so far has been consumed.
    pub fn poll_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let result = match self.next_body() {
            Ok(Some(body)) => decode_body(body, &self.limits).map(Some),
            Ok(None) => Ok(None),
            Err(err) => Err(err),
        };
        if let Err(err) = &result {
            self.failed = Some(err.clone());
        }
        result
    }

    /// `true` when no byte of an unreturned frame is buffered.
    pub fn is_empty(&self) -> bool {
        self.buffered_len() == 0
    }

    /// `true` when some bytes of a frame have been received but
    /// [`poll_frame`](Self::poll_frame) has not returned it. Meaningful once
    /// `poll_frame` returned `Ok(None)`: the bytes then form an incomplete
    /// frame.
    pub fn has_partial_frame(&self) -> bool {
        !self.is_empty()
    }

    /// Bytes received but not yet returned as part of a frame.
    pub fn buffered_len(&self) -> usize {
        self.stage.consumed() + self.input.len
    }

    /// Checks that the stream ended on a frame boundary. Call at end of
    /// stream, after [`poll_frame`](Self::poll_frame) returned `Ok(None)`.
    pub fn finish(&self) -> Result<(), FrameError> {
        match self.buffered_len() {
            0 => Ok(()),
            buffered => Err(FrameError::Truncated { buffered }),
        }
    }

    /// Advances through the input until a whole frame body (flag + payload)
    /// is available.
    fn next_body(&mut self) -> Result<Option<Bytes>, FrameError> {
        loop {
            match &mut self.stage {
                Stage::Prefix { bytes, filled } => {
                    let Some(piece) = self.input.take_front(PREFIX_LEN - *filled) else {
                        return Ok(None);
                    };
                    bytes[*filled..*filled + piece.len()].copy_from_slice(&piece);
                    *filled += piece.len();
                    if *filled == PREFIX_LEN {
                        let [a, b, c] = *bytes;
                        let len = self
                            .limits
                            .check_frame_len(u32::from_be_bytes([0, a, b, c]) as usize)?;
                        self.stage = Stage::Body {
                            len,
                            buf: BytesMut::new(),
                        };
                    }
                }
                Stage::Body { len, buf } => {
                    let Some(piece) = self.input.take_front(*len - buf.len()) else {
                        return Ok(None);
                    };
                    if buf.is_empty() && piece.len() == *len {
                        // The whole body lies in one chunk: hand out a slice of it.
                        self.stage = Stage::START;
                        return Ok(Some(piece));
                    }
                    if buf.capacity() == 0 {
                        // `len` was checked against the limits in `Prefix`.
                        *buf = BytesMut::with_capacity(*len);
                    }
                    buf.extend_from_slice(&piece);
                    if buf.len() == *len {
                        let body = mem::take(buf).freeze();
                        self.stage = Stage::START;
                        return Ok(Some(body));
                    }
                }
            }
        }
    }
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(FrameLimits::default())
    }
}

impl fmt::Debug for FrameDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameDecoder")
            .field("limits", &self.limits)
            .field("buffered_len", &self.buffered_len())
            .field("failed", &self.failed)
            .finish()
    }
}

/// Received chunks not yet consumed, in order.
#[derive(Default)]
struct ChunkQueue {
    chunks: VecDeque<Bytes>,
    /// Total bytes in `chunks`.
    len: usize,
}

impl ChunkQueue {
    fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.len += chunk.len();
            self.chunks.push_back(chunk);
        }
    }

    /// Splits off up to `max` (> 0) bytes from the front chunk without
    /// copying; `None` when no data is queued.
    fn take_front(&mut self, max: usize) -> Option<Bytes> {
        let front = self.chunks.front_mut()?;
        let piece = if front.len() <= max {
            // Invariant: queued chunks are never empty, so this makes progress.
            self.chunks.pop_front()?
        } else {
            front.split_to(max)
        };
        self.len -= piece.len();
        Some(piece)
    }
}

/// Parsed flag byte.
struct Flags {
    terminal: bool,
    reconnect_advised: bool,
    compression: Compression,
}

impl Flags {
    fn parse(flag: u8) -> Result<Self, FrameError> {
        if flag & RESERVED_MASK != 0 {
            return Err(FrameError::ReservedFlagBits(flag));
        }
        Ok(Flags {
            terminal: flag & FLAG_TERMINAL != 0,
            reconnect_advised: flag & FLAG_RECONNECT_ADVISED != 0,
            compression: Compression::from_flag_byte(flag)?,
        })
    }
}

/// Turns a complete frame body (flag byte + payload) into a [`Frame`].
fn decode_body(mut body: Bytes, limits: &FrameLimits) -> Result<Frame, FrameError> {
    if body.is_empty() {
        return Err(FrameError::EmptyFrame);
    }
    let flags = Flags::parse(body.get_u8())?;
    let mut payload = decompress(flags.compression, body, limits.max_decompressed_len)?;
    if !flags.terminal {
        return Ok(Frame::Message {
            payload,
            reconnect_advised: flags.reconnect_advised,
        });
    }
    if payload.len() < 2 {
        return Err(FrameError::TerminalTooShort);
    }
    let status = payload.get_u16();
    Ok(Frame::Terminal {
        status,
        body: payload,
    })
}

/// Decompresses `data`, refusing output over `max` bytes.
/// Decompresses `data` compressed with `compression`, failing with
/// [`FrameError::DecompressedTooLarge`] once the output would exceed `max`
/// bytes; at most `max + 1` bytes are ever allocated for the output.
/// [`Compression::None`] returns `data` itself. Also usable for HTTP bodies
/// sent with a `Content-Encoding`.
pub fn decompress(compression: Compression, data: Bytes, max: usize) -> Result<Bytes, FrameError> {
    match compression {
        Compression::None => Ok(data),
        Compression::Zstd => {
            let mut decoder =
                zstd::stream::read::Decoder::with_buffer(&data[..]).map_err(decompress_error)?;
            decoder
                .window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(decompress_error)?;
            read_bounded(decoder, data.len(), max)
        }
        // Multi-member aware, as HTTP gzip decoders are.
        Compression::Gzip => read_bounded(
            flate2::read::MultiGzDecoder::new(&data[..]),
            data.len(),
            max,
        ),
    }
}

fn decompress_error(err: std::io::Error) -> FrameError {
    FrameError::Decompress(err.to_string())
}

/// Reads `src` to its end, failing once it yields more than `max` bytes.
/// Never allocates more than `max + 1` bytes, so a zip bomb cannot balloon.
fn read_bounded(src: impl Read, compressed_len: usize, max: usize) -> Result<Bytes, FrameError> {
    let cap = max.saturating_add(1);
    let mut src = src.take(cap as u64);
    let mut buf = Vec::new();
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            if filled == cap {
                break;
            }
            // Guess a few times the compressed size first, then double.
            let target = (compressed_len.saturating_mul(4))
                .max(filled.saturating_mul(2))
                .max(MIN_DECOMPRESS_BUF)
                .min(cap);
            buf.reserve_exact(target - filled);
            buf.resize(target, 0);
        }
        match src.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(decompress_error(err)),
        }
    }
    if filled > max {
        return Err(FrameError::DecompressedTooLarge { max });
    }
    buf.truncate(filled);
    Ok(Bytes::from(buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A protobuf message shaped like an append record.
    #[derive(Clone, PartialEq, prost::Message)]
    struct TestMessage {
        #[prost(uint64, tag = "1")]
        seq: u64,
        #[prost(bytes = "bytes", tag = "2")]
        body: Bytes,
    }

    const ALL: [Compression; 3] = [Compression::None, Compression::Zstd, Compression::Gzip];

    /// Highly compressible bytes.
    fn compressible(len: usize) -> Vec<u8> {
        (0..len).map(|i| b"abcd"[i % 4]).collect()
    }

    /// Deterministic pseudo-random bytes that do not compress.
    fn noise(len: usize) -> Vec<u8> {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    fn encode(payload: &[u8], compression: Compression) -> BytesMut {
        let mut out = BytesMut::new();
        encode_frame(&mut out, payload, compression).unwrap();
        out
    }

    fn flag_of(frame: &[u8]) -> u8 {
        frame[PREFIX_LEN]
    }

    /// Feeds `chunks` and drains every frame.
    fn decode_chunks(chunks: impl IntoIterator<Item = Bytes>) -> Result<Vec<Frame>, FrameError> {
        let mut decoder = FrameDecoder::default();
        let mut frames = Vec::new();
        for chunk in chunks {
            decoder.handle_data(chunk);
            while let Some(frame) = decoder.poll_frame()? {
                frames.push(frame);
            }
        }
        decoder.finish()?;
        Ok(frames)
    }

    fn decode_one(bytes: &[u8]) -> Result<Frame, FrameError> {
        let mut frames = decode_chunks([Bytes::copy_from_slice(bytes)])?;
        assert_eq!(frames.len(), 1);
        Ok(frames.remove(0))
    }

    fn message(payload: &[u8]) -> Frame {
        Frame::Message {
            payload: Bytes::copy_from_slice(payload),
            reconnect_advised: false,
        }
    }

    /// A raw frame with the given flag byte and body.
    fn raw_frame(flag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = header(body.len(), flag).to_vec();
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn round_trips_every_compression() {
        for compression in ALL {
            for payload in [
                Vec::new(),
                compressible(10),
                compressible(5000),
                noise(5000),
            ] {
                let frame = encode(&payload, compression);
                assert_eq!(
                    decode_one(&frame).unwrap(),
                    message(&payload),
                    "{compression:?}"
                );
            }
        }
    }

    #[test]
    fn compresses_large_compressible_payloads() {
        let payload = compressible(64 * 1024);
        for compression in [Compression::Zstd, Compression::Gzip] {
            let frame = encode(&payload, compression);
            assert_eq!(flag_of(&frame), compression.flag_bits());
            assert!(frame.len() < payload.len() / 10);
            assert_eq!(
                Compression::from_flag_byte(flag_of(&frame)),
                Ok(compression)
            );
        }
    }

    #[test]
    fn compression_threshold_is_one_kib() {
        for compression in [Compression::Zstd, Compression::Gzip] {
            let below = encode(&compressible(COMPRESSION_THRESHOLD - 1), compression);
            assert_eq!(flag_of(&below), 0, "{compression:?}");
            assert_eq!(below.len(), HEADER_LEN + COMPRESSION_THRESHOLD - 1);
            let at = encode(&compressible(COMPRESSION_THRESHOLD), compression);
            assert_eq!(flag_of(&at), compression.flag_bits(), "{compression:?}");
        }
    }

    #[test]
    fn incompressible_payloads_go_uncompressed() {
        let payload = noise(4096);
        for compression in ALL {
            let frame = encode(&payload, compression);
            assert_eq!(flag_of(&frame), 0, "{compression:?}");
            assert_eq!(&frame[HEADER_LEN..], &payload[..]);
        }
    }

    #[test]
    fn length_prefix_counts_flag_and_body() {
        let frame = encode(b"hello", Compression::None);
        assert_eq!(&frame[..], b"\x00\x00\x06\x00hello");
    }

    #[test]
    fn appends_after_existing_content() {
        let mut out = BytesMut::from(&b"xyz"[..]);
        encode_frame(&mut out, &compressible(3000), Compression::Zstd).unwrap();
        encode_message(
            &mut out,
            &TestMessage {
                seq: 1,
                body: compressible(3000).into(),
            },
            Compression::Gzip,
        )
        .unwrap();
        assert_eq!(&out[..3], b"xyz");
        let frames = decode_chunks([out.freeze().slice(3..)]).unwrap();
        assert_eq!(frames.len(), 2);
    }

    #[test]
    fn encoder_rejects_oversize_payloads() {
        let mut out = BytesMut::from(&b"keep"[..]);
        let err =
            encode_frame(&mut out, &vec![0; MAX_PAYLOAD_LEN + 1], Compression::Zstd).unwrap_err();
        assert_eq!(
            err,
            FrameError::PayloadTooLarge {
                len: MAX_PAYLOAD_LEN + 1,
                max: MAX_PAYLOAD_LEN
            }
        );
        assert_eq!(&out[..], b"keep");
        let msg = TestMessage {
            seq: 0,
            body: vec![0; MAX_PAYLOAD_LEN].into(),
        };
        assert!(matches!(
            encode_message(&mut out, &msg, Compression::None),
            Err(FrameError::PayloadTooLarge { .. })
        ));
    }

    #[test]
    fn largest_payload_round_trips() {
        for payload in [compressible(MAX_PAYLOAD_LEN), noise(MAX_PAYLOAD_LEN)] {
            for compression in ALL {
                let frame = encode(&payload, compression);
                assert!(frame.len() - PREFIX_LEN <= MAX_FRAME_LEN);
                assert_eq!(decode_one(&frame).unwrap(), message(&payload));
            }
        }
    }

    #[test]
    fn encode_message_matches_encode_frame() {
        let bodies = [
            Vec::new(),
            compressible(100),
            compressible(5000),
            noise(5000),
        ];
        for compression in ALL {
            for body in &bodies {
                let msg = TestMessage {
                    seq: 42,
                    body: Bytes::copy_from_slice(body),
                };
                let mut direct = BytesMut::from(&b"prefix"[..]);
                encode_message(&mut direct, &msg, compression).unwrap();
                let mut via_frame = BytesMut::from(&b"prefix"[..]);
                encode_frame(
                    &mut via_frame,
                    &prost::Message::encode_to_vec(&msg),
                    compression,
                )
                .unwrap();
                assert_eq!(direct, via_frame, "{compression:?}, {} bytes", body.len());
            }
        }
    }

    #[test]
    fn encode_message_uncompressed_needs_one_allocation() {
        let msg = TestMessage {
            seq: 7,
            body: noise(10_000).into(),
        };
        let mut out = BytesMut::new();
        encode_message(&mut out, &msg, Compression::None).unwrap();
        // `out` was grown exactly once, to the frame's size.
        assert_eq!(out.len(), HEADER_LEN + prost::Message::encoded_len(&msg));
        assert_eq!(out.capacity(), out.len());
    }

    #[test]
    fn reconnect_flag_is_reported() {
        let frame = raw_frame(FLAG_RECONNECT_ADVISED, b"payload");
        assert_eq!(
            decode_one(&frame).unwrap(),
            Frame::Message {
                payload: Bytes::from_static(b"payload"),
                reconnect_advised: true,
            }
        );
        let mut compressed = encode(&compressible(2000), Compression::Zstd).to_vec();
        compressed[PREFIX_LEN] |= FLAG_RECONNECT_ADVISED;
        assert_eq!(
            decode_one(&compressed).unwrap(),
            Frame::Message {
                payload: compressible(2000).into(),
                reconnect_advised: true,
            }
        );
    }

    #[test]
    fn terminal_frames_carry_status_and_body() {
        let json = br#"{"code":"rate_limited","message":"slow down"}"#;
        let mut out = BytesMut::new();
        encode_terminal(&mut out, 429, json).unwrap();
        assert_eq!(flag_of(&out), FLAG_TERMINAL);
        let expected = Frame::Terminal {
            status: 429,
            body: Bytes::from_static(json),
        };
        assert_eq!(decode_one(&out).unwrap(), expected);

        // Empty JSON body is accepted; the status is still there.
        assert_eq!(
            decode_one(&raw_frame(FLAG_TERMINAL, &[0x01, 0xF4])).unwrap(),
            Frame::Terminal {
                status: 500,
                body: Bytes::new(),
            }
        );
    }

    #[test]
    fn compressed_terminal_frames_are_decompressed_whole() {
        let mut status_and_json = 503u16.to_be_bytes().to_vec();
        status_and_json.extend_from_slice(&compressible(3000));
        for compression in [Compression::Zstd, Compression::Gzip] {
            let mut frame = encode(&status_and_json, compression).to_vec();
            frame[PREFIX_LEN] |= FLAG_TERMINAL;
            assert_eq!(
                decode_one(&frame).unwrap(),
                Frame::Terminal {
                    status: 503,
                    body: compressible(3000).into(),
                }
            );
        }
    }

    #[test]
    fn terminal_frame_without_status_is_rejected() {
        for body in [&[][..], &[0x01]] {
            assert_eq!(
                decode_one(&raw_frame(FLAG_TERMINAL, body)),
                Err(FrameError::TerminalTooShort)
            );
        }
    }

    #[test]
    fn decodes_one_byte_at_a_time() {
        let mut stream = BytesMut::new();
        let payloads = [
            compressible(3000),
            noise(2000),
            b"tiny".to_vec(),
            Vec::new(),
        ];
        for (payload, compression) in payloads.iter().zip(ALL.iter().cycle()) {
            encode_frame(&mut stream, payload, *compression).unwrap();
        }
        encode_terminal(&mut stream, 400, b"{}").unwrap();

        let mut decoder = FrameDecoder::default();
        let mut frames = Vec::new();
        for byte in stream.iter() {
            decoder.handle_data(Bytes::copy_from_slice(&[*byte]));
            if let Some(frame) = decoder.poll_frame().unwrap() {
                frames.push(frame);
            }
            assert_eq!(decoder.poll_frame(), Ok(None));
        }
        assert!(decoder.is_empty());
        decoder.finish().unwrap();
        let mut expected: Vec<Frame> = payloads.iter().map(|p| message(p)).collect();
        expected.push(Frame::Terminal {
            status: 400,
            body: Bytes::from_static(b"{}"),
        });
        assert_eq!(frames, expected);
    }

    #[test]
    fn frames_spanning_chunks_are_assembled() {
        let payload = noise(10_000);
        let frame = encode(&payload, Compression::None).freeze();
        // Split in the prefix, at the flag, and twice inside the body.
        let cuts = [0, 2, 4, 5000, 9000, frame.len()];
        let chunks = cuts.windows(2).map(|w| frame.slice(w[0]..w[1]));
        assert_eq!(decode_chunks(chunks).unwrap(), vec![message(&payload)]);
    }

    #[test]
    fn empty_chunks_are_ignored() {
        let frame = encode(b"abc", Compression::None).freeze();
        let chunks = [
            Bytes::new(),
            frame.slice(..2),
            Bytes::new(),
            frame.slice(2..),
            Bytes::new(),
        ];
        assert_eq!(decode_chunks(chunks).unwrap(), vec![message(b"abc")]);
    }

    #[test]
    fn single_chunk_payloads_are_zero_copy() {
        let mut stream = BytesMut::new();
        encode_frame(&mut stream, b"first", Compression::None).unwrap();
        encode_frame(&mut stream, &noise(3000), Compression::Zstd).unwrap();
        let chunk = stream.freeze();
        let range = chunk.as_ptr_range();

        let mut decoder = FrameDecoder::default();
        decoder.handle_data(chunk.clone());
        for _ in 0..2 {
            let Some(Frame::Message { payload, .. }) = decoder.poll_frame().unwrap() else {
                panic!("expected a message");
            };
            assert!(range.contains(&payload.as_ptr()));
            assert!(payload.as_ptr_range().end <= range.end);
        }
        assert!(decoder.is_empty());
    }

    #[test]
    fn body_in_one_chunk_after_split_prefix_is_zero_copy() {
        let frame = encode(b"payload", Compression::None).freeze();
        let body_chunk = frame.slice(2..);
        let mut decoder = FrameDecoder::default();
        decoder.handle_data(frame.slice(..2));
        assert_eq!(decoder.poll_frame(), Ok(None));
        assert!(decoder.has_partial_frame());
        decoder.handle_data(body_chunk.clone());
        let Some(Frame::Message { payload, .. }) = decoder.poll_frame().unwrap() else {
            panic!("expected a message");
        };
        assert!(body_chunk.as_ptr_range().contains(&payload.as_ptr()));
    }

    #[test]
    fn oversize_length_is_rejected_from_the_prefix_alone() {
        for prefix in [[0x20, 0x00, 0x01], [0xFF, 0xFF, 0xFF]] {
            let mut decoder = FrameDecoder::default();
            decoder.handle_data(Bytes::copy_from_slice(&prefix));
            let err = decoder.poll_frame().unwrap_err();
            assert!(
                matches!(
                    err,
                    FrameError::FrameTooLarge {
                        max: MAX_FRAME_LEN,
                        ..
                    }
                ),
                "{err:?}"
            );
            // Nothing was set up for the body.
            assert!(matches!(decoder.stage, Stage::Prefix { .. }));
        }
        // Exactly the limit is fine (and needs the whole body).
        let mut decoder = FrameDecoder::default();
        decoder.handle_data(Bytes::from_static(&[0x20, 0x00, 0x00]));
        assert_eq!(decoder.poll_frame(), Ok(None));
    }

    #[test]
    fn custom_limits_apply() {
        let limits = FrameLimits {
            max_frame_len: 10,
            max_decompressed_len: 100,
        };
        let mut decoder = FrameDecoder::new(limits);
        decoder.handle_data(raw_frame(0, &[0; 9]).into());
        assert!(matches!(decoder.poll_frame(), Ok(Some(_))));
        decoder.handle_data(raw_frame(0, &[0; 10]).into());
        assert_eq!(
            decoder.poll_frame(),
            Err(FrameError::FrameTooLarge { len: 11, max: 10 })
        );

        let mut decoder = FrameDecoder::new(FrameLimits {
            max_frame_len: 1000,
            ..limits
        });
        let bomb = zstd::bulk::compress(&[0; 101], ZSTD_LEVEL).unwrap();
        decoder.handle_data(raw_frame(Compression::Zstd.flag_bits(), &bomb).into());
        assert_eq!(
            decoder.poll_frame(),
            Err(FrameError::DecompressedTooLarge { max: 100 })
        );
    }

    #[test]
    fn zip_bombs_are_rejected() {
        let zeros = vec![0u8; 3 * MAX_PAYLOAD_LEN];
        let zstd_body = zstd::bulk::compress(&zeros, 19).unwrap();
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut gzip, &zeros).unwrap();
        let gzip_body = gzip.finish().unwrap();
        for (compression, body) in [
            (Compression::Zstd, zstd_body),
            (Compression::Gzip, gzip_body),
        ] {
            assert!(body.len() < MAX_FRAME_LEN / 100);
            let frame = raw_frame(compression.flag_bits(), &body);
            assert_eq!(
                decode_one(&frame),
                Err(FrameError::DecompressedTooLarge {
                    max: MAX_PAYLOAD_LEN
                }),
                "{compression:?}"
            );
        }
    }

    #[test]
    fn decompression_stops_at_the_limit() {
        // Output of exactly `max + 1` bytes is the smallest rejected size.
        let body = zstd::bulk::compress(&[7; 5001], 3).unwrap();
        assert_eq!(
            decompress(Compression::Zstd, body.into(), 5000),
            Err(FrameError::DecompressedTooLarge { max: 5000 })
        );
        let body = zstd::bulk::compress(&[7; 5000], 3).unwrap();
        assert_eq!(
            decompress(Compression::Zstd, body.into(), 5000)
                .unwrap()
                .len(),
            5000
        );
    }

    #[test]
    fn corrupt_compressed_bodies_are_errors() {
        for compression in [Compression::Zstd, Compression::Gzip] {
            let mut frame = encode(&compressible(5000), compression).to_vec();
            let last = frame.len() - 1;
            frame.truncate(last - 3);
            let frame = raw_frame(compression.flag_bits(), &frame[HEADER_LEN..]);
            assert!(
                matches!(decode_one(&frame), Err(FrameError::Decompress(_))),
                "{compression:?}"
            );
            let garbage = raw_frame(compression.flag_bits(), b"definitely not compressed");
            assert!(matches!(
                decode_one(&garbage),
                Err(FrameError::Decompress(_))
            ));
        }
    }

    #[test]
    fn reserved_flag_bits_are_rejected() {
        for bit in 0..4 {
            let flag = 1 << bit;
            assert_eq!(
                decode_one(&raw_frame(flag, b"x")),
                Err(FrameError::ReservedFlagBits(flag))
            );
        }
    }

    #[test]
    fn compression_code_three_is_rejected() {
        assert_eq!(
            decode_one(&raw_frame(COMPRESSION_MASK, b"x")),
            Err(FrameError::UnknownCompression(3))
        );
    }

    #[test]
    fn zero_length_frames_are_rejected() {
        assert_eq!(decode_one(&[0, 0, 0]), Err(FrameError::EmptyFrame));
    }

    #[test]
    fn errors_are_sticky() {
        let mut decoder = FrameDecoder::default();
        decoder.handle_data(Bytes::from_static(&[0, 0, 2, 0x01, b'x']));
        let err = decoder.poll_frame().unwrap_err();
        decoder.handle_data(encode(b"fine", Compression::None).freeze());
        assert_eq!(decoder.poll_frame(), Err(err));
    }

    #[test]
    fn truncated_streams_are_detected() {
        let frame = encode(b"hello world", Compression::None).freeze();
        for cut in 1..frame.len() {
            let mut decoder = FrameDecoder::default();
            decoder.handle_data(frame.slice(..cut));
            assert_eq!(decoder.poll_frame(), Ok(None));
            assert!(decoder.has_partial_frame());
            assert!(!decoder.is_empty());
            assert_eq!(
                decoder.finish(),
                Err(FrameError::Truncated { buffered: cut })
            );
        }
        let decoder = FrameDecoder::default();
        assert!(decoder.is_empty());
        assert_eq!(decoder.finish(), Ok(()));
    }

    #[test]
    fn compression_header_values() {
        assert_eq!(Compression::None.accept_encoding_value(), None);
        assert_eq!(Compression::Zstd.accept_encoding_value(), Some("zstd"));
        assert_eq!(Compression::Gzip.accept_encoding_value(), Some("gzip"));
        for compression in ALL {
            if let Some(value) = compression.accept_encoding_value() {
                assert_eq!(Compression::from_content_encoding(value), Some(compression));
            }
            assert_eq!(
                Compression::from_flag_byte(compression.flag_bits()),
                Ok(compression)
            );
        }
        assert_eq!(
            Compression::from_content_encoding(" ZSTD "),
            Some(Compression::Zstd)
        );
        assert_eq!(
            Compression::from_content_encoding("identity"),
            Some(Compression::None)
        );
        assert_eq!(Compression::from_content_encoding("br"), None);
        assert_eq!(Compression::None.flag_bits(), 0x00);
        assert_eq!(Compression::Zstd.flag_bits(), 0x20);
        assert_eq!(Compression::Gzip.flag_bits(), 0x40);
    }

    fn compression_strategy() -> impl Strategy<Value = Compression> {
        prop_oneof![
            Just(Compression::None),
            Just(Compression::Zstd),
            Just(Compression::Gzip)
        ]
    }

    /// Payloads around the compression threshold; a small alphabet keeps
    /// many of them compressible.
    fn payload_strategy() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(0u8..4, 0..3000),
            prop::collection::vec(any::<u8>(), 0..3000),
        ]
    }

    /// Splits `stream` at the given (unsorted, possibly repeated) points.
    fn split(stream: &Bytes, cuts: &[prop::sample::Index]) -> Vec<Bytes> {
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        points.push(0);
        points.push(stream.len());
        points.sort_unstable();
        points
            .windows(2)
            .map(|w| stream.slice(w[0]..w[1]))
            .collect()
    }

    proptest! {
        #[test]
        fn encoded_streams_decode_to_the_original(
            messages in prop::collection::vec((payload_strategy(), compression_strategy()), 0..8),
            terminal in prop::option::of((any::<u16>(), prop::collection::vec(any::<u8>(), 0..64))),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let mut stream = BytesMut::new();
            let mut expected = Vec::new();
            for (payload, compression) in &messages {
                encode_frame(&mut stream, payload, *compression).unwrap();
                expected.push(message(payload));
            }
            if let Some((status, body)) = &terminal {
                encode_terminal(&mut stream, *status, body).unwrap();
                expected.push(Frame::Terminal { status: *status, body: Bytes::copy_from_slice(body) });
            }
            let stream = stream.freeze();
            prop_assert_eq!(decode_chunks(split(&stream, &cuts)).unwrap(), expected);
        }

        #[test]
        fn arbitrary_input_never_panics(
            input in prop::collection::vec(any::<u8>(), 0..4096),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let input = Bytes::from(input);
            let mut decoder = FrameDecoder::default();
            'feed: for chunk in split(&input, &cuts) {
                decoder.handle_data(chunk);
                loop {
                    match decoder.poll_frame() {
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(_) => break 'feed,
                    }
                }
            }
            let _ = decoder.finish();
        }

        #[test]
        fn valid_headers_with_arbitrary_bodies_never_panic(
            flag in any::<u8>(),
            body in prop::collection::vec(any::<u8>(), 0..512),
        ) {
            let _ = decode_chunks([Bytes::from(raw_frame(flag, &body))]);
        }
    }
}
