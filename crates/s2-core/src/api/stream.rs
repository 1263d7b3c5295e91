//! Stream-level calls: tail, append, read, and the requests that open
//! sessions.

use std::time::Duration;

use http::{HeaderName, HeaderValue, Method, StatusCode};
use serde::Deserialize;

use super::{
    Api, Call, HttpRequest, Idempotency, PROTOBUF_CONTENT_TYPE, RequestBuilder,
    SESSION_CONTENT_TYPE,
    read_batch::decode_read_batch,
    response::{SessionRejection, decode_content, json, rejection_from, success_body},
};
use crate::{
    error::{Error, ProtocolError, ValidationError},
    frame::{Compression, WireMessage},
    names::{BasinName, StreamName},
    secret::EncryptionKey,
    types::{
        AppendAck, AppendInput, ReadBatch, ReadOutput, ReadRequest, ReadStart, StreamConfig,
        StreamPosition,
    },
};

/// Header carrying a stream's encryption key.
pub const ENCRYPTION_KEY_HEADER: HeaderName = HeaderName::from_static("s2-encryption-key");
/// Header carrying the configuration of a stream created by an append or a
/// read, as JSON.
pub const STREAM_CONFIG_HEADER: HeaderName = HeaderName::from_static("s2-stream-config");

/// What every append and read of one stream handle carries, whichever way
/// it goes (unary, session, or the read-back that resolves an unknown
/// append outcome).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamOptions {
    /// The stream's encryption key (`s2-encryption-key`), for a stream
    /// whose basin has a [`stream_cipher`](crate::types::BasinConfig::stream_cipher).
    pub encryption_key: Option<EncryptionKey>,
    /// The configuration the stream gets if an append or a read creates it
    /// (`s2-stream-config`; basins with create-on-append or -on-read), over
    /// the basin's default. Ignored when the stream exists.
    pub create_config: Option<StreamConfig>,
}

impl StreamOptions {
    /// Sets the encryption key.
    pub fn with_encryption_key(mut self, key: EncryptionKey) -> Self {
        self.encryption_key = Some(key);
        self
    }

    /// Sets the configuration of a stream created by an append or a read.
    pub fn with_create_config(mut self, config: StreamConfig) -> Self {
        self.create_config = Some(config);
        self
    }

    /// Adds the headers these options stand for.
    fn apply(&self, builder: &mut RequestBuilder) -> Result<(), ValidationError> {
        if let Some(key) = &self.encryption_key {
            builder.header(ENCRYPTION_KEY_HEADER, key.header_value());
        }
        if let Some(config) = &self.create_config {
            let json = serde_json::to_string(config).map_err(|e| ValidationError::Encode {
                reason: e.to_string(),
            })?;
            let value = HeaderValue::from_str(&json).map_err(|e| ValidationError::Encode {
                reason: e.to_string(),
            })?;
            builder.header(STREAM_CONFIG_HEADER, value);
        }
        Ok(())
    }
}

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

/// What the ack of a unary append must fit: the batch that was sent.
#[derive(Debug, Clone, Copy)]
struct ExpectedAck {
    /// Records in the batch.
    records: usize,
    /// The batch's `match_seq_num`: where its first record must land.
    match_seq_num: Option<u64>,
}

