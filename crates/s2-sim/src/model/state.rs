//! The model's state: basins, their streams and each stream's [`Log`],
//! with the control-plane operations (create, ensure, list, delete) as
//! s2-lite answers them.

use std::collections::BTreeMap;

use s2_core::types::{BasinConfig, StreamConfig};

use super::{error::ServiceError, log::Log};

/// Where a request for a missing stream may create it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AutoCreate {
    Never,
    OnAppend,
    OnRead,
}

/// What a create or ensure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Provision {
    Created,
    Updated,
    Unchanged,
}

impl Provision {
    /// The `s2-provision-result` header value.
    pub(crate) fn header(self) -> &'static str {
        match self {
            Provision::Created => "created",
            Provision::Updated => "updated",
            Provision::Unchanged => "noop",
        }
    }
}

/// How a create is made: once (retries with the same request token and
/// body find what they created), or brought in line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mode {
    CreateOnly { request_token: Option<String> },
    Ensure,
}

#[derive(Debug)]
pub(crate) struct Basin {
    pub(crate) config: BasinConfig,
    pub(crate) created_at_ms: u64,
    creation_key: Option<String>,
    pub(crate) streams: BTreeMap<String, Stream>,
}

#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) created_at_ms: u64,
    creation_key: Option<String>,
    pub(crate) log: Log,
}

/// Every basin, by name.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) basins: BTreeMap<String, Basin>,
}

/// The idempotency key of a create: its token and what it asked for.
fn creation_key(mode: &Mode, config: &impl serde::Serialize) -> Option<String> {
    match mode {
        Mode::CreateOnly {
            request_token: Some(token),
        } => Some(format!(
            "{token}/{}",
            serde_json::to_string(config).unwrap_or_default()
        )),
        _ => None,
    }
}

impl State {
    pub(crate) fn basin(&self, basin: &str) -> Result<&Basin, ServiceError> {
        self.basins
            .get(basin)
            .ok_or_else(|| ServiceError::basin_not_found(basin))
    }

    pub(crate) fn stream(&self, basin: &str, stream: &str) -> Result<&Stream, ServiceError> {
        self.basin(basin)?
            .streams
            .get(stream)
            .ok_or_else(|| ServiceError::stream_not_found(basin, stream))
    }

    /// The stream, created first if the basin creates streams `on` this
    /// kind of request.
    pub(crate) fn stream_mut(
        &mut self,
        basin: &str,
        stream: &str,
        on: AutoCreate,
        now_ms: u64,
    ) -> Result<&mut Stream, ServiceError> {
        let entry = self
            .basins
            .get_mut(basin)
            .ok_or_else(|| ServiceError::basin_not_found(basin))?;
        let creates = match on {
            AutoCreate::Never => false,
            AutoCreate::OnAppend => entry.config.create_stream_on_append == Some(true),
            AutoCreate::OnRead => entry.config.create_stream_on_read == Some(true),
        };
        if creates && !entry.streams.contains_key(stream) {
            let config = entry.config.default_stream_config.unwrap_or_default();
            entry.streams.insert(
                stream.to_owned(),
                Stream {
                    created_at_ms: now_ms,
                    creation_key: None,
                    log: Log::new(config),
                },
            );
        }
        entry
            .streams
            .get_mut(stream)
            .ok_or_else(|| ServiceError::stream_not_found(basin, stream))
    }

    pub(crate) fn provision_basin(
        &mut self,
        basin: &str,
        config: BasinConfig,
        mode: Mode,
        now_ms: u64,
    ) -> Result<(Provision, &Basin), ServiceError> {
        let key = creation_key(&mode, &config);
        let outcome = match (self.basins.get_mut(basin), &mode) {
            (Some(existing), Mode::CreateOnly { .. }) => {
                if key.is_none() || existing.creation_key != key {
                    return Err(ServiceError::basin_exists(basin));
                }
                Provision::Unchanged
            }
            (Some(existing), Mode::Ensure) => {
                if existing.config == config {
                    Provision::Unchanged
                } else {
                    existing.config = config;
                    Provision::Updated
                }
            }
            (None, _) => {
                self.basins.insert(
                    basin.to_owned(),
                    Basin {
                        config,
                        created_at_ms: now_ms,
                        creation_key: key,
                        streams: BTreeMap::new(),
                    },
                );
                Provision::Created
            }
        };
        Ok((outcome, &self.basins[basin]))
    }

    pub(crate) fn provision_stream(
        &mut self,
        basin: &str,
        stream: &str,
        config: StreamConfig,
        mode: Mode,
        now_ms: u64,
    ) -> Result<(Provision, &Stream), ServiceError> {
        let key = creation_key(&mode, &config);
        let entry = self
            .basins
            .get_mut(basin)
            .ok_or_else(|| ServiceError::basin_not_found(basin))?;
        // Settings the request leaves out come from the basin's default.
        let config = merge(
            config,
            entry.config.default_stream_config.unwrap_or_default(),
        );
        let outcome = match (entry.streams.get_mut(stream), &mode) {
            (Some(existing), Mode::CreateOnly { .. }) => {
                if key.is_none() || existing.creation_key != key {
                    return Err(ServiceError::stream_exists(basin, stream));
                }
                Provision::Unchanged
            }
            (Some(existing), Mode::Ensure) => {
                if existing.log.config == config {
                    Provision::Unchanged
                } else {
                    existing.log.config = config;
                    Provision::Updated
                }
            }
            (None, _) => {
                entry.streams.insert(
                    stream.to_owned(),
                    Stream {
                        created_at_ms: now_ms,
                        creation_key: key,
                        log: Log::new(config),
                    },
                );
                Provision::Created
            }
        };
        Ok((outcome, &entry.streams[stream]))
    }

