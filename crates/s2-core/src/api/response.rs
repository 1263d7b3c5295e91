//! Shared response handling: status checks, error bodies, content decoding.

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, de::DeserializeOwned};

use super::{HttpResponse, RETRY_AFTER_MS_HEADER};
use crate::{
    error::{AppendConditionFailed, Error, ProtocolError, ServiceError, body_snippet},
    frame::{self, Compression},
    types::StreamPosition,
};

/// Largest response body (after content decoding) this client accepts. A
/// full read batch is about 1 MiB; listings are far smaller.
pub const MAX_RESPONSE_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Checks the status and returns the decoded body of a successful response,
/// or the error the response describes.
pub(crate) fn success_body(response: HttpResponse) -> Result<(HttpResponse, Bytes), Error> {
    let body = decoded_body(&response)?;
    if response.status.is_success() {
        Ok((response, body))
    } else {
        Err(error_from(&response, &body))
    }
}

/// The body with any `Content-Encoding` undone, within the size limit.
fn decoded_body(response: &HttpResponse) -> Result<Bytes, Error> {
    if response.body.len() > MAX_RESPONSE_BODY_BYTES {
        return Err(ProtocolError::BodyTooLarge {
            limit: MAX_RESPONSE_BODY_BYTES,
        }
        .into());
    }
    let encoding = response
        .headers
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or("");
    let compression = match encoding {
        "" | "identity" => return Ok(response.body.clone()),
        other => Compression::from_content_encoding(other).ok_or_else(|| {
            ProtocolError::UnexpectedStatus {
                status: response.status.as_u16(),
                body: format!("unsupported content-encoding {other:?}"),
            }
        })?,
    };
    frame::decompress(compression, response.body.clone(), MAX_RESPONSE_BODY_BYTES)
        .map_err(|e| ProtocolError::Frame(e.to_string()).into())
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
pub(crate) fn error_from(response: &HttpResponse, body: &[u8]) -> Error {
    let retry_after = response
        .headers
        .get(RETRY_AFTER_MS_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_millis);
    error_from_parts(response.status.as_u16(), body, retry_after)
}

/// The error described by a status and a JSON error body, as carried by an
/// HTTP response or by the terminal frame of a session.
pub fn error_from_parts(status: u16, body: &[u8], retry_after: Option<Duration>) -> Error {
    match status {
        412 => {
            if let Ok(condition) = serde_json::from_slice::<ConditionFailedBody>(body) {
                return match condition {
                    ConditionFailedBody::SeqNumMismatch(expected) => {
                        AppendConditionFailed::SeqNumMismatch { expected }
                    }
                    ConditionFailedBody::FencingTokenMismatch(expected) => {
                        AppendConditionFailed::FencingTokenMismatch { expected }
                    }
                }
                .into();
            }
        }
        416 => {
            if let Ok(TailBody { tail }) = serde_json::from_slice(body) {
                return Error::ReadPastTail { tail };
            }
        }
        _ => {}
    }
    let (code, message) = match serde_json::from_slice::<ErrorInfo>(body) {
        Ok(info) => (info.code, info.message),
        Err(_) => (String::new(), body_snippet(body)),
    };
    ServiceError {
        status,
        code,
        message,
        retry_after,
    }
    .into()
}

/// Decodes a JSON body.
pub(crate) fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| ProtocolError::Json(e.to_string()).into())
}

/// Decodes a protobuf body; `bytes` fields become slices of `body`.
pub(crate) fn protobuf<T: prost::Message + Default>(body: Bytes) -> Result<T, Error> {
    T::decode(body).map_err(|e| ProtocolError::Protobuf(e).into())
}