impl ExpectedAck {
    /// Checks an ack (already known to be ordered `start <= end <= tail`)
    /// against the batch it acknowledges.
    fn check(&self, ack: &AppendAck) -> Result<(), ProtocolError> {
        match ack.misfit(self.records, self.match_seq_num) {
            Some(what) => Err(ProtocolError::Inconsistent(
                format!(
                    "ack {}..{} does not fit the batch of {} records: {what}",
                    ack.start.seq_num, ack.end.seq_num, self.records
                )
                .into(),
            )),
            None => Ok(()),
        }
    }
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
pub(crate) fn filter_commands(batch: &mut ReadBatch, ignore_command_records: bool) {
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
        options: &StreamOptions,
    ) -> Result<Call<AppendAck>, ValidationError> {
        input.check_limits()?;
        let body = input.encode_to_bytes();
        let expected = ExpectedAck {
            records: input.len(),
            match_seq_num: input.match_seq_num(),
        };
        let mut builder = self.records_request(basin, stream, Method::POST, false);
        builder.body(PROTOBUF_CONTENT_TYPE, body).header(
            http::header::ACCEPT,
            HeaderValue::from_static(PROTOBUF_CONTENT_TYPE),
        );
        options.apply(&mut builder)?;
        let http = builder.build()?;
        // A batch conditioned on its position cannot land twice: a repeat
        // finds the condition failed and the batch is read back. So it is
        // retried whatever the append retry policy.
        let idempotency = if input.match_seq_num().is_some() {
            Idempotency::Idempotent
        } else {
            Idempotency::Append
        };
        Ok(Call::new(http, idempotency, move |response| {
            let (_, body) = success_body(response)?;
            let ack = AppendAck::decode(body)?;
            expected.check(&ack)?;
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
        options: &StreamOptions,
    ) -> Result<Call<ReadOutput>, ValidationError> {
        request.validate_unary()?;
        let mut builder = self.records_request(basin, stream, Method::GET, false);
        builder.query(read_query(request)).header(
            http::header::ACCEPT,
            HeaderValue::from_static(PROTOBUF_CONTENT_TYPE),
        );
        self.accept_encoding(&mut builder);
        options.apply(&mut builder)?;
        let http = builder.build()?;
        let ignore_commands = request.ignore_command_records;
        let wait = Duration::from_secs(request.wait_secs.unwrap_or(0).into());
        let call = Call::new(http, Idempotency::Idempotent, move |response| {
            if response.status == StatusCode::RANGE_NOT_SATISFIABLE {
                let rejection = rejection_from(&response, &response.body);
                return match rejection.past_tail {
                    Some(tail) => Ok(ReadOutput::Tail(tail)),
                    None => Err(rejection.into_error()),
                };
            }
            let (_, body) = success_body(response)?;
            let mut batch = decode_read_batch(body)?;
            crate::types::check_read_batch_order(&batch.records, None)?;
            filter_commands(&mut batch, ignore_commands);
            Ok(ReadOutput::Batch(batch))
        });
        // The service holds a read at the tail for up to `wait`.
        Ok(call.with_timeout_allowance(wait))
    }

    /// The request that opens a session. Its body is the stream of frames
    /// (empty for read sessions); the response body is frames too. A 200
    /// opens the session; anything else is a refusal to parse with
    /// [`Api::session_rejection`].
    pub fn session_request(
        &self,
        basin: &BasinName,
        stream: &StreamName,
        kind: SessionKind,
        read: Option<&ReadRequest>,
        options: &StreamOptions,
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
        options.apply(&mut builder)?;
        builder.build()
    }

    /// The refusal described by an unsuccessful session-opening response:
    /// what a session machine takes as
    /// [`ConnectionEvent::Rejected`](crate::session::ConnectionEvent::Rejected)
    /// (a read session reads the tail of a read past it from it; an append
    /// session, its [`error`](SessionRejection::into_error)).
    pub fn session_rejection(&self, response: &super::HttpResponse) -> SessionRejection {
        // Session requests offer this client's compression (see
        // `accept_encoding`).
        let offered: &[_] = match self.compression {
            Compression::None => &[],
            _ => std::slice::from_ref(&self.compression),
        };
        let decoded = match decode_content(response.clone(), offered) {
            Ok(decoded) => decoded,
            Err(e) => return e.into(),
        };
        if decoded.status.is_success() {
            let error: Error = ProtocolError::UnexpectedStatus {
                status: response.status.as_u16(),
                body: String::new(),
            }
            .into();
            return error.into();
        }
        // Its size was bounded by `decode_content`.
        rejection_from(&decoded, &decoded.body)
    }
}

#[cfg(test)]
mod tests;
