use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use super::{decode::Stage, encode::header};
use crate::{
    compression::ZSTD_LEVEL,
    types::{ReadBatch, SequencedRecord, StreamPosition},
};

/// A message of one record: a read batch, as it is not held to the append
/// limits.
fn one_record(seq_num: u64, body: impl Into<Bytes>) -> ReadBatch {
    ReadBatch {
        records: vec![SequencedRecord::new(StreamPosition::new(seq_num, 0), body)],
        tail: None,
    }
}

const ALL: [Compression; 3] = [Compression::None, Compression::Zstd, Compression::Gzip];

/// Highly compressible bytes.
fn compressible(len: usize) -> Vec<u8> {
    (0..len).map(|i| b"abcd"[i % 4]).collect()
}

/// Deterministic pseudo-random bytes that do not compress.
fn noise(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn encode(payload: &[u8], compression: Compression) -> BytesMut {
    let mut out = BytesMut::new();
    encode_frame(&mut out, payload, compression).unwrap();
    out
}

fn flag_of(frame: &[u8]) -> u8 {
    frame[PREFIX_LEN]
}

/// Feeds `chunks` and drains every frame.
fn decode_chunks(chunks: impl IntoIterator<Item = Bytes>) -> Result<Vec<Frame>, FrameError> {
    let mut decoder = FrameDecoder::default();
    let mut frames = Vec::new();
    for chunk in chunks {
        decoder.handle_data(chunk);
        while let Some(frame) = decoder.poll_frame()? {
            frames.push(frame);
        }
    }
    decoder.finish()?;
    Ok(frames)
}

fn decode_one(bytes: &[u8]) -> Result<Frame, FrameError> {
    let mut frames = decode_chunks([Bytes::copy_from_slice(bytes)])?;
    assert_eq!(frames.len(), 1);
    Ok(frames.remove(0))
}

fn message(payload: &[u8]) -> Frame {
    Frame::Message {
        payload: Bytes::copy_from_slice(payload),
        reconnect_advised: false,
    }
}

/// A raw frame with the given flag byte and body.
fn raw_frame(flag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = header(body.len(), flag).to_vec();
    out.extend_from_slice(body);
    out
}

#[test]
fn round_trips_every_compression() {
    for compression in ALL {
        for payload in [
            Vec::new(),
            compressible(10),
            compressible(5000),
            noise(5000),
        ] {
            let frame = encode(&payload, compression);
            assert_eq!(
                decode_one(&frame).unwrap(),
                message(&payload),
                "{compression:?}"
            );
        }
    }
}

#[test]
fn compresses_large_compressible_payloads() {
    let payload = compressible(64 * 1024);
    for compression in [Compression::Zstd, Compression::Gzip] {
        let frame = encode(&payload, compression);
        assert_eq!(flag_of(&frame), compression.flag_bits());
        assert!(frame.len() < payload.len() / 10);
        assert_eq!(
            Compression::from_flag_byte(flag_of(&frame)),
            Ok(compression)
        );
    }
}

#[test]
fn compression_threshold_is_one_kib() {
    for compression in [Compression::Zstd, Compression::Gzip] {
        let below = encode(&compressible(COMPRESSION_THRESHOLD - 1), compression);
        assert_eq!(flag_of(&below), 0, "{compression:?}");
        assert_eq!(below.len(), HEADER_LEN + COMPRESSION_THRESHOLD - 1);
        let at = encode(&compressible(COMPRESSION_THRESHOLD), compression);
        assert_eq!(flag_of(&at), compression.flag_bits(), "{compression:?}");
    }
}

#[test]
fn incompressible_payloads_go_uncompressed() {
    let payload = noise(4096);
    for compression in ALL {
        let frame = encode(&payload, compression);
        assert_eq!(flag_of(&frame), 0, "{compression:?}");
        assert_eq!(&frame[HEADER_LEN..], &payload[..]);
    }
}

#[test]
fn length_prefix_counts_flag_and_body() {
    let frame = encode(b"hello", Compression::None);
    assert_eq!(&frame[..], b"\x00\x00\x06\x00hello");
}

#[test]
fn appends_after_existing_content() {
    let mut out = BytesMut::from(&b"xyz"[..]);
    encode_frame(&mut out, &compressible(3000), Compression::Zstd).unwrap();
    encode_message(
        &mut out,
        &one_record(1, compressible(3000)),
        Compression::Gzip,
    )
    .unwrap();
    assert_eq!(&out[..3], b"xyz");
    let frames = decode_chunks([out.freeze().slice(3..)]).unwrap();
    assert_eq!(frames.len(), 2);
}

#[test]
fn encoder_rejects_oversize_payloads() {
    let mut out = BytesMut::from(&b"keep"[..]);
    let err = encode_frame(&mut out, &vec![0; MAX_PAYLOAD_LEN + 1], Compression::Zstd).unwrap_err();
    assert_eq!(
        err,
        FrameError::PayloadTooLarge {
            len: MAX_PAYLOAD_LEN + 1,
            max: MAX_PAYLOAD_LEN
        }
    );
    assert_eq!(&out[..], b"keep");
    let msg = one_record(0, vec![0; MAX_PAYLOAD_LEN]);
    assert!(matches!(
        encode_message(&mut out, &msg, Compression::None),
        Err(FrameError::PayloadTooLarge { .. })
    ));
}

#[test]
fn largest_payload_round_trips() {
    for payload in [compressible(MAX_PAYLOAD_LEN), noise(MAX_PAYLOAD_LEN)] {
        for compression in ALL {
            let frame = encode(&payload, compression);
            assert!(frame.len() - PREFIX_LEN <= MAX_FRAME_LEN);
            assert_eq!(decode_one(&frame).unwrap(), message(&payload));
        }
    }
}

#[test]
fn encode_message_matches_encode_frame() {
    let bodies = [
        Vec::new(),
        compressible(100),
        compressible(5000),
        noise(5000),
    ];
    for compression in ALL {
        for body in &bodies {
            let msg = one_record(42, Bytes::copy_from_slice(body));
            let mut direct = BytesMut::from(&b"prefix"[..]);
            encode_message(&mut direct, &msg, compression).unwrap();
            let mut via_frame = BytesMut::from(&b"prefix"[..]);
            encode_frame(&mut via_frame, &msg.encode_to_bytes(), compression).unwrap();
            assert_eq!(direct, via_frame, "{compression:?}, {} bytes", body.len());
        }
    }
}

#[test]
fn encode_message_uncompressed_needs_one_allocation() {
    let msg = one_record(7, noise(10_000));
    let mut out = BytesMut::new();
    encode_message(&mut out, &msg, Compression::None).unwrap();
    // `out` was grown exactly once, to the frame's size.
    assert_eq!(out.len(), HEADER_LEN + msg.encoded_len());
    assert_eq!(out.capacity(), out.len());
}

#[test]
fn reconnect_flag_is_reported() {
    let frame = raw_frame(FLAG_RECONNECT_ADVISED, b"payload");
    assert_eq!(
        decode_one(&frame).unwrap(),
        Frame::Message {
            payload: Bytes::from_static(b"payload"),
            reconnect_advised: true,
        }
    );
    let mut compressed = encode(&compressible(2000), Compression::Zstd).to_vec();
    compressed[PREFIX_LEN] |= FLAG_RECONNECT_ADVISED;
    assert_eq!(
        decode_one(&compressed).unwrap(),
        Frame::Message {
            payload: compressible(2000).into(),
            reconnect_advised: true,
        }
    );
}

#[test]
fn terminal_frames_carry_status_and_body() {
    let json = br#"{"code":"rate_limited","message":"slow down"}"#;
    let mut out = BytesMut::new();
    encode_terminal(&mut out, 429, json).unwrap();
    assert_eq!(flag_of(&out), FLAG_TERMINAL);
    let expected = Frame::Terminal {
        status: 429,
        body: Bytes::from_static(json),
    };
    assert_eq!(decode_one(&out).unwrap(), expected);

    // Empty JSON body is accepted; the status is still there.
    assert_eq!(
        decode_one(&raw_frame(FLAG_TERMINAL, &[0x01, 0xF4])).unwrap(),
        Frame::Terminal {
            status: 500,
            body: Bytes::new(),
        }
    );
}

#[test]
fn compressed_terminal_frames_are_decompressed_whole() {
    let mut status_and_json = 503u16.to_be_bytes().to_vec();
    status_and_json.extend_from_slice(&compressible(3000));
    for compression in [Compression::Zstd, Compression::Gzip] {
        let mut frame = encode(&status_and_json, compression).to_vec();
        frame[PREFIX_LEN] |= FLAG_TERMINAL;
        assert_eq!(
            decode_one(&frame).unwrap(),
            Frame::Terminal {
                status: 503,
                body: compressible(3000).into(),
            }
        );
    }
}

#[test]
fn terminal_frame_without_status_is_rejected() {
    for body in [&[][..], &[0x01]] {
        assert_eq!(
            decode_one(&raw_frame(FLAG_TERMINAL, body)),
            Err(FrameError::TerminalTooShort)
        );
    }
}

#[test]
fn decodes_one_byte_at_a_time() {
    let mut stream = BytesMut::new();
    let payloads = [
        compressible(3000),
        noise(2000),
        b"tiny".to_vec(),
        Vec::new(),
    ];
    for (payload, compression) in payloads.iter().zip(ALL.iter().cycle()) {
        encode_frame(&mut stream, payload, *compression).unwrap();
    }
    encode_terminal(&mut stream, 400, b"{}").unwrap();

    let mut decoder = FrameDecoder::default();
    let mut frames = Vec::new();
    for byte in stream.iter() {
        decoder.handle_data(Bytes::copy_from_slice(&[*byte]));
        if let Some(frame) = decoder.poll_frame().unwrap() {
            frames.push(frame);
        }
        assert_eq!(decoder.poll_frame(), Ok(None));
    }
    assert!(decoder.is_empty());
    decoder.finish().unwrap();
    let mut expected: Vec<Frame> = payloads.iter().map(|p| message(p)).collect();
    expected.push(Frame::Terminal {
        status: 400,
        body: Bytes::from_static(b"{}"),
    });
    assert_eq!(frames, expected);
}

#[test]
fn frames_spanning_chunks_are_assembled() {
    let payload = noise(10_000);
    let frame = encode(&payload, Compression::None).freeze();
    // Split in the prefix, at the flag, and twice inside the body.
    let cuts = [0, 2, 4, 5000, 9000, frame.len()];
    let chunks = cuts.windows(2).map(|w| frame.slice(w[0]..w[1]));
    assert_eq!(decode_chunks(chunks).unwrap(), vec![message(&payload)]);
}

#[test]
fn empty_chunks_are_ignored() {
    let frame = encode(b"abc", Compression::None).freeze();
    let chunks = [
        Bytes::new(),
        frame.slice(..2),
        Bytes::new(),
        frame.slice(2..),
        Bytes::new(),
    ];
    assert_eq!(decode_chunks(chunks).unwrap(), vec![message(b"abc")]);
}

#[test]
fn single_chunk_payloads_are_zero_copy() {
    let mut stream = BytesMut::new();
    encode_frame(&mut stream, b"first", Compression::None).unwrap();
    encode_frame(&mut stream, &noise(3000), Compression::Zstd).unwrap();
    let chunk = stream.freeze();
    let range = chunk.as_ptr_range();

    let mut decoder = FrameDecoder::default();
    decoder.handle_data(chunk.clone());
    for _ in 0..2 {
        let Some(Frame::Message { payload, .. }) = decoder.poll_frame().unwrap() else {
            panic!("expected a message");
        };
        assert!(range.contains(&payload.as_ptr()));
        assert!(payload.as_ptr_range().end <= range.end);
    }
    assert!(decoder.is_empty());
}

#[test]
fn body_in_one_chunk_after_split_prefix_is_zero_copy() {
    let frame = encode(b"payload", Compression::None).freeze();
    let body_chunk = frame.slice(2..);
    let mut decoder = FrameDecoder::default();
    decoder.handle_data(frame.slice(..2));
    assert_eq!(decoder.poll_frame(), Ok(None));
    assert!(!decoder.is_empty());
    decoder.handle_data(body_chunk.clone());
    let Some(Frame::Message { payload, .. }) = decoder.poll_frame().unwrap() else {
        panic!("expected a message");
    };
    assert!(body_chunk.as_ptr_range().contains(&payload.as_ptr()));
}

#[test]
fn oversize_length_is_rejected_from_the_prefix_alone() {
    for prefix in [[0x20, 0x00, 0x01], [0xFF, 0xFF, 0xFF]] {
        let mut decoder = FrameDecoder::default();
        decoder.handle_data(Bytes::copy_from_slice(&prefix));
        let err = decoder.poll_frame().unwrap_err();
        assert!(
            matches!(
                err,
                FrameError::FrameTooLarge {
                    max: MAX_FRAME_LEN,
                    ..
                }
            ),
            "{err:?}"
        );
        // Nothing was set up for the body.
        assert!(matches!(decoder.stage, Stage::Prefix { .. }));
    }
    // Exactly the limit is fine (and needs the whole body).
    let mut decoder = FrameDecoder::default();
    decoder.handle_data(Bytes::from_static(&[0x20, 0x00, 0x00]));
    assert_eq!(decoder.poll_frame(), Ok(None));
}

#[test]
fn custom_limits_apply() {
    let limits = FrameLimits {
        max_frame_len: 10,
        max_decompressed_len: 100,
    };
    let mut decoder = FrameDecoder::new(limits);
    decoder.handle_data(raw_frame(0, &[0; 9]).into());
    assert!(matches!(decoder.poll_frame(), Ok(Some(_))));
    decoder.handle_data(raw_frame(0, &[0; 10]).into());
    assert_eq!(
        decoder.poll_frame(),
        Err(FrameError::FrameTooLarge { len: 11, max: 10 })
    );

    let mut decoder = FrameDecoder::new(FrameLimits {
        max_frame_len: 1000,
        ..limits
    });
    let bomb = zstd::bulk::compress(&[0; 101], ZSTD_LEVEL).unwrap();
    decoder.handle_data(raw_frame(Compression::Zstd.flag_bits(), &bomb).into());
    assert_eq!(
        decoder.poll_frame(),
        Err(FrameError::DecompressedTooLarge { max: 100 })
    );
}

#[test]
fn zip_bombs_are_rejected() {
    let zeros = vec![0u8; 3 * MAX_PAYLOAD_LEN];
    let zstd_body = zstd::bulk::compress(&zeros, 19).unwrap();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gzip, &zeros).unwrap();
    let gzip_body = gzip.finish().unwrap();
    for (compression, body) in [
        (Compression::Zstd, zstd_body),
        (Compression::Gzip, gzip_body),
    ] {
        assert!(body.len() < MAX_FRAME_LEN / 100);
        let frame = raw_frame(compression.flag_bits(), &body);
        assert_eq!(
            decode_one(&frame),
            Err(FrameError::DecompressedTooLarge {
                max: MAX_PAYLOAD_LEN
            }),
            "{compression:?}"
        );
    }
}

