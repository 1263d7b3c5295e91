//! Responses parse: every documented response of every call, and the
//! answers older servers give.

use super::*;

pub(crate) fn response(
    status: u16,
    content_type: Option<&'static str>,
    body: impl Into<Bytes>,
) -> HttpResponse {
    let mut headers = http::HeaderMap::new();
    if let Some(content_type) = content_type {
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
    }
    HttpResponse {
        status: StatusCode::from_u16(status).expect("valid status"),
        headers,
        body: body.into(),
    }
}

fn json_response(status: u16, body: &Value) -> HttpResponse {
    response(
        status,
        Some("application/json"),
        serde_json::to_vec(body).unwrap(),
    )
}

fn position(value: &Value) -> StreamPosition {
    serde_json::from_value(value.clone()).expect("a StreamPosition")
}

fn text_bytes(value: Option<&Value>) -> Bytes {
    Bytes::from(value.and_then(Value::as_str).unwrap_or_default().to_owned())
}

/// A spec `ReadBatch` instance, to send as protobuf.
fn read_batch(batch: &Value) -> ReadBatch {
    let records = batch["records"].as_array().expect("records");
    ReadBatch {
        records: records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let at = StreamPosition::new(
                    r["seq_num"].as_u64().expect("seq_num") + i as u64,
                    r["timestamp"].as_u64().expect("timestamp"),
                );
                let headers: Vec<Header> = array_or_empty(r.get("headers"))
                    .iter()
                    .map(|h| Header::new(text_bytes(h.get(0)), text_bytes(h.get(1))))
                    .collect();
                SequencedRecord::new(at, text_bytes(r.get("body"))).with_headers(headers)
            })
            .collect(),
        tail: batch.get("tail").filter(|t| !t.is_null()).map(position),
    }
}

/// A spec `AppendAck` instance, to send as protobuf. The generator cannot
/// know the batch, so `start` follows its `match_seq_num` and `end` and
/// `tail` sequence numbers are derived from its size.
fn append_ack(ack: &Value, records: u64, match_seq_num: Option<u64>) -> AppendAck {
    let start = position(&ack["start"]);
    let start = StreamPosition::new(match_seq_num.unwrap_or(start.seq_num), start.timestamp);
    let end = StreamPosition::new(start.seq_num + records, position(&ack["end"]).timestamp);
    let tail = position(&ack["tail"]);
    let tail = StreamPosition::new(end.seq_num.max(tail.seq_num), tail.timestamp);
    AppendAck { start, end, tail }
}

/// A success response carrying a spec instance, in the case's encoding.
fn success_response(case: &Case, status: u16, body: &Value) -> HttpResponse {
    let encoded = match (&case.wire, case.operation_id) {
        (Wire::Protobuf(Some(input)), "append") => {
            append_ack(body, input.len() as u64, input.match_seq_num()).encode_to_bytes()
        }
        (Wire::Protobuf(None), "read") => read_batch(body).encode_to_bytes(),
        (Wire::Protobuf(_), other) => panic!("no protobuf mapping for {other}"),
        (Wire::Json | Wire::Session, _) => return json_response(status, body),
    };
    response(status, Some(PROTOBUF_CONTENT_TYPE), encoded)
}

fn check_responses(spec: &Spec, case: &Case, report: &mut Report) {
    let op = spec.op(case.operation_id);
    let ctx = &case.context();
    for (status, schema) in &op.responses {
        let status = *status;
        let ctx = &format!("{ctx} → {status}");
        if !(200..300).contains(&status) {
            let schema = schema.as_ref().expect("error responses have a JSON body");
            check_error_response(spec, case, status, schema, ctx, report);
            continue;
        }
        let Some(schema) = schema else {
            let outcome = (case.parse)(response(status, None, Vec::new()));
            report.check(outcome.is_ok(), ctx, || {
                format!("empty body gave {outcome:?}")
            });
            continue;
        };
        for body in spec.instances(schema) {
            report.check_schema(spec, schema, &body, &format!("{ctx} generated {body}"));
            if let Err(e) = (case.parse)(success_response(case, status, &body)) {
                report.fail(ctx, format_args!("{body} did not parse: {e}"));
            }
        }
    }
}

