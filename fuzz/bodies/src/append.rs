//! The append session machine driven by an arbitrary sequence of events:
//! submits, transmits, acks (fitting or hostile), raw bytes, terminal
//! frames, ends, errors, time, tails and read-backs (faithful or not).

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use bytes::Bytes;
use s2_core::{
    Error,
    api::{Api, Endpoints, HttpResponse, SessionRejection, error_from_parts},
    backoff::BackoffConfig,
    error::Sent,
    frame::{Compression, Frame, FrameDecoder, FrameLimits, WireMessage},
    session::{
        ConnectionEvent, ConnectionId,
        append::{
            AppendEvent, AppendRetryPolicy, AppendSession, AppendSessionConfig,
            Input as SessionInput, SubmitError, failure_ranges,
        },
    },
    types::{
        AppendAck, AppendInput, AppendRecord, ReadBatch, ReadOutput, ReadRequest, ReadStart,
        SequencedRecord, StreamPosition,
    },
};

use crate::{
    input::Input,
    wire::{message_frame, terminal_frame},
};

/// Properties: no panic; every frame sent is a submitted input, on the
/// connection last asked for; acks come only for submitted inputs, each
/// once, in submission order, covering the input's records at its
/// `match_seq_num`; a failure names exactly the unacked inputs; nothing
/// follows `Closed` or `Failed`, and `Closed` only after `close` with
/// everything acked.
pub fn append_session(data: &[u8]) {
    let mut input = Input::new(data);
    // The settings are drawn in the order the input always gave them.
    let max_unacked_bytes = 64 + u64::from(input.u8()) * 8;
    let max_unacked_batches = 1 + usize::from(input.below(4));
    let retry_policy = if input.bool() {
        AppendRetryPolicy::NoSideEffects
    } else {
        AppendRetryPolicy::All
    };
    let max_retries = u32::from(input.below(4));
    let seed = u64::from(input.u8());
    let compression = if input.bool() {
        Compression::Zstd
    } else {
        Compression::None
    };
    let config = AppendSessionConfig::default()
        .with_max_unacked_bytes(max_unacked_bytes)
        .with_max_unacked_batches(max_unacked_batches)
        .with_ack_timeout(Duration::from_secs(1))
        .with_retry_policy(retry_policy)
        .with_backoff(
            BackoffConfig::default()
                .with_base_delay(Duration::from_millis(10))
                .with_max_delay(Duration::from_millis(100))
                .with_max_retries(max_retries),
        )
        .with_seed(seed)
        .with_compression(compression);
    let mut harness = Harness::new(config);
    while !input.is_empty() {
        harness.step(&mut input);
        harness.drain();
    }
}

struct Harness {
    session: AppendSession,
    now: Instant,
    /// Every input accepted, as the session completes it (with the
    /// `match_seq_num` it assigns).
    inputs: Vec<AppendInput>,
    next_match: Option<u64>,
    /// Id of the next input to be acknowledged.
    next_ack: u64,
    connection: Option<ConnectionId>,
    last_connection: Option<ConnectionId>,
    /// Inputs sent on the current connection and not yet acknowledged.
    in_flight: VecDeque<u64>,
    /// The model server's tail.
    tail: u64,
    read: Option<ReadRequest>,
    closing: bool,
    finished: bool,
}

impl Harness {
    fn new(config: AppendSessionConfig) -> Self {
        Self {
            session: AppendSession::new(config),
            now: Instant::now(),
            inputs: Vec::new(),
            next_match: None,
            next_ack: 0,
            connection: None,
            last_connection: None,
            in_flight: VecDeque::new(),
            tail: 0,
            read: None,
            closing: false,
            finished: false,
        }
    }

    /// A connection id for an event: mostly the current one, sometimes an
    /// older one (a late event).
    fn connection(&self, input: &mut Input<'_>) -> ConnectionId {
        let current = self.last_connection.map_or(0, |c| c.0);
        if input.below(8) == 0 {
            ConnectionId(current.saturating_sub(1 + u64::from(input.below(2))))
        } else {
            ConnectionId(current)
        }
    }

