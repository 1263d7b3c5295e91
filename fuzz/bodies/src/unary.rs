//! Unary responses: every endpoint's `Call::parse` fed an arbitrary status,
//! headers (content encoding included) and body.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header::CONTENT_ENCODING};
use s2_core::{
    Error, RequestToken,
    api::{
        Api, Call, Endpoints, HttpResponse, PROVISION_RESULT_HEADER, RETRY_AFTER_MS_HEADER,
        SessionKind,
    },
    frame::Compression,
    names::{AccessTokenId, BasinName, StreamName},
    types::{
        AccessTokenInfo, AccessTokenScope, AccountMetricSet, AppendInput, AppendRecord,
        BasinMetricSet, ListRequest, MetricsRange, ReadOutput, ReadRequest, ReadStart,
        StreamMetricSet, check_read_batch_order,
    },
};

use crate::{input::Input, wire::content_encode};

/// Number of endpoints [`unary_response`] chooses from.
pub const ENDPOINTS: u8 = 22;

/// Input: endpoint, status, content encoding, `retry-after-ms`,
/// `s2-provision-result`, then the body. Properties: no panic; a response
/// whose status is not a success never parses as a success (but a 416 to a
/// read, which is the tail); what parses upholds the call's promises (read
/// batches in order and without command records when asked, acks covering
/// the batch); every error answers its classification questions.
pub fn unary_response(data: &[u8]) {
    let mut input = Input::new(data);
    let endpoint = input.below(ENDPOINTS);
    let response = response(&mut input);
    let api = Api::new(
        Endpoints::single("http://127.0.0.1:8080").expect("a valid endpoint"),
        "token",
        Compression::Zstd,
    )
    .expect("a valid token");
    let basin = BasinName::new("fuzz-basin").expect("a valid basin name");
    let stream = StreamName::new("fuzz/stream").expect("a valid stream name");
    let status = response.status;
    let failed = !status.is_success();
    let list = ListRequest::new();
    let range = MetricsRange::default();
    let batch = AppendInput::new(vec![AppendRecord::new("a"), AppendRecord::new("b")])
        .expect("a valid batch");
    let token = RequestToken::new("request-token").expect("a valid request token");
    let id = AccessTokenId::new("token-id").expect("a valid token id");
    let read_request = ReadRequest::new(ReadStart::SeqNum(0)).with_ignore_command_records(true);

    match endpoint {
        0 => parse(api.list_basins(&list), response, |_| {}),
        1 => parse(
            api.create_basin(&basin, None, None, &token),
            response,
            |_| {},
        ),
        2 => parse(api.ensure_basin(&basin, None, None), response, |_| {}),
        3 => parse(api.get_basin_config(&basin), response, |_| {}),
        4 => parse(
            api.reconfigure_basin(&basin, &Default::default()),
            response,
            |_| {},
        ),
        5 => parse(api.delete_basin(&basin), response, |_| {}),
        6 => parse(
            api.issue_access_token(&AccessTokenInfo::new(id, AccessTokenScope::default())),
            response,
            |_| {},
        ),
        7 => parse(api.list_access_tokens(&list), response, |_| {}),
        8 => parse(api.revoke_access_token(&id), response, |_| {}),
        9 => parse(
            api.account_metrics(AccountMetricSet::ActiveBasins, &range),
            response,
            |_| {},
        ),
        10 => parse(
            api.basin_metrics(&basin, BasinMetricSet::Storage, &range),
            response,
            |_| {},
        ),
        11 => parse(
            api.stream_metrics(&basin, &stream, StreamMetricSet::Storage, &range),
            response,
            |_| {},
        ),
        12 => parse(api.list_streams(&basin, &list), response, |_| {}),
        13 => parse(
            api.create_stream(&basin, &stream, None, &token),
            response,
            |_| {},
        ),
        14 => parse(api.ensure_stream(&basin, &stream, None), response, |_| {}),
        15 => parse(api.get_stream_config(&basin, &stream), response, |_| {}),
        16 => parse(
            api.reconfigure_stream(&basin, &stream, &Default::default()),
            response,
            |_| {},
        ),
        17 => parse(api.delete_stream(&basin, &stream), response, |_| {}),
        18 => parse(api.check_tail(&basin, &stream), response, |_| {}),
        19 => parse(
            api.append(&basin, &stream, &batch, &Default::default()),
            response,
            |ack| {
                assert_eq!(
                    ack.record_count(),
                    batch.len() as u64,
                    "ack of another batch"
                );
                assert!(
                    ack.start.seq_num <= ack.end.seq_num && ack.end.seq_num <= ack.tail.seq_num
                );
            },
        ),
        20 => {
            let call = api.read(&basin, &stream, &read_request, &Default::default());
            let parsed = call.expect("a valid read").parse(response);
            check_error(&parsed);
            match parsed {
                Ok(ReadOutput::Batch(batch)) => {
                    assert!(!failed, "status {status} parsed as a batch");
                    assert!(check_read_batch_order(&batch.records, None).is_ok());
                    assert!(
                        batch.records.iter().all(|r| !r.is_command()),
                        "command records returned though ignored"
                    );
                }
                Ok(ReadOutput::Tail(_)) => assert_eq!(
                    status,
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "only a 416 is the tail"
                ),
                Err(_) => {}
            }
        }
        _ => {
            let kind = if input.bool() {
                SessionKind::Append
            } else {
                SessionKind::Read
            };
            api.session_request(&basin, &stream, kind, None, &Default::default())
                .expect("a valid session request");
            let error = api.session_rejection(&response).into_error();
            check_error(&Err::<(), _>(error));
        }
    }
}

