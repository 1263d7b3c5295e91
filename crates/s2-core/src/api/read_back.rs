//! Resolving a unary append whose outcome is unknown: what reading back
//! its position says about it.

use crate::types::{AppendAck, AppendInput, SequencedRecord, StreamPosition};

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
/// conditioned on `match_seq_num = start` stands.
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
    if tail.seq_num <= start {
        return ReadBack::Unknown;
    }
    if tail.seq_num < end {
        return ReadBack::NotApplied;
    }
    let mut matched = 0;
    for got in read {
        let Some(sent) = got
            .seq_num()
            .checked_sub(start)
            .and_then(|i| input.records().get(usize::try_from(i).ok()?))
        else {
            // Outside the batch's span: proves nothing either way.
            return ReadBack::Unknown;
        };
        if !got.has_contents_of(sent) {
            return ReadBack::NotApplied;
        }
        if got.seq_num() == start + matched {
            matched += 1;
        }
    }
    match (read.first(), read.last()) {
        (Some(first), Some(last)) if matched == input.len() as u64 && read.len() == input.len() => {
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
