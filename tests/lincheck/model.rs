//! The sequential model of a stream: its records and its fencing token (the
//! tail is the number of records). Appends change it; everything else only
//! observes it.

use super::history::RecordKey;

/// A stream's state between two appends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct StreamState {
    /// Record keys in sequence order.
    pub records: Vec<RecordKey>,
    /// The fencing token; empty until a fence command sets one.
    pub token: String,
}

/// The conditions an append carries.
#[derive(Debug, Clone, Copy, Default)]
pub struct Conditions<'a> {
    /// `match_seq_num`.
    pub match_seq_num: Option<u64>,
    /// The fencing token.
    pub fencing_token: Option<&'a str>,
}

/// Why the model rejects an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// `match_seq_num` is not the tail, which is this.
    SeqNum(u64),
    /// The token is not the stream's, which is this.
    Fencing(String),
}

impl StreamState {
    /// The tail: the next sequence number.
    pub fn tail(&self) -> u64 {
        self.records.len() as u64
    }

    /// Every reason the model has to reject an append carrying
    /// `conditions` (the service reports one of them).
    pub fn rejections(&self, conditions: Conditions<'_>) -> Vec<Rejection> {
        let mut rejections = Vec::new();
        if let Some(token) = conditions.fencing_token
            && token != self.token
        {
            rejections.push(Rejection::Fencing(self.token.clone()));
        }
        if let Some(m) = conditions.match_seq_num
            && m != self.tail()
        {
            rejections.push(Rejection::SeqNum(self.tail()));
        }
        rejections
    }

    /// Applies an append (unconditionally: check [`rejections`] first).
    /// Returns where it landed.
    ///
    /// [`rejections`]: Self::rejections
    pub fn apply(&mut self, records: &[RecordKey], fence: Option<&str>) -> (u64, u64) {
        let start = self.tail();
        self.records.extend_from_slice(records);
        if let Some(token) = fence {
            self.token = token.to_owned();
        }
        (start, self.tail())
    }
}
