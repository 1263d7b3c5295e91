//! Caps, sizes and far-off times: refused up front, never an overflow or a
//! panic.

use super::*;

#[test]
fn an_absurd_size_has_no_capacity_rather_than_an_overflow() {
    let mut session = AppendSession::new(AppendSessionConfig::default());
    let input = AppendInput::new(vec![AppendRecord::new("x")]).unwrap();
    session.try_submit(input).unwrap();
    assert!(!session.has_capacity(u64::MAX));
}

#[test]
fn caps_apply_backpressure() {
    let mut session =
        AppendSession::new(AppendSessionConfig::default().with_max_unacked_batches(2));
    let input = || AppendInput::new(vec![AppendRecord::new("x")]).unwrap();
    assert_eq!(session.try_submit(input()).unwrap(), 0);
    assert_eq!(session.try_submit(input()).unwrap(), 1);
    assert!(!session.has_capacity(9));
    assert!(matches!(
        session.try_submit(input()),
        Err(SubmitError::Full(_))
    ));
    session.close();
    assert!(matches!(
        session.try_submit(input()),
        Err(SubmitError::Closed(_))
    ));
}

#[test]
fn inputs_too_large_to_encode_are_refused_up_front() {
    let mut record = AppendRecord::new("");
    for _ in 0..262_142 {
        record = record.with_header("k", "v");
    }
    assert!(matches!(
        AppendInput::new(vec![record]),
        Err(crate::error::ValidationError::EncodedBatchTooLarge { .. })
    ));
}

/// `AppendInput` is a public `WireMessage`, so a caller can decode one
/// that `AppendInput::new` would have refused; submitting it must not panic.
#[test]
fn a_decoded_input_too_large_for_a_frame_is_refused_not_a_panic() {
    let decoded = |records: Vec<AppendRecord>, fencing_token| {
        let generated = proto::AppendInput {
            records: records.into_iter().map(From::from).collect(),
            match_seq_num: None,
            fencing_token,
        };
        AppendInput::decode(generated.encode_to_vec().into()).unwrap()
    };
    let mut s = AppendSession::new(AppendSessionConfig::default());
    // Over the batch limits: refused by the limit check.
    let huge = decoded(
        vec![AppendRecord::new(vec![7u8; crate::frame::MAX_PAYLOAD_LEN])],
        None,
    );
    match s.try_submit(huge) {
        Err(SubmitError::Invalid(_, ValidationError::BatchTooLarge { .. })) => {}
        other => panic!("expected a size refusal: {other:?}"),
    }
    // Within the limits, but a fencing token no constructor allows makes
    // it too large to frame: refused when encoding.
    let fenced = decoded(
        vec![AppendRecord::new("x")],
        Some("t".repeat(crate::frame::MAX_PAYLOAD_LEN)),
    );
    match s.try_submit(fenced) {
        Err(SubmitError::Invalid(_, ValidationError::EncodedBatchTooLarge { encoded_bytes })) => {
            assert!(encoded_bytes > crate::frame::MAX_PAYLOAD_LEN)
        }
        other => panic!("expected an encoded-size refusal: {other:?}"),
    }
    match s.try_submit(AppendInput::default()) {
        Err(SubmitError::Invalid(_, ValidationError::EmptyBatch)) => {}
        other => panic!("expected an empty-batch refusal: {other:?}"),
    }
    assert_eq!(s.unacked_len(), 0);
    assert!(
        s.poll_event().is_none(),
        "nothing is sent for a refused input"
    );
    // The session still takes valid inputs.
    let valid = AppendInput::new(vec![AppendRecord::new("x")]).unwrap();
    assert_eq!(s.try_submit(valid).unwrap(), 0);
}

#[test]
fn a_match_seq_num_that_would_overflow_is_refused_at_submit() {
    let mut s = AppendSession::new(AppendSessionConfig::default());
    let three = || AppendInput::new(vec![AppendRecord::new("x"); 3]).unwrap();
    assert!(matches!(
        s.try_submit(three().with_match_seq_num(u64::MAX - 2)),
        Err(SubmitError::Invalid(
            _,
            crate::error::ValidationError::MatchSeqNumOverflow { .. }
        ))
    ));
    // Ending exactly at u64::MAX is representable; nothing can follow it.
    s.try_submit(three().with_match_seq_num(u64::MAX - 3))
        .unwrap();
    assert!(matches!(
        s.try_submit(three()),
        Err(SubmitError::Invalid(
            _,
            crate::error::ValidationError::MatchSeqNumOverflow { .. }
        ))
    ));
    assert_eq!(s.unacked_len(), 1);
}

