//! Request enums match the spec's, and values newer than the spec are
//! never sent.

use super::*;

#[test]
fn request_enums_match_the_spec() {
    fn wire<T: Serialize>(values: &[T]) -> BTreeSet<String> {
        values
            .iter()
            .map(|v| {
                serde_json::to_value(v)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }
    // The `Unknown` catch-all variants are for reading newer values and are
    // left out: they have no wire name of their own.
    let ours = [
        (
            "StorageClass",
            wire(&[StorageClass::Standard, StorageClass::Express]),
        ),
        (
            "TimestampingMode",
            wire(&[
                TimestampingMode::ClientPrefer,
                TimestampingMode::ClientRequire,
                TimestampingMode::Arrival,
            ]),
        ),
        (
            "Operation",
            wire(&[
                Operation::ListBasins,
                Operation::CreateBasin,
                Operation::DeleteBasin,
                Operation::ReconfigureBasin,
                Operation::GetBasinConfig,
                Operation::IssueAccessToken,
                Operation::RevokeAccessToken,
                Operation::ListAccessTokens,
                Operation::ListStreams,
                Operation::CreateStream,
                Operation::DeleteStream,
                Operation::GetStreamConfig,
                Operation::ReconfigureStream,
                Operation::CheckTail,
                Operation::Append,
                Operation::Read,
                Operation::Trim,
                Operation::Fence,
                Operation::AccountMetrics,
                Operation::BasinMetrics,
                Operation::StreamMetrics,
            ]),
        ),
        (
            "AccountMetricSet",
            wire(&[AccountMetricSet::ActiveBasins, AccountMetricSet::AccountOps]),
        ),
        (
            "BasinMetricSet",
            wire(&[
                BasinMetricSet::Storage,
                BasinMetricSet::AppendOps,
                BasinMetricSet::ReadOps,
                BasinMetricSet::ReadThroughput,
                BasinMetricSet::AppendThroughput,
                BasinMetricSet::BasinOps,
            ]),
        ),
        ("StreamMetricSet", wire(&[StreamMetricSet::Storage])),
        (
            "TimeseriesInterval",
            wire(&[
                TimeseriesInterval::Minute,
                TimeseriesInterval::Hour,
                TimeseriesInterval::Day,
            ]),
        ),
    ];
    let spec = Spec::load();
    for (name, ours) in ours {
        let documented: BTreeSet<String> = array_or_empty(spec.schema(name).get("enum"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ours, documented, "enum {name}");
    }
}

// The catch-all `Unknown` variants (there to read values newer than this
// client) cannot be serialized: the builders refuse them instead of sending a
// value no spec enum has.
#[test]
fn unknown_enum_variants_are_not_sent() {
    let spec = Spec::load();
    let api = api(Mode::Lite);
    let (basin, stream, token) = (basin(), stream(), request_token());
    let config = StreamConfig::new().with_storage_class(StorageClass::Unknown);
    let mut info = token_info();
    info.scope.ops = vec![Operation::Unknown];
    let requests = [
        (
            "create_stream",
            api.create_stream(&basin, &stream, Some(&config), &token)
                .map(|c| c.request),
        ),
        (
            "issue_access_token",
            api.issue_access_token(&info).map(|c| c.request),
        ),
    ];
    let mut report = Report::default();
    for (operation_id, request) in requests {
        // Refusing to build the request is right; sending it must be valid.
        let Ok(request) = request else {
            assert!(
                matches!(request, Err(ValidationError::Encode { .. })),
                "{operation_id}"
            );
            continue;
        };
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let schema = spec.op(operation_id).body_schema.clone().unwrap();
        report.check_schema(&spec, &schema, &body, operation_id);
    }
    report.finish();
}