fn check_error_response(
    spec: &Spec,
    case: &Case,
    status: u16,
    schema: &Value,
    ctx: &str,
    report: &mut Report,
) {
    match schema_name(schema) {
        Some("ErrorInfo") => {
            let code = format!("code_{status}");
            let body = json!({"code": code, "message": "generated error"});
            report.check_schema(spec, schema, &body, ctx);
            match (case.parse)(json_response(status, &body)) {
                Err(Error::Service(ServiceError {
                    status: s,
                    code: c,
                    message,
                    ..
                })) if s == status && c == code && message == "generated error" => {}
                other => report.fail(ctx, format_args!("{body} gave {other:?}")),
            }
        }
        Some("AppendConditionFailed") => {
            for body in spec.instances(schema) {
                report.check_schema(spec, schema, &body, ctx);
                let outcome = (case.parse)(json_response(status, &body));
                let ok = match &outcome {
                    Err(Error::AppendCondition(AppendConditionFailed::SeqNumMismatch {
                        expected,
                    })) => body["seq_num_mismatch"] == *expected,
                    Err(Error::AppendCondition(AppendConditionFailed::FencingTokenMismatch {
                        expected,
                    })) => body["fencing_token_mismatch"] == *expected,
                    _ => false,
                };
                report.check(ok, ctx, || format!("{body} gave {outcome:?}"));
            }
        }
        Some("TailResponse") => {
            for body in spec.instances(schema) {
                report.check_schema(spec, schema, &body, ctx);
                let tail = position(&body["tail"]);
                let outcome = (case.parse)(json_response(status, &body));
                let ok = match (&case.wire, outcome) {
                    // A read at or past the tail returns the tail: a unary
                    // read as its output, a read session as its last item.
                    (Wire::Protobuf(None) | Wire::Session, Ok(output)) => {
                        output.downcast_ref::<ReadOutput>() == Some(&ReadOutput::Tail(tail))
                    }
                    _ => false,
                };
                report.check(ok, ctx, || format!("{body} was not read as the tail"));
            }
        }
        other => report.fail(
            ctx,
            format_args!("no expectation for error schema {other:?}"),
        ),
    }
}

#[test]
fn documented_responses_parse() {
    let spec = Spec::load();
    let mut report = Report::default();
    for case in cases(&api(Mode::Lite)) {
        check_responses(&spec, &case, &mut report);
    }
    report.finish();
}

#[test]
fn ensure_reports_what_it_did() {
    let spec = Spec::load();
    let api = api(Mode::Lite);
    let stream_info = spec.generate(
        spec.op("ensure_stream").response_schema(201).unwrap(),
        Shape::Full(0),
    );
    let call = api.ensure_stream(&basin(), &stream(), None).unwrap();
    let created = call.parse(json_response(201, &stream_info)).unwrap();
    assert_eq!(created.result, ProvisionResult::Created);
    assert_eq!(created.info.name.as_str(), stream_info["name"]);
    // `s2-provision-result` is not in the spec; s2-lite sends it on every
    // ensure (`PUT`): `created`, `updated` or `noop`.
    for (value, expected) in [
        ("noop", ProvisionResult::Unchanged),
        ("updated", ProvisionResult::Updated),
    ] {
        let mut ok = json_response(200, &stream_info);
        ok.headers
            .insert(PROVISION_RESULT_HEADER, HeaderValue::from_static(value));
        assert_eq!(call.parse(ok).unwrap().result, expected);
    }

    let basin_info = spec.generate(
        spec.op("ensure_basin").response_schema(201).unwrap(),
        Shape::Full(1),
    );
    let call = api.ensure_basin(&basin(), None, None).unwrap();
    let created = call.parse(json_response(201, &basin_info)).unwrap();
    assert_eq!(created.result, ProvisionResult::Created);
    assert_eq!(created.info.name.as_str(), basin_info["name"]);
    assert_eq!(
        created.info.location.as_deref(),
        basin_info["location"].as_str()
    );
}

/// Older answers name a `scope` instead of a `location`; they still parse,
/// the scope read as the location it names.
#[test]
fn basin_info_with_a_scope_still_parses() {
    let api = api(Mode::Lite);
    let call = api.get_default_location().unwrap();
    let info = call
        .parse(json_response(
            200,
            &json!({"name": "aws:eu-north-1", "is_private": false}),
        ))
        .unwrap();
    assert_eq!(info.name.as_str(), "aws:eu-north-1");
    let call = api.ensure_basin(&basin(), None, None).unwrap();
    for (body, location) in [
        (
            json!({"name": BASIN, "scope": "aws:us-west-2", "created_at": DATE_TIME}),
            Some("aws:us-west-2"),
        ),
        (
            json!({"name": BASIN, "scope": "mars:olympus-1", "created_at": DATE_TIME}),
            None,
        ),
        (
            json!({"name": BASIN, "scope": "aws:us-west-2", "location": "aws:us-east-1"}),
            Some("aws:us-east-1"),
        ),
        (json!({"name": BASIN, "location": null}), None),
    ] {
        let parsed = call.parse(json_response(201, &body)).unwrap();
        assert_eq!(parsed.info.location.as_deref(), location, "{body}");
    }
}
