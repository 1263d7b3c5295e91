//! Did these records land? After an append whose outcome is unknown, the
//! one comparison of what a read-back finds with what was sent, for both
//! exactly-once resolutions: a unary append's ([`resolve_read_back`]) and
//! an append session's.
//!
//! The checks here state facts: where the tail stands against the span the
//! records were to fill ([`TailAt`]), and how far the records read back are
//! the ones sent ([`verify`]). The two resolutions answer differently from
//! the same facts, because they can do different things next: a unary
//! append cannot send again after its resolution, so whatever does not
//! prove an outcome leaves it unknown ([`ReadBack::Unknown`]); a session
//! can, with its condition keeping a batch from landing twice, so it
//! resends when nothing of its own is at the tail, reads on after a short
//! read, and fails with a writer conflict when the stream contradicts what
//! it wrote.

use crate::types::{AppendAck, AppendInput, AppendRecord, SequencedRecord, StreamPosition};

/// Where the tail stands against the span `start..end` that records sent
/// conditioned on `match_seq_num = start` were to fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TailAt {
    /// Before `start`.
    Before,
    /// At `start`: none of the span is on the stream.
    Start,
    /// Past `start`, before `end`: the span is not on the stream whole, and
    /// a batch lands whole, so the one at `start` is someone else's.
    Inside,
    /// At or past `end`: the span may be on the stream; a read-back tells.
    PastEnd,
}

impl TailAt {
    /// Where `tail` stands against `start..end` (`end` past `start`).
    pub fn of(tail: u64, start: u64, end: u64) -> Self {
        if tail < start {
            Self::Before
        } else if tail == start {
            Self::Start
        } else if tail < end {
            Self::Inside
        } else {
            Self::PastEnd
        }
    }
}

/// How a record read back compares with the record sent to its position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contents {
    /// The same headers and body (the service sets the position and may
    /// set the timestamp).
    Same,
    /// Other headers or another body: another writer's record.
    Differs,
    /// Nothing was sent to its position: it proves nothing about the span.
    Unsent,
}

/// A record read back that is not verified: why, and where in the read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unverified {
    /// Its index in the read.
    pub index: usize,
    /// Whether it is where the next record was expected (`from + index`);
    /// when not, the records before it are missing (trimmed, say).
    pub in_place: bool,
    /// How it compares with the record sent to its position.
    pub contents: Contents,
}

/// What records read back from `from` show about the records sent there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    /// How many records at the head of the read are the ones sent to
    /// `from`, `from + 1`, …: in place, with the same contents.
    pub verified: usize,
    /// The record just after those, when the read has one.
    pub stop: Option<Unverified>,
    /// The first record of the read, in place or not, whose contents are
    /// not those sent to its position ([`Contents::Differs`] or
    /// [`Contents::Unsent`]).
    pub first_foreign: Option<Unverified>,
}

/// Compares `read`, records read from `from`, with what was sent:
/// `sent_at(seq_num)` is the record sent to position `seq_num`, `None` where
/// nothing was (outside the span being verified).
///
/// Stops at the first record whose contents are not those sent: nothing
/// after it changes the verification.
pub fn verify<'a>(
    read: &[SequencedRecord],
    from: u64,
    sent_at: impl Fn(u64) -> Option<&'a AppendRecord>,
) -> Verification {
    let mut verification = Verification {
        verified: 0,
        stop: None,
        first_foreign: None,
    };
    for (index, record) in read.iter().enumerate() {
        let contents = match sent_at(record.seq_num()) {
            None => Contents::Unsent,
            Some(sent) if record.has_contents_of(sent) => Contents::Same,
            Some(_) => Contents::Differs,
        };
        let expected = u64::try_from(index).ok().and_then(|i| from.checked_add(i));
        let in_place = expected == Some(record.seq_num());
        let unverified = Unverified {
            index,
            in_place,
            contents,
        };
        if verification.stop.is_none() {
            if in_place && contents == Contents::Same {
                verification.verified += 1;
            } else {
                verification.stop = Some(unverified);
            }
        }
        if contents != Contents::Same {
            verification.first_foreign = Some(unverified);
            break;
        }
    }
    verification
}

/// What a read-back says about a batch conditioned on `match_seq_num =
/// start` whose outcome was unknown.
#[derive(Debug, PartialEq)]
pub enum ReadBack {
    /// It landed; the ack the service would have sent.
    Landed(AppendAck),
    /// It did not land and never will: position `start` is taken.
    NotApplied,
    /// The read-back cannot tell (records trimmed, a short read, a tail not
    /// yet past `start`: the batch may still be on its way).
    Unknown,
}

/// Decides from `tail` and `read` (records read from `start`) where a batch
/// conditioned on `match_seq_num = start` stands: a unary append's
/// resolution.
///
/// It landed when `read` is exactly its records at `start..start + len`
/// (same headers and bodies; the service sets the timestamps) and the tail
/// is at or past the end. The ack is then the one the service would have
/// sent: `end` is the position after the last record, carrying that
/// record's timestamp; `tail` is the stream's tail.
///
/// It never will land once the tail is past `start` (it can only land at
/// `start`) and either the tail is inside its span (had it landed, the tail
/// would be past its end) or a record at its position differs from its own.
pub fn resolve_read_back(
    input: &AppendInput,
    start: u64,
    read: &[SequencedRecord],
    tail: StreamPosition,
) -> ReadBack {
    let Some(end) = start.checked_add(input.len() as u64) else {
        return ReadBack::Unknown;
    };
    match TailAt::of(tail.seq_num, start, end) {
        TailAt::Before | TailAt::Start => return ReadBack::Unknown,
        TailAt::Inside => return ReadBack::NotApplied,
        TailAt::PastEnd => {}
    }
    let sent_at = |seq_num: u64| {
        let index = usize::try_from(seq_num.checked_sub(start)?).ok()?;
        input.records().get(index)
    };
    let verification = verify(read, start, sent_at);
    match verification.first_foreign.map(|f| f.contents) {
        // Outside the batch's span: proves nothing either way.
        Some(Contents::Unsent) => return ReadBack::Unknown,
        // Wherever it is in the read, even after a gap.
        Some(Contents::Differs) => return ReadBack::NotApplied,
        Some(Contents::Same) | None => {}
    }
    // Anything but exactly the batch, in place, proves nothing: a gap (a
    // trim), a short read.
    match (read.first(), read.last()) {
        (Some(first), Some(last))
            if verification.verified == input.len() && read.len() == input.len() =>
        {
            ReadBack::Landed(AppendAck {
                start: first.position(),
                end: StreamPosition {
                    seq_num: end,
                    timestamp: last.timestamp(),
                },
                tail,
            })
        }
        _ => ReadBack::Unknown,
    }
}

#[cfg(test)]
mod tests;
