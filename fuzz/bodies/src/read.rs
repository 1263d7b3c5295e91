//! The read session machine driven by an arbitrary sequence of events:
//! batches (plausible or hostile), heartbeats, raw bytes, terminal frames,
//! ends, errors and time.

use std::time::{Duration, Instant};

use bytes::Bytes;
use s2_core::{
    backoff::BackoffConfig,
    frame::Compression,
    session::{
        ConnectionEvent, ConnectionId,
        read::{Input as SessionInput, ReadEvent, ReadSession, ReadSessionConfig},
    },
    types::{
        CommandRecord, Header, MeteredBytes, ReadBatch, ReadLimit, ReadRequest, ReadStart,
        SequencedRecord, StreamPosition,
    },
};

use crate::{
    append::{error_body, rejection},
    input::Input,
    wire::{message_frame, terminal_frame},
};

/// Properties: no panic; records are delivered in strictly increasing
/// sequence order across the whole session, reconnections included (never a
/// duplicate); never more records or metered bytes than the limits, never a
/// record at or after `until`, no command record when they are ignored; a
/// reconnection resumes after the last record delivered with the budget
/// left; nothing follows `Tail`, `Finished` or `Failed`.
pub fn read_session(data: &[u8]) {
    let mut input = Input::new(data);
    let start = match input.below(3) {
        0 => ReadStart::SeqNum(input.position_near(0)),
        1 => ReadStart::Timestamp(u64::from(input.u8())),
        _ => ReadStart::TailOffset(u64::from(input.u8())),
    };
    let mut request = ReadRequest::new(start)
        .with_clamp(input.bool())
        .with_ignore_command_records(input.bool());
    let mut limit = ReadLimit::none();
    if input.bool() {
        limit = limit.with_count(u64::from(input.below(12)));
    }
    if input.bool() {
        limit = limit.with_bytes(u64::from(input.u8()));
    }
    request = request.with_limit(limit);
    if input.bool() {
        request = request.with_until(u64::from(input.u8()));
    }
    let config = ReadSessionConfig::default()
        .with_heartbeat_timeout(Duration::from_secs(20))
        .with_backoff(
            BackoffConfig::default()
                .with_base_delay(Duration::from_millis(10))
                .with_max_delay(Duration::from_millis(100))
                .with_max_retries(u32::from(input.below(4))),
        )
        .with_seed(u64::from(input.u8()));
    let now = Instant::now();
    let session = ReadSession::new(request.clone(), config, now);
    let mut harness = Harness {
        session,
        request,
        now,
        connection: None,
        last_delivered: None,
        delivered_count: 0,
        delivered_bytes: 0,
        finished: false,
        next_seq_num: None,
    };
    harness.drain();
    while !input.is_empty() {
        harness.step(&mut input);
        harness.drain();
    }
}

struct Harness {
    session: ReadSession,
    request: ReadRequest,
    now: Instant,
    connection: Option<ConnectionId>,
    last_delivered: Option<u64>,
    delivered_count: u64,
    delivered_bytes: u64,
    finished: bool,
    next_seq_num: Option<u64>,
}

impl Harness {
    fn connection(&self, input: &mut Input<'_>) -> ConnectionId {
        let current = self.connection.map_or(0, |c| c.0);
        if input.below(8) == 0 {
            ConnectionId(current.saturating_sub(1 + u64::from(input.below(2))))
        } else {
            ConnectionId(current)
        }
    }

    /// Where a plausible server would send records from.
    fn base(&self) -> u64 {
        self.session
            .next_seq_num()
            .or(match self.request.start {
                ReadStart::SeqNum(s) => Some(s),
                _ => None,
            })
            .unwrap_or(0)
    }

    fn step(&mut self, input: &mut Input<'_>) {
        let now = self.now;
        match input.below(10) {
            0..=3 => {
                let batch = self.batch(input);
                let compression = if input.below(4) == 0 {
                    Compression::Zstd
                } else {
                    Compression::None
                };
                let frame = message_frame(&batch, compression, input.below(8) == 0);
                self.data(input, frame);
            }
            4 => {
                let raw = Bytes::copy_from_slice(input.short_bytes(32));
                self.data(input, raw);
            }
            5 => {
                let (status, body) = error_body(input, self.base());
                self.data(input, terminal_frame(status, body.as_bytes()));
            }
            6 => {
                let connection = self.connection(input);
                match input.below(3) {
                    0 => self.session.handle(
                        SessionInput::Connection(connection, ConnectionEvent::End),
                        now,
                    ),
                    1 => self.session.handle(
                        SessionInput::Connection(connection, ConnectionEvent::Connected),
                        now,
                    ),
                    _ => {
                        // A refusal of the connection, as the driver hands
                        // it over: a 416 with the tail is no error here.
                        let rejection = rejection(input, self.base());
                        self.session.handle(
                            SessionInput::Connection(
                                connection,
                                ConnectionEvent::Rejected(rejection),
                            ),
                            now,
                        )
                    }
                }
            }
            _ => {
                self.now += match input.below(5) {
                    0 => Duration::ZERO,
                    1 => Duration::from_millis(50),
                    2 => Duration::from_secs(5),
                    3 => Duration::from_secs(21),
                    _ => Duration::from_millis(u64::from(input.u16())),
                };
                self.session.handle(SessionInput::Timeout, self.now);
            }
        }
    }

