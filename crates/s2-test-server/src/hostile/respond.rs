//! Building blocks of the hostile server's answers: response heads, bodies
//! sent within HTTP/2 flow control, session frames, request bodies read
//! back, and the payloads of the misbehaviours (bombs, hostile text).

use std::{future::poll_fn, io};

use bytes::{Bytes, BytesMut};
use h2::{RecvStream, SendStream, server::SendResponse};
use http::{Response, StatusCode};
use s2_core::{
    frame::{self, Compression, Frame, FrameDecoder, FrameLimits, WireMessage},
    types::AppendInput,
};

/// Bytes per DATA frame when streaming a long body.
const CHUNK: usize = 64 * 1024;

fn h2_error(e: h2::Error) -> io::Error {
    io::Error::other(e)
}

/// A response head with `status` and `headers`.
pub(super) fn head(status: u16, headers: &[(&str, &str)]) -> Response<()> {
    let mut response = Response::new(());
    *response.status_mut() = StatusCode::from_u16(status).expect("statuses used are valid");
    for (name, value) in headers {
        response.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).expect("header names used are valid"),
            http::HeaderValue::from_str(value).expect("header values used are valid"),
        );
    }
    response
}

/// Answers with `head` and the whole of `body`.
pub(super) async fn reply(
    mut respond: SendResponse<Bytes>,
    head: Response<()>,
    body: Bytes,
) -> io::Result<()> {
    let mut stream = respond.send_response(head, false).map_err(h2_error)?;
    send_all(&mut stream, body, true).await
}

/// Answers with a JSON body.
pub(super) async fn reply_json(
    respond: SendResponse<Bytes>,
    status: u16,
    json: String,
) -> io::Result<()> {
    let head = head(status, &[("content-type", "application/json")]);
    reply(respond, head, Bytes::from(json)).await
}

/// Answers 200 with a protobuf body.
pub(super) async fn reply_protobuf<M: WireMessage>(
    respond: SendResponse<Bytes>,
    message: &M,
) -> io::Result<()> {
    let head = head(200, &[("content-type", "application/protobuf")]);
    reply(respond, head, message.encode_to_bytes()).await
}

/// Opens a session: a 200 with `content-type: s2s/proto`; frames follow.
pub(super) fn open_session(respond: &mut SendResponse<Bytes>) -> io::Result<SendStream<Bytes>> {
    let head = head(200, &[("content-type", s2_core::api::SESSION_CONTENT_TYPE)]);
    respond.send_response(head, false).map_err(h2_error)
}

/// Sends `data` as DATA frames, waiting for flow-control capacity so nothing
/// piles up in the server's buffers.
pub(super) async fn send_all(
    stream: &mut SendStream<Bytes>,
    mut data: Bytes,
    end: bool,
) -> io::Result<()> {
    while !data.is_empty() {
        stream.reserve_capacity(data.len().min(CHUNK));
        let granted = match poll_fn(|cx| stream.poll_capacity(cx)).await {
            Some(Ok(n)) => n,
            Some(Err(e)) => return Err(h2_error(e)),
            None => return Err(io::Error::other("stream closed by the client")),
        };
        if granted == 0 {
            continue;
        }
        let chunk = data.split_to(granted.min(data.len()));
        stream
            .send_data(chunk, end && data.is_empty())
            .map_err(h2_error)?;
    }
    if end {
        // Only reached for an empty body: the loop ended the stream otherwise.
        stream.send_data(Bytes::new(), true).map_err(h2_error)?;
    }
    Ok(())
}

/// Streams `total` bytes made of `pattern` repeated (the last copy cut),
/// sharing one buffer so the server itself stays small.
pub(super) async fn send_repeated(
    stream: &mut SendStream<Bytes>,
    pattern: &[u8],
    total: u64,
) -> io::Result<()> {
    let copies = (CHUNK / pattern.len()).max(1);
    let chunk = Bytes::from(pattern.repeat(copies));
    let mut left = total;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        left -= n as u64;
        send_all(stream, chunk.slice(..n), false).await?;
    }
    stream.send_data(Bytes::new(), true).map_err(h2_error)
}

