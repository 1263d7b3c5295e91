//! Basin-level calls: streams.

use http::Method;
use serde::{Deserialize, Serialize};

use super::{Api, Call, Idempotency, account::request_token_header};
use crate::{
    error::ValidationError,
    names::{BasinName, RequestToken, StreamName},
    types::{ListRequest, Page, Provisioned, StreamConfig, StreamInfo, StreamReconfiguration},
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

impl From<ListStreamsBody> for Page<StreamInfo> {
    fn from(list: ListStreamsBody) -> Self {
        Page {
            items: list.streams,
            has_more: list.has_more,
        }
    }
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
        Ok(Call::page::<ListStreamsBody>(http))
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
        Ok(Call::json(http, Idempotency::Idempotent))
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
        Ok(Call::provisioned(http))
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
        Ok(Call::json(http, Idempotency::Idempotent))
    }

    /// `PATCH /v1/streams/{stream}`: sets or resets the settings the
    /// reconfiguration names, leaves the others as they are.
    pub fn reconfigure_stream(
        &self,
        basin: &BasinName,
        stream: &StreamName,
        config: &StreamReconfiguration,
    ) -> Result<Call<StreamConfig>, ValidationError> {
        let http = self
            .basin_request(basin, Method::PATCH, &["streams", stream])
            .json_body(config)?
            .build()?;
        Ok(Call::json(http, Idempotency::Idempotent))
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
        Ok(Call::empty(http))
    }
}
