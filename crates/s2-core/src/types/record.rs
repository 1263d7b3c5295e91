//! Records: what is appended, what is read back, where it lies, command
//! records and metering.

use bytes::Bytes;

use crate::{
    error::ValidationError,
    names::{FENCING_TOKEN_MAX_LEN, FencingToken},
    proto,
};

pub(crate) mod decode;

/// A place in a stream: a record's sequence number and its timestamp.
///
/// Also how the service reports a stream's tail: the sequence number the
/// next record will get, with the timestamp of the last one.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[non_exhaustive]
pub struct StreamPosition {
    /// Sequence number of the record.
    pub seq_num: u64,
    /// Milliseconds since the Unix epoch, as the service assigned them.
    pub timestamp: u64,
}

impl StreamPosition {
    /// The position of sequence number `seq_num` at `timestamp`.
    pub const fn new(seq_num: u64, timestamp: u64) -> Self {
        Self { seq_num, timestamp }
    }
}

/// One name-value pair of a record. An empty name is reserved for command
/// records.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    // The fields of the generated `proto::Header` (see `AppendRecord`).
    name: Bytes,
    value: Bytes,
}

impl Header {
    /// A header from anything convertible to bytes.
    pub fn new(name: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }

    /// The header's name.
    pub fn name(&self) -> &Bytes {
        &self.name
    }

    /// The header's value.
    pub fn value(&self) -> &Bytes {
        &self.value
    }

    /// Takes the name and the value.
    pub fn into_parts(self) -> (Bytes, Bytes) {
        (self.name, self.value)
    }
}

/// A record as submitted: a body, headers in order, and optionally a
/// client timestamp.
///
/// Built with [`new`](Self::new) and the `with_*` methods; checked against
/// the service's rules when it joins a batch
/// ([`AppendInput::new`](crate::types::AppendInput::new), the
/// [`Batcher`](crate::batcher::Batcher)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendRecord {
    // The fields of the generated `proto::AppendRecord`, so the same size
    // and alignment: a vector of those converts into a vector of these in
    // place (see the conversions below).
    timestamp: Option<u64>,
    headers: Vec<Header>,
    body: Bytes,
}

/// A durable record as read back: its position, headers and body.
///
/// Decoding a read batch slices bodies and header bytes out of the frame
/// buffer; [`into_body`](Self::into_body) and
/// [`into_parts`](Self::into_parts) take them without copying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequencedRecord {
    // The fields of the generated `proto::SequencedRecord`, so the same
    // size and alignment: a vector of those converts into a vector of these
    // in place (see the conversions below).
    seq_num: u64,
    timestamp: u64,
    headers: Vec<Header>,
    body: Bytes,
}

/// Everything a [`SequencedRecord`] holds, taken apart
/// ([`SequencedRecord::into_parts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SequencedRecordParts {
    /// Sequence number the service assigned.
    pub seq_num: u64,
    /// Timestamp of the record.
    pub timestamp: u64,
    /// Name-value pairs, in order.
    pub headers: Vec<Header>,
    /// The record's payload.
    pub body: Bytes,
}

/// Size of a record as the service meters it (for batch limits, read limits
/// and billing): `8 + 2 * headers + Σ(name + value) + body`.
pub trait MeteredBytes {
    /// The metered size in bytes.
    fn metered_bytes(&self) -> u64;
}

fn metered(headers: &[Header], body: &Bytes) -> u64 {
    let header_bytes: usize = headers.iter().map(|h| h.name.len() + h.value.len()).sum();
    8 + 2 * headers.len() as u64 + header_bytes as u64 + body.len() as u64
}

impl MeteredBytes for AppendRecord {
    fn metered_bytes(&self) -> u64 {
        metered(&self.headers, &self.body)
    }
}

impl MeteredBytes for SequencedRecord {
    fn metered_bytes(&self) -> u64 {
        metered(&self.headers, &self.body)
    }
}

impl<T: MeteredBytes> MeteredBytes for [T] {
    fn metered_bytes(&self) -> u64 {
        self.iter().map(MeteredBytes::metered_bytes).sum()
    }
}

impl<T: MeteredBytes> MeteredBytes for Vec<T> {
    fn metered_bytes(&self) -> u64 {
        self.as_slice().metered_bytes()
    }
}