#[test]
fn decompression_stops_at_the_limit() {
    // Output of exactly `max + 1` bytes is the smallest rejected size.
    let body = zstd::bulk::compress(&[7; 5001], 3).unwrap();
    assert_eq!(
        decompress(Compression::Zstd, body.into(), 5000),
        Err(FrameError::DecompressedTooLarge { max: 5000 })
    );
    let body = zstd::bulk::compress(&[7; 5000], 3).unwrap();
    assert_eq!(
        decompress(Compression::Zstd, body.into(), 5000)
            .unwrap()
            .len(),
        5000
    );
}

#[test]
fn corrupt_compressed_bodies_are_errors() {
    for compression in [Compression::Zstd, Compression::Gzip] {
        let mut frame = encode(&compressible(5000), compression).to_vec();
        let last = frame.len() - 1;
        frame.truncate(last - 3);
        let frame = raw_frame(compression.flag_bits(), &frame[HEADER_LEN..]);
        assert!(
            matches!(decode_one(&frame), Err(FrameError::Decompress(_))),
            "{compression:?}"
        );
        let garbage = raw_frame(compression.flag_bits(), b"definitely not compressed");
        assert!(matches!(
            decode_one(&garbage),
            Err(FrameError::Decompress(_))
        ));
    }
}

#[test]
fn reserved_flag_bits_are_rejected() {
    for bit in 0..4 {
        let flag = 1 << bit;
        assert_eq!(
            decode_one(&raw_frame(flag, b"x")),
            Err(FrameError::ReservedFlagBits(flag))
        );
    }
}

