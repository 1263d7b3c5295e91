//! Account-level calls: basins, locations, access tokens, metrics.

use http::{HeaderName, HeaderValue, Method};
use serde::{Deserialize, Serialize};

use super::{
    Api, Call, HttpResponse, Idempotency, PROVISION_RESULT_HEADER, REQUEST_TOKEN_HEADER,
    response::{json, success_body},
};
use crate::{
    error::ValidationError,
    names::{AccessTokenId, BasinName, RequestToken, StreamName},
    secret::AccessToken,
    types::{
        AccessTokenInfo, AccountMetricSet, BasinConfig, BasinInfo, BasinMetricSet,
        BasinReconfiguration, ListRequest, LocationInfo, LocationName, Metric, MetricsRange, Page,
        ProvisionResult, Provisioned, StreamMetricSet,
    },
};

#[derive(Serialize)]
struct CreateBasinBody<'a> {
    basin: &'a BasinName,
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<&'a BasinConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<&'a LocationName>,
}

#[derive(Serialize)]
struct EnsureBasinBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<&'a BasinConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<&'a LocationName>,
}

#[derive(Deserialize)]
struct ListBasinsBody {
    basins: Vec<BasinInfo>,
    has_more: bool,
}

#[derive(Deserialize)]
struct ListAccessTokensBody {
    access_tokens: Vec<AccessTokenInfo>,
    has_more: bool,
}

impl From<ListBasinsBody> for Page<BasinInfo> {
    fn from(list: ListBasinsBody) -> Self {
        Page {
            items: list.basins,
            has_more: list.has_more,
        }
    }
}

impl From<ListAccessTokensBody> for Page<AccessTokenInfo> {
    fn from(list: ListAccessTokensBody) -> Self {
        Page {
            items: list.access_tokens,
            has_more: list.has_more,
        }
    }
}

#[derive(Deserialize)]
struct IssueAccessTokenBody {
    access_token: String,
}

#[derive(Deserialize)]
struct MetricSetBody {
    values: Vec<Metric>,
}

/// Parses the `s2-provision-result` header of an ensure response.
pub(super) fn provision_result(response: &HttpResponse) -> ProvisionResult {
    match response
        .headers
        .get(PROVISION_RESULT_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        Some("created") => ProvisionResult::Created,
        Some("noop") => ProvisionResult::Unchanged,
        Some("updated") => ProvisionResult::Updated,
        _ if response.status == http::StatusCode::CREATED => ProvisionResult::Created,
        _ => ProvisionResult::Updated,
    }
}

pub(super) fn request_token_header(token: &RequestToken) -> (HeaderName, HeaderValue) {
    (
        HeaderName::from_static(REQUEST_TOKEN_HEADER),
        // Request tokens are validated as visible ASCII.
        HeaderValue::from_str(token).unwrap_or(HeaderValue::from_static("")),
    )
}

impl Api {
    /// `GET /v1/basins`: one page of basins.
    pub fn list_basins(
        &self,
        request: &ListRequest,
    ) -> Result<Call<Page<BasinInfo>>, ValidationError> {
        request.validate()?;
        let http = self
            .account_request(Method::GET, &["basins"])
            .query(request.query())
            .build()?;
        Ok(Call::page::<ListBasinsBody>(http))
    }

    /// `POST /v1/basins`: creates a basin. The request token makes retries of
    /// this create safe; use one token per logical create.
    pub fn create_basin(
        &self,
        basin: &BasinName,
        config: Option<&BasinConfig>,
        location: Option<&LocationName>,
        request_token: &RequestToken,
    ) -> Result<Call<BasinInfo>, ValidationError> {
        let (name, value) = request_token_header(request_token);
        let http = self
            .account_request(Method::POST, &["basins"])
            .header(name, value)
            .json_body(&CreateBasinBody {
                basin,
                config,
                location,
            })?
            .build()?;
        Ok(Call::json(http, Idempotency::Idempotent))
    }

    /// `PUT /v1/basins/{basin}`: creates the basin or brings its configuration
    /// in line.
    pub fn ensure_basin(
        &self,
        basin: &BasinName,
        config: Option<&BasinConfig>,
        location: Option<&LocationName>,
    ) -> Result<Call<Provisioned<BasinInfo>>, ValidationError> {
        let http = self
            .account_request(Method::PUT, &["basins", basin])
            .json_body(&EnsureBasinBody { config, location })?
            .build()?;
        Ok(Call::provisioned(http))
    }

    /// `GET /v1/basins/{basin}`: the basin's configuration.
    pub fn get_basin_config(
        &self,
        basin: &BasinName,
    ) -> Result<Call<BasinConfig>, ValidationError> {
        let http = self
            .account_request(Method::GET, &["basins", basin])
            .build()?;
        Ok(Call::json(http, Idempotency::Idempotent))
    }

    /// `PATCH /v1/basins/{basin}`: sets or resets the settings the
    /// reconfiguration names, leaves the others as they are.
    pub fn reconfigure_basin(
        &self,
        basin: &BasinName,
        config: &BasinReconfiguration,
    ) -> Result<Call<BasinConfig>, ValidationError> {
        let http = self
            .account_request(Method::PATCH, &["basins", basin])
            .json_body(config)?
            .build()?;
        Ok(Call::json(http, Idempotency::Idempotent))
    }

