use super::{
    service::{CODES, needs_escape},
    *,
};
use crate::proto;

fn service(status: u16, code: &str) -> Error {
    Error::Service(ServiceError {
        status,
        code: code.into(),
        message: String::new(),
        retry_after: None,
    })
}

#[test]
fn error_codes_are_typed() {
    for (code, name, status) in CODES {
        assert_eq!(ErrorCode::from_code(name), *code);
        assert_eq!(code.as_str(), Some(*name));
        assert_eq!(code.status(), Some(*status));
    }
    assert_eq!(ErrorCode::from_code("brand_new"), ErrorCode::Unknown);
    assert_eq!(ErrorCode::Unknown.as_str(), None);
    let Error::Service(e) = service(404, "stream_not_found") else {
        unreachable!("built as a service error")
    };
    assert_eq!(e.error_code(), ErrorCode::StreamNotFound);
}

#[test]
fn a_status_and_code_that_disagree_are_judged_by_the_status() {
    // A code that proves no effect, on a status that proves nothing.
    let e = service(500, "rate_limited");
    assert!(e.may_have_side_effect());
    assert!(e.is_retryable());
    // A retryable code on a plain client error is not retried.
    let e = service(400, "unavailable");
    assert!(!e.is_retryable());
    assert!(!e.may_have_side_effect());
    // Agreeing ones keep the code's meaning.
    let e = service(429, "rate_limited");
    assert!(!e.may_have_side_effect());
    assert!(e.is_retryable());
    let e = service(409, "transaction_conflict");
    assert!(!e.may_have_side_effect());
    assert!(e.is_retryable());
}

#[test]
fn server_text_is_escaped() {
    let forged = "bad\r\nINFO forged line \u{1b}[31mred\u{1b}[0m \u{202e}rev\\n";
    let clean = sanitize_server_text(forged, MAX_SERVER_MESSAGE_BYTES);
    assert_eq!(
        clean,
        "bad\\r\\nINFO forged line \\u{1b}[31mred\\u{1b}[0m \\u{202e}rev\\\\n"
    );
    assert!(!clean.chars().any(needs_escape));
    // Plain text, quotes and non-ASCII letters pass unchanged.
    let plain = "stream \"é\" not found: 'x'";
    assert_eq!(sanitize_server_text(plain, 1024), plain);
}

#[test]
fn server_text_is_truncated_on_a_char_boundary() {
    let huge = "é".repeat(1_000_000);
    let clean = sanitize_server_text(&huge, MAX_SERVER_MESSAGE_BYTES);
    assert!(clean.len() <= MAX_SERVER_MESSAGE_BYTES);
    assert!(clean.ends_with('…'));
    assert!(clean.len() > MAX_SERVER_MESSAGE_BYTES - 8);
    // An escape is never cut in half.
    let controls = "\u{1b}".repeat(1000);
    let clean = sanitize_server_text(&controls, 20);
    assert_eq!(clean, "\\u{1b}\\u{1b}…");
    assert_eq!(sanitize_server_text("abc", 3), "abc");
    assert_eq!(sanitize_server_text("abcd", 3), "…");
    assert_eq!(sanitize_server_text("abcd", 2), "");
}

#[test]
fn service_error_from_server_is_bounded() {
    let message = format!("line1\r\nline2\u{1b}[2J{}", "x".repeat(1 << 20));
    let code = "c\n".repeat(100);
    let e = ServiceError::from_server(500, &code, &message, None);
    assert!(e.code.len() <= MAX_SERVER_CODE_BYTES);
    assert!(e.message.len() <= MAX_SERVER_MESSAGE_BYTES);
    let shown = Error::from(e).to_string();
    assert!(!shown.contains(['\r', '\n', '\u{1b}']), "{shown:?}");
    assert!(shown.len() < 1200);
}

#[test]
fn encryption_failures_are_typed_and_final() {
    // What s2-lite 0.43 answers on a read of an encrypted stream.
    let parse = |code: &str, message: &str| {
        let body = serde_json::json!({"code": code, "message": message}).to_string();
        crate::api::error_from_parts(400, body.as_bytes(), None)
    };
    let missing = parse(
        "bad_header",
        "missing encryption key for stream cipher 'aegis-256'",
    );
    let wrong = parse("decryption_failed", "record decryption failed");
    let refused = parse(
        "bad_header",
        "invalid encryption key for stream cipher 'aes-256-gcm': invalid base64",
    );
    assert!(matches!(
        missing,
        Error::Encryption(EncryptionError::MissingKey { .. })
    ));
    assert!(matches!(
        wrong,
        Error::Encryption(EncryptionError::WrongKey { .. })
    ));
    assert!(matches!(
        refused,
        Error::Encryption(EncryptionError::InvalidKey { .. })
    ));
    for e in [&missing, &wrong, &refused] {
        assert!(!e.is_retryable() && !e.may_have_side_effect(), "{e}");
    }
    assert_eq!(wrong.code(), Some("decryption_failed"));
    // Other bad headers stay service errors.
    assert!(matches!(
        parse("bad_header", "invalid s2-basin"),
        Error::Service(_)
    ));
}