#[test]
fn compression_code_three_is_rejected() {
    assert_eq!(
        decode_one(&raw_frame(COMPRESSION_MASK, b"x")),
        Err(FrameError::UnknownCompression(3))
    );
}

#[test]
fn zero_length_frames_are_rejected() {
    assert_eq!(decode_one(&[0, 0, 0]), Err(FrameError::EmptyFrame));
}

#[test]
fn errors_are_sticky() {
    let mut decoder = FrameDecoder::default();
    decoder.handle_data(Bytes::from_static(&[0, 0, 2, 0x01, b'x']));
    let err = decoder.poll_frame().unwrap_err();
    decoder.handle_data(encode(b"fine", Compression::None).freeze());
    assert_eq!(decoder.poll_frame(), Err(err));
}

#[test]
fn truncated_streams_are_detected() {
    let frame = encode(b"hello world", Compression::None).freeze();
    for cut in 1..frame.len() {
        let mut decoder = FrameDecoder::default();
        decoder.handle_data(frame.slice(..cut));
        assert_eq!(decoder.poll_frame(), Ok(None));
        assert!(!decoder.is_empty());
        assert!(!decoder.is_empty());
        assert_eq!(
            decoder.finish(),
            Err(FrameError::Truncated { buffered: cut })
        );
    }
    let decoder = FrameDecoder::default();
    assert!(decoder.is_empty());
    assert_eq!(decoder.finish(), Ok(()));
}

