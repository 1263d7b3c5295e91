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
//! Encode with [`encode_frame`] or [`encode_message`] (any
//! [`WireMessage`]); decode with [`FrameDecoder`], then the message with
//! [`WireMessage::decode`].

mod decode;
mod encode;
pub(crate) mod message;
#[cfg(test)]
mod tests;

pub use self::{
    decode::{Frame, FrameDecoder, FrameLimits},
    encode::{encode_frame, encode_message, encode_terminal},
    message::WireMessage,
};
pub use crate::compression::{Compression, decompress};

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
pub(crate) const COMPRESSION_MASK: u8 = 0x60;
pub(crate) const COMPRESSION_SHIFT: u32 = 5;
/// Flag bits 3-0 are reserved; a peer setting them speaks another protocol.
const RESERVED_MASK: u8 = 0x0F;

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
