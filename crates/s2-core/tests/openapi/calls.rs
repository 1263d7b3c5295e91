//! The table of calls: every `Api` method with its arguments, and the
//! check that every spec operation has one.

use super::*;

type Parse = Box<dyn Fn(HttpResponse) -> Result<Box<dyn Any>, Error>>;

/// How a case's bodies travel.
pub(crate) enum Wire {
    /// JSON bodies, as the spec documents.
    Json,
    /// `application/protobuf` unary append/read (with the append's input).
    Protobuf(Option<AppendInput>),
    /// An `s2s/proto` session-opening request.
    Session,
}

/// One built request and the parser of its response.
pub(crate) struct Case {
    pub(crate) operation_id: &'static str,
    pub(crate) request: HttpRequest,
    pub(crate) parse: Parse,
    pub(crate) wire: Wire,
}

impl Case {
    pub(crate) fn protobuf(mut self, input: Option<AppendInput>) -> Self {
        self.wire = Wire::Protobuf(input);
        self
    }

    pub(crate) fn context(&self) -> String {
        format!(
            "{} ({} {})",
            self.operation_id, self.request.method, self.request.uri
        )
    }
}

pub(crate) fn case<T: 'static>(
    operation_id: &'static str,
    call: Result<Call<T>, ValidationError>,
) -> Case {
    let call = call.unwrap_or_else(|e| panic!("{operation_id}: {e}"));
    Case {
        operation_id,
        request: call.request.clone(),
        wire: Wire::Json,
        parse: Box::new(move |response| call.parse(response).map(|v| Box::new(v) as Box<dyn Any>)),
    }
}

/// A session-opening request; its "parser" is `Api::session_rejection`,
/// and for a read session what the read machine makes of the refusal: a
/// read past the tail is its tail, as for a unary read.
fn session_case(
    api: &Api,
    operation_id: &'static str,
    kind: SessionKind,
    read: Option<&ReadRequest>,
) -> Case {
    let request = api
        .session_request(&basin(), &stream(), kind, read, &stream_options())
        .unwrap_or_else(|e| panic!("{operation_id} session: {e}"));
    let api = api.clone();
    Case {
        operation_id,
        request,
        wire: Wire::Session,
        parse: Box::new(move |response| {
            if response.status == StatusCode::OK {
                return Ok(Box::new(()) as Box<dyn Any>);
            }
            let rejection = api.session_rejection(&response);
            match kind {
                SessionKind::Read => match tail_of(rejection.clone()) {
                    Some(tail) => Ok(Box::new(ReadOutput::Tail(tail)) as Box<dyn Any>),
                    None => Err(rejection.into_error()),
                },
                SessionKind::Append => Err(rejection.into_error()),
            }
        }),
    }
}

/// The tail a read session ends at when its first connection is refused
/// with `rejection`, if it ends at one.
fn tail_of(rejection: SessionRejection) -> Option<StreamPosition> {
    let now = std::time::Instant::now();
    let mut session = ReadSession::new(ReadRequest::default(), ReadSessionConfig::default(), now);
    let Some(ReadEvent::Connect { connection, .. }) = session.poll_event() else {
        panic!("a read session connects first");
    };
    session.handle(
        Input::Connection(connection, ConnectionEvent::Rejected(rejection)),
        now,
    );
    std::iter::from_fn(|| session.poll_event()).find_map(|event| match event {
        ReadEvent::Tail(tail) => Some(tail),
        _ => None,
    })
}

