//! Checks every call of [`s2_core::api::Api`] against the official S2 v1
//! OpenAPI document (`tests/data/openapi.json`, a verbatim copy of the
//! published spec): routes and operation ids, query and header parameters,
//! JSON request bodies (with a small JSON-schema checker), and the parsing of
//! every documented response (instances generated from the spec's response
//! schemas).
//!
//! s2-lite answers 501 for access tokens and metrics, so for those calls this
//! is the only check of the wire format; it covers every other call too.
//!
//! One module per part of the check; each takes what it needs from this
//! root (`use super::*`), which gathers the imports they share.

mod calls;
mod enums;
mod fixtures;
mod instances;
mod requests;
mod responses;
mod schema;
mod spec;

use std::{
    any::Any,
    collections::{BTreeMap, BTreeSet},
    fmt::Display,
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use percent_encoding::percent_decode_str;
use s2_core::{
    AccessTokenId, BasinName, Error, FencingToken, RequestToken, StreamName,
    api::{
        Api, BASIN_HEADER, Call, Endpoints, HttpRequest, HttpResponse, PROTOBUF_CONTENT_TYPE,
        PROVISION_RESULT_HEADER, REQUEST_TOKEN_HEADER, SESSION_CONTENT_TYPE, STREAM_CONFIG_HEADER,
        SessionKind, SessionRejection, StreamOptions,
    },
    error::{AppendConditionFailed, ServiceError, ValidationError},
    frame::{Compression, WireMessage},
    session::{
        ConnectionEvent,
        read::{Input, ReadEvent, ReadSession, ReadSessionConfig},
    },
    types::{
        AccessTokenInfo, AccessTokenScope, AccountMetricSet, AppendAck, AppendInput, AppendRecord,
        BasinConfig, BasinMetricSet, BasinReconfiguration, Change, CommandRecord, Header,
        ListRequest, LocationName, MetricsRange, Operation, PermittedOperationGroups,
        ProvisionResult, ReadBatch, ReadLimit, ReadOutput, ReadRequest, ReadStart,
        ReadWritePermissions, ResourceSet, RetentionPolicy, SequencedRecord, StorageClass,
        StreamCipher, StreamConfig, StreamMetricSet, StreamPosition, StreamReconfiguration,
        TimeseriesInterval, Timestamping, TimestampingMode, TimestampingReconfiguration,
    },
};
use serde::Serialize;
use serde_json::{Map, Value, json};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use {calls::*, fixtures::*, instances::*, requests::*, spec::*};
