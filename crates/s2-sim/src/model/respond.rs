//! Building blocks of the model's answers over h2: response heads, bodies
//! sent within flow control, request bodies read back, session frames.

use std::{future::poll_fn, io};

use bytes::{Bytes, BytesMut};
use h2::{RecvStream, SendStream, server::SendResponse};
use http::{Response, StatusCode};
use s2_core::{
    frame::{self, Compression, Frame, FrameDecoder, FrameLimits, WireMessage},
    types::AppendInput,
};

use super::error::ServiceError;

/// Bytes per DATA frame when streaming a long body.
const CHUNK: usize = 64 * 1024;
/// Largest unary request body read: a batch of 1 MiB metered bytes and its
/// protobuf overhead fit well within it.
pub(crate) const MAX_REQUEST_BODY: usize = 4 * 1024 * 1024;

pub(crate) const JSON: &str = "application/json";
pub(crate) const PROTOBUF: &str = s2_core::api::PROTOBUF_CONTENT_TYPE;

fn h2_error(e: h2::Error) -> io::Error {
    io::Error::other(e)
}

/// A response head with `status` and `headers`.
pub(crate) fn head(status: u16, headers: &[(&str, &str)]) -> Response<()> {
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

/// A whole unary answer, built before it is sent (so faults can drop it).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) head: Response<()>,
    pub(crate) body: Bytes,
}

impl Answer {
    /// A JSON answer.
    pub(crate) fn json(status: u16, headers: &[(&str, &str)], body: String) -> Self {
        let mut all = vec![("content-type", JSON)];
        all.extend_from_slice(headers);
        Self {
            head: head(status, &all),
            body: Bytes::from(body),
        }
    }

    /// A 200 with a protobuf body.
    pub(crate) fn protobuf<M: WireMessage>(message: &M) -> Self {
        Self {
            head: head(200, &[("content-type", PROTOBUF)]),
            body: message.encode_to_bytes(),
        }
    }

    /// An empty answer (a delete's 202).
    pub(crate) fn empty(status: u16) -> Self {
        Self {
            head: head(status, &[]),
            body: Bytes::new(),
        }
    }

    /// The error's status and JSON body.
    pub(crate) fn error(error: &ServiceError) -> Self {
        Self::json(error.status(), &[], error.body())
    }

    /// Sends the answer.
    pub(crate) async fn send(self, mut respond: SendResponse<Bytes>) -> io::Result<()> {
        let end = self.body.is_empty();
        let mut stream = respond.send_response(self.head, end).map_err(h2_error)?;
        if !end {
            send_all(&mut stream, self.body, true).await?;
        }
        Ok(())
    }
}

/// Opens a session: a 200 with `content-type: s2s/proto`; frames follow.
pub(crate) fn open_session(respond: &mut SendResponse<Bytes>) -> io::Result<SendStream<Bytes>> {
    let head = head(
        200,
        &[
            ("content-type", s2_core::api::SESSION_CONTENT_TYPE),
            ("cache-control", "no-cache, no-transform"),
            ("x-accel-buffering", "no"),
        ],
    );
    respond.send_response(head, false).map_err(h2_error)
}

/// Sends `data` as DATA frames, waiting for flow-control capacity so
/// nothing piles up in h2's buffers.
pub(crate) async fn send_all(
    stream: &mut SendStream<Bytes>,
    mut data: Bytes,
    end: bool,
) -> io::Result<()> {
    if data.is_empty() {
        return if end { finish(stream) } else { Ok(()) };
    }
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
    Ok(())
}

/// Ends a session's response body.
pub(crate) fn finish(stream: &mut SendStream<Bytes>) -> io::Result<()> {
    stream.send_data(Bytes::new(), true).map_err(h2_error)
}

/// Reads a whole request body, up to [`MAX_REQUEST_BODY`] bytes.
pub(crate) async fn read_body(body: &mut RecvStream) -> Result<Bytes, ServiceError> {
    let mut out = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| ServiceError::bad_proto(e.to_string()))?;
        let _ = body.flow_control().release_capacity(chunk.len());
        if out.len() + chunk.len() > MAX_REQUEST_BODY {
            return Err(ServiceError::invalid("request body too large"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

/// Reads the `AppendInput` frames of an append session's request body.
pub(crate) struct InputReader {
    body: RecvStream,
    decoder: FrameDecoder,
}

impl InputReader {
    pub(crate) fn new(body: RecvStream) -> Self {
        Self {
            body,
            decoder: FrameDecoder::new(FrameLimits::PROTOCOL),
        }
    }

    /// The next input; `None` when the client ended (or reset) the body;
    /// an error for bytes that are not input frames.
    pub(crate) async fn next(&mut self) -> Option<Result<AppendInput, ServiceError>> {
        loop {
            match self.decoder.poll_frame() {
                Ok(Some(Frame::Message { payload, .. })) => {
                    return Some(
                        AppendInput::decode(payload)
                            .map_err(|e| ServiceError::bad_frame(e.to_string())),
                    );
                }
                Ok(Some(Frame::Terminal { .. })) => {
                    return Some(Err(ServiceError::bad_frame("unexpected terminal frame")));
                }
                Err(e) => return Some(Err(ServiceError::bad_frame(e.to_string()))),
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
pub(crate) fn message_frame<M: WireMessage>(message: &M, advise: bool) -> Bytes {
    let mut out = BytesMut::new();
    frame::encode_message(&mut out, message, Compression::None)
        .expect("the model's messages fit a frame");
    if advise {
        out[frame::PREFIX_LEN] |= frame::FLAG_RECONNECT_ADVISED;
    }
    out.freeze()
}

/// A terminal frame carrying `error`.
pub(crate) fn terminal_frame(error: &ServiceError) -> Bytes {
    let mut out = BytesMut::new();
    frame::encode_terminal(&mut out, error.status(), error.body().as_bytes())
        .expect("the model's errors fit a frame");
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_decode_as_the_client_decodes_them() {
        let ack = s2_core::types::AppendAck {
            start: Default::default(),
            end: Default::default(),
            tail: Default::default(),
        };
        let mut decoder = FrameDecoder::new(FrameLimits::PROTOCOL);
        decoder.handle_data(message_frame(&ack, true));
        decoder.handle_data(terminal_frame(&ServiceError::SeqNumMismatch(3)));
        assert!(matches!(
            decoder.poll_frame(),
            Ok(Some(Frame::Message {
                reconnect_advised: true,
                ..
            }))
        ));
        match decoder.poll_frame() {
            Ok(Some(Frame::Terminal { status, body })) => {
                assert_eq!(status, 412);
                assert_eq!(&body[..], br#"{"seq_num_mismatch":3}"#);
            }
            other => panic!("expected a terminal frame, got {other:?}"),
        }
    }
}