impl AppendRecord {
    /// A record with this body, no headers and no timestamp.
    pub fn new(body: impl Into<Bytes>) -> Self {
        Self {
            timestamp: None,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Sets the headers.
    pub fn with_headers(mut self, headers: impl IntoIterator<Item = Header>) -> Self {
        self.headers = headers.into_iter().collect();
        self
    }

    /// Adds one header.
    pub fn with_header(mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        self.headers.push(Header::new(name, value));
        self
    }

    /// Sets a client timestamp (its use depends on the stream's timestamping
    /// mode).
    pub fn with_timestamp(mut self, timestamp: u64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// The record's payload.
    #[inline]
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The headers, in order.
    #[inline]
    pub fn headers(&self) -> &[Header] {
        &self.headers
    }

    /// The client timestamp, if one was set.
    #[inline]
    pub fn timestamp(&self) -> Option<u64> {
        self.timestamp
    }

    /// The command this record carries, if it is a command record.
    pub fn command(&self) -> Option<Command> {
        Command::parse(&self.headers, &self.body)
    }

    /// Checks the header rules: an empty header name is only allowed as the
    /// single header of a well-formed command record.
    pub(crate) fn validate(&self, index: usize) -> Result<(), ValidationError> {
        if !self.headers.iter().any(|h| h.name.is_empty()) {
            return Ok(());
        }
        if self.headers.len() != 1 {
            return Err(ValidationError::EmptyHeaderName { index });
        }
        let invalid = |reason| ValidationError::InvalidCommandRecord { index, reason };
        match &self.headers[0].value[..] {
            b"fence" if self.body.len() > FENCING_TOKEN_MAX_LEN => {
                Err(invalid("fencing token over 36 bytes"))
            }
            b"fence" if std::str::from_utf8(&self.body).is_err() => {
                Err(invalid("fencing token is not UTF-8"))
            }
            b"fence" => Ok(()),
            b"trim" if self.body.len() != 8 => Err(invalid("trim body must be 8 bytes")),
            b"trim" => Ok(()),
            _ => Err(invalid("unknown command")),
        }
    }
}

impl SequencedRecord {
    /// A record at `position` with this body and no headers: what a server
    /// (or a simulation of one) sends. Records from a read are decoded, not
    /// built.
    pub fn new(position: StreamPosition, body: impl Into<Bytes>) -> Self {
        Self {
            seq_num: position.seq_num,
            timestamp: position.timestamp,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Sets the headers.
    pub fn with_headers(mut self, headers: impl IntoIterator<Item = Header>) -> Self {
        self.headers = headers.into_iter().collect();
        self
    }

    /// Sequence number the service assigned.
    #[inline]
    pub fn seq_num(&self) -> u64 {
        self.seq_num
    }

    /// Timestamp of the record: milliseconds since the Unix epoch, from the
    /// client or the service as the stream's timestamping mode says.
    #[inline]
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// The position of this record.
    #[inline]
    pub fn position(&self) -> StreamPosition {
        StreamPosition::new(self.seq_num, self.timestamp)
    }

    /// The headers, in order.
    #[inline]
    pub fn headers(&self) -> &[Header] {
        &self.headers
    }

    /// The record's payload.
    #[inline]
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Takes the payload (a slice of the buffer it was read into: no copy).
    pub fn into_body(self) -> Bytes {
        self.body
    }

    /// Takes the record apart, without copying its headers or body.
    pub fn into_parts(self) -> SequencedRecordParts {
        SequencedRecordParts {
            seq_num: self.seq_num,
            timestamp: self.timestamp,
            headers: self.headers,
            body: self.body,
        }
    }

    /// Whether this record holds what `sent` held: the same headers and
    /// body (the service sets the position, and may set the timestamp).
    pub fn has_contents_of(&self, sent: &AppendRecord) -> bool {
        self.headers == sent.headers && self.body == sent.body
    }

    /// The command this record carries, if it is a command record.
    pub fn command(&self) -> Option<Command> {
        Command::parse(&self.headers, &self.body)
    }

    /// Whether this is a command record (fence, trim, or one this client does
    /// not know).
    pub fn is_command(&self) -> bool {
        is_command_shape(&self.headers)
    }
}

fn is_command_shape(headers: &[Header]) -> bool {
    headers.len() == 1 && headers[0].name.is_empty()
}

/// A command carried by a command record: exactly one header with an empty
/// name whose value names the command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// Sets the stream's fencing token (empty clears it).
    Fence(String),
    /// Asks the service to trim records before this sequence number.
    Trim(u64),
    /// A command this client does not know, with its name and body.
    Unknown {
        /// The command name (the header value).
        name: Bytes,
        /// The command body.
        body: Bytes,
    },
}

impl Command {
    fn parse(headers: &[Header], body: &Bytes) -> Option<Self> {
        if !is_command_shape(headers) {
            return None;
        }
        let name = &headers[0].value;
        Some(match &name[..] {
            b"fence" => match std::str::from_utf8(body) {
                Ok(token) => Command::Fence(token.to_owned()),
                Err(_) => Command::Unknown {
                    name: name.clone(),
                    body: body.clone(),
                },
            },
            b"trim" => match <[u8; 8]>::try_from(&body[..]) {
                Ok(be) => Command::Trim(u64::from_be_bytes(be)),
                Err(_) => Command::Unknown {
                    name: name.clone(),
                    body: body.clone(),
                },
            },
            _ => Command::Unknown {
                name: name.clone(),
                body: body.clone(),
            },
        })
    }
}

/// Builders of command records.
pub struct CommandRecord;

impl CommandRecord {
    /// A `fence` command record: from its position on, appends that carry a
    /// fencing token must carry this one. An empty token clears the fence.
    pub fn fence(token: FencingToken) -> AppendRecord {
        AppendRecord {
            timestamp: None,
            headers: vec![Header::new(Bytes::new(), Bytes::from_static(b"fence"))],
            body: Bytes::from(token.into_string()),
        }
    }

    /// A `trim` command record: asks the service to delete records before
    /// `first_seq_num` (no effect if they are already gone).
    pub fn trim(first_seq_num: u64) -> AppendRecord {
        AppendRecord {
            timestamp: None,
            headers: vec![Header::new(Bytes::new(), Bytes::from_static(b"trim"))],
            body: Bytes::copy_from_slice(&first_seq_num.to_be_bytes()),
        }
    }
}

// Conversions from and to the generated messages. Bodies and header bytes
// move (no copy); vectors of records and headers are collected in place, as
// the generated structs and these have the same fields and so the same
// layout (`conversions_reuse_allocations` checks it).

impl From<proto::StreamPosition> for StreamPosition {
    #[inline]
    fn from(position: proto::StreamPosition) -> Self {
        Self::new(position.seq_num, position.timestamp)
    }
}

impl From<StreamPosition> for proto::StreamPosition {
    #[inline]
    fn from(position: StreamPosition) -> Self {
        Self {
            seq_num: position.seq_num,
            timestamp: position.timestamp,
        }
    }
}

impl From<proto::Header> for Header {
    #[inline]
    fn from(header: proto::Header) -> Self {
        Self {
            name: header.name,
            value: header.value,
        }
    }
}

impl From<Header> for proto::Header {
    #[inline]
    fn from(header: Header) -> Self {
        Self {
            name: header.name,
            value: header.value,
        }
    }
}

impl From<proto::AppendRecord> for AppendRecord {
    #[inline]
    fn from(record: proto::AppendRecord) -> Self {
        Self {
            timestamp: record.timestamp,
            headers: record.headers.into_iter().map(Header::from).collect(),
            body: record.body,
        }
    }
}

impl From<AppendRecord> for proto::AppendRecord {
    #[inline]
    fn from(record: AppendRecord) -> Self {
        Self {
            timestamp: record.timestamp,
            headers: record.headers.into_iter().map(From::from).collect(),
            body: record.body,
        }
    }
}

// Reads decode straight into `SequencedRecord` (see `decode`); tests hold
// that against prost's decoding through this.
#[cfg(test)]
impl From<proto::SequencedRecord> for SequencedRecord {
    #[inline]
    fn from(record: proto::SequencedRecord) -> Self {
        Self {
            seq_num: record.seq_num,
            timestamp: record.timestamp,
            headers: record.headers.into_iter().map(Header::from).collect(),
            body: record.body,
        }
    }
}

impl From<SequencedRecord> for proto::SequencedRecord {
    #[inline]
    fn from(record: SequencedRecord) -> Self {
        Self {
            seq_num: record.seq_num,
            timestamp: record.timestamp,
            headers: record.headers.into_iter().map(From::from).collect(),
            body: record.body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metering_formula() {
        let r = AppendRecord::new("hello")
            .with_header("a", "bc")
            .with_header("", "");
        assert_eq!(r.metered_bytes(), 8 + 2 * 2 + 3 + 5);
        assert_eq!(AppendRecord::new("").metered_bytes(), 8);
        let batch = vec![AppendRecord::new("x"), AppendRecord::new("yz")];
        assert_eq!(batch.metered_bytes(), 9 + 10);
    }

    #[test]
    fn command_records_round_trip() {
        let fence = CommandRecord::fence(FencingToken::new("tok").unwrap());
        assert_eq!(fence.headers()[0].name().len(), 0);
        assert_eq!(&fence.headers()[0].value()[..], b"fence");
        assert_eq!(&fence.body()[..], b"tok");
        assert_eq!(fence.command(), Some(Command::Fence("tok".into())));
        assert!(fence.validate(0).is_ok());

        let trim = CommandRecord::trim(0x0102_0304_0506_0708);
        assert_eq!(&trim.body()[..], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(trim.command(), Some(Command::Trim(0x0102_0304_0506_0708)));
        assert!(trim.validate(0).is_ok());
    }

    #[test]
    fn header_rules() {
        assert!(
            AppendRecord::new("x")
                .with_header("k", "v")
                .validate(0)
                .is_ok()
        );
        let two = AppendRecord::new("x")
            .with_header("", "fence")
            .with_header("k", "v");
        assert_eq!(
            two.validate(3),
            Err(ValidationError::EmptyHeaderName { index: 3 })
        );
        let bad_trim = AppendRecord::new("short").with_header("", "trim");
        assert!(matches!(
            bad_trim.validate(0),
            Err(ValidationError::InvalidCommandRecord { .. })
        ));
        let unknown = AppendRecord::new("").with_header("", "explode");
        assert!(unknown.validate(0).is_err());
        assert!(AppendRecord::new("x").command().is_none());
    }

    #[test]
    fn accessors_and_parts() {
        let sent = AppendRecord::new("body")
            .with_headers([Header::new("a", "1")])
            .with_header("b", "2")
            .with_timestamp(9);
        assert_eq!(sent.timestamp(), Some(9));
        assert_eq!(&sent.body()[..], b"body");
        let names: Vec<_> = sent.headers().iter().map(|h| &h.name()[..]).collect();
        assert_eq!(names, [b"a", b"b"]);
        assert_eq!(AppendRecord::new("x").timestamp(), None);

        let body = Bytes::from_static(b"body");
        let read = SequencedRecord::new(StreamPosition::new(4, 7), body.clone())
            .with_headers(sent.headers().iter().cloned());
        assert_eq!((read.seq_num(), read.timestamp()), (4, 7));
        assert_eq!(read.position(), StreamPosition::new(4, 7));
        assert!(read.has_contents_of(&sent));
        assert!(!read.has_contents_of(&AppendRecord::new("body")));
        assert!(!read.is_command());
        let parts = read.clone().into_parts();
        assert_eq!((parts.seq_num, parts.timestamp), (4, 7));
        assert_eq!(parts.headers, sent.headers());
        // The body is handed over, not copied.
        assert_eq!(parts.body.as_ptr(), body.as_ptr());
        assert_eq!(read.into_body().as_ptr(), body.as_ptr());

        let (name, value) = Header::new("n", "v").into_parts();
        assert_eq!((&name[..], &value[..]), (&b"n"[..], &b"v"[..]));
    }

    #[test]
    fn stream_positions_in_json() {
        let position = StreamPosition::new(5, 1_700_000_000_000);
        let json = serde_json::to_value(position).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"seq_num": 5, "timestamp": 1_700_000_000_000u64})
        );
        assert_eq!(
            serde_json::from_value::<StreamPosition>(json).unwrap(),
            position
        );
    }

    /// Converting decoded records moves their bytes and collects vectors in
    /// place: the read path allocates nothing more than prost did.
    #[test]
    fn conversions_reuse_allocations() {
        let body = Bytes::from(vec![1u8; 64]);
        let header = proto::Header {
            name: Bytes::from_static(b"k"),
            value: body.slice(8..16),
        };
        let generated: Vec<proto::SequencedRecord> = (0..3)
            .map(|i| proto::SequencedRecord {
                seq_num: i,
                timestamp: i,
                headers: vec![header.clone(), header.clone()],
                body: body.slice(16..),
            })
            .collect();
        let records_at = generated.as_ptr() as usize;
        let headers_at = generated[1].headers.as_ptr() as usize;
        let capacity = generated.capacity();
        let ours: Vec<SequencedRecord> = generated.into_iter().map(From::from).collect();
        assert_eq!(ours.as_ptr() as usize, records_at);
        assert_eq!(ours.capacity(), capacity);
        assert_eq!(ours[1].headers().as_ptr() as usize, headers_at);
        assert_eq!(ours[2].body().as_ptr(), body[16..].as_ptr());
        assert_eq!(ours[2].headers()[1].value().as_ptr(), body[8..].as_ptr());

        let generated: Vec<proto::AppendRecord> = vec![
            proto::AppendRecord {
                timestamp: Some(1),
                headers: vec![header.clone()],
                body: body.clone(),
            };
            4
        ];
        let records_at = generated.as_ptr() as usize;
        let ours: Vec<AppendRecord> = generated.into_iter().map(From::from).collect();
        assert_eq!(ours.as_ptr() as usize, records_at);
        let back: Vec<proto::AppendRecord> = ours.into_iter().map(From::from).collect();
        assert_eq!(back.as_ptr() as usize, records_at);
    }
}
