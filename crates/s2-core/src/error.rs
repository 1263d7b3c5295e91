//! Errors, split by who is at fault: the caller ([`ValidationError`]), the
//! service ([`ServiceError`], [`AppendConditionFailed`]), the bytes on the
//! wire ([`ProtocolError`]) or the network ([`Error::Transport`]).
//!
//! Every [`Error`] answers two questions a retry loop needs:
//! [`Error::is_retryable`] and [`Error::may_have_side_effect`].

use std::{borrow::Cow, fmt, time::Duration};

pub(crate) use self::service::body_snippet;
pub use self::service::{
    EncryptionError, ErrorCode, MAX_SERVER_CODE_BYTES, MAX_SERVER_MESSAGE_BYTES, ServiceError,
    sanitize_server_text,
};
use crate::frame::FrameError;

mod service;

/// Boxed error source of a transport failure.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Shared error source of a transport failure (shared so errors can be
/// cloned to every caller a failure affects).
pub type SharedError = std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Why a protobuf message could not be decoded (the source of
/// [`ProtocolError::Protobuf`]). Opaque, so that the decoder behind it is
/// not part of this API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedProtobuf(prost::DecodeError);

impl fmt::Display for MalformedProtobuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for MalformedProtobuf {}

impl ProtocolError {
    /// A message that failed to decode.
    pub(crate) fn protobuf(error: prost::DecodeError) -> Self {
        ProtocolError::Protobuf(MalformedProtobuf(error))
    }
}

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
    /// A setting of a configuration holds a value that cannot work (a zero
    /// timeout, a cap out of range, a header the SDK sets itself, ...), or
    /// one the environment gave could not be used.
    #[error("invalid {setting}: {reason}")]
    InvalidSetting {
        /// The setting: its name in the configuration that holds it
        /// (`ack_timeout`, `max_records`), or the environment variable it
        /// came from (`S2_ACCESS_TOKEN`).
        setting: &'static str,
        /// What is wrong with its value.
        reason: Cow<'static, str>,
    },
    /// A value could not be encoded into a request.
    #[error("could not encode the request: {reason}")]
    Encode {
        /// What went wrong.
        reason: String,
    },
}

/// The refusal of a setting that must be more than zero (a timeout, a
/// cap).
pub(crate) fn greater_than_zero(setting: &'static str) -> ValidationError {
    ValidationError::InvalidSetting {
        setting,
        reason: "must be greater than zero".into(),
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

/// Bytes from the network that do not follow the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A JSON body did not match the expected schema.
    #[error("malformed JSON response: {0}")]
    Json(String),
    /// A protobuf body could not be decoded (why: its
    /// [`source`](std::error::Error::source)).
    #[error("malformed protobuf response")]
    Protobuf(#[source] MalformedProtobuf),
    /// A required field was missing.
    #[error("response is missing {0}")]
    MissingField(&'static str),
    /// A connection failed at its handshake in a way retrying cannot fix:
    /// the server's TLS certificate was refused, or the server does not
    /// speak HTTP/2. Nothing was sent.
    #[error("connection handshake failed: {0}")]
    Handshake(String),
    /// A session frame (or a compressed body) broke the framing rules (which
    /// one: its [`source`](std::error::Error::source)).
    #[error("malformed session frame")]
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
    /// The service's answer could not be understood.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The connection failed (how: its [`source`](std::error::Error::source)).
    #[error("transport error ({})", if *.sent { "request may have been sent" } else { "request not sent" })]
    Transport {
        /// Whether any part of the request may have reached the service.
        sent: bool,
        /// The underlying failure.
        source: SharedError,
    },
    /// No answer came within the request timeout.
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    /// The client, session or producer was closed, or stopped: the
    /// operation was refused before anything was sent (`sent: false`), or
    /// was cut off after it may have been (`sent: true`: an ack that will
    /// never come for a batch that went out).
    #[error("closed ({}): {reason}", if *.sent { "request may have been sent" } else { "request not sent" })]
    Closed {
        /// Whether any part of the operation may have reached the service.
        sent: bool,
        /// What was closed.
        reason: Cow<'static, str>,
    },
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
    /// may have been applied and which certainly were not; why it stopped
    /// is its [`source`](std::error::Error::source).
    #[error(
        "append session failed (inputs {maybe_applied:?} may have been applied, {not_applied:?} were not)"
    )]
    AppendSession {
        /// Why it stopped.
        #[source]
        cause: Box<Error>,
        /// Ids of inputs whose outcome is unknown.
        maybe_applied: std::ops::Range<u64>,
        /// Ids of inputs that were certainly not applied.
        not_applied: std::ops::Range<u64>,
    },
}

/// Whether a failed request may have reached the service: the `sent` of
/// [`Error::transport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Provably not: nothing of it left the client (the connection could
    /// not be made, or the request was handed back unsent).
    No,
    /// Some or all of it may have: its effect is unknown.
    Maybe,
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
            | Error::Protocol(_)
            | Error::Closed { .. }
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
            | Error::WriterConflict { .. }
            | Error::AccessTokenProvider { .. } => false,
            Error::AppendSession { maybe_applied, .. } => !maybe_applied.is_empty(),
            Error::Service(e) => e.may_have_side_effect(),
            Error::Transport { sent, .. } | Error::Closed { sent, .. } => *sent,
            Error::Protocol(ProtocolError::Handshake(_)) => false,
            Error::Timeout(_) | Error::Protocol(_) => true,
        }
    }

    /// How long the service asked to wait before a retry, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Service(e) => e.retry_after,
            _ => None,
        }
    }

    /// A transport failure; `sent` says whether any of the request may
    /// have reached the service.
    pub fn transport(sent: Sent, source: impl Into<BoxError>) -> Self {
        Error::Transport {
            sent: sent == Sent::Maybe,
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

impl fmt::Display for crate::types::StreamPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.seq_num, self.timestamp)
    }
}

#[cfg(test)]
mod tests;