/// Every `Api` method, with realistic arguments (all optional parameters set,
/// names that need percent-encoding, configurations with every field).
pub(crate) fn cases(api: &Api) -> Vec<Case> {
    let (basin, stream, token) = (basin(), stream(), request_token());
    let full_basin = basin_config(week());
    let mut cases = vec![
        case("list_basins", api.list_basins(&list_request())),
        case(
            "create_basin",
            api.create_basin(&basin, Some(&full_basin), Some(&location()), &token),
        ),
        case("create_basin", api.create_basin(&basin, None, None, &token)),
        case(
            "ensure_basin",
            api.ensure_basin(
                &basin,
                Some(&basin_config(RetentionPolicy::Infinite)),
                Some(&location()),
            ),
        ),
        case("ensure_basin", api.ensure_basin(&basin, None, None)),
        case("get_basin_config", api.get_basin_config(&basin)),
        case(
            "reconfigure_basin",
            api.reconfigure_basin(&basin, &basin_config(RetentionPolicy::Infinite).into()),
        ),
        case(
            "reconfigure_basin",
            api.reconfigure_basin(&basin, &full_basin.into()),
        ),
        case(
            "reconfigure_basin",
            api.reconfigure_basin(&basin, &basin_reset()),
        ),
        case(
            "reconfigure_basin",
            api.reconfigure_basin(
                &basin,
                &BasinReconfiguration::new()
                    .with_default_stream_config(Change::Set(stream_reset())),
            ),
        ),
        case("list_locations", api.list_locations()),
        case("get_default_location", api.get_default_location()),
        case(
            "set_default_location",
            api.set_default_location(&location()),
        ),
        case("delete_basin", api.delete_basin(&basin)),
        case("issue_access_token", api.issue_access_token(&token_info())),
        case(
            "issue_access_token",
            api.issue_access_token(&AccessTokenInfo::new(
                token_id(),
                AccessTokenScope::default(),
            )),
        ),
        case(
            "list_access_tokens",
            api.list_access_tokens(&list_request()),
        ),
        case("revoke_access_token", api.revoke_access_token(&token_id())),
        case(
            "account_metrics",
            api.account_metrics(AccountMetricSet::ActiveBasins, &MetricsRange::default()),
        ),
        case(
            "stream_metrics",
            api.stream_metrics(&basin, &stream, StreamMetricSet::Storage, &metrics_range()),
        ),
        case("list_streams", api.list_streams(&basin, &list_request())),
        case(
            "create_stream",
            api.create_stream(&basin, &stream, Some(&stream_config(week())), &token),
        ),
        case(
            "create_stream",
            api.create_stream(&basin, &stream, None, &token),
        ),
        case(
            "ensure_stream",
            api.ensure_stream(
                &basin,
                &stream,
                Some(&stream_config(RetentionPolicy::Infinite)),
            ),
        ),
        case("ensure_stream", api.ensure_stream(&basin, &stream, None)),
        case("get_stream_config", api.get_stream_config(&basin, &stream)),
        case(
            "reconfigure_stream",
            api.reconfigure_stream(&basin, &stream, &stream_config(week()).into()),
        ),
        case(
            "reconfigure_stream",
            api.reconfigure_stream(&basin, &stream, &stream_reset()),
        ),
        case("delete_stream", api.delete_stream(&basin, &stream)),
        case("check_tail", api.check_tail(&basin, &stream)),
        case(
            "append",
            api.append(&basin, &stream, &append_input(), &stream_options()),
        )
        .protobuf(Some(append_input())),
        session_case(api, "append", SessionKind::Append, None),
    ];
    for set in [AccountMetricSet::ActiveBasins, AccountMetricSet::AccountOps] {
        cases.push(case(
            "account_metrics",
            api.account_metrics(set, &metrics_range()),
        ));
    }
    for set in [
        BasinMetricSet::Storage,
        BasinMetricSet::AppendOps,
        BasinMetricSet::ReadOps,
        BasinMetricSet::ReadThroughput,
        BasinMetricSet::AppendThroughput,
        BasinMetricSet::BasinOps,
    ] {
        cases.push(case(
            "basin_metrics",
            api.basin_metrics(&basin, set, &metrics_range()),
        ));
    }
    for read in read_requests() {
        cases
            .push(case("read", api.read(&basin, &stream, &read, &stream_options())).protobuf(None));
        cases.push(session_case(api, "read", SessionKind::Read, Some(&read)));
    }
    cases
}

#[test]
fn every_spec_operation_is_covered() {
    let spec = Spec::load();
    let in_spec: BTreeSet<&str> = spec.ops.iter().map(|op| op.id.as_str()).collect();
    assert_eq!(in_spec.len(), spec.ops.len(), "operation ids are unique");
    let cases = cases(&api(Mode::Lite));
    let covered: BTreeSet<&str> = cases.iter().map(|c| c.operation_id).collect();
    let missing: Vec<_> = in_spec.difference(&covered).collect();
    let unknown: Vec<_> = covered.difference(&in_spec).collect();
    assert!(
        missing.is_empty(),
        "spec operations no Api method covers: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "cases naming operations not in the spec: {unknown:?}"
    );
}
