use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use super::*;
use crate::{
    api::{Endpoints, HttpResponse},
    types::{AppendRecord, SequencedRecord},
};

fn api() -> Api {
    let endpoints = Endpoints::single("http://127.0.0.1:8080/").expect("valid endpoint");
    Api::new(endpoints, "token", Compression::None).expect("valid token")
}

fn names() -> (BasinName, StreamName) {
    (
        "test-basin".parse().expect("valid basin name"),
        "stream".parse().expect("valid stream name"),
    )
}

fn ack_response(start: u64, end: u64, tail: u64) -> HttpResponse {
    let position = |seq_num| StreamPosition::new(seq_num, 7);
    let ack = AppendAck {
        start: position(start),
        end: position(end),
        tail: position(tail),
    };
    HttpResponse {
        status: StatusCode::OK,
        headers: HeaderMap::new(),
        body: ack.encode_to_bytes(),
    }
}

fn gzip(bytes: &[u8]) -> Bytes {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("writing to a Vec");
    encoder.finish().expect("writing to a Vec").into()
}

fn read_response(encoding: Option<&'static str>, body: Bytes) -> HttpResponse {
    let mut headers = HeaderMap::new();
    if let Some(encoding) = encoding {
        headers.insert(
            http::header::CONTENT_ENCODING,
            HeaderValue::from_static(encoding),
        );
    }
    HttpResponse {
        status: StatusCode::OK,
        headers,
        body,
    }
}

fn read_call(compression: Compression) -> Call<ReadOutput> {
    let (basin, stream) = names();
    let endpoints = Endpoints::single("http://127.0.0.1:8080/").expect("valid endpoint");
    Api::new(endpoints, "token", compression)
        .expect("valid token")
        .read(
            &basin,
            &stream,
            &ReadRequest::default(),
            &StreamOptions::default(),
        )
        .expect("valid call")
}

fn api_with(compression: Compression) -> Api {
    let endpoints = Endpoints::single("http://127.0.0.1:8080/").expect("valid endpoint");
    Api::new(endpoints, "token", compression).expect("valid token")
}

#[test]
fn unary_append_bodies_are_compressed_as_configured() {
    let (basin, stream) = names();
    let big = AppendInput::new(vec![AppendRecord::new(Bytes::from(
        "compressible ".repeat(500),
    ))])
    .expect("valid input");
    let small = AppendInput::new(vec![AppendRecord::new("tiny")]).expect("valid input");
    let options = StreamOptions::default();
    let plain = |input: &AppendInput| {
        api_with(Compression::None)
            .append(&basin, &stream, input, &options)
            .expect("valid call")
            .request
    };
    let uncompressed = plain(&big);
    assert_eq!(
        uncompressed.headers.get(http::header::CONTENT_ENCODING),
        None
    );
    for (compression, coding) in [(Compression::Zstd, "zstd"), (Compression::Gzip, "gzip")] {
        let request = api_with(compression)
            .append(&basin, &stream, &big, &options)
            .expect("valid call")
            .request;
        assert_eq!(
            request.headers.get(http::header::CONTENT_ENCODING),
            Some(&HeaderValue::from_static(coding))
        );
        assert_eq!(
            request.headers.get(http::header::ACCEPT_ENCODING),
            Some(&HeaderValue::from_static(coding)),
            "the response may come back in the same coding"
        );
        assert!(request.body.len() < uncompressed.body.len() / 4);
        let decoded = crate::frame::decompress(compression, request.body.clone(), 1 << 20).unwrap();
        assert_eq!(decoded, uncompressed.body);
        // Under the threshold a body goes as it is.
        let request = api_with(compression)
            .append(&basin, &stream, &small, &options)
            .expect("valid call")
            .request;
        assert_eq!(request.headers.get(http::header::CONTENT_ENCODING), None);
        assert_eq!(request.body, plain(&small).body);
    }
}

#[test]
fn unary_read_decodes_only_offered_encodings() {
    let batch = ReadBatch {
        records: vec![SequencedRecord::new(
            StreamPosition::new(0, 0),
            vec![b'x'; 2000],
        )],
        tail: None,
    };
    let plain = batch.encode_to_bytes();
    let zipped = gzip(&plain);
    let unrequested = |result: Result<ReadOutput, Error>| {
        matches!(
            result,
            Err(Error::Protocol(ProtocolError::UnrequestedEncoding { .. }))
        )
    };
    // Nothing offered: identity only.
    let call = read_call(Compression::None);
    assert_eq!(
        call.request.headers.get(http::header::ACCEPT_ENCODING),
        Some(&HeaderValue::from_static("identity"))
    );
    assert_eq!(
        call.parse(read_response(None, plain.clone()))
            .unwrap()
            .records()
            .len(),
        1
    );
    assert_eq!(
        call.parse(read_response(Some("identity"), plain.clone()))
            .unwrap()
            .records()
            .len(),
        1
    );
    assert!(unrequested(
        call.parse(read_response(Some("gzip"), zipped.clone()))
    ));
    assert!(unrequested(
        call.parse(read_response(Some("br"), plain.clone()))
    ));
    // gzip offered: gzip decoded, zstd still refused.
    let call = read_call(Compression::Gzip);
    assert_eq!(
        call.parse(read_response(Some("gzip"), zipped))
            .unwrap()
            .records()
            .len(),
        1
    );
    assert!(unrequested(call.parse(read_response(Some("zstd"), plain))));
}

