//! Client metrics through the [`metrics`](https://docs.rs/metrics) facade.
//!
//! With the cargo feature `metrics` the client records the series named
//! below into whatever recorder the application installed (Prometheus,
//! StatsD, OpenTelemetry, … — see the `metrics` example of `s2-tokio`).
//! Without it every recording call is an empty inline function.
//!
//! Counters are added once per batch or ack, never once per record.
//! Byte counts are metered bytes (the service's own measure of a record,
//! see [`MeteredBytes`](crate::types::MeteredBytes)).
//!
//! | name | kind | labels |
//! |---|---|---|
//! | [`RECORDS_APPENDED`] | counter | |
//! | [`BYTES_APPENDED`] | counter | |
//! | [`APPEND_BATCHES`] | counter | |
//! | [`RECORDS_READ`] | counter | |
//! | [`BYTES_READ`] | counter | |
//! | [`ACK_LATENCY`] | histogram (seconds) | |
//! | [`UNACKED_BYTES`] | gauge | |
//! | [`RETRIES`] | counter | `kind`: `call`, `append_session`, `read_session` |
//! | [`RECONNECTS`] | counter | `session`: `append`, `read` |
//! | [`RESOLUTIONS`] | counter | `outcome`: `landed`, `resent`, `conflict` |
//! | [`WRITER_CONFLICTS`] | counter | |
//! | [`OPEN_SESSIONS`] | gauge | `session`: `append`, `read` |
//! | [`OPEN_CONNECTIONS`] | gauge | |

use std::time::Duration;

/// Records acknowledged by the service (unary appends and append sessions).
pub const RECORDS_APPENDED: &str = "s2_records_appended_total";
/// Metered bytes acknowledged by the service.
pub const BYTES_APPENDED: &str = "s2_bytes_appended_total";
/// Batches acknowledged by the service.
pub const APPEND_BATCHES: &str = "s2_append_batches_total";
/// Records received by unary reads and read sessions.
pub const RECORDS_READ: &str = "s2_records_read_total";
/// Metered bytes received by unary reads and read sessions.
pub const BYTES_READ: &str = "s2_bytes_read_total";
/// Seconds from submitting a batch to an append session to its ack.
pub const ACK_LATENCY: &str = "s2_append_ack_latency_seconds";
/// Metered bytes submitted to append sessions and not yet acknowledged.
pub const UNACKED_BYTES: &str = "s2_append_unacked_bytes";
/// Retries after a failed attempt: of unary calls, and session reconnects
/// after a failure (not those on the server's advice).
pub const RETRIES: &str = "s2_retries_total";
/// Session connections opened again after the first one, for any reason.
pub const RECONNECTS: &str = "s2_session_reconnects_total";
/// Exactly-once resolutions of an unknown append outcome, by outcome.
pub const RESOLUTIONS: &str = "s2_exactly_once_resolutions_total";
/// Append sessions stopped because another writer got there first.
pub const WRITER_CONFLICTS: &str = "s2_writer_conflicts_total";
/// Sessions currently open.
pub const OPEN_SESSIONS: &str = "s2_open_sessions";
/// HTTP/2 connections currently open.
pub const OPEN_CONNECTIONS: &str = "s2_open_connections";

/// Registers a description (and unit) of every series with the installed
/// recorder. Optional: exporters that show help text use it.
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(RECORDS_APPENDED, "Records acknowledged by the service");
    describe_counter!(BYTES_APPENDED, Unit::Bytes, "Metered bytes acknowledged");
    describe_counter!(APPEND_BATCHES, "Batches acknowledged by the service");
    describe_counter!(RECORDS_READ, "Records received");
    describe_counter!(BYTES_READ, Unit::Bytes, "Metered bytes received");
    describe_histogram!(ACK_LATENCY, Unit::Seconds, "Submit-to-ack latency");
    describe_gauge!(UNACKED_BYTES, Unit::Bytes, "Metered bytes awaiting ack");
    describe_counter!(RETRIES, "Retries after a failed attempt");
    describe_counter!(RECONNECTS, "Session connections opened again");
    describe_counter!(RESOLUTIONS, "Exactly-once resolutions by outcome");
    describe_counter!(WRITER_CONFLICTS, "Sessions stopped by another writer");
    describe_gauge!(OPEN_SESSIONS, "Sessions currently open");
    describe_gauge!(OPEN_CONNECTIONS, "HTTP/2 connections currently open");
}

/// Which kind of session a series is about.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Session {
    Append,
    Read,
}

impl Session {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    fn label(self) -> &'static str {
        match self {
            Session::Append => "append",
            Session::Read => "read",
        }
    }
}

/// What an exactly-once resolution found.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Resolution {
    /// Some unacknowledged batches were found on the stream.
    Landed,
    /// None were: everything is sent again.
    Resent,
    /// Another writer's records are in the way.
    Conflict,
}