#[test]
fn compression_header_values() {
    assert_eq!(Compression::None.accept_encoding_value(), None);
    assert_eq!(Compression::Zstd.accept_encoding_value(), Some("zstd"));
    assert_eq!(Compression::Gzip.accept_encoding_value(), Some("gzip"));
    for compression in ALL {
        if let Some(value) = compression.accept_encoding_value() {
            assert_eq!(Compression::from_content_encoding(value), Some(compression));
        }
        assert_eq!(
            Compression::from_flag_byte(compression.flag_bits()),
            Ok(compression)
        );
    }
    assert_eq!(
        Compression::from_content_encoding(" ZSTD "),
        Some(Compression::Zstd)
    );
    assert_eq!(
        Compression::from_content_encoding("identity"),
        Some(Compression::None)
    );
    assert_eq!(Compression::from_content_encoding("br"), None);
    assert_eq!(Compression::None.flag_bits(), 0x00);
    assert_eq!(Compression::Zstd.flag_bits(), 0x20);
    assert_eq!(Compression::Gzip.flag_bits(), 0x40);
}

fn compression_strategy() -> impl Strategy<Value = Compression> {
    prop_oneof![
        Just(Compression::None),
        Just(Compression::Zstd),
        Just(Compression::Gzip)
    ]
}