    fn step(&mut self, input: &mut Input<'_>) {
        let now = self.now;
        match input.below(14) {
            0 | 1 => self.submit(input),
            2 => {
                self.session.close();
                self.closing = true;
            }
            3 | 4 => self.transmit(),
            5 | 6 => self.fitting_ack(input),
            7 => {
                let ack = AppendAck {
                    start: position(input.position_near(self.tail)),
                    end: position(input.position_near(self.tail)),
                    tail: position(input.position_near(self.tail)),
                };
                let frame = message_frame(&ack, Compression::None, input.below(4) == 0);
                self.data(input, frame);
            }
            8 => {
                let raw = Bytes::copy_from_slice(input.short_bytes(32));
                self.data(input, raw);
            }
            9 => {
                let (status, body) = error_body(input, self.tail);
                self.data(input, terminal_frame(status, body.as_bytes()));
            }
            10 => {
                let connection = self.connection(input);
                match input.below(3) {
                    0 => self.session.handle(
                        SessionInput::Connection(connection, ConnectionEvent::End),
                        now,
                    ),
                    // An append session is not told of a 200.
                    1 => {}
                    _ => {
                        let error = error(input, self.tail);
                        self.session.handle(
                            SessionInput::Connection(connection, ConnectionEvent::Failed(error)),
                            now,
                        )
                    }
                }
            }
            11 => {
                self.now += match input.below(6) {
                    0 => Duration::ZERO,
                    1 => Duration::from_millis(5),
                    2 => Duration::from_millis(100),
                    3 => Duration::from_secs(1),
                    4 => Duration::from_secs(30),
                    _ => Duration::from_millis(u64::from(input.u16())),
                };
                self.session.handle(SessionInput::Timeout, self.now);
            }
            12 => {
                let tail = if input.below(4) == 0 {
                    Err(error(input, self.tail))
                } else {
                    let front = self.inputs.get(self.next_ack as usize);
                    let base = match input.below(3) {
                        0 => front
                            .and_then(AppendInput::match_seq_num)
                            .unwrap_or(self.tail),
                        _ => self.tail,
                    };
                    Ok(position(input.position_near(base)))
                };
                self.session.handle(SessionInput::Tail(tail), now);
            }
            _ => {
                let output = self.read_back(input);
                self.session.handle(SessionInput::ReadBack(output), now);
            }
        }
    }

    fn submit(&mut self, input: &mut Input<'_>) {
        let count = 1 + usize::from(input.below(3));
        let records: Vec<AppendRecord> = (0..count)
            .map(|_| {
                let record = AppendRecord::new(Bytes::copy_from_slice(input.short_bytes(8)));
                if input.below(4) == 0 {
                    record.with_header(Bytes::from_static(b"k"), Bytes::from_static(b"v"))
                } else {
                    record
                }
            })
            .collect();
        let Ok(mut batch) = AppendInput::new(records) else {
            return;
        };
        match input.below(6) {
            0 => batch = batch.with_match_seq_num(self.tail),
            1 => batch = batch.with_match_seq_num(input.position_near(self.tail)),
            _ => {}
        }
        match self.session.try_submit(batch.clone()) {
            Ok(id) => {
                assert!(!self.closing && !self.finished, "accepted after close");
                assert_eq!(id, self.inputs.len() as u64, "input ids are not sequential");
                let len = batch.len() as u64;
                match (batch.match_seq_num(), self.next_match) {
                    (Some(m), _) => {
                        let end = m.checked_add(len);
                        assert!(end.is_some(), "accepted a batch whose end overflows");
                        self.next_match = end;
                    }
                    (None, Some(m)) => {
                        batch.set_match_seq_num(Some(m));
                        let end = m.checked_add(len);
                        assert!(end.is_some(), "accepted a batch whose end overflows");
                        self.next_match = end;
                    }
                    (None, None) => {}
                }
                self.inputs.push(batch);
            }
            Err(SubmitError::Full(_)) => {
                assert!(self.unacked() > 0, "refused as full with nothing unacked")
            }
            Err(SubmitError::Closed(_)) => {}
            Err(SubmitError::Invalid(refused, _)) => {
                let m = refused.match_seq_num().or(self.next_match);
                assert!(
                    m.is_some_and(|m| m.checked_add(refused.len() as u64).is_none()),
                    "refused a batch whose position does not overflow"
                );
            }
        }
    }

    fn transmit(&mut self) {
        while let Some((connection, frame)) = self.session.poll_transmit(self.now) {
            assert_eq!(
                Some(connection),
                self.connection,
                "a frame for a connection not asked for"
            );
            let id = self.next_ack + self.in_flight.len() as u64;
            let sent = decode_input(frame);
            assert_eq!(
                self.inputs.get(id as usize),
                Some(&sent),
                "frame {id} is not the input submitted"
            );
            self.in_flight.push_back(id);
        }
    }

