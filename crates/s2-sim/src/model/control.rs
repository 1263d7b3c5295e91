//! The control plane: basins and streams created, ensured, listed, looked
//! at and deleted, answered as s2-lite answers them.

use bytes::Bytes;
use s2_core::types::{BasinConfig, StreamConfig};
use serde::Deserialize;

use super::{
    error::ServiceError,
    json,
    respond::Answer,
    route::{Route, query_param},
    state::{Mode, Provision, State, page},
};

/// Most items on one page, and the default.
const MAX_LIST_LIMIT: usize = 1000;

#[derive(Deserialize)]
struct CreateBasin {
    basin: String,
    #[serde(default)]
    config: Option<BasinConfig>,
}

#[derive(Deserialize, Default)]
struct EnsureBasin {
    #[serde(default)]
    config: Option<BasinConfig>,
}

#[derive(Deserialize)]
struct CreateStream {
    stream: String,
    #[serde(default)]
    config: Option<StreamConfig>,
}

/// A control-plane request, with what it needs from the request.
pub(crate) struct Request<'a> {
    pub(crate) route: &'a Route,
    pub(crate) query: &'a [(String, String)],
    pub(crate) request_token: Option<String>,
    pub(crate) body: &'a Bytes,
    pub(crate) now_ms: u64,
}

/// Answers a control-plane request (`None` for data-plane routes).
pub(crate) fn answer(state: &mut State, request: Request<'_>) -> Option<Answer> {
    let result = match request.route {
        Route::ListBasins => list_basins(state, &request),
        Route::CreateBasin => create_basin(state, &request),
        Route::EnsureBasin(basin) => ensure_basin(state, basin, &request),
        Route::GetBasinConfig(basin) => state.basin(basin).map(|b| {
            Answer::json(
                200,
                &[],
                json::to_string(&json::BasinConfigBody::from(&b.config)),
            )
        }),
        Route::DeleteBasin(basin) => state.delete_basin(basin).map(|()| Answer::empty(202)),
        Route::ListStreams(basin) => list_streams(state, basin, &request),
        Route::CreateStream(basin) => create_stream(state, basin, &request),
        Route::EnsureStream(target) => {
            ensure_stream(state, &target.basin, &target.stream, &request)
        }
        Route::GetStreamConfig(target) => state.stream(&target.basin, &target.stream).map(|s| {
            Answer::json(
                200,
                &[],
                json::to_string(&json::stream_config(&s.log.config)),
            )
        }),
        Route::DeleteStream(target) => state
            .delete_stream(&target.basin, &target.stream)
            .map(|()| Answer::empty(202)),
        Route::NotImplemented => Err(ServiceError::not_implemented()),
        Route::NotFound => Ok(Answer::empty(404)),
        Route::CheckTail(_)
        | Route::Append(_)
        | Route::Read(_)
        | Route::AppendSession(_)
        | Route::ReadSession(_) => return None,
    };
    Some(result.unwrap_or_else(|e| Answer::error(&e)))
}

fn parse<'de, T: Deserialize<'de>>(body: &'de Bytes) -> Result<T, ServiceError> {
    serde_json::from_slice(body).map_err(|e| ServiceError::bad_json(e.to_string()))
}

/// An optional JSON body: none at all is the default (`null` is refused,
/// as s2-lite refuses it).
fn parse_opt<'de, T: Deserialize<'de> + Default>(body: &'de Bytes) -> Result<T, ServiceError> {
    if body.is_empty() {
        return Ok(T::default());
    }
    parse(body)
}

fn list_limits(query: &[(String, String)]) -> Result<(String, String, usize), ServiceError> {
    let prefix = query_param::<String>(query, "prefix")?.unwrap_or_default();
    let start_after = query_param::<String>(query, "start_after")?.unwrap_or_default();
    let limit = query_param::<usize>(query, "limit")?
        .unwrap_or(MAX_LIST_LIMIT)
        .clamp(1, MAX_LIST_LIMIT);
    Ok((prefix, start_after, limit))
}