/// Payloads around the compression threshold; a small alphabet keeps
/// many of them compressible.
fn payload_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(0u8..4, 0..3000),
        prop::collection::vec(any::<u8>(), 0..3000),
    ]
}

/// Splits `stream` at the given (unsorted, possibly repeated) points.
fn split(stream: &Bytes, cuts: &[prop::sample::Index]) -> Vec<Bytes> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
    points.push(0);
    points.push(stream.len());
    points.sort_unstable();
    points
        .windows(2)
        .map(|w| stream.slice(w[0]..w[1]))
        .collect()
}

proptest! {
    #[test]
    fn encoded_streams_decode_to_the_original(
        messages in prop::collection::vec((payload_strategy(), compression_strategy()), 0..8),
        terminal in prop::option::of((any::<u16>(), prop::collection::vec(any::<u8>(), 0..64))),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut stream = BytesMut::new();
        let mut expected = Vec::new();
        for (payload, compression) in &messages {
            encode_frame(&mut stream, payload, *compression).unwrap();
            expected.push(message(payload));
        }
        if let Some((status, body)) = &terminal {
            encode_terminal(&mut stream, *status, body).unwrap();
            expected.push(Frame::Terminal { status: *status, body: Bytes::copy_from_slice(body) });
        }
        let stream = stream.freeze();
        prop_assert_eq!(decode_chunks(split(&stream, &cuts)).unwrap(), expected);
    }

    #[test]
    fn arbitrary_input_never_panics(
        input in prop::collection::vec(any::<u8>(), 0..4096),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let input = Bytes::from(input);
        let mut decoder = FrameDecoder::default();
        'feed: for chunk in split(&input, &cuts) {
            decoder.handle_data(chunk);
            loop {
                match decoder.poll_frame() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => break 'feed,
                }
            }
        }
        let _ = decoder.finish();
    }

    #[test]
    fn valid_headers_with_arbitrary_bodies_never_panic(
        flag in any::<u8>(),
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let _ = decode_chunks([Bytes::from(raw_frame(flag, &body))]);
    }
}
