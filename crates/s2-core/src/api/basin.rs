//! Basin-level calls: streams.

use http::Method;
use serde::{Deserialize, Serialize};

use super::{
    Api, Call, Idempotency,
    account::{provision_result, request_token_header},
    response::{json, success_body},
};
use crate::{
    error::ValidationError,
    names::{BasinName, RequestToken, StreamName},
    types::{ListRequest, Page, Provisioned, StreamConfig, StreamInfo},
};

#[derive(Serialize)]
struct CreateStreamBody<'a> {
    stream: &'a StreamName,
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<&'a StreamConfig>,
}

#[derive(Deserialize)]
struct ListStreamsBody {
    streams: Vec<StreamInfo>,
    has_more: bool,
}

impl Api {
    /// `GET /v1/streams`: one page of the basin's streams.
    pub fn list_streams(
        &self,
        basin: &BasinName,
        request: &ListRequest,
    ) -> Result<Call<Page<StreamInfo>>, ValidationError> {
        request.validate()?;
        let http = self
            .basin_request(basin, Method::GET, &["streams"])
            .query(request.query())
            .build()?;
        Ok(Call::new(http, Idempotency::Idempotent, |response| {
            let (_, body) = success_body(response)?;
            let list: ListStreamsBody = json(&body)?;
            Ok(Page {
                items: list.streams,
                has_more: list.has_more,
            })
        }))
    }

    /// `POST /v1/streams`: creates a stream. The request token makes retries
    /// of this create safe.
    pub fn create_stream(
        &self,
        basin: &BasinName,
        stream: &StreamName,
        config: Option<&StreamConfig>,
        request_token: &RequestToken,
    ) -> Result<Call<StreamInfo>, ValidationError> {
        let (name, value) = request_token_header(request_token);
        let http = self
            .basin_request(basin, Method::POST, &["streams"])
            .header(name, value)
            .json_body(&CreateStreamBody { stream, config })?
            .build()?;
        Ok(Call::new(http, Idempotency::Idempotent, |response| {
            let (_, body) = success_body(response)?;
            json(&body)
        }))
    }

    /// `PUT /v1/streams/{stream}`: creates the stream or brings its
    /// configuration in line.
    pub fn ensure_stream(
        &self,
        basin: &BasinName,
        stream: &StreamName,
        config: Option<&StreamConfig>,
    ) -> Result<Call<Provisioned<StreamInfo>>, ValidationError> {
        let http = self
            .basin_request(basin, Method::PUT, &["streams", stream])
            .json_body(&config)?
            .build()?;
        Ok(Call::new(http, Idempotency::Idempotent, |response| {
            let (response, body) = success_body(response)?;
            Ok(Provisioned {
                info: json(&body)?,
                result: provision_result(&response),
            })
        }))
    }

    /// `GET /v1/streams/{stream}`: the stream's configuration.
    pub fn get_stream_config(
        &self,
        basin: &BasinName,
        stream: &StreamName,
    ) -> Result<Call<StreamConfig>, ValidationError> {
        let http = self
            .basin_request(basin, Method::GET, &["streams", stream])
            .build()?;
        Ok(Call::new(http, Idempotency::Idempotent, |response| {
            let (_, body) = success_body(response)?;
            json(&body)
        }))
    }

    /// `PATCH /v1/streams/{stream}`: changes the settings that are `Some`.
    pub fn reconfigure_stream(
        &self,
        basin: &BasinName,
        stream: &StreamName,
        config: &StreamConfig,
    ) -> Result<Call<StreamConfig>, ValidationError> {
        let http = self
            .basin_request(basin, Method::PATCH, &["streams", stream])
            .json_body(config)?
            .build()?;
        Ok(Call::new(http, Idempotency::Idempotent, |response| {
            let (_, body) = success_body(response)?;
            json(&body)
        }))
    }

    /// `DELETE /v1/streams/{stream}`: starts deleting the stream.
    pub fn delete_stream(
        &self,
        basin: &BasinName,
        stream: &StreamName,
    ) -> Result<Call<()>, ValidationError> {
        let http = self
            .basin_request(basin, Method::DELETE, &["streams", stream])
            .build()?;
        Ok(Call::new(http, Idempotency::Idempotent, |response| {
            success_body(response).map(|_| ())
        }))
    }
}