impl Resolution {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Resolution::Landed => "landed",
            Resolution::Resent => "resent",
            Resolution::Conflict => "conflict",
        }
    }
}

/// What a retry repeats.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Retry {
    /// A unary call.
    Call,
    /// A session connection.
    Session(Session),
}

impl Retry {
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    fn label(self) -> &'static str {
        match self {
            Retry::Call => "call",
            Retry::Session(Session::Append) => "append_session",
            Retry::Session(Session::Read) => "read_session",
        }
    }
}

#[cfg(feature = "metrics")]
mod record {
    use super::*;
    use metrics::{counter, gauge, histogram};

    #[inline]
    pub(crate) fn appended(batches: u64, records: u64, bytes: u64) {
        counter!(APPEND_BATCHES).increment(batches);
        counter!(RECORDS_APPENDED).increment(records);
        counter!(BYTES_APPENDED).increment(bytes);
    }

    #[inline]
    pub(crate) fn read(records: u64, bytes: u64) {
        counter!(RECORDS_READ).increment(records);
        counter!(BYTES_READ).increment(bytes);
    }

    #[inline]
    pub(crate) fn ack_latency(latency: Duration) {
        histogram!(ACK_LATENCY).record(latency.as_secs_f64());
    }

    #[inline]
    pub(crate) fn unacked_bytes_added(bytes: u64) {
        gauge!(UNACKED_BYTES).increment(bytes as f64);
    }

    #[inline]
    pub(crate) fn unacked_bytes_removed(bytes: u64) {
        gauge!(UNACKED_BYTES).decrement(bytes as f64);
    }

    pub(crate) fn retry(what: Retry) {
        counter!(RETRIES, "kind" => what.label()).increment(1);
    }

    pub(crate) fn reconnect(session: Session) {
        counter!(RECONNECTS, "session" => session.label()).increment(1);
    }

    pub(crate) fn resolution(outcome: Resolution) {
        counter!(RESOLUTIONS, "outcome" => outcome.label()).increment(1);
    }

    pub(crate) fn writer_conflict() {
        counter!(WRITER_CONFLICTS).increment(1);
    }

    pub(crate) fn session_opened(session: Session) {
        gauge!(OPEN_SESSIONS, "session" => session.label()).increment(1.0);
    }

    pub(crate) fn session_closed(session: Session) {
        gauge!(OPEN_SESSIONS, "session" => session.label()).decrement(1.0);
    }

    pub(crate) fn connection_opened() {
        gauge!(OPEN_CONNECTIONS).increment(1.0);
    }

    pub(crate) fn connection_closed() {
        gauge!(OPEN_CONNECTIONS).decrement(1.0);
    }
}

#[cfg(not(feature = "metrics"))]
#[allow(clippy::missing_const_for_fn)]
mod record {
    use super::*;

    #[inline(always)]
    pub(crate) fn appended(_batches: u64, _records: u64, _bytes: u64) {}
    #[inline(always)]
    pub(crate) fn read(_records: u64, _bytes: u64) {}
    #[inline(always)]
    pub(crate) fn ack_latency(_latency: Duration) {}
    #[inline(always)]
    pub(crate) fn unacked_bytes_added(_bytes: u64) {}
    #[inline(always)]
    pub(crate) fn unacked_bytes_removed(_bytes: u64) {}
    #[inline(always)]
    pub(crate) fn retry(_what: Retry) {}
    #[inline(always)]
    pub(crate) fn reconnect(_session: Session) {}
    #[inline(always)]
    pub(crate) fn resolution(_outcome: Resolution) {}
    #[inline(always)]
    pub(crate) fn writer_conflict() {}
    #[inline(always)]
    pub(crate) fn session_opened(_session: Session) {}
    #[inline(always)]
    pub(crate) fn session_closed(_session: Session) {}
    #[inline(always)]
    pub(crate) fn connection_opened() {}
    #[inline(always)]
    pub(crate) fn connection_closed() {}
}

pub(crate) use record::*;

/// Metered bytes of a read batch: summed only when metrics are recorded,
/// since it costs a pass over the records.
#[inline]
pub(crate) fn read_batch(batch: &s2_core::types::ReadBatch) {
    if cfg!(feature = "metrics") {
        use s2_core::types::MeteredBytes;
        read(batch.records.len() as u64, batch.records.metered_bytes());
    }
}

/// Keeps a session's [`OPEN_SESSIONS`] gauge up while it lives.
pub(crate) struct OpenSession(Session);

impl OpenSession {
    pub(crate) fn new(session: Session) -> Self {
        session_opened(session);
        Self(session)
    }
}

impl Drop for OpenSession {
    fn drop(&mut self) {
        session_closed(self.0);
    }
}