    /// A read batch starting near where the session resumes: mostly in
    /// order, sometimes with repeats, gaps, commands or edge positions.
    fn batch(&self, input: &mut Input<'_>) -> ReadBatch {
        let mut seq_num = input.position_near(self.base());
        let count = input.below(5);
        let mut records = Vec::new();
        for _ in 0..count {
            let at = StreamPosition::new(seq_num, u64::from(input.u8()));
            let body = Bytes::copy_from_slice(input.short_bytes(6));
            let record = match input.below(8) {
                0 => {
                    let command = CommandRecord::trim(seq_num);
                    SequencedRecord::new(at, command.body().clone())
                        .with_headers(command.headers().iter().cloned())
                }
                1 => SequencedRecord::new(at, body)
                    .with_headers([Header::new(Bytes::new(), Bytes::from_static(b"fence"))]),
                _ => SequencedRecord::new(at, body),
            };
            records.push(record);
            seq_num = match input.below(8) {
                0 => seq_num,
                1 => seq_num.wrapping_add(2),
                _ => seq_num.wrapping_add(1),
            };
        }
        let tail = match input.below(3) {
            0 => None,
            1 => Some(StreamPosition::new(seq_num, 0)),
            _ => Some(StreamPosition::new(input.position_near(seq_num), 0)),
        };
        ReadBatch { records, tail }
    }

    fn data(&mut self, input: &mut Input<'_>, bytes: Bytes) {
        let connection = self.connection(input);
        for piece in input.pieces(bytes) {
            let event = ConnectionEvent::Data(piece);
            self.session
                .handle(SessionInput::Connection(connection, event), self.now);
        }
    }

    fn drain(&mut self) {
        while let Some(event) = self.session.poll_event() {
            assert!(!self.finished, "{event:?} after the session ended");
            match event {
                ReadEvent::Connect {
                    connection,
                    request,
                } => {
                    assert!(
                        self.connection.is_none_or(|c| connection > c),
                        "connection ids are reused"
                    );
                    self.connection = Some(connection);
                    self.check_resume(&request);
                }
                ReadEvent::Batch(batch) => {
                    assert!(!batch.records.is_empty(), "an empty batch delivered");
                    for record in &batch.records {
                        assert!(
                            self.last_delivered
                                .is_none_or(|last| record.seq_num() > last),
                            "record {} delivered after {:?}",
                            record.seq_num(),
                            self.last_delivered
                        );
                        self.last_delivered = Some(record.seq_num());
                        assert!(
                            self.request
                                .until
                                .is_none_or(|until| record.timestamp() < until),
                            "a record at or after `until`"
                        );
                        assert!(
                            !(self.request.ignore_command_records && record.is_command()),
                            "a command record delivered though ignored"
                        );
                    }
                    self.delivered_count += batch.records.len() as u64;
                    self.delivered_bytes += batch.records.metered_bytes();
                    let limit = self.request.limit;
                    assert!(
                        limit.count.is_none_or(|c| self.delivered_count <= c),
                        "more records than the count limit"
                    );
                    assert!(
                        limit.bytes.is_none_or(|b| self.delivered_bytes <= b),
                        "more bytes than the bytes limit"
                    );
                }
                ReadEvent::CaughtUp(_) => {}
                ReadEvent::Advised(connection) => assert_eq!(
                    Some(connection),
                    self.connection,
                    "advice about a connection not asked for"
                ),
                ReadEvent::Tail(_) | ReadEvent::Finished => self.finished = true,
                ReadEvent::Failed(error) => {
                    let _ = (error.is_retryable(), error.may_have_side_effect());
                    self.finished = true;
                }
            }
        }
        let next = self.session.next_seq_num();
        assert!(
            self.next_seq_num.is_none() || next >= self.next_seq_num,
            "the resume position went back from {:?} to {next:?}",
            self.next_seq_num
        );
        if let (Some(last), Some(next)) = (self.last_delivered, next) {
            assert!(next > last, "resuming at {next} would repeat record {last}");
        }
        self.next_seq_num = next;
        assert_eq!(self.session.is_finished(), self.finished);
    }

    fn check_resume(&self, request: &s2_core::types::ReadRequest) {
        if let Some(last) = self.last_delivered {
            match request.start {
                ReadStart::SeqNum(start) => {
                    assert!(
                        start > last,
                        "reconnecting at {start} repeats record {last}"
                    )
                }
                other => panic!("reconnecting at {other:?} after record {last}"),
            }
        }
        let limit = self.request.limit;
        if let Some(count) = limit.count {
            let left = request.limit.count.expect("the count limit was dropped");
            assert!(left <= count - self.delivered_count, "count budget grew");
        }
        if let Some(bytes) = limit.bytes {
            let left = request.limit.bytes.expect("the bytes limit was dropped");
            assert!(left <= bytes - self.delivered_bytes, "bytes budget grew");
        }
        assert_eq!(request.until, self.request.until, "until changed");
    }
}