fn provisioned(provision: Provision, status_on_create: u16, body: String) -> Answer {
    let status = match provision {
        Provision::Created => 201,
        Provision::Updated | Provision::Unchanged => status_on_create,
    };
    Answer::json(status, &[("s2-provision-result", provision.header())], body)
}

fn list_basins(state: &State, request: &Request<'_>) -> Result<Answer, ServiceError> {
    let (prefix, start_after, limit) = list_limits(request.query)?;
    let (basins, has_more) = page(state.basins.iter(), &prefix, &start_after, limit);
    let body = json::ListBasins {
        basins: basins
            .into_iter()
            .map(|(name, basin)| json::BasinInfo::new(name, basin.created_at_ms))
            .collect(),
        has_more,
    };
    Ok(Answer::json(200, &[], json::to_string(&body)))
}

fn create_basin(state: &mut State, request: &Request<'_>) -> Result<Answer, ServiceError> {
    let body: CreateBasin = parse(request.body)?;
    s2_core::BasinName::new(body.basin.as_str())
        .map_err(|e| ServiceError::invalid(e.to_string()))?;
    let mode = Mode::CreateOnly {
        request_token: request.request_token.clone(),
    };
    let config = body.config.unwrap_or_default();
    let (provision, basin) = state.provision_basin(&body.basin, config, mode, request.now_ms)?;
    let info = json::to_string(&json::BasinInfo::new(&body.basin, basin.created_at_ms));
    // A create answers 201 even when a retry finds what it created.
    Ok(provisioned(provision, 201, info))
}

fn ensure_basin(
    state: &mut State,
    name: &str,
    request: &Request<'_>,
) -> Result<Answer, ServiceError> {
    let body: EnsureBasin = parse_opt(request.body)?;
    s2_core::BasinName::new(name).map_err(|e| ServiceError::invalid(e.to_string()))?;
    let config = body.config.unwrap_or_default();
    let (provision, basin) = state.provision_basin(name, config, Mode::Ensure, request.now_ms)?;
    let info = json::to_string(&json::BasinInfo::new(name, basin.created_at_ms));
    Ok(provisioned(provision, 200, info))
}

fn list_streams(state: &State, basin: &str, request: &Request<'_>) -> Result<Answer, ServiceError> {
    let (prefix, start_after, limit) = list_limits(request.query)?;
    let streams = &state.basin(basin)?.streams;
    let (streams, has_more) = page(streams.iter(), &prefix, &start_after, limit);
    let body = json::ListStreams {
        streams: streams
            .into_iter()
            .map(|(name, stream)| json::StreamInfo::new(name, stream.created_at_ms))
            .collect(),
        has_more,
    };
    Ok(Answer::json(200, &[], json::to_string(&body)))
}

fn create_stream(
    state: &mut State,
    basin: &str,
    request: &Request<'_>,
) -> Result<Answer, ServiceError> {
    let body: CreateStream = parse(request.body)?;
    s2_core::StreamName::new(body.stream.as_str())
        .map_err(|e| ServiceError::invalid(e.to_string()))?;
    let mode = Mode::CreateOnly {
        request_token: request.request_token.clone(),
    };
    let config = body.config.unwrap_or_default();
    let (provision, stream) =
        state.provision_stream(basin, &body.stream, config, mode, request.now_ms)?;
    let info = json::to_string(&json::StreamInfo::new(&body.stream, stream.created_at_ms));
    Ok(provisioned(provision, 201, info))
}

fn ensure_stream(
    state: &mut State,
    basin: &str,
    name: &str,
    request: &Request<'_>,
) -> Result<Answer, ServiceError> {
    let config: StreamConfig = parse_opt(request.body)?;
    let (provision, stream) =
        state.provision_stream(basin, name, config, Mode::Ensure, request.now_ms)?;
    let info = json::to_string(&json::StreamInfo::new(name, stream.created_at_ms));
    Ok(provisioned(provision, 200, info))
}
