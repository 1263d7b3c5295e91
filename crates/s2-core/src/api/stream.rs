//! Stream-level calls: tail, append, read, and the requests that open
//! sessions.

use bytes::BytesMut;
use http::{HeaderValue, Method, StatusCode};
use prost::Message;
use serde::Deserialize;

use super::{
    Api, Call, HttpRequest, Idempotency, PROTOBUF_CONTENT_TYPE, RequestBuilder,
    SESSION_CONTENT_TYPE,
    response::{error_from, json, protobuf, success_body},
};
use crate::{
    error::{Error, ValidationError},
    names::{BasinName, StreamName},
    proto,
    types::{
        AppendAck, AppendInput, ReadBatch, ReadOutput, ReadRequest, ReadStart, StreamPosition,
    },
};

#[derive(Deserialize)]
struct TailBody {
    tail: StreamPosition,
}

/// Which session a session request opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// `AppendInput` frames up, `AppendAck` frames down.
    Append,
    /// `ReadBatch` frames down.
    Read,
}

/// Query parameters of a read.
fn read_query(request: &ReadRequest) -> Vec<(&'static str, String)> {
    let mut query = Vec::with_capacity(6);
    query.push(match request.start {
        ReadStart::SeqNum(n) => ("seq_num", n.to_string()),
        ReadStart::Timestamp(t) => ("timestamp", t.to_string()),
        ReadStart::TailOffset(o) => ("tail_offset", o.to_string()),
    });
    if request.clamp {
        query.push(("clamp", "true".into()));
    }
    query.extend(request.limit.count.map(|c| ("count", c.to_string())));
    query.extend(request.limit.bytes.map(|b| ("bytes", b.to_string())));
    query.extend(request.until.map(|u| ("until", u.to_string())));
    query.extend(request.wait_secs.map(|w| ("wait", w.to_string())));
    query
}

/// Drops command records when the request asks for it.
pub(crate) fn filter_commands(batch: &mut proto::ReadBatch, ignore_command_records: bool) {
    if ignore_command_records {
        batch.records.retain(|r| !r.is_command());
    }
}

impl Api {
    fn records_request(
        &self,
        basin: &BasinName,
        stream: &StreamName,
        method: Method,
        tail: bool,
    ) -> RequestBuilder {
        let segments: &[&str] = if tail {
            &["streams", stream, "records", "tail"]
        } else {
            &["streams", stream, "records"]
        };
        self.basin_request(basin, method, segments)
    }

    fn accept_encoding(&self, builder: &mut RequestBuilder) {
        if let Some(value) = self.compression.accept_encoding_value() {
            builder.header(
                http::header::ACCEPT_ENCODING,
                HeaderValue::from_static(value),
            );
        }
    }

    /// `GET /v1/streams/{stream}/records/tail`: the stream's tail.
    pub fn check_tail(
        &self,
        basin: &BasinName,
        stream: &StreamName,
    ) -> Result<Call<StreamPosition>, ValidationError> {
        let http = self
            .records_request(basin, stream, Method::GET, true)
            .build()?;
        Ok(Call::new(http, Idempotency::Idempotent, |response| {
            let (_, body) = success_body(response)?;
            let tail: TailBody = json(&body)?;
            Ok(tail.tail)
        }))
    }

    /// `POST /v1/streams/{stream}/records` (protobuf): appends one batch.
    pub fn append(
        &self,
        basin: &BasinName,
        stream: &StreamName,
        input: &AppendInput,
    ) -> Result<Call<AppendAck>, ValidationError> {
        let mut body = BytesMut::with_capacity(input.encoded_len());
        input
            .encode(&mut body)
            .map_err(|e| ValidationError::Encode {
                reason: e.to_string(),
            })?;
        let expected_records = input.len() as u64;
        let mut builder = self.records_request(basin, stream, Method::POST, false);
        builder.body(PROTOBUF_CONTENT_TYPE, body.freeze()).header(
            http::header::ACCEPT,
            HeaderValue::from_static(PROTOBUF_CONTENT_TYPE),
        );
        let http = builder.build()?;
        Ok(Call::new(http, Idempotency::Append, move |response| {
            let (_, body) = success_body(response)?;
            let ack = AppendAck::try_from(protobuf::<proto::AppendAck>(body)?)?;
            if ack.record_count() != expected_records {
                return Err(crate::error::ProtocolError::Inconsistent(
                    format!(
                        "ack covers {} records, batch had {expected_records}",
                        ack.record_count()
                    )
                    .into(),
                )
                .into());
            }
            Ok(ack)
        }))
    }

    /// `GET /v1/streams/{stream}/records` (protobuf): reads one batch, or
    /// returns the tail when the start is at or past it.
    pub fn read(
        &self,
        basin: &BasinName,
        stream: &StreamName,
        request: &ReadRequest,
    ) -> Result<Call<ReadOutput>, ValidationError> {
        request.validate_unary()?;
        let mut builder = self.records_request(basin, stream, Method::GET, false);
        builder.query(read_query(request)).header(
            http::header::ACCEPT,
            HeaderValue::from_static(PROTOBUF_CONTENT_TYPE),
        );
        self.accept_encoding(&mut builder);
        let http = builder.build()?;
        let ignore_commands = request.ignore_command_records;
        Ok(Call::new(http, Idempotency::Idempotent, move |response| {
            if response.status == StatusCode::RANGE_NOT_SATISFIABLE {
                return match error_from(&response, &response.body) {
                    Error::ReadPastTail { tail } => Ok(ReadOutput::Tail(tail)),
                    other => Err(other),
                };
            }
            let (_, body) = success_body(response)?;
            let mut batch: proto::ReadBatch = protobuf(body)?;
            crate::types::check_read_batch_order(&batch.records, None)?;
            filter_commands(&mut batch, ignore_commands);
            Ok(ReadOutput::Batch(ReadBatch {
                records: batch.records,
                tail: batch.tail,
            }))
        }))
    }

    /// The request that opens a session. Its body is the stream of frames
    /// (empty for read sessions); the response body is frames too. A 200
    /// opens the session; anything else is an error to parse with
    /// [`Api::session_error`].
    pub fn session_request(
        &self,
        basin: &BasinName,
        stream: &StreamName,
        kind: SessionKind,
        read: Option<&ReadRequest>,
    ) -> Result<HttpRequest, ValidationError> {
        let method = match kind {
            SessionKind::Append => Method::POST,
            SessionKind::Read => Method::GET,
        };
        let mut builder = self.records_request(basin, stream, method, false);
        builder.header(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(SESSION_CONTENT_TYPE),
        );
        if let Some(read) = read {
            builder.query(read_query(read));
        }
        self.accept_encoding(&mut builder);
        builder.build()
    }

    /// The error described by an unsuccessful session-opening response.
    pub fn session_error(&self, response: &super::HttpResponse) -> Error {
        match success_body(response.clone()) {
            Ok(_) => crate::error::ProtocolError::UnexpectedStatus {
                status: response.status.as_u16(),
                body: String::new(),
            }
            .into(),
            Err(e) => e,
        }
    }
}
