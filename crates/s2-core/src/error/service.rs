//! The service's error answers: status and code, what they say about
//! retries and side effects, and server text made safe to print.

use std::time::Duration;

/// An error response from the service: status, machine-readable code and
/// message.
///
/// Made from a server's answer by [`ServiceError::from_server`]; more
/// fields may come, so it cannot be built field by field outside this
/// crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
#[non_exhaustive]
pub struct ServiceError {
    /// HTTP status of the response.
    pub status: u16,
    /// The service's error code, such as `stream_not_found`.
    pub code: String,
    /// Human-readable detail.
    pub message: String,
    /// How long the service asked the client to wait before retrying.
    pub retry_after: Option<Duration>,
}

/// Error codes a retry may cure.
const RETRYABLE_CODES: &[&str] = &[
    "request_timeout",
    "transaction_conflict",
    "rate_limited",
    "other",
    "server_draining",
    "storage",
    "hot_server",
    "unavailable",
    "upstream_timeout",
];

/// Codes that prove the request had no effect.
const NO_SIDE_EFFECT_CODES: &[&str] = &[
    "access_token_not_found",
    "authn",
    "bad_frame",
    "bad_header",
    "bad_json",
    "bad_path",
    "bad_proto",
    "bad_query",
    "basin_deletion_pending",
    "basin_not_found",
    "decryption_failed",
    "hot_server",
    "invalid",
    "not_implemented",
    "permission_denied",
    "quota_exhausted",
    "rate_limited",
    "resource_already_exists",
    "server_draining",
    "stream_deletion_pending",
    "stream_not_found",
    "transaction_conflict",
];

/// Codes whose outcome is unknown: the request may have been applied.
const UNKNOWN_OUTCOME_CODES: &[&str] = &[
    "client_hangup",
    "other",
    "request_timeout",
    "storage",
    "unavailable",
    "upstream_timeout",
];

/// The error codes of the v1 API (s2-api 0.32), typed. [`ServiceError`]
/// keeps the raw string too, for codes newer than this client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `access_token_not_found` (404).
    AccessTokenNotFound,
    /// `authn`: the access token was refused (401).
    Authn,
    /// `bad_frame` (400).
    BadFrame,
    /// `bad_header` (400).
    BadHeader,
    /// `bad_json` (400).
    BadJson,
    /// `bad_path` (400).
    BadPath,
    /// `bad_proto` (400).
    BadProto,
    /// `bad_query` (400).
    BadQuery,
    /// `basin_deletion_pending` (409).
    BasinDeletionPending,
    /// `basin_not_found` (404).
    BasinNotFound,
    /// `client_hangup` (499).
    ClientHangup,
    /// `decryption_failed` (400).
    DecryptionFailed,
    /// `hot_server` (502).
    HotServer,
    /// `invalid` (422).
    Invalid,
    /// `not_implemented` (501).
    NotImplemented,
    /// `other` (500).
    Other,
    /// `permission_denied` (403).
    PermissionDenied,
    /// `quota_exhausted` (403).
    QuotaExhausted,
    /// `rate_limited` (429).
    RateLimited,
    /// `request_timeout` (408).
    RequestTimeout,
    /// `resource_already_exists` (409).
    ResourceAlreadyExists,
    /// `server_draining` (503).
    ServerDraining,
    /// `storage` (500).
    Storage,
    /// `stream_deletion_pending` (409).
    StreamDeletionPending,
    /// `stream_not_found` (404).
    StreamNotFound,
    /// `transaction_conflict` (409).
    TransactionConflict,
    /// `unavailable` (503).
    Unavailable,
    /// `upstream_timeout` (504).
    UpstreamTimeout,
    /// A code this client does not know.
    Unknown,
}

