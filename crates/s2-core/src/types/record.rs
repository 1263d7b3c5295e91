//! Records: what is appended, what is read back, command records and metering.

use bytes::Bytes;

use crate::{
    error::ValidationError,
    names::{FENCING_TOKEN_MAX_LEN, FencingToken},
};

pub use crate::proto::{AppendRecord, Header, SequencedRecord};

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

impl Header {
    /// A header from anything convertible to bytes.
    pub fn new(name: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
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

    /// The position of this record.
    pub fn position(&self) -> crate::types::StreamPosition {
        crate::types::StreamPosition {
            seq_num: self.seq_num,
            timestamp: self.timestamp,
        }
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
        assert_eq!(fence.headers[0].name.len(), 0);
        assert_eq!(&fence.headers[0].value[..], b"fence");
        assert_eq!(&fence.body[..], b"tok");
        assert_eq!(fence.command(), Some(Command::Fence("tok".into())));
        assert!(fence.validate(0).is_ok());

        let trim = CommandRecord::trim(0x0102_0304_0506_0708);
        assert_eq!(&trim.body[..], &[1, 2, 3, 4, 5, 6, 7, 8]);
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
}