#[test]
fn unary_read_deadline_includes_its_wait() {
    let (basin, stream) = names();
    let read = |wait: Option<u32>| {
        let request = ReadRequest {
            wait_secs: wait,
            ..ReadRequest::default()
        };
        api()
            .read(&basin, &stream, &request, &StreamOptions::default())
            .expect("valid call")
    };
    assert_eq!(read(None).timeout_allowance(), Duration::ZERO);
    assert_eq!(read(Some(30)).timeout_allowance(), Duration::from_secs(30));
    let append = AppendInput::new(vec![AppendRecord::new("a")]).expect("valid batch");
    let call = api()
        .append(&basin, &stream, &append, &StreamOptions::default())
        .expect("valid call");
    assert_eq!(call.timeout_allowance(), Duration::ZERO);
}

#[test]
fn unary_read_refuses_a_batch_of_empty_records() {
    // 16 MiB of `0a 00`: eight million empty records for prost.
    let empties = b"\x0a\x00".repeat(crate::api::MAX_RESPONSE_BODY_BYTES / 2);
    let too_large = |result: Result<ReadOutput, Error>| {
        matches!(
            result,
            Err(Error::Protocol(ProtocolError::ReadBatchTooLarge { .. }))
        )
    };
    let call = read_call(Compression::Gzip);
    let zipped = gzip(&empties);
    assert!(zipped.len() < 64 * 1024, "a bomb of {} bytes", zipped.len());
    assert!(too_large(call.parse(read_response(Some("gzip"), zipped))));
    assert!(too_large(call.parse(read_response(None, empties.into()))));
}

#[test]
fn stream_options_go_on_every_append_and_read() {
    let (basin, stream) = names();
    let key = EncryptionKey::new([9; 32]);
    let config = StreamConfig::new()
        .with_retention_policy(crate::types::RetentionPolicy::Age(Duration::from_secs(
            3600,
        )))
        .with_delete_on_empty(Duration::from_secs(300));
    let options = StreamOptions {
        encryption_key: Some(key.clone()),
        create_config: Some(config),
    };
    let api = api();
    let input = AppendInput::new(vec![AppendRecord::new("a")]).expect("valid batch");
    let read = ReadRequest::default();
    let requests = [
        api.append(&basin, &stream, &input, &options)
            .expect("valid call")
            .request,
        api.read(&basin, &stream, &read, &options)
            .expect("valid call")
            .request,
        api.session_request(&basin, &stream, SessionKind::Append, None, &options)
            .expect("valid request"),
        api.session_request(&basin, &stream, SessionKind::Read, Some(&read), &options)
            .expect("valid request"),
    ];
    for request in &requests {
        let sent = request
            .headers
            .get(ENCRYPTION_KEY_HEADER)
            .expect("key header");
        assert_eq!(sent.to_str().unwrap(), key.expose_secret());
        assert!(sent.is_sensitive());
        let json = request
            .headers
            .get(STREAM_CONFIG_HEADER)
            .expect("config header");
        // The JSON s2-api's own `StreamConfigHeader` test parses.
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(json.as_bytes()).unwrap(),
            serde_json::json!({
                "retention_policy": {"age": 3600},
                "delete_on_empty": {"min_age_secs": 300}
            })
        );
    }
    // Neither the options nor the requests print the key.
    let secret = &key.expose_secret()[..12];
    assert!(!format!("{options:?}").contains(secret));
    assert!(!format!("{requests:?}").contains(secret));
    // Without options, neither header.
    let plain = api
        .append(&basin, &stream, &input, &StreamOptions::default())
        .expect("valid call")
        .request;
    assert!(plain.headers.get(ENCRYPTION_KEY_HEADER).is_none());
    assert!(plain.headers.get(STREAM_CONFIG_HEADER).is_none());
}

fn inconsistent(result: Result<AppendAck, Error>) -> bool {
    matches!(result, Err(Error::Protocol(ProtocolError::Inconsistent(_))))
}

#[test]
fn unary_append_ack_is_checked_against_the_batch() {
    let (basin, stream) = names();
    let records = vec![AppendRecord::new("a"), AppendRecord::new("b")];
    let plain = AppendInput::new(records.clone()).expect("valid batch");
    let call = api()
        .append(&basin, &stream, &plain, &StreamOptions::default())
        .expect("valid call");
    assert!(call.parse(ack_response(5, 7, 9)).is_ok());
    // Wrong record count.
    assert!(inconsistent(call.parse(ack_response(5, 8, 9))));
    assert!(inconsistent(call.parse(ack_response(5, 6, 9))));
    // Tail below end.
    assert!(inconsistent(call.parse(ack_response(5, 7, 6))));

    let conditioned = plain.with_match_seq_num(5);
    let call = api()
        .append(&basin, &stream, &conditioned, &StreamOptions::default())
        .expect("valid call");
    assert!(call.parse(ack_response(5, 7, 7)).is_ok());
    // Landed somewhere other than where the condition put it.
    assert!(inconsistent(call.parse(ack_response(6, 8, 8))));
}
