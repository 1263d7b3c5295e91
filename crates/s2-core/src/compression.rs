//! Body compression: the codings S2 speaks (zstd and gzip), for `s2s`
//! session frame bodies ([`frame`](crate::frame)) and HTTP bodies sent with
//! a `Content-Encoding`.
//!
//! Each codec is compiled in by a cargo feature (`zstd`, `gzip`); a
//! codec left out is refused where it is configured
//! ([`Compression::is_available`]) and fails to decode with a
//! [`FrameError::Decompress`] if a server sends it anyway.
//!
//! Compressing is best effort (a failure means "send it as it is");
//! decompressing is bounded, so a hostile body cannot make it allocate
//! more than the limit it is given.

#[cfg(any(feature = "zstd", feature = "gzip"))]
use std::io::Read;

use bytes::Bytes;

use crate::frame::{COMPRESSION_MASK, COMPRESSION_SHIFT, FrameError};

/// zstd level 3 is zstd's own default: a good speed/ratio trade-off. Frames
/// and HTTP bodies both use it.
#[cfg(feature = "zstd")]
pub(crate) const ZSTD_LEVEL: i32 = 3;
/// gzip level of frame bodies: flate2's default (6).
#[cfg(feature = "gzip")]
const GZIP_FRAME_LEVEL: flate2::Compression = flate2::Compression::new(6);
/// gzip level of HTTP request bodies: flate2's fastest (1).
#[cfg(feature = "gzip")]
const GZIP_HTTP_BODY_LEVEL: flate2::Compression = flate2::Compression::fast();
/// Largest zstd window accepted when decompressing (8 MiB). zstd's default
/// (128 MiB) would let a crafted frame make the decoder allocate far more
/// than [`MAX_PAYLOAD_LEN`](crate::frame::MAX_PAYLOAD_LEN); 8 MiB still
/// covers streaming encoders up to level 19.
#[cfg(feature = "zstd")]
const ZSTD_WINDOW_LOG_MAX: u32 = 23;
/// First allocation when decompressing, before doubling.
#[cfg(any(feature = "zstd", feature = "gzip"))]
const MIN_DECOMPRESS_BUF: usize = 8 * 1024;

/// How a session frame body or an HTTP body is compressed.
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

    /// Whether this build can compress and decompress with this codec:
    /// [`Compression::None`] always; zstd with the cargo feature `zstd`,
    /// gzip with the feature `gzip`.
    pub const fn is_available(self) -> bool {
        match self {
            Compression::None => true,
            Compression::Zstd => cfg!(feature = "zstd"),
            Compression::Gzip => cfg!(feature = "gzip"),
        }
    }

    /// The cargo feature that compiles this codec in, if it needs one.
    pub const fn feature(self) -> Option<&'static str> {
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

/// Compresses `src` into `dst`, returning the compressed length; `None` when
/// it fails or does not fit, which callers treat as "send uncompressed".
/// For frame bodies: gzip at [`GZIP_FRAME_LEVEL`].
#[cfg_attr(not(all(feature = "zstd", feature = "gzip")), allow(unused_variables))]
pub(crate) fn compress_into(compression: Compression, src: &[u8], dst: &mut [u8]) -> Option<usize> {
    match compression {
        Compression::None => None,
        #[cfg(feature = "zstd")]
        Compression::Zstd => zstd::bulk::compress_to_buffer(src, dst, ZSTD_LEVEL).ok(),
        #[cfg(feature = "gzip")]
        Compression::Gzip => gzip_into(src, dst),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

#[cfg(feature = "gzip")]
fn gzip_into(src: &[u8], dst: &mut [u8]) -> Option<usize> {
    use std::io::Write as _;

    let capacity = dst.len();
    let mut rest = dst;
    // Writing to a full `&mut [u8]` fails, which is how "does not fit" surfaces.
    let mut encoder = flate2::write::GzEncoder::new(&mut rest, GZIP_FRAME_LEVEL);
    encoder.write_all(src).ok()?;
    encoder.finish().ok()?;
    Some(capacity - rest.len())
}

/// `src` compressed into a new buffer; `None` for [`Compression::None`] or
/// when compressing fails. For HTTP bodies: gzip at [`GZIP_HTTP_BODY_LEVEL`].
#[cfg_attr(not(all(feature = "zstd", feature = "gzip")), allow(unused_variables))]
pub(crate) fn compress_to_vec(compression: Compression, src: &[u8]) -> Option<Vec<u8>> {
    match compression {
        Compression::None => None,
        #[cfg(feature = "zstd")]
        Compression::Zstd => zstd::bulk::compress(src, ZSTD_LEVEL).ok(),
        #[cfg(feature = "gzip")]
        Compression::Gzip => {
            use std::io::Write as _;
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(src.len() / 2),
                GZIP_HTTP_BODY_LEVEL,
            );
            encoder.write_all(src).ok()?;
            encoder.finish().ok()
        }
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// Decompresses `data` compressed with `compression`, failing with
/// [`FrameError::DecompressedTooLarge`] once the output would exceed `max`
/// bytes; at most `max + 1` bytes are ever allocated for the output.
/// [`Compression::None`] returns `data` itself. Also usable for HTTP bodies
/// sent with a `Content-Encoding`.
#[cfg_attr(not(all(feature = "zstd", feature = "gzip")), allow(unused_variables))]
pub fn decompress(compression: Compression, data: Bytes, max: usize) -> Result<Bytes, FrameError> {
    match compression {
        Compression::None => Ok(data),
        #[cfg(feature = "zstd")]
        Compression::Zstd => {
            let mut decoder =
                zstd::stream::read::Decoder::with_buffer(&data[..]).map_err(decompress_error)?;
            decoder
                .window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(decompress_error)?;
            read_bounded(decoder, data.len(), max)
        }
        // Multi-member aware, as HTTP gzip decoders are.
        #[cfg(feature = "gzip")]
        Compression::Gzip => read_bounded(
            flate2::read::MultiGzDecoder::new(&data[..]),
            data.len(),
            max,
        ),
        #[allow(unreachable_patterns)]
        unavailable => Err(FrameError::Decompress(format!(
            "{unavailable:?} is not compiled in (cargo feature `{}`)",
            unavailable.feature().unwrap_or("none")
        ))),
    }
}

#[cfg(any(feature = "zstd", feature = "gzip"))]
fn decompress_error(err: std::io::Error) -> FrameError {
    FrameError::Decompress(err.to_string())
}

/// Reads `src` to its end, failing once it yields more than `max` bytes.
/// Never allocates more than `max + 1` bytes, so a zip bomb cannot balloon.
#[cfg(any(feature = "zstd", feature = "gzip"))]
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