    pub(crate) fn delete_basin(&mut self, basin: &str) -> Result<(), ServiceError> {
        let mut removed = self
            .basins
            .remove(basin)
            .ok_or_else(|| ServiceError::basin_not_found(basin))?;
        for stream in removed.streams.values_mut() {
            stream.log.wake_all();
        }
        Ok(())
    }

    pub(crate) fn delete_stream(&mut self, basin: &str, stream: &str) -> Result<(), ServiceError> {
        let entry = self
            .basins
            .get_mut(basin)
            .ok_or_else(|| ServiceError::basin_not_found(basin))?;
        let mut removed = entry
            .streams
            .remove(stream)
            .ok_or_else(|| ServiceError::stream_not_found(basin, stream))?;
        removed.log.wake_all();
        Ok(())
    }
}

/// `config` with what it leaves out taken from `default`.
fn merge(config: StreamConfig, default: StreamConfig) -> StreamConfig {
    StreamConfig {
        storage_class: config.storage_class.or(default.storage_class),
        retention_policy: config.retention_policy.or(default.retention_policy),
        timestamping: config.timestamping.or(default.timestamping),
        delete_on_empty: config.delete_on_empty.or(default.delete_on_empty),
    }
}

/// One page of `names` (sorted): those with `prefix`, after `start_after`,
/// at most `limit`; and whether more follow.
pub(crate) fn page<'a, T>(
    items: impl Iterator<Item = (&'a String, T)>,
    prefix: &str,
    start_after: &str,
    limit: usize,
) -> (Vec<(&'a String, T)>, bool) {
    let mut matching = items.filter(|(name, _)| {
        name.starts_with(prefix) && (start_after.is_empty() || name.as_str() > start_after)
    });
    let page: Vec<_> = matching.by_ref().take(limit).collect();
    let has_more = matching.next().is_some();
    (page, has_more)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(
        state: &mut State,
        basin: &str,
        token: Option<&str>,
    ) -> Result<Provision, ServiceError> {
        let mode = Mode::CreateOnly {
            request_token: token.map(str::to_owned),
        };
        state
            .provision_basin(basin, BasinConfig::default(), mode, 5)
            .map(|(p, _)| p)
    }

    #[test]
    fn creates_are_idempotent_by_request_token_only() {
        let mut state = State::default();
        assert_eq!(
            created(&mut state, "basin-one", Some("t1")),
            Ok(Provision::Created)
        );
        assert_eq!(
            created(&mut state, "basin-one", Some("t1")),
            Ok(Provision::Unchanged)
        );
        assert_eq!(
            created(&mut state, "basin-one", Some("t2")),
            Err(ServiceError::basin_exists("basin-one"))
        );
        assert_eq!(
            created(&mut state, "basin-one", None),
            Err(ServiceError::basin_exists("basin-one"))
        );
    }

    #[test]
    fn ensure_reports_what_it_did() {
        let mut state = State::default();
        let ensure = |state: &mut State, config: BasinConfig| {
            state
                .provision_basin("basin-two", config, Mode::Ensure, 0)
                .map(|(p, _)| p)
        };
        assert_eq!(
            ensure(&mut state, BasinConfig::default()),
            Ok(Provision::Created)
        );
        assert_eq!(
            ensure(&mut state, BasinConfig::default()),
            Ok(Provision::Unchanged)
        );
        let config = BasinConfig {
            create_stream_on_append: Some(true),
            ..BasinConfig::default()
        };
        assert_eq!(ensure(&mut state, config), Ok(Provision::Updated));
        assert!(
            state
                .stream_mut("basin-two", "auto", AutoCreate::OnAppend, 0)
                .is_ok()
        );
        assert!(
            state
                .stream_mut("basin-two", "other", AutoCreate::OnRead, 0)
                .is_err()
        );
    }

    #[test]
    fn deletes_remove_at_once() {
        let mut state = State::default();
        created(&mut state, "basin-three", None).expect("create");
        let mode = Mode::CreateOnly {
            request_token: None,
        };
        state
            .provision_stream("basin-three", "s", StreamConfig::default(), mode, 0)
            .expect("stream");
        assert!(state.stream("basin-three", "s").is_ok());
        state.delete_stream("basin-three", "s").expect("delete");
        assert_eq!(
            state.stream("basin-three", "s").err(),
            Some(ServiceError::stream_not_found("basin-three", "s"))
        );
        assert!(state.delete_stream("basin-three", "s").is_err());
        state.delete_basin("basin-three").expect("delete basin");
        assert!(state.basin("basin-three").is_err());
    }

    #[test]
    fn pages_follow_prefix_start_after_and_limit() {
        let names: Vec<String> = ["a1", "a2", "a3", "b1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let items = || names.iter().map(|n| (n, ()));
        let names_of =
            |page: Vec<(&String, ())>| page.into_iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        let (page1, more) = page(items(), "a", "", 2);
        assert_eq!(
            (names_of(page1), more),
            (vec!["a1".to_owned(), "a2".to_owned()], true)
        );
        let (page2, more) = page(items(), "a", "a2", 2);
        assert_eq!((names_of(page2), more), (vec!["a3".to_owned()], false));
    }
}