    /// An ack a server would send for the oldest input in flight.
    fn fitting_ack(&mut self, input: &mut Input<'_>) {
        let Some(&id) = self.in_flight.front() else {
            return;
        };
        let batch = &self.inputs[id as usize];
        let start = batch.match_seq_num().unwrap_or(self.tail);
        let Some(end) = start.checked_add(batch.len() as u64) else {
            return;
        };
        let tail = end.saturating_add(u64::from(input.below(3)));
        self.tail = self.tail.max(end);
        let ack = AppendAck {
            start: position(start),
            end: position(end),
            tail: position(tail),
        };
        let frame = message_frame(&ack, Compression::None, input.below(8) == 0);
        self.data(input, frame);
    }

    /// Feeds `bytes` to a connection, sometimes in two pieces.
    fn data(&mut self, input: &mut Input<'_>, bytes: Bytes) {
        let connection = self.connection(input);
        for piece in input.pieces(bytes) {
            let event = ConnectionEvent::Data(piece);
            self.session
                .handle(SessionInput::Connection(connection, event), self.now);
        }
    }

    /// The answer to the pending read-back: what the model stream holds
    /// there, or a perturbation of it.
    fn read_back(&mut self, input: &mut Input<'_>) -> Result<ReadOutput, Error> {
        let request = self.read.take().unwrap_or_default();
        let from = match request.start {
            ReadStart::SeqNum(from) => from,
            other => panic!("a read-back must start at a sequence number, not {other:?}"),
        };
        let count = request.limit.count.unwrap_or(1000).min(1000);
        let mut records: Vec<SequencedRecord> = (0..count)
            .map_while(|i| from.checked_add(i))
            .map_while(|seq_num| self.written(seq_num))
            .collect();
        match input.below(10) {
            0 => return Err(error(input, self.tail)),
            1 => return Ok(ReadOutput::Tail(position(input.position_near(self.tail)))),
            2 if !records.is_empty() => {
                let i = usize::from(input.u8()) % records.len();
                let theirs = SequencedRecord::new(records[i].position(), "someone else")
                    .with_headers(records[i].headers().iter().cloned());
                records[i] = theirs;
            }
            3 if !records.is_empty() => {
                records.remove(0);
            }
            4 => records.truncate(usize::from(input.below(3))),
            _ => {}
        }
        let records = records
            .into_iter()
            .map(|record| {
                let parts = record.into_parts();
                let at = StreamPosition::new(parts.seq_num, u64::from(input.u8()));
                SequencedRecord::new(at, parts.body).with_headers(parts.headers)
            })
            .collect();
        Ok(ReadOutput::Batch(ReadBatch {
            records,
            tail: None,
        }))
    }

    /// The record this session wrote at `seq_num`, if any.
    fn written(&self, seq_num: u64) -> Option<SequencedRecord> {
        self.inputs.iter().find_map(|batch| {
            let offset = seq_num.checked_sub(batch.match_seq_num()?)?;
            let record = batch.records().get(usize::try_from(offset).ok()?)?;
            let at = StreamPosition::new(seq_num, 0);
            Some(
                SequencedRecord::new(at, record.body().clone())
                    .with_headers(record.headers().iter().cloned()),
            )
        })
    }

    fn unacked(&self) -> u64 {
        self.inputs.len() as u64 - self.next_ack
    }

