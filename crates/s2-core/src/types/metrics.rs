//! Usage metrics (not served by s2-lite).

use serde::{Deserialize, Serialize};

/// Account-level metric sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccountMetricSet {
    /// Basins with activity.
    ActiveBasins,
    /// Account operations.
    AccountOps,
}

/// Basin-level metric sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
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
}

/// Stream-level metric sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StreamMetricSet {
    /// Stored bytes.
    Storage,
}

/// Granularity of a time series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimeseriesInterval {
    /// Per minute.
    Minute,
    /// Per hour.
    Hour,
    /// Per day.
    Day,
}

/// Time range and granularity of a metrics query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MetricsRange {
    /// Start, in Unix seconds.
    pub start: Option<u32>,
    /// End, in Unix seconds.
    pub end: Option<u32>,
    /// Granularity.
    pub interval: Option<TimeseriesInterval>,
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

/// One metric of a metric set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
}