/// Every known code with its wire name and HTTP status.
pub(super) const CODES: &[(ErrorCode, &str, u16)] = &[
    (
        ErrorCode::AccessTokenNotFound,
        "access_token_not_found",
        404,
    ),
    (ErrorCode::Authn, "authn", 401),
    (ErrorCode::BadFrame, "bad_frame", 400),
    (ErrorCode::BadHeader, "bad_header", 400),
    (ErrorCode::BadJson, "bad_json", 400),
    (ErrorCode::BadPath, "bad_path", 400),
    (ErrorCode::BadProto, "bad_proto", 400),
    (ErrorCode::BadQuery, "bad_query", 400),
    (
        ErrorCode::BasinDeletionPending,
        "basin_deletion_pending",
        409,
    ),
    (ErrorCode::BasinNotFound, "basin_not_found", 404),
    (ErrorCode::ClientHangup, "client_hangup", 499),
    (ErrorCode::DecryptionFailed, "decryption_failed", 400),
    (ErrorCode::HotServer, "hot_server", 502),
    (ErrorCode::Invalid, "invalid", 422),
    (ErrorCode::NotImplemented, "not_implemented", 501),
    (ErrorCode::Other, "other", 500),
    (ErrorCode::PermissionDenied, "permission_denied", 403),
    (ErrorCode::QuotaExhausted, "quota_exhausted", 403),
    (ErrorCode::RateLimited, "rate_limited", 429),
    (ErrorCode::RequestTimeout, "request_timeout", 408),
    (
        ErrorCode::ResourceAlreadyExists,
        "resource_already_exists",
        409,
    ),
    (ErrorCode::ServerDraining, "server_draining", 503),
    (ErrorCode::Storage, "storage", 500),
    (
        ErrorCode::StreamDeletionPending,
        "stream_deletion_pending",
        409,
    ),
    (ErrorCode::StreamNotFound, "stream_not_found", 404),
    (ErrorCode::TransactionConflict, "transaction_conflict", 409),
    (ErrorCode::Unavailable, "unavailable", 503),
    (ErrorCode::UpstreamTimeout, "upstream_timeout", 504),
];

impl ErrorCode {
    /// The code named `code` ([`Unknown`](Self::Unknown) if none is).
    pub fn from_code(code: &str) -> Self {
        CODES
            .iter()
            .find(|(_, name, _)| *name == code)
            .map_or(ErrorCode::Unknown, |(known, _, _)| *known)
    }

    /// The wire name (`None` for [`Unknown`](Self::Unknown)).
    pub fn as_str(self) -> Option<&'static str> {
        CODES
            .iter()
            .find(|(known, _, _)| *known == self)
            .map(|(_, name, _)| *name)
    }

    /// The HTTP status the service answers this code with (`None` for
    /// [`Unknown`](Self::Unknown)).
    pub fn status(self) -> Option<u16> {
        CODES
            .iter()
            .find(|(known, _, _)| *known == self)
            .map(|(_, _, status)| *status)
    }
}

impl ServiceError {
    /// The typed error code ([`ErrorCode::Unknown`] for a code this client
    /// does not know; the raw string stays in [`code`](Self::code)).
    pub fn error_code(&self) -> ErrorCode {
        ErrorCode::from_code(&self.code)
    }

    /// The code, when it can be trusted: known, and answered with the
    /// status the service gives it. A status and code that disagree (a
    /// proxy's error page, a confused server) are judged by the status
    /// alone, as an unknown code would be.
    fn trusted_code(&self) -> Option<&str> {
        let code = self.error_code();
        (code.status() == Some(self.status)).then_some(self.code.as_str())
    }

    /// Whether repeating the request may succeed.
    pub fn is_retryable(&self) -> bool {
        let Some(code) = self.trusted_code() else {
            return matches!(self.status, 408 | 429 | 500 | 502 | 503 | 504);
        };
        RETRYABLE_CODES.contains(&code)
    }

    /// Whether the request may have been applied despite the error.
    pub fn may_have_side_effect(&self) -> bool {
        if let Some(code) = self.trusted_code() {
            if NO_SIDE_EFFECT_CODES.contains(&code) {
                return false;
            }
            if UNKNOWN_OUTCOME_CODES.contains(&code) {
                return true;
            }
        }
        // An unknown code: only plain client errors prove nothing happened.
        let plain_client_error =
            (400..500).contains(&self.status) && !matches!(self.status, 408 | 499);
        !plain_client_error
    }
}

