//! Errors, split by who is at fault: the caller ([`ValidationError`]), the
//! service ([`ServiceError`], [`AppendConditionFailed`]), the bytes on the
//! wire ([`ProtocolError`]) or the network ([`Error::Transport`]).
//!
//! Every [`Error`] answers two questions a retry loop needs:
//! [`Error::is_retryable`] and [`Error::may_have_side_effect`].

use std::{borrow::Cow, fmt, time::Duration};

use crate::{frame::FrameError, types::StreamPosition};

/// Boxed error source of a transport failure.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Shared error source of a transport failure (shared so errors can be
/// cloned to every caller a failure affects).
pub type SharedError = std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>;

/// The caller asked for something the service would reject. Nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// A basin name breaks the naming rules.
    #[error("invalid basin name {name:?}: {reason}")]
    InvalidBasinName {
        /// The rejected name.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A stream name breaks the naming rules.
    #[error("invalid stream name ({len} bytes): {reason}")]
    InvalidStreamName {
        /// Length of the rejected name in bytes.
        len: usize,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// An access token id is empty, longer than 96 bytes, `.`, `..` or holds NUL.
    #[error(
        "access token id must be 1 to 96 bytes, not \".\" or \"..\", without NUL; got {len} bytes"
    )]
    InvalidAccessTokenId {
        /// Length of the rejected id in bytes.
        len: usize,
    },
    /// A fencing token is longer than 36 bytes.
    #[error("fencing token must be at most 36 bytes, got {len}")]
    FencingTokenTooLong {
        /// Length of the rejected token in bytes.
        len: usize,
    },
    /// An encryption key is not the base64 of a 32-byte key (the key
    /// itself is never part of the error).
    #[error("invalid encryption key: {reason}")]
    InvalidEncryptionKey {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A request token is empty, longer than 36 bytes or not visible ASCII.
    #[error("request token must be 1 to 36 visible ASCII bytes, got {len} bytes")]
    InvalidRequestToken {
        /// Length of the rejected token in bytes.
        len: usize,
    },
    /// A location name is empty, longer than 64 characters or holds a
    /// character other than ASCII letters, digits, `:`, `-` and `.`.
    #[error("invalid location name {name:?}: {reason}")]
    InvalidLocationName {
        /// The rejected name.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// An append batch has no records.
    #[error("an append batch needs at least one record")]
    EmptyBatch,
    /// An append batch has more than 1000 records.
    #[error("an append batch holds at most 1000 records, got {count}")]
    TooManyRecords {
        /// Records in the rejected batch.
        count: usize,
    },
    /// An append batch (or a single record) is over 1 MiB metered.
    #[error("an append batch is at most 1048576 metered bytes, got {metered_bytes}")]
    BatchTooLarge {
        /// Metered size of the rejected batch.
        metered_bytes: u64,
    },
    /// An append batch would not fit a 2 MiB frame once encoded (many tiny
    /// headers cost more on the wire than they are metered).
    #[error("an append batch encodes to {encoded_bytes} bytes, over the 2 MiB frame limit")]
    EncodedBatchTooLarge {
        /// Encoded size of the rejected batch.
        encoded_bytes: usize,
    },
    /// An append's `match_seq_num` plus its record count is past the last
    /// sequence number a stream can have.
    #[error("match_seq_num {match_seq_num} with {records} records overflows the sequence numbers")]
    MatchSeqNumOverflow {
        /// The batch's `match_seq_num`.
        match_seq_num: u64,
        /// Records in the batch.
        records: usize,
    },
    /// An input submitted through a permit is bigger than the permit's
    /// reservation by more than the room left: reserve its real size.
    #[error(
        "an input of {metered_bytes} metered bytes does not fit a permit of {reserved} bytes and the room left"
    )]
    ExceedsReservation {
        /// Metered bytes reserved.
        reserved: u64,
        /// Metered bytes of the input.
        metered_bytes: u64,
    },
    /// A record header has an empty name (reserved for command records).
    #[error("record {index} has a header with an empty name, which only command records may use")]
    EmptyHeaderName {
        /// Position of the offending record in its batch.
        index: usize,
    },
    /// A command record is malformed.
    #[error("record {index} is a malformed command record: {reason}")]
    InvalidCommandRecord {
        /// Position of the offending record in its batch.
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A list limit is outside 1..=1000.
    #[error("list limit must be between 1 and 1000, got {limit}")]
    InvalidListLimit {
        /// The rejected limit.
        limit: usize,
    },
    /// A read limit asks for more than one request may return.
    #[error("read limit out of range: {reason}")]
    InvalidReadLimit {
        /// Which bound is broken.
        reason: &'static str,
    },
    /// An endpoint URL could not be understood.
    #[error("invalid endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        /// The rejected endpoint.
        endpoint: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: Cow<'static, str>,
    },
    /// A value could not be encoded into a request.
    #[error("could not encode the request: {reason}")]
    Encode {
        /// What went wrong.
        reason: String,
    },
}