    /// `DELETE /v1/basins/{basin}`: starts deleting the basin.
    pub fn delete_basin(&self, basin: &BasinName) -> Result<Call<()>, ValidationError> {
        let http = self
            .account_request(Method::DELETE, &["basins", basin])
            .build()?;
        Ok(Call::empty(http))
    }

    /// `GET /v1/locations`: the locations the account may place basins in.
    pub fn list_locations(&self) -> Result<Call<Vec<LocationInfo>>, ValidationError> {
        let http = self.account_request(Method::GET, &["locations"]).build()?;
        Ok(Call::json(http, Idempotency::Idempotent))
    }

    /// `GET /v1/locations/default`: where basins created without a location
    /// go.
    pub fn get_default_location(&self) -> Result<Call<LocationInfo>, ValidationError> {
        let http = self
            .account_request(Method::GET, &["locations", "default"])
            .build()?;
        Ok(Call::json(http, Idempotency::Idempotent))
    }

    /// `PUT /v1/locations/default`: changes where basins created without a
    /// location go; returns the new default.
    pub fn set_default_location(
        &self,
        location: &LocationName,
    ) -> Result<Call<LocationInfo>, ValidationError> {
        let http = self
            .account_request(Method::PUT, &["locations", "default"])
            .json_body(location)?
            .build()?;
        Ok(Call::json(http, Idempotency::Idempotent))
    }

    /// `POST /v1/access-tokens`: issues a token and returns its secret.
    pub fn issue_access_token(
        &self,
        info: &AccessTokenInfo,
    ) -> Result<Call<AccessToken>, ValidationError> {
        let http = self
            .account_request(Method::POST, &["access-tokens"])
            .json_body(info)?
            .build()?;
        // A repeat would conflict with the first issue, not duplicate it, but
        // it would also lose the secret: retry only what provably failed.
        Ok(Call::new(http, Idempotency::NotIdempotent, |response| {
            let (_, body) = success_body(response)?;
            let issued: IssueAccessTokenBody = json(&body)?;
            Ok(AccessToken::new(issued.access_token))
        }))
    }

    /// `GET /v1/access-tokens`: one page of token descriptions.
    pub fn list_access_tokens(
        &self,
        request: &ListRequest,
    ) -> Result<Call<Page<AccessTokenInfo>>, ValidationError> {
        request.validate()?;
        let http = self
            .account_request(Method::GET, &["access-tokens"])
            .query(request.query())
            .build()?;
        Ok(Call::page::<ListAccessTokensBody>(http))
    }

    /// `DELETE /v1/access-tokens/{id}`: revokes a token.
    pub fn revoke_access_token(&self, id: &AccessTokenId) -> Result<Call<()>, ValidationError> {
        let http = self
            .account_request(Method::DELETE, &["access-tokens", id])
            .build()?;
        Ok(Call::empty(http))
    }

    /// `GET /v1/metrics`: an account metric set.
    pub fn account_metrics(
        &self,
        set: AccountMetricSet,
        range: &MetricsRange,
    ) -> Result<Call<Vec<Metric>>, ValidationError> {
        self.metrics_call(&["metrics"], enum_str(&set)?, range)
    }

    /// `GET /v1/metrics/{basin}`: a basin metric set.
    pub fn basin_metrics(
        &self,
        basin: &BasinName,
        set: BasinMetricSet,
        range: &MetricsRange,
    ) -> Result<Call<Vec<Metric>>, ValidationError> {
        self.metrics_call(&["metrics", basin], enum_str(&set)?, range)
    }

    /// `GET /v1/metrics/{basin}/{stream}`: a stream metric set.
    pub fn stream_metrics(
        &self,
        basin: &BasinName,
        stream: &StreamName,
        set: StreamMetricSet,
        range: &MetricsRange,
    ) -> Result<Call<Vec<Metric>>, ValidationError> {
        self.metrics_call(&["metrics", basin, stream], enum_str(&set)?, range)
    }

    fn metrics_call(
        &self,
        segments: &[&str],
        set: String,
        range: &MetricsRange,
    ) -> Result<Call<Vec<Metric>>, ValidationError> {
        let mut query = vec![("set", set)];
        query.extend(range.start.map(|s| ("start", s.to_string())));
        query.extend(range.end.map(|e| ("end", e.to_string())));
        if let Some(interval) = &range.interval {
            query.push(("interval", enum_str(interval)?));
        }
        let http = self
            .account_request(Method::GET, segments)
            .query(query)
            .build()?;
        Ok(Call::new(http, Idempotency::Idempotent, |response| {
            let (_, body) = success_body(response)?;
            let set: MetricSetBody = json(&body)?;
            Ok(set.values)
        }))
    }
}

/// The wire name of a unit enum variant.
fn enum_str(value: &impl Serialize) -> Result<String, ValidationError> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => Ok(s),
        _ => Err(ValidationError::Encode {
            reason: "enum did not serialize to a string".into(),
        }),
    }
}