#[test]
fn absurd_timeouts_do_not_overflow_the_clock() {
    let now = Instant::now();
    let mut s = AppendSession::new(
        AppendSessionConfig::default()
            .with_ack_timeout(Duration::MAX)
            .with_backoff(
                BackoffConfig::default()
                    .with_base_delay(Duration::MAX)
                    .with_max_delay(Duration::MAX)
                    .with_max_retries(3),
            ),
    );
    let input = AppendInput::new(vec![AppendRecord::new("x")]).unwrap();
    s.try_submit(input).unwrap();
    let Some(AppendEvent::Connect(c)) = s.poll_event() else {
        panic!("expected a connect")
    };
    assert!(s.poll_transmit(now).is_some());
    s.handle(
        Input::Connection(
            c,
            ConnectionEvent::Failed(Error::transport(Sent::No, "refused")),
        ),
        now,
    );
    assert!(s.poll_timeout().is_some_and(|t| t > now));
}

/// The size check at submit and the encoding at transmit agree to the byte,
/// with or without compression: an input of exactly the largest payload is
/// framed on every send (the resend too), one byte more is refused, and a
/// `match_seq_num` the session adds counts.
#[test]
fn the_submit_size_check_and_the_frame_agree_at_the_limit() {
    let max = crate::frame::MAX_PAYLOAD_LEN;
    // A decoded input (not held to the constructors' limits) whose
    // fencing token makes it `len` bytes once encoded.
    let decoded = |len: usize| {
        let mut token_len = len - 16;
        loop {
            let generated = proto::AppendInput {
                records: vec![AppendRecord::new("x").into()],
                match_seq_num: None,
                fencing_token: Some("t".repeat(token_len)),
            };
            let bytes = generated.encode_to_vec();
            if bytes.len() == len {
                return AppendInput::decode(bytes.into()).unwrap();
            }
            assert!(bytes.len() < len, "no token makes {len} bytes");
            token_len += 1;
        }
    };
    for compression in [Compression::None, Compression::Zstd, Compression::Gzip] {
        let config = AppendSessionConfig::default().with_compression(compression);
        let mut now = Instant::now();
        let mut s = AppendSession::new(config);
        let input = decoded(max);
        assert_eq!(input.encoded_len(), max);
        s.try_submit(input.clone())
            .expect("exactly the largest payload");
        let Some(AppendEvent::Connect(first)) = s.poll_event() else {
            panic!("expected a connect");
        };
        let check = |(connection, frame): (ConnectionId, Bytes), expected: ConnectionId| {
            assert_eq!(connection, expected);
            let mut decoder = FrameDecoder::new(FrameLimits::PROTOCOL);
            decoder.handle_data(frame);
            match decoder.poll_frame() {
                Ok(Some(Frame::Message { payload, .. })) => {
                    assert_eq!(payload, input.encode_to_bytes(), "{compression:?}")
                }
                other => panic!("expected the input's frame: {other:?}"),
            }
        };
        check(s.poll_transmit(now).expect("the frame"), first);
        // A cut: the batch goes out again, encoded again.
        s.handle(
            Input::Connection(
                first,
                ConnectionEvent::Failed(Error::transport(Sent::Maybe, "cut")),
            ),
            now,
        );
        while s.poll_event().is_some() {}
        now += Duration::from_secs(60);
        s.handle(Input::Timeout, now);
        let second = loop {
            match s.poll_event() {
                Some(AppendEvent::Connect(c)) => break c,
                Some(_) => {}
                None => panic!("expected a reconnect"),
            }
        };
        check(s.poll_transmit(now).expect("the resent frame"), second);

        let mut s = AppendSession::new(config);
        match s.try_submit(decoded(max + 1)) {
            Err(SubmitError::Invalid(
                _,
                ValidationError::EncodedBatchTooLarge { encoded_bytes },
            )) => {
                assert_eq!(encoded_bytes, max + 1)
            }
            other => panic!("expected an encoded-size refusal: {other:?}"),
        }
        // Two bytes under the limit, until the session conditions it on
        // the position after a conditioned input (2 bytes more: over).
        let conditioned = AppendInput::new(vec![AppendRecord::new("a")])
            .unwrap()
            .with_match_seq_num(0);
        s.try_submit(conditioned).unwrap();
        match s.try_submit(decoded(max - 1)) {
            Err(SubmitError::Invalid(
                _,
                ValidationError::EncodedBatchTooLarge { encoded_bytes },
            )) => {
                assert_eq!(encoded_bytes, max + 1)
            }
            other => panic!("expected an encoded-size refusal: {other:?}"),
        }
        s.try_submit(decoded(max - 2))
            .expect("conditioned, exactly the largest payload");
        assert!(matches!(s.poll_event(), Some(AppendEvent::Connect(_))));
        while let Some(frame) = s.poll_transmit(now) {
            assert!(frame.1.len() <= crate::frame::MAX_FRAME_LEN + 3);
        }
    }
}