/// Reads a whole request body, up to `max` bytes.
pub(super) async fn read_body(body: &mut RecvStream, max: usize) -> io::Result<Bytes> {
    let mut out = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(h2_error)?;
        let _ = body.flow_control().release_capacity(chunk.len());
        if out.len() + chunk.len() > max {
            return Err(io::Error::other("request body too large"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

/// Reads the `AppendInput` frames of an append session's request body.
pub(super) struct InputReader {
    body: RecvStream,
    decoder: FrameDecoder,
}

impl InputReader {
    pub(super) fn new(body: RecvStream) -> Self {
        Self {
            body,
            decoder: FrameDecoder::new(FrameLimits::PROTOCOL),
        }
    }

    /// The next input, or `None` when the client closed or broke the body.
    pub(super) async fn next(&mut self) -> Option<AppendInput> {
        loop {
            match self.decoder.poll_frame() {
                Ok(Some(Frame::Message { payload, .. })) => {
                    return AppendInput::decode(payload).ok();
                }
                Ok(Some(Frame::Terminal { .. })) | Err(_) => return None,
                Ok(None) => {}
            }
            let chunk = self.body.data().await?.ok()?;
            let _ = self.body.flow_control().release_capacity(chunk.len());
            self.decoder.handle_data(chunk);
        }
    }
}

/// One uncompressed session frame carrying `message`, with the
/// reconnect-advised flag when `advise` is set.
pub(super) fn message_frame<M: WireMessage>(message: &M, advise: bool) -> Bytes {
    let mut out = BytesMut::new();
    frame::encode_message(&mut out, message, Compression::None)
        .expect("the server's messages fit a frame");
    if advise {
        out[frame::PREFIX_LEN] |= frame::FLAG_RECONNECT_ADVISED;
    }
    out.freeze()
}

/// A terminal frame with `status` and a JSON error `body`.
pub(super) fn terminal_frame(status: u16, body: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    frame::encode_terminal(&mut out, status, body).expect("terminal bodies used fit a frame");
    out.freeze()
}

/// A frame flagged as compressed with `coding` whose payload is
/// `compressed` as is (cut to the frame limit), however large it inflates.
pub(super) fn compressed_frame(coding: Compression, compressed: &[u8]) -> Bytes {
    let len = compressed.len().min(frame::MAX_PAYLOAD_LEN);
    let mut out = BytesMut::with_capacity(frame::HEADER_LEN + len);
    let [_, a, b, c] = ((len + 1) as u32).to_be_bytes();
    out.extend_from_slice(&[a, b, c, coding.flag_bits()]);
    out.extend_from_slice(&compressed[..len]);
    out.freeze()
}

/// A compressed body that inflates to about `inflated` bytes of zeros: one
/// compressed MiB repeated (zstd frames and gzip members concatenate), so
/// building it costs one MiB of compression.
pub(super) fn bomb(coding: Compression, inflated: u64) -> io::Result<Bytes> {
    const UNIT: usize = 1024 * 1024;
    let zeros = vec![0u8; UNIT];
    let unit = match coding {
        Compression::Zstd => zstd::bulk::compress(&zeros, 3)?,
        Compression::Gzip => {
            use std::io::Write as _;
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            encoder.write_all(&zeros)?;
            encoder.finish()?
        }
        Compression::None => return Err(io::Error::other("a bomb needs a compression")),
    };
    let copies = inflated.div_ceil(UNIT as u64) as usize;
    Ok(Bytes::from(unit.repeat(copies)))
}

/// Text no error message should carry through: CR, LF, ANSI escapes (clear
/// screen, colours, cursor moves), a NUL and a bell, repeated to about
/// `len` bytes.
pub(super) fn hostile_text(len: usize) -> String {
    const PIECE: &str =
        "evil\r\nX-Injected: 1\r\n\u{1b}[2J\u{1b}[31mRED\u{1b}[0m\u{1b}]0;title\u{7}\u{0}\t\u{8}";
    PIECE.repeat(len / PIECE.len() + 1)
}

/// A JSON string literal of `text` (escaped as JSON requires).
pub(super) fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bombs_inflate_to_what_they_claim() {
        for coding in [Compression::Zstd, Compression::Gzip] {
            let bomb = bomb(coding, 3 * 1024 * 1024).expect("bomb");
            assert!(
                bomb.len() < 64 * 1024,
                "{coding:?} bomb is {} bytes",
                bomb.len()
            );
            let inflated = frame::decompress(coding, bomb, 8 * 1024 * 1024).expect("inflates");
            assert_eq!(inflated.len(), 3 * 1024 * 1024, "{coding:?}");
            assert!(inflated.iter().all(|&b| b == 0));
        }
    }

    #[test]
    fn hostile_text_is_hostile_and_its_json_is_not() {
        let text = hostile_text(1000);
        assert!(text.len() >= 1000);
        for c in ['\r', '\n', '\u{1b}', '\0', '\u{7}'] {
            assert!(text.contains(c), "{c:?}");
        }
        let json = json_string(&text);
        assert!(
            !json.chars().any(char::is_control),
            "JSON strings escape control characters"
        );
        assert!(json.contains("\\u001b[31m"));
    }

    #[test]
    fn frames_carry_the_reconnect_advice() {
        let at = s2_core::types::StreamPosition::default();
        let ack = s2_core::types::AppendAck {
            start: at,
            end: at,
            tail: at,
        };
        let advised = message_frame(&ack, true);
        assert_eq!(advised[frame::PREFIX_LEN], frame::FLAG_RECONNECT_ADVISED);
        let plain = message_frame(&ack, false);
        assert_eq!(plain[frame::PREFIX_LEN], 0);
        let mut decoder = FrameDecoder::new(FrameLimits::PROTOCOL);
        decoder.handle_data(advised);
        assert!(matches!(
            decoder.poll_frame(),
            Ok(Some(Frame::Message {
                reconnect_advised: true,
                ..
            }))
        ));
    }
}
