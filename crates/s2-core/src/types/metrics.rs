//! Usage metrics (not served by s2-lite).

use serde::{Deserialize, Serialize};

/// Account-level metric sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum AccountMetricSet {
    /// Basins with activity.
    ActiveBasins,
    /// Account operations.
    AccountOps,
    /// A value this client does not know.
    #[serde(other, skip_serializing)]
    Unknown,
}

/// Basin-level metric sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum BasinMetricSet {
    /// Stored bytes.
    Storage,
    /// Append operations.
    AppendOps,
    /// Read operations.
    ReadOps,
    /// Read throughput.
    ReadThroughput,
    /// Append throughput.
    AppendThroughput,
    /// Basin operations.
    BasinOps,
    /// A value this client does not know.
    #[serde(other, skip_serializing)]
    Unknown,
}

/// Stream-level metric sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum StreamMetricSet {
    /// Stored bytes.
    Storage,
    /// A value this client does not know.
    #[serde(other, skip_serializing)]
    Unknown,
}

/// Granularity of a time series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum TimeseriesInterval {
    /// Per minute.
    Minute,
    /// Per hour.
    Hour,
    /// Per day.
    Day,
    /// A value this client does not know.
    #[serde(other, skip_serializing)]
    Unknown,
}

/// Time range and granularity of a metrics query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct MetricsRange {
    /// Start, in Unix seconds.
    pub start: Option<u32>,
    /// End, in Unix seconds.
    pub end: Option<u32>,
    /// Granularity.
    pub interval: Option<TimeseriesInterval>,
}

impl MetricsRange {
    /// The service's default range and granularity.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the start, in Unix seconds.
    pub fn with_start(mut self, start: u32) -> Self {
        self.start = Some(start);
        self
    }

    /// Sets the end, in Unix seconds.
    pub fn with_end(mut self, end: u32) -> Self {
        self.end = Some(end);
        self
    }

    /// Sets the granularity.
    pub fn with_interval(mut self, interval: TimeseriesInterval) -> Self {
        self.interval = Some(interval);
        self
    }
}

/// Unit of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum MetricUnit {
    /// Bytes.
    Bytes,
    /// Operations.
    Operations,
    /// A unit this client does not know.
    #[serde(other, skip_serializing)]
    Unknown,
}

/// One metric of a metric set. A kind of metric this client does not know
/// parses as [`Metric::Unknown`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
// `remote = "Self"`: the derived code becomes inherent functions, which the
// trait impls below wrap to let unknown kinds through.
#[serde(remote = "Self", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Metric {
    /// A single named value.
    Scalar {
        /// Metric name.
        name: String,
        /// Unit.
        unit: MetricUnit,
        /// Value.
        value: f64,
    },
    /// Values accumulated over each interval, as `(unix seconds, value)`.
    Accumulation {
        /// Series name.
        name: String,
        /// Unit.
        unit: MetricUnit,
        /// Interval of each point.
        interval: TimeseriesInterval,
        /// The points.
        values: Vec<(u32, f64)>,
    },
    /// Instantaneous values, as `(unix seconds, value)`.
    Gauge {
        /// Series name.
        name: String,
        /// Unit.
        unit: MetricUnit,
        /// The points.
        values: Vec<(u32, f64)>,
    },
    /// A set of labels.
    Label {
        /// Label name.
        name: String,
        /// Label values.
        values: Vec<String>,
    },
    /// A kind of metric this client does not know (never sent).
    #[serde(skip)]
    Unknown {
        /// The kind, as the service named it.
        kind: String,
    },
}

impl Serialize for Metric {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Metric::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for Metric {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const KNOWN: &[&str] = &["scalar", "accumulation", "gauge", "label"];
        match super::one_key_object(deserializer, KNOWN)? {
            super::Tagged::Known(value) => {
                Metric::deserialize(value).map_err(serde::de::Error::custom)
            }
            super::Tagged::Unknown(kind) => Ok(Metric::Unknown { kind }),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unknown_units_sets_and_intervals_parse() {
        let unit: MetricUnit = serde_json::from_value(json!("joules")).unwrap();
        assert_eq!(unit, MetricUnit::Unknown);
        let interval: TimeseriesInterval = serde_json::from_value(json!("fortnight")).unwrap();
        assert_eq!(interval, TimeseriesInterval::Unknown);
        let set: AccountMetricSet = serde_json::from_value(json!("new-set")).unwrap();
        assert_eq!(set, AccountMetricSet::Unknown);
        let set: BasinMetricSet = serde_json::from_value(json!("new-set")).unwrap();
        assert_eq!(set, BasinMetricSet::Unknown);
        let set: StreamMetricSet = serde_json::from_value(json!("new-set")).unwrap();
        assert_eq!(set, StreamMetricSet::Unknown);
        // Known values still round-trip; an unknown one is never sent.
        assert_eq!(
            serde_json::to_value(BasinMetricSet::AppendOps).unwrap(),
            json!("append-ops")
        );
        assert!(serde_json::to_value(BasinMetricSet::Unknown).is_err());
    }

    #[test]
    fn unknown_metric_kinds_parse_beside_known_ones() {
        let metrics: Vec<Metric> = serde_json::from_value(json!([
            {"scalar": {"name": "ops", "unit": "operations", "value": 3.0}},
            {"histogram": {"name": "latency", "buckets": [1, 2]}},
            {"gauge": {"name": "bytes", "unit": "furlongs", "values": [[1, 2.0]]}},
            {"accumulation": {"name": "a", "unit": "bytes", "interval": "week", "values": []}},
        ]))
        .unwrap();
        assert_eq!(
            metrics,
            vec![
                Metric::Scalar {
                    name: "ops".into(),
                    unit: MetricUnit::Operations,
                    value: 3.0
                },
                Metric::Unknown {
                    kind: "histogram".into()
                },
                Metric::Gauge {
                    name: "bytes".into(),
                    unit: MetricUnit::Unknown,
                    values: vec![(1, 2.0)]
                },
                Metric::Accumulation {
                    name: "a".into(),
                    unit: MetricUnit::Bytes,
                    interval: TimeseriesInterval::Unknown,
                    values: vec![]
                },
            ]
        );
        // A known kind that is malformed is still an error, not "unknown".
        assert!(serde_json::from_value::<Metric>(json!({"scalar": {"name": 1}})).is_err());
        assert!(serde_json::from_value::<Metric>(json!({"a": {}, "b": {}})).is_err());
    }
}
