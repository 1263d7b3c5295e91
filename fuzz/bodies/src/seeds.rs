//! The seed corpus: real encodings (frames, protobuf messages, JSON bodies
//! as s2-core's encoders and the service produce them) and short scripts of
//! session events, one list per target. `examples/write_corpus.rs` writes
//! them under `fuzz/corpus/<target>/`.

use bytes::{Bytes, BytesMut};
use s2_core::{
    frame::{self, Compression, WireMessage},
    names::FencingToken,
    types::{
        AppendAck, AppendInput, AppendRecord, CommandRecord, Header, ReadBatch, SequencedRecord,
        StreamPosition,
    },
};

use crate::wire::{message_frame, payload_frame, terminal_frame};

/// The seeds of the target called `name` (empty for an unknown name).
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    match name {
        "frame_decoder" => frame_decoder(),
        "proto_messages" => proto_messages(),
        "unary_response" => unary_response(),
        "append_session" => append_session(),
        "read_session" => read_session(),
        "endpoints" => endpoints(),
        _ => Vec::new(),
    }
}

fn position(seq_num: u64) -> StreamPosition {
    StreamPosition::new(seq_num, 1_700_000_000_000u64.wrapping_add(seq_num))
}

fn record(seq_num: u64, body: &[u8]) -> SequencedRecord {
    SequencedRecord::new(position(seq_num), Bytes::copy_from_slice(body))
        .with_headers([Header::new("k", "v")])
}

fn read_batches() -> Vec<ReadBatch> {
    let trim = CommandRecord::trim(3);
    let fence = CommandRecord::fence(FencingToken::new("fence-1").expect("a valid token"));
    let command = |seq_num, r: AppendRecord| {
        SequencedRecord::new(StreamPosition::new(seq_num, 0), r.body().clone())
            .with_headers(r.headers().iter().cloned())
    };
    vec![
        ReadBatch {
            records: vec![],
            tail: Some(position(10)),
        },
        ReadBatch {
            records: vec![record(0, b"hello"), record(1, b"world")],
            tail: Some(position(2)),
        },
        ReadBatch {
            records: vec![command(5, trim), command(6, fence), record(7, b"x")],
            tail: None,
        },
        ReadBatch {
            records: (0..40).map(|i| record(i, &[b'a'; 64])).collect(),
            tail: Some(position(40)),
        },
    ]
}

/// Encoded acks: in order, out of order, and one without its tail.
fn acks() -> Vec<Bytes> {
    let ack = |start, end, tail| {
        AppendAck {
            start: position(start),
            end: position(end),
            tail: position(tail),
        }
        .encode_to_bytes()
    };
    let at_the_end = ack(u64::MAX - 1, u64::MAX, u64::MAX);
    let (tail_field, _) = *len_fields(&at_the_end).last().expect("three fields");
    vec![ack(0, 2, 2), ack(5, 4, 9), at_the_end.slice(..tail_field)]
}

