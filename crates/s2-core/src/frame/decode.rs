//! Decoding: a byte stream cut anywhere into frames.

use std::{collections::VecDeque, fmt, mem};

use bytes::{Buf, Bytes, BytesMut};

use super::{
    FLAG_RECONNECT_ADVISED, FLAG_TERMINAL, FrameError, MAX_FRAME_LEN, MAX_PAYLOAD_LEN, PREFIX_LEN,
    RESERVED_MASK,
};
use crate::compression::{Compression, decompress};

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
    pub(super) stage: Stage,
    failed: Option<FrameError>,
}

/// Where the decoder is within the current frame.
pub(super) enum Stage {
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
