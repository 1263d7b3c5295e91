//! Sans-IO protocol core of the S2 client.
//!
//! Everything an S2 client needs that does not touch the network or the
//! clock: the data model ([`types`]), validated names ([`names`]), record
//! metering, the wire codecs (protobuf, JSON and the `s2s` session
//! [`frame`]s), request builders and response parsers for every v1
//! endpoint ([`api`]), and errors that say whether a failure is retryable
//! and whether it may have had an effect ([`error`]).
//!
//! A request leaves the core as an [`api::HttpRequest`] (method, URI,
//! headers, body bytes); a response enters as an [`api::HttpResponse`]
//! (status, headers, body bytes). Runtime adapters only move those bytes
//! and keep time.
//!
//! Most applications use the async client (`s2-tokio`, `s2-async-std`, or
//! `s2-client` with a runtime of their own), which drives everything here.
//! This crate is for those who drive the protocol themselves: a simulation,
//! an embedded system, an event loop of their own.
//!
//! # The sans-IO run loop
//!
//! The session machines ([`session::append`], [`session::read`]) and the
//! [`batcher`] share one shape: inputs go in with the current time (the
//! core never reads a clock), through `handle` and one input type for each
//! session machine, through `handle_record` and `handle_timeout` for the
//! batcher; outputs come out of `poll_*` methods until they return `None`,
//! and `poll_timeout` says when the clock is next an input if nothing else
//! happens first. Drain `poll_event` before `poll_transmit`: a `Connect`
//! event precedes the frames for that connection (the [`session`] docs give
//! the whole order, and why).
//!
//! Below, an append session is driven by hand against a toy transport: a
//! server in memory that sequences each batch and acks it. Its first
//! connection is refused, so the machine backs off (a timer) and connects
//! again; a real driver sleeps until `poll_timeout` where this one jumps
//! its clock.
//!
//! ```
//! use std::{collections::VecDeque, time::Instant};
//!
//! use bytes::{Bytes, BytesMut};
//! use s2_core::{
//!     Error,
//!     error::Sent,
//!     frame::{Compression, Frame, FrameDecoder, FrameLimits, WireMessage, encode_message},
//!     session::{
//!         ConnectionEvent,
//!         append::{AppendEvent, AppendSession, AppendSessionConfig, Input},
//!     },
//!     types::{AppendAck, AppendInput, AppendRecord, StreamPosition},
//! };
//!
//! /// The toy transport: frames in, ack frames out, all in memory.
//! struct ToyServer {
//!     tail: u64,
//!     decoder: FrameDecoder,
//!     outbox: VecDeque<Bytes>,
//! }
//!
//! impl ToyServer {
//!     /// Bytes of the request body: each frame is one `AppendInput`.
//!     fn receive(&mut self, bytes: Bytes) {
//!         self.decoder.handle_data(bytes);
//!         while let Some(Frame::Message { payload, .. }) = self.decoder.poll_frame().unwrap() {
//!             let input = AppendInput::decode(payload).unwrap();
//!             let start = self.tail;
//!             self.tail += input.len() as u64;
//!             let at = |seq_num| StreamPosition::new(seq_num, 0);
//!             let ack = AppendAck { start: at(start), end: at(self.tail), tail: at(self.tail) };
//!             let mut frame = BytesMut::new();
//!             encode_message(&mut frame, &ack, Compression::None).unwrap();
//!             self.outbox.push_back(frame.freeze());
//!         }
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut server = ToyServer {
//!     tail: 0,
//!     decoder: FrameDecoder::new(FrameLimits::PROTOCOL),
//!     outbox: VecDeque::new(),
//! };
//! let mut now = Instant::now(); // The driver's clock, handed to the machine.
//! let mut session = AppendSession::new(AppendSessionConfig::default());
//! for word in ["sans", "io", "core"] {
//!     let input = AppendInput::new(vec![AppendRecord::new(word)])?;
//!     session.try_submit(input).map_err(|_| "no room")?;
//! }
//! session.close(); // Nothing more: `Closed` comes once all is acked.
//!
//! let (mut connection, mut refused_once, mut acked) = (None, false, Vec::new());
//! loop {
//!     // 1. Events first: a `Connect` precedes the frames for it, and the
//!     //    last acks and `Closed` come with the machine already finished.
//!     while let Some(event) = session.poll_event() {
//!         match event {
//!             AppendEvent::Connect(id) if !refused_once => {
//!                 refused_once = true;
//!                 let refused = Error::transport(Sent::No, "refused");
//!                 session.handle(Input::Connection(id, ConnectionEvent::Failed(refused)), now);
//!             }
//!             AppendEvent::Connect(id) => connection = Some(id),
//!             // Reset that connection: its outcome is being handled.
//!             AppendEvent::Disconnect(_) => connection = None,
//!             AppendEvent::Ack { id, ack } => acked.push((id, ack.start.seq_num)),
//!             AppendEvent::Closed => {}
//!             AppendEvent::Failed(error) => return Err(error.into()),
//!             // Unary calls for exactly-once resolution (`CheckTail`,
//!             // `Read`) and the server's advice: not needed by this toy.
//!             other => unreachable!("not in this toy: {other:?}"),
//!         }
//!     }
//!     if session.is_finished() {
//!         break;
//!     }
//!     // 2. Frames out, to the connection they name.
//!     while let Some((_, frame)) = session.poll_transmit(now) {
//!         server.receive(frame);
//!     }
//!     // 3. Bytes in.
//!     if let (Some(id), Some(bytes)) = (connection, server.outbox.pop_front()) {
//!         session.handle(Input::Connection(id, ConnectionEvent::Data(bytes)), now);
//!         continue;
//!     }
//!     // 4. Nothing happened: wait for the machine's next deadline.
//!     match session.poll_timeout() {
//!         Some(deadline) => {
//!             now = now.max(deadline);
//!             session.handle(Input::Timeout, now);
//!         }
//!         None => break,
//!     }
//! }
//! assert_eq!(acked, vec![(0, 0), (1, 1), (2, 2)]);
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod api;
pub mod backoff;
pub mod batcher;
pub mod compression;
pub mod error;
pub mod frame;
pub mod names;
mod proto;
mod read_back;
pub mod retry;
pub mod secret;
pub mod session;
pub mod time;
pub mod types;

pub use error::{Error, ErrorCode, ValidationError};
pub use names::{AccessTokenId, BasinName, FencingToken, RequestToken, StreamName};
pub use secret::{AccessToken, EncryptionKey};