/// The length-delimited fields of `message` (numbers below 16, as in every
/// message here): where each starts, and its value.
fn len_fields(message: &[u8]) -> Vec<(usize, &[u8])> {
    let mut fields = Vec::new();
    let mut at = 0;
    while at < message.len() {
        let start = at;
        assert_eq!(message[at] & 7, 2, "a length-delimited field");
        at += 1;
        let (mut len, mut shift) = (0usize, 0);
        loop {
            let byte = message[at];
            at += 1;
            len |= usize::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        fields.push((start, &message[at..at + len]));
        at += len;
    }
    fields
}

fn frame_decoder() -> Vec<Vec<u8>> {
    let mut frames: Vec<Bytes> = Vec::new();
    for batch in read_batches() {
        for compression in [Compression::None, Compression::Zstd, Compression::Gzip] {
            frames.push(message_frame(&batch, compression, false));
        }
        frames.push(message_frame(&batch, Compression::None, true));
    }
    for ack in acks() {
        frames.push(payload_frame(&ack, Compression::None));
    }
    frames.push(terminal_frame(
        503,
        br#"{"code":"unavailable","message":"later"}"#,
    ));
    frames.push(terminal_frame(412, br#"{"seq_num_mismatch":7}"#));
    let mut big = BytesMut::new();
    frame::encode_frame(&mut big, &[b'z'; 4096], Compression::Zstd).expect("small frame");
    frames.push(big.freeze());
    let mut seeds: Vec<Vec<u8>> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| [&[(i * 37 % 256) as u8][..], f].concat())
        .collect();
    // Several frames back to back, split in the middle.
    seeds.push(
        [
            &[128u8][..],
            &frames[0],
            &frames[4],
            &frames[frames.len() - 3],
        ]
        .concat(),
    );
    seeds
}

fn proto_messages() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for batch in read_batches() {
        seeds.push([&[0u8][..], &batch.encode_to_bytes()].concat());
    }
    for ack in acks() {
        seeds.push([&[1u8][..], &ack].concat());
    }
    let input = AppendInput::new(vec![
        AppendRecord::new("a")
            .with_header("k", "v")
            .with_timestamp(9),
        CommandRecord::trim(4),
    ])
    .expect("a valid batch")
    .with_match_seq_num(3)
    .with_fencing_token(FencingToken::new("fence").expect("a valid token"));
    seeds.push([&[2u8][..], &input.encode_to_bytes()].concat());
    // A record alone: the target decodes it as the one record of a batch.
    let batch = read_batches()[2].encode_to_bytes();
    for (_, record) in len_fields(&batch) {
        seeds.push([&[3u8][..], record].concat());
    }
    seeds
}

/// Success bodies by endpoint (see `unary::unary_response` for the order).
fn success_body(endpoint: u8) -> Vec<u8> {
    let basin = r#"{"name":"fuzz-basin","scope":"aws:us-east-1","created_at":"2025-01-01T00:00:00Z","state":"active"}"#;
    let stream = r#"{"name":"fuzz/stream","created_at":"2025-01-01T00:00:00Z"}"#;
    let config = r#"{"default_stream_config":{"storage_class":"express","retention_policy":{"age":3600},"timestamping":{"mode":"client-prefer","uncapped":false},"delete_on_empty":{"min_age_secs":60}},"create_stream_on_append":true,"create_stream_on_read":false}"#;
    let stream_config = r#"{"storage_class":"standard","retention_policy":{"infinite":{}},"timestamping":{"mode":"arrival"}}"#;
    let metrics = r#"{"values":[{"scalar":{"name":"storage","unit":"bytes","value":12.5}},{"accumulation":{"name":"ops","unit":"operations","interval":"minute","values":[[1700000000,3.0]]}},{"label":{"name":"l","values":["a"]}}]}"#;
    let text = match endpoint {
        0 => format!(r#"{{"basins":[{basin}],"has_more":false}}"#),
        1 | 2 => basin.to_owned(),
        3 | 4 => config.to_owned(),
        6 => r#"{"access_token":"secret-token"}"#.to_owned(),
        7 => r#"{"access_tokens":[{"id":"token-id","scope":{"basins":{"prefix":""},"ops":["append"]},"expires_at":"2030-01-01T00:00:00Z"}],"has_more":true}"#.to_owned(),
        9..=11 => metrics.to_owned(),
        12 => format!(r#"{{"streams":[{stream}],"has_more":false}}"#),
        13 | 14 => stream.to_owned(),
        15 | 16 => stream_config.to_owned(),
        18 => r#"{"tail":{"seq_num":42,"timestamp":1700000000000}}"#.to_owned(),
        19 => return acks()[0].to_vec(),
        20 => return read_batches()[2].encode_to_bytes().to_vec(),
        _ => String::new(),
    };
    text.into_bytes()
}

fn unary_response() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    let status = |s: u16| (s - 100).to_le_bytes();
    for endpoint in 0..crate::unary::ENDPOINTS {
        let ok = if matches!(endpoint, 1 | 13) { 201 } else { 200 };
        // endpoint, status, encoding, retry-after, provision, body
        for encoding in [0u8, 2, 3] {
            seeds.push(
                [
                    &[endpoint][..],
                    &status(ok),
                    &[encoding, 0, endpoint % 3],
                    &success_body(endpoint),
                ]
                .concat(),
            );
        }
        for (code, body) in [
            (503, &br#"{"code":"unavailable","message":"later"}"#[..]),
            (
                409,
                br#"{"code":"resource_already_exists","message":"exists"}"#,
            ),
            (412, br#"{"seq_num_mismatch":3}"#),
            (416, br#"{"tail":{"seq_num":4,"timestamp":5}}"#),
            (429, b"rate limited"),
        ] {
            seeds.push([&[endpoint][..], &status(code), &[0, 1, 0], body].concat());
        }
    }
    seeds
}

/// A script of append-session events in the byte language of
/// `append::append_session`.
fn append_session() -> Vec<Vec<u8>> {
    // Config: unacked bytes, batches, policy, retries, seed, compression.
    let config = [200u8, 3, 0, 3, 7, 0];
    // submit: tag 0, records-1, per record (len, body, header?), condition.
    let submit = |body: u8, condition: u8| vec![0u8, 0, 1, body, 1, condition];
    let transmit = [3u8];
    // fitting ack: tag 5, tail extra, reconnect?, connection, split, two pieces?
    let ack = [5u8, 0, 1, 1, 0, 0];
    let cut = [10u8, 1, 2, 0, 1];
    let time = [11u8, 3];
    let tail = [12u8, 1, 1, 0];
    let read = [13u8, 9];
    let close = [2u8];
    let happy = [
        &config[..],
        &submit(b'a', 2),
        &submit(b'b', 2),
        &transmit,
        &ack,
        &ack,
        &close,
    ]
    .concat();
    let conditioned = [
        &config[..],
        &submit(b'a', 0),
        &submit(b'b', 2),
        &transmit,
        &ack,
        &cut,
        &time,
        &tail,
        &read,
        &transmit,
        &ack,
        &close,
    ]
    .concat();
    let unconditioned_cut = [
        &config[..],
        &submit(b'a', 2),
        &transmit,
        &cut,
        &time,
        &time,
        &transmit,
        &ack,
    ]
    .concat();
    let mut seeds = vec![happy, conditioned, unconditioned_cut];
    seeds.extend(pseudo_random(0xa99e, 16));
    seeds
}

/// A script of read-session events in the byte language of
/// `read::read_session`.
fn read_session() -> Vec<Vec<u8>> {
    // Request: start kind + value, clamp, ignore commands, count?, bytes?,
    // until?; config: retries, seed.
    let unbounded = [0u8, 5, 0, 0, 0, 0, 0, 3, 1];
    let bounded = [0u8, 5, 0, 1, 1, 10, 1, 200, 0, 3, 1];
    // A batch: tag 0, base choice (near + 0), count, per record (ts, len,
    // body, kind, step), tail choice, compression, reconnect, connection,
    // split, pieces.
    let batch = |count: u8| {
        let mut b = vec![0u8, 0, 0, count];
        for i in 0..count {
            b.extend([i, 1, b'r', 2, 2]);
        }
        b.extend([1, 1, 1, 1, 0, 0]);
        b
    };
    let cut = [6u8, 2, 0, 1];
    let time = [7u8, 3];
    let end = [6u8, 1, 0];
    let mut seeds = vec![
        [&unbounded[..], &batch(2), &batch(0), &cut, &time, &batch(3)].concat(),
        [&bounded[..], &batch(4), &end, &batch(3), &time, &batch(4)].concat(),
    ];
    seeds.extend(pseudo_random(0x4ead, 16));
    seeds
}

fn endpoints() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for template in 0..6u8 {
        for basin in [&b"my-basin-1"[..], b"evil.com:1@x", b"a b", b"", b"x/y"] {
            for validated in [0u8, 1] {
                seeds.push(
                    [
                        &[0u8, template, 0][..],
                        &[basin.len() as u8],
                        basin,
                        &[validated, 3],
                        b"s/1",
                        &[1],
                    ]
                    .concat(),
                );
            }
        }
    }
    seeds
}

/// Deterministic pseudo-random inputs (xorshift), a few hundred bytes each.
fn pseudo_random(seed: u64, count: usize) -> Vec<Vec<u8>> {
    let mut state = seed | 1;
    (0..count)
        .map(|i| {
            (0..64 + 32 * i)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect()
        })
        .collect()
}