    fn drain(&mut self) {
        while let Some(event) = self.session.poll_event() {
            assert!(!self.finished, "{event:?} after the session ended");
            match event {
                AppendEvent::Connect(connection) => {
                    assert!(
                        self.last_connection.is_none_or(|last| connection > last),
                        "connection ids are reused"
                    );
                    self.connection = Some(connection);
                    self.last_connection = Some(connection);
                    self.in_flight.clear();
                }
                AppendEvent::Disconnect(connection) => {
                    if self.connection == Some(connection) {
                        self.connection = None;
                        self.in_flight.clear();
                    }
                }
                AppendEvent::Advised(connection) => assert_eq!(
                    Some(connection),
                    self.connection,
                    "advice about a connection not asked for"
                ),
                AppendEvent::Closed => {
                    assert!(self.closing, "closed without close()");
                    assert_eq!(self.unacked(), 0, "closed with inputs unacked");
                    self.finished = true;
                }
                AppendEvent::CheckTail => {}
                AppendEvent::Read(request) => self.read = Some(request),
                AppendEvent::Ack { id, ack } => {
                    assert_eq!(id, self.next_ack, "ack out of order or repeated");
                    let batch = self
                        .inputs
                        .get(id as usize)
                        .expect("an ack for an input never submitted");
                    assert_eq!(
                        ack.record_count(),
                        batch.len() as u64,
                        "ack {id} covers another number of records"
                    );
                    if let Some(m) = batch.match_seq_num() {
                        assert_eq!(ack.start.seq_num, m, "ack {id} is not where it had to land");
                    }
                    self.next_ack += 1;
                    if self.in_flight.front() == Some(&id) {
                        self.in_flight.pop_front();
                    }
                }
                AppendEvent::Failed(error) => {
                    let (maybe, not) =
                        failure_ranges(&error).expect("a session failure names its inputs");
                    assert_eq!(
                        maybe.start, self.next_ack,
                        "failure misnames the first unacked"
                    );
                    assert_eq!(maybe.end, not.start, "failure ranges are not contiguous");
                    assert_eq!(not.end, self.inputs.len() as u64, "failure misses inputs");
                    let _ = (error.is_retryable(), error.may_have_side_effect());
                    self.finished = true;
                }
            }
        }
        if self.finished {
            assert!(
                self.session.is_finished(),
                "events ended but the session did not"
            );
            assert_eq!(self.session.unacked_len(), 0);
        } else {
            assert_eq!(
                self.session.unacked_len() as u64,
                self.unacked(),
                "the session lost count of unacked inputs"
            );
        }
    }
}

fn decode_input(frame: Bytes) -> AppendInput {
    let mut decoder = FrameDecoder::new(FrameLimits::PROTOCOL);
    decoder.handle_data(frame);
    match decoder.poll_frame() {
        Ok(Some(Frame::Message { payload, .. })) => {
            AppendInput::decode(payload).expect("the session sends valid inputs")
        }
        other => panic!("the session sent {other:?}, not one message frame"),
    }
}

fn position(seq_num: u64) -> StreamPosition {
    StreamPosition::new(seq_num, seq_num / 2)
}

/// A status and JSON body a server may send with an error.
pub(crate) fn error_body(input: &mut Input<'_>, tail: u64) -> (u16, String) {
    match input.below(9) {
        0 => (
            412,
            format!(r#"{{"seq_num_mismatch":{}}}"#, input.position_near(tail)),
        ),
        1 => (412, r#"{"fencing_token_mismatch":"other"}"#.into()),
        2 => (500, r#"{"code":"other","message":"boom"}"#.into()),
        3 => (503, r#"{"code":"unavailable","message":"later"}"#.into()),
        4 => (400, r#"{"code":"bad_frame","message":"no"}"#.into()),
        5 => (
            416,
            format!(
                r#"{{"tail":{{"seq_num":{},"timestamp":0}}}}"#,
                input.position_near(tail)
            ),
        ),
        6 => (429, r#"{"code":"rate_limited","message":"slow"}"#.into()),
        7 => (409, r#"{"code":"already_exists","message":"x"}"#.into()),
        _ => (
            input.u16(),
            String::from_utf8_lossy(input.short_bytes(24)).into_owned(),
        ),
    }
}

/// A refusal of a session connection, as a driver hands it to a session:
/// what [`error`] gives, parsed the way a refused response is.
pub(crate) fn rejection(input: &mut Input<'_>, tail: u64) -> SessionRejection {
    match input.below(4) {
        0 => Error::transport(
            if input.bool() { Sent::Maybe } else { Sent::No },
            "connection cut",
        )
        .into(),
        1 => Error::Timeout(Duration::from_secs(1)).into(),
        _ => {
            let (status, body) = error_body(input, tail);
            let Ok(status) = http::StatusCode::from_u16(status) else {
                return error_from_parts(status, body.as_bytes(), None).into();
            };
            let api = Api::new(
                Endpoints::single("http://127.0.0.1:1").expect("a loopback endpoint"),
                "token",
                Compression::None,
            )
            .expect("a valid client configuration");
            api.session_rejection(&HttpResponse {
                status,
                headers: http::HeaderMap::new(),
                body: body.into(),
            })
        }
    }
}

/// An error a driver may report for a connection or a unary call.
pub(crate) fn error(input: &mut Input<'_>, tail: u64) -> Error {
    match input.below(4) {
        0 => Error::transport(
            if input.bool() { Sent::Maybe } else { Sent::No },
            "connection cut",
        ),
        1 => Error::Timeout(Duration::from_secs(1)),
        _ => {
            let (status, body) = error_body(input, tail);
            error_from_parts(status, body.as_bytes(), None)
        }
    }
}