/// An error response from the service: status, machine-readable code and
/// message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
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
const CODES: &[(ErrorCode, &str, u16)] = &[
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

/// An append was rejected because its condition did not hold. Nothing of it
/// was applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AppendConditionFailed {
    /// `match_seq_num` did not equal the stream's tail.
    #[error("match_seq_num mismatch: the stream's next sequence number is {expected}")]
    SeqNumMismatch {
        /// The sequence number the next record would get.
        expected: u64,
    },
    /// The fencing token did not match the stream's.
    #[error("fencing token mismatch: the stream's token is {expected:?}")]
    FencingTokenMismatch {
        /// The stream's current fencing token.
        expected: String,
    },
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

/// Bytes from the network that do not follow the protocol.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A JSON body did not match the expected schema.
    #[error("malformed JSON response: {0}")]
    Json(String),
    /// A protobuf body could not be decoded.
    #[error("malformed protobuf response: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// A required field was missing.
    #[error("response is missing {0}")]
    MissingField(&'static str),
    /// A session frame (or a compressed body) broke the framing rules.
    #[error("malformed session frame: {0}")]
    Frame(#[from] FrameError),
    /// A response was larger than this client accepts.
    #[error("response body exceeds {limit} bytes")]
    BodyTooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The status code was not one the operation can answer with.
    #[error("unexpected HTTP status {status}: {body}")]
    UnexpectedStatus {
        /// HTTP status.
        status: u16,
        /// Start of the body, for diagnosis.
        body: String,
    },
    /// An acknowledgement or batch contradicts what was sent or seen before.
    #[error("inconsistent response: {0}")]
    Inconsistent(Cow<'static, str>),
    /// A read batch holds more records or metered bytes than the service
    /// ever sends in one batch.
    #[error("read batch holds more than {limit} {what}")]
    ReadBatchTooLarge {
        /// Which bound was exceeded: records or metered bytes.
        what: &'static str,
        /// The bound.
        limit: u64,
    },
    /// A read batch's protobuf encoding could not be walked.
    #[error("malformed read batch: {0}")]
    MalformedReadBatch(&'static str),
    /// A response used a content coding the request did not offer (or one
    /// this client does not know).
    #[error("response uses content-encoding {encoding:?}, which was not offered")]
    UnrequestedEncoding {
        /// The response's `Content-Encoding`, shortened.
        encoding: String,
    },
    /// A listing page said there was more but did not move past the
    /// previous page, so paging would never end.
    #[error("listing page does not advance past {start_after:?}")]
    PageNotAdvancing {
        /// Where the page was asked to start (exclusive), shortened.
        start_after: String,
    },
}

/// Any failure of an S2 operation.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input was rejected before anything was sent.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// The service answered with an error.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The stream's encryption key was missing, wrong or refused.
    #[error(transparent)]
    Encryption(#[from] EncryptionError),
    /// An append's `match_seq_num` or fencing token did not match.
    #[error(transparent)]
    AppendCondition(#[from] AppendConditionFailed),
    /// A read started past the tail (and `clamp` was not set).
    #[error("read start is past the tail at {}", .tail.seq_num)]
    ReadPastTail {
        /// The stream's tail.
        tail: StreamPosition,
    },
    /// The service's answer could not be understood.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The connection failed.
    #[error("transport error ({}): {source}", if *.sent { "request may have been sent" } else { "request not sent" })]
    Transport {
        /// Whether any part of the request may have reached the service.
        sent: bool,
        /// The underlying failure.
        source: SharedError,
    },
    /// No answer came within the request timeout.
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    /// The client or session was closed.
    #[error("closed: {0}")]
    Closed(Cow<'static, str>),
    /// Exactly-once resolution found records of another writer where this
    /// session's batch was expected; the batch was not applied.
    #[error("another writer appended at sequence number {seq_num}: {reason}")]
    WriterConflict {
        /// Where the foreign record (or the tail) was found.
        seq_num: u64,
        /// What did not match.
        reason: Cow<'static, str>,
    },
    /// The access-token provider could not give a token; nothing was sent.
    #[error("access token provider failed: {message}")]
    AccessTokenProvider {
        /// What the provider said.
        message: Cow<'static, str>,
        /// Whether asking again may succeed.
        retryable: bool,
    },
    /// An append session stopped. Says which of its unacknowledged inputs
    /// may have been applied and which certainly were not.
    #[error(
        "append session failed: {cause} (inputs {maybe_applied:?} may have been applied, {not_applied:?} were not)"
    )]
    AppendSession {
        /// Why it stopped.
        cause: Box<Error>,
        /// Ids of inputs whose outcome is unknown.
        maybe_applied: std::ops::Range<u64>,
        /// Ids of inputs that were certainly not applied.
        not_applied: std::ops::Range<u64>,
    },
}

impl Error {
    /// Whether repeating the operation may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Service(e) => e.is_retryable(),
            Error::Transport { .. } | Error::Timeout(_) => true,
            Error::AccessTokenProvider { retryable, .. } => *retryable,
            Error::Validation(_)
            | Error::Encryption(_)
            | Error::AppendCondition(_)
            | Error::ReadPastTail { .. }
            | Error::Protocol(_)
            | Error::Closed(_)
            | Error::WriterConflict { .. }
            | Error::AppendSession { .. } => false,
        }
    }

    /// Whether the failed operation may have been applied by the service.
    /// `false` is a proof of no effect; `true` means "unknown".
    pub fn may_have_side_effect(&self) -> bool {
        match self {
            Error::Validation(_)
            | Error::Encryption(_)
            | Error::AppendCondition(_)
            | Error::ReadPastTail { .. }
            | Error::WriterConflict { .. }
            | Error::AccessTokenProvider { .. } => false,
            Error::AppendSession { maybe_applied, .. } => !maybe_applied.is_empty(),
            Error::Service(e) => e.may_have_side_effect(),
            Error::Transport { sent, .. } => *sent,
            Error::Timeout(_) | Error::Protocol(_) | Error::Closed(_) => true,
        }
    }

    /// How long the service asked to wait before a retry, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Service(e) => e.retry_after,
            _ => None,
        }
    }

    /// A transport failure.
    pub fn transport(sent: bool, source: impl Into<BoxError>) -> Self {
        Error::Transport {
            sent,
            source: std::sync::Arc::from(source.into()),
        }
    }

    /// The service's error code, when the service answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Service(e) => Some(&e.code),
            Error::Encryption(e) => Some(e.code()),
            _ => None,
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
fn needs_escape(c: char) -> bool {
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

impl fmt::Display for crate::types::StreamPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.seq_num, self.timestamp)
    }
}

#[cfg(test)]
mod tests;