/// The service could not apply a stream's encryption to a request: the
/// request did nothing. The message is the service's, sanitised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptionError {
    /// The stream is encrypted and the request carried no key.
    #[error("the stream is encrypted and no encryption key was given: {message}")]
    MissingKey {
        /// The service's message.
        message: String,
    },
    /// The key does not decrypt the stream's records: they were written
    /// with another key.
    #[error("the encryption key does not decrypt the stream's records: {message}")]
    WrongKey {
        /// The service's message.
        message: String,
    },
    /// The service refused the key itself (malformed for the stream's
    /// cipher).
    #[error("the service refused the encryption key: {message}")]
    InvalidKey {
        /// The service's message.
        message: String,
    },
}

impl EncryptionError {
    /// The service error this is, if it is one: a `decryption_failed`
    /// answer, or a `bad_header` about the encryption key. s2-lite has no
    /// code of its own for a missing or malformed key, so those are told
    /// apart by the wording of its message.
    pub fn from_service(error: &ServiceError) -> Option<Self> {
        // Only a code answered with its own status: a gateway's 5xx
        // carrying one is no proof that nothing was applied.
        let code = error.trusted_code()?;
        let message = error.message.clone();
        match code {
            "decryption_failed" => Some(Self::WrongKey { message }),
            "bad_header" if error.message.contains("missing encryption key") => {
                Some(Self::MissingKey { message })
            }
            "bad_header" if error.message.contains("invalid encryption key") => {
                Some(Self::InvalidKey { message })
            }
            _ => None,
        }
    }

    /// The service's error code for it.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingKey { .. } | Self::InvalidKey { .. } => "bad_header",
            Self::WrongKey { .. } => "decryption_failed",
        }
    }
}

/// Longest error code kept from a server's answer, in bytes.
pub const MAX_SERVER_CODE_BYTES: usize = 64;
/// Longest error message kept from a server's answer, in bytes.
pub const MAX_SERVER_MESSAGE_BYTES: usize = 1024;

impl ServiceError {
    /// An error built from a server's answer: `code` and `message` are
    /// truncated and their control characters escaped, so hostile bytes
    /// cannot flood or forge lines in logs and `Display` output.
    pub fn from_server(
        status: u16,
        code: &str,
        message: &str,
        retry_after: Option<Duration>,
    ) -> Self {
        Self {
            status,
            code: sanitize_server_text(code, MAX_SERVER_CODE_BYTES),
            message: sanitize_server_text(message, MAX_SERVER_MESSAGE_BYTES),
            retry_after,
        }
    }
}

/// Text from a server made safe to print: control and invisible
/// direction-changing characters escaped (`\n`, `\u{1b}`), backslashes
/// doubled so the escapes are unambiguous, and the result cut to at most
/// `max_bytes` bytes on a character boundary, ending in `…` when cut.
pub fn sanitize_server_text(text: &str, max_bytes: usize) -> String {
    const ELLIPSIS: char = '…';
    let mut out = String::with_capacity(text.len().min(max_bytes));
    // Longest prefix, on an escape boundary, that still leaves room for
    // the ellipsis.
    let mut cut_at = 0;
    let mut escaped = String::new();
    for c in text.chars() {
        escaped.clear();
        match c {
            '\\' => escaped.push_str("\\\\"),
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c if needs_escape(c) => escaped.extend(c.escape_unicode()),
            c => escaped.push(c),
        }
        if out.len() + escaped.len() > max_bytes {
            out.truncate(cut_at);
            if out.len() + ELLIPSIS.len_utf8() <= max_bytes {
                out.push(ELLIPSIS);
            }
            return out;
        }
        out.push_str(&escaped);
        if out.len() + ELLIPSIS.len_utf8() <= max_bytes {
            cut_at = out.len();
        }
    }
    out
}

/// Characters that must not reach a terminal or a log line raw: controls
/// (C0, DEL, C1) and the invisible ones that reorder or hide text.
pub(super) fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// A short, printable prefix of a body, for error messages.
pub(crate) fn body_snippet(body: &[u8]) -> String {
    const MAX: usize = 256;
    // Cutting the raw bytes first bounds the work; the lossy decoding of a
    // split character only adds one replacement character.
    let cut = body.len().min(MAX);
    let mut text = sanitize_server_text(&String::from_utf8_lossy(&body[..cut]), MAX);
    if body.len() > MAX && !text.ends_with('…') {
        text.push('…');
    }
    text
}
