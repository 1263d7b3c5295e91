//! Shared response handling: status checks, error bodies, content decoding.

use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use serde::{Deserialize, de::DeserializeOwned};

use super::{HttpResponse, RETRY_AFTER_MS_HEADER};
use crate::{
    error::{
        AppendConditionFailed, EncryptionError, Error, MAX_SERVER_CODE_BYTES, ProtocolError,
        ServiceError, body_snippet, sanitize_server_text,
    },
    frame::{self, Compression, FrameError},
    types::StreamPosition,
};

/// Largest response body (after content decoding) this client accepts. A
/// full read batch is about 1 MiB; listings are far smaller.
pub const MAX_RESPONSE_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Checks the status and returns the body of a successful response, or the
/// error the response describes. The body must already be content-decoded
/// ([`decode_content`]).
pub(crate) fn success_body(response: HttpResponse) -> Result<(HttpResponse, Bytes), Error> {
    check_size(response.body.len())?;
    let body = response.body.clone();
    if response.status.is_success() {
        Ok((response, body))
    } else {
        Err(error_from(&response, &body))
    }
}

fn check_size(len: usize) -> Result<(), Error> {
    if len > MAX_RESPONSE_BODY_BYTES {
        return Err(ProtocolError::BodyTooLarge {
            limit: MAX_RESPONSE_BODY_BYTES,
        }
        .into());
    }
    Ok(())
}