#[test]
fn an_encryption_code_under_a_gateway_status_is_not_a_proof_of_no_effect() {
    // A gateway's 502/504 may come after the request reached the
    // service; a code that disagrees with the status proves nothing.
    for status in [500, 502, 503, 504] {
        for (code, message) in [
            ("decryption_failed", "record decryption failed"),
            ("bad_header", "missing encryption key for stream cipher 'x'"),
        ] {
            let body = serde_json::json!({"code": code, "message": message}).to_string();
            let e = crate::api::error_from_parts(status, body.as_bytes(), None);
            assert!(e.may_have_side_effect(), "{status} {code}: {e:?}");
        }
    }
}

#[test]
fn classification() {
    let e = service(503, "unavailable");
    assert!(e.is_retryable() && e.may_have_side_effect());
    let e = service(503, "server_draining");
    assert!(e.is_retryable() && !e.may_have_side_effect());
    let e = service(429, "rate_limited");
    assert!(e.is_retryable() && !e.may_have_side_effect());
    let e = service(404, "stream_not_found");
    assert!(!e.is_retryable() && !e.may_have_side_effect());
    let e = service(502, "some_new_code");
    assert!(e.is_retryable() && e.may_have_side_effect());
    let e = service(422, "invalid");
    assert!(!e.is_retryable() && !e.may_have_side_effect());
    let e = service(408, "request_timeout");
    assert!(e.is_retryable() && e.may_have_side_effect());
    let e = service(409, "some_new_conflict");
    assert!(!e.is_retryable() && !e.may_have_side_effect());
    let e = Error::transport(Sent::No, "refused");
    assert!(e.is_retryable() && !e.may_have_side_effect());
    let e = Error::transport(Sent::Maybe, "reset");
    assert!(e.is_retryable() && e.may_have_side_effect());
}

#[test]
fn frame_errors_stay_typed() {
    let e = Error::from(ProtocolError::from(FrameError::EmptyFrame));
    assert!(matches!(
        &e,
        Error::Protocol(ProtocolError::Frame(FrameError::EmptyFrame))
    ));
    assert_eq!(e.to_string(), "malformed session frame");
    let source = std::error::Error::source(&e).expect("the frame error");
    assert_eq!(source.to_string(), "frame of length 0 has no flag byte");
    assert!(!e.is_retryable() && e.may_have_side_effect());
}

/// One error of every variant that has a source, each source with text of
/// its own.
fn errors_with_sources() -> Vec<Error> {
    let decode = <proto::ReadBatch as prost::Message>::decode(&b"\x0a\xff"[..])
        .expect_err("a length past the end");
    vec![
        Error::transport(Sent::Maybe, "connection reset by peer"),
        Error::transport(Sent::No, "dns lookup failed"),
        ProtocolError::protobuf(decode).into(),
        ProtocolError::Frame(FrameError::UnknownCompression(3)).into(),
        Error::AppendSession {
            cause: Box::new(Error::transport(Sent::Maybe, "connection reset by peer")),
            maybe_applied: 2..3,
            not_applied: 3..5,
        },
        Error::AppendSession {
            cause: Box::new(Error::Timeout(Duration::from_secs(10))),
            maybe_applied: 0..0,
            not_applied: 0..1,
        },
    ]
}

#[test]
fn display_never_repeats_the_source() {
    use std::error::Error as _;
    for error in errors_with_sources() {
        let mut link: &dyn std::error::Error = &error;
        let mut depth = 0;
        while let Some(source) = link.source() {
            let (shown, cause) = (link.to_string(), source.to_string());
            assert!(!cause.is_empty(), "{error:?}");
            assert!(
                !shown.contains(&cause),
                "{shown:?} repeats its source {cause:?}"
            );
            link = source;
            depth += 1;
        }
        assert!(depth > 0, "{error:?} has a source");
    }
    // The chain, printed link by link, says each thing once.
    let error = &errors_with_sources()[0];
    let mut chain = vec![error.to_string()];
    let mut link = error.source();
    while let Some(source) = link {
        chain.push(source.to_string());
        link = source.source();
    }
    assert_eq!(
        chain.join(": "),
        "transport error (request may have been sent): connection reset by peer"
    );
}

#[test]
fn a_close_says_whether_anything_was_sent() {
    let refused = Error::Closed {
        sent: false,
        reason: "the client is closed".into(),
    };
    assert!(!refused.may_have_side_effect() && !refused.is_retryable());
    assert_eq!(
        refused.to_string(),
        "closed (request not sent): the client is closed"
    );
    let cut_off = Error::Closed {
        sent: true,
        reason: "the append session stopped".into(),
    };
    assert!(cut_off.may_have_side_effect() && !cut_off.is_retryable());
}

#[test]
fn a_read_past_the_tail_is_a_service_error_outside_read_sessions() {
    let body = br#"{"tail": {"seq_num": 5, "timestamp": 9}}"#;
    let rejection = crate::api::rejection_from_parts(416, body, None);
    assert_eq!(
        rejection.past_tail,
        Some(crate::types::StreamPosition {
            seq_num: 5,
            timestamp: 9
        })
    );
    let Error::Service(e) = rejection.into_error() else {
        panic!("a service error")
    };
    assert_eq!(e.status, 416);
    assert!(e.message.contains("past the tail at 5@9"), "{e}");
    let e = Error::Service(e);
    assert!(!e.is_retryable() && !e.may_have_side_effect());
    assert!(matches!(
        crate::api::error_from_parts(416, body, None),
        Error::Service(ServiceError { status: 416, .. })
    ));
}