fn response(input: &mut Input<'_>) -> HttpResponse {
    let status = StatusCode::from_u16(100 + input.u16() % 900).expect("100..=999 is valid");
    let mut headers = HeaderMap::new();
    let encoding = input.below(9);
    let retry_after = input.below(4);
    let provision = input.below(4);
    match retry_after {
        0 => {}
        1 => insert(&mut headers, RETRY_AFTER_MS_HEADER, b"250"),
        2 => insert(&mut headers, RETRY_AFTER_MS_HEADER, b"18446744073709551615"),
        _ => {
            let value = input.short_bytes(24);
            insert(&mut headers, RETRY_AFTER_MS_HEADER, value)
        }
    }
    let provision_value: &[u8] = match provision {
        0 => b"created",
        1 => b"noop",
        2 => b"updated",
        _ => input.short_bytes(12),
    };
    insert(&mut headers, PROVISION_RESULT_HEADER, provision_value);
    let raw = input.rest();
    let body = match encoding {
        0 => raw.to_vec(),
        1 => {
            insert(&mut headers, CONTENT_ENCODING.as_str(), b"identity");
            raw.to_vec()
        }
        2 => {
            insert(&mut headers, CONTENT_ENCODING.as_str(), b"gzip");
            content_encode(Compression::Gzip, raw)
        }
        3 => {
            insert(&mut headers, CONTENT_ENCODING.as_str(), b"zstd");
            content_encode(Compression::Zstd, raw)
        }
        4 => {
            insert(&mut headers, CONTENT_ENCODING.as_str(), b"gzip");
            raw.to_vec()
        }
        5 => {
            insert(&mut headers, CONTENT_ENCODING.as_str(), b"zstd");
            raw.to_vec()
        }
        6 => {
            insert(&mut headers, CONTENT_ENCODING.as_str(), b" GZIP ");
            content_encode(Compression::Gzip, raw)
        }
        7 => {
            insert(&mut headers, CONTENT_ENCODING.as_str(), b"br");
            raw.to_vec()
        }
        _ => {
            insert(&mut headers, CONTENT_ENCODING.as_str(), b"gzip, zstd");
            raw.to_vec()
        }
    };
    HttpResponse {
        status,
        headers,
        body: Bytes::from(body),
    }
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: &[u8]) {
    if let Ok(value) = HeaderValue::from_bytes(value) {
        headers.insert(name, value);
    }
}

/// Parses `response` with `call`: no success from a failed status, `check`
/// on what parsed, classification answered by every error.
fn parse<T>(
    call: Result<Call<T>, s2_core::ValidationError>,
    response: HttpResponse,
    check: impl FnOnce(&T),
) {
    let status = response.status;
    let call = call.expect("the fuzz call arguments are valid");
    let parsed = call.parse(response);
    check_error(&parsed);
    if let Ok(value) = &parsed {
        assert!(status.is_success(), "status {status} parsed as a success");
        check(value);
    }
}

fn check_error<T>(parsed: &Result<T, Error>) {
    if let Err(error) = parsed {
        let _ = error.is_retryable();
        let _ = error.may_have_side_effect();
        let _ = error.retry_after();
        let _ = error.code();
        let _ = error.to_string();
    }
}