/// The codings a request offered in its `Accept-Encoding` header (identity
/// is always acceptable and not listed).
pub(crate) fn offered_encodings(request_headers: &HeaderMap) -> Vec<Compression> {
    request_headers
        .get_all(http::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        // A coding may carry a weight (`gzip;q=0.5`); `q=0` refuses it.
        .filter(|token| {
            !token
                .split(';')
                .skip(1)
                .any(|param| matches!(param.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"))
        })
        .filter_map(|token| token.split(';').next())
        .filter_map(Compression::from_content_encoding)
        .filter(|c| *c != Compression::None)
        .collect()
}

/// Undoes the response's `Content-Encoding`, within the size limit, and
/// removes the header. Only a coding in `offered` (what the request's
/// `Accept-Encoding` listed) is decoded: a server answering with one that
/// was not asked for is refused rather than trusted with a decompressor.
pub(crate) fn decode_content(
    mut response: HttpResponse,
    offered: &[Compression],
) -> Result<HttpResponse, Error> {
    check_size(response.body.len())?;
    let Some(value) = response.headers.remove(http::header::CONTENT_ENCODING) else {
        return Ok(response);
    };
    let encoding = value.to_str().unwrap_or("").trim();
    let compression = match Compression::from_content_encoding(encoding) {
        Some(Compression::None) => return Ok(response),
        Some(c) if offered.contains(&c) => c,
        _ => {
            return Err(ProtocolError::UnrequestedEncoding {
                encoding: sanitize_server_text(&String::from_utf8_lossy(value.as_bytes()), 64),
            }
            .into());
        }
    };
    response.body = frame::decompress(compression, response.body, MAX_RESPONSE_BODY_BYTES)
        .map_err(|e| match e {
            FrameError::DecompressedTooLarge { .. } => ProtocolError::BodyTooLarge {
                limit: MAX_RESPONSE_BODY_BYTES,
            },
            other => ProtocolError::Frame(other),
        })?;
    response.headers.remove(http::header::CONTENT_LENGTH);
    Ok(response)
}

#[derive(Deserialize)]
struct ErrorInfo {
    code: String,
    message: String,
}

#[derive(Deserialize)]
struct TailBody {
    tail: StreamPosition,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum ConditionFailedBody {
    SeqNumMismatch(u64),
    FencingTokenMismatch(String),
}

/// The error an unsuccessful response describes.
fn error_from(response: &HttpResponse, body: &[u8]) -> Error {
    rejection_from(response, body).into_error()
}

/// What an unsuccessful response says: the error, or the tail.
pub(crate) fn rejection_from(response: &HttpResponse, body: &[u8]) -> SessionRejection {
    let retry_after = response
        .headers
        .get(RETRY_AFTER_MS_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_millis);
    rejection_from_parts(response.status.as_u16(), body, retry_after)
}

/// The error described by a status and a JSON error body, as carried by an
/// HTTP response or by the terminal frame of a session.
pub fn error_from_parts(status: u16, body: &[u8], retry_after: Option<Duration>) -> Error {
    rejection_from_parts(status, body, retry_after).into_error()
}

/// The service's refusal of a session connection: the error its answer
/// describes, and, when a read's start is past the stream's tail (a `416`
/// with the tail), that tail.
///
/// [`Api::session_rejection`](super::Api::session_rejection) makes it from
/// the response that refused to open a session. A read session takes it
/// whole ([`ConnectionEvent::Rejected`](crate::session::ConnectionEvent::Rejected)):
/// a start past the tail is no failure there, but the end of the read (or,
/// on a resume, the tail caught up with). Anything else takes its
/// [`error`](Self::into_error), where a start past the tail is the `416`
/// [`ServiceError`] the service answered.
#[derive(Debug, Clone)]
pub struct SessionRejection {
    error: Error,
    /// The tail, when the refusal is a read past it.
    pub(crate) past_tail: Option<StreamPosition>,
}

impl SessionRejection {
    /// The error the refusal describes.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The error the refusal describes, owned.
    pub fn into_error(self) -> Error {
        self.error
    }

    /// A read refused because its start is past `tail` (a `416`).
    pub(crate) fn past_tail(tail: StreamPosition, retry_after: Option<Duration>) -> Self {
        let message = format!("the read start is past the tail at {tail}");
        Self {
            error: ServiceError::from_server(416, "", &message, retry_after).into(),
            past_tail: Some(tail),
        }
    }
}

impl From<Error> for SessionRejection {
    fn from(error: Error) -> Self {
        Self {
            error,
            past_tail: None,
        }
    }
}

/// [`error_from_parts`], keeping the tail of a read past it.
pub(crate) fn rejection_from_parts(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
) -> SessionRejection {
    match status {
        412 => {
            if let Ok(condition) = serde_json::from_slice::<ConditionFailedBody>(body) {
                let error: Error = match condition {
                    ConditionFailedBody::SeqNumMismatch(expected) => {
                        AppendConditionFailed::SeqNumMismatch { expected }
                    }
                    ConditionFailedBody::FencingTokenMismatch(expected) => {
                        AppendConditionFailed::FencingTokenMismatch {
                            expected: sanitize_server_text(&expected, MAX_SERVER_CODE_BYTES),
                        }
                    }
                }
                .into();
                return error.into();
            }
        }
        416 => {
            if let Ok(TailBody { tail }) = serde_json::from_slice(body) {
                return SessionRejection::past_tail(tail, retry_after);
            }
        }
        _ => {}
    }
    let error: Error = match serde_json::from_slice::<ErrorInfo>(body) {
        Ok(info) => {
            let error = ServiceError::from_server(status, &info.code, &info.message, retry_after);
            match EncryptionError::from_service(&error) {
                Some(encryption) => encryption.into(),
                None => error.into(),
            }
        }
        Err(_) => ServiceError {
            status,
            code: String::new(),
            message: body_snippet(body),
            retry_after,
        }
        .into(),
    };
    error.into()
}

/// Longest description of a JSON decoding failure kept in an error.
const MAX_JSON_ERROR_BYTES: usize = 512;

/// Decodes a JSON body.
pub(crate) fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| {
        // serde quotes offending values (an unknown enum variant, say), so
        // the description carries server bytes too.
        ProtocolError::Json(sanitize_server_text(&e.to_string(), MAX_JSON_ERROR_BYTES)).into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_text_from_server_is_sanitised() {
        // The same function builds errors of HTTP responses and of session
        // terminal frames.
        let body = serde_json::json!({
            "code": format!("other\r\n{}", "c".repeat(10_000)),
            "message": format!("boom\r\nERROR forged\u{1b}[2J{}", "m".repeat(1 << 20)),
        })
        .to_string();
        let Error::Service(e) = error_from_parts(503, body.as_bytes(), None) else {
            panic!("expected a service error");
        };
        assert!(e.code.len() <= crate::error::MAX_SERVER_CODE_BYTES);
        assert!(e.message.len() <= crate::error::MAX_SERVER_MESSAGE_BYTES);
        assert!(e.message.starts_with("boom\\r\\nERROR forged\\u{1b}[2J"));
        let shown = e.to_string();
        assert!(!shown.contains(['\r', '\n', '\u{1b}']), "{shown:?}");

        let raw = b"not json\r\n\x1b[31m".repeat(100);
        let Error::Service(e) = error_from_parts(502, &raw, None) else {
            panic!("expected a service error");
        };
        assert!(!e.message.contains(['\r', '\n', '\u{1b}']));
        assert!(e.message.len() <= 260);

        // A session's terminal frame goes through the same function.
        let mut frame = bytes::BytesMut::new();
        frame::encode_terminal(&mut frame, 500, body.as_bytes()).expect("fits a frame");
        let mut decoder = frame::FrameDecoder::default();
        decoder.handle_data(frame.freeze());
        let Ok(Some(frame::Frame::Terminal { status, body })) = decoder.poll_frame() else {
            panic!("expected a terminal frame");
        };
        let Error::Service(e) = error_from_parts(status, &body, None) else {
            panic!("expected a service error");
        };
        assert!(e.message.len() <= crate::error::MAX_SERVER_MESSAGE_BYTES);
        assert!(!e.to_string().contains(['\r', '\n', '\u{1b}']));

        #[derive(Debug, Deserialize)]
        enum State {
            #[allow(dead_code, reason = "only the unknown variant is fed")]
            Active,
        }
        // JSON escapes, so the string itself holds ESC, CR and LF.
        let hostile = format!(r#""\u001b[2J\r\n{}""#, "v".repeat(1 << 20));
        let Err(Error::Protocol(ProtocolError::Json(reason))) = json::<State>(hostile.as_bytes())
        else {
            panic!("expected a JSON error");
        };
        assert!(reason.len() <= MAX_JSON_ERROR_BYTES);
        assert!(!reason.contains(['\r', '\n', '\u{1b}']), "{reason:?}");

        let fenced = br#"{"fencing_token_mismatch": "tok\r\nen"}"#;
        let Error::AppendCondition(AppendConditionFailed::FencingTokenMismatch { expected }) =
            error_from_parts(412, fenced, None)
        else {
            panic!("expected a condition failure");
        };
        assert_eq!(expected, "tok\\r\\nen");
    }
}
