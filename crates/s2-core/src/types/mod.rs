//! The S2 data model.

pub(crate) mod access;
pub(crate) mod append;
pub(crate) mod config;
pub(crate) mod metrics;
pub(crate) mod read;
pub(crate) mod record;
pub(crate) mod resources;

pub use access::*;
pub use append::*;
pub use config::*;
pub use metrics::*;
pub use read::*;
pub use record::*;
pub use resources::*;

/// An externally tagged enum value (`{"kind": {...}}`) as received: one of
/// the tags this client knows, with the whole value to parse as usual, or
/// another tag.
pub(crate) enum Tagged {
    Known(serde_json::Value),
    Unknown(String),
}

/// Reads an object with exactly one key, and tells whether `known` has it.
pub(crate) fn one_key_object<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
    known: &[&str],
) -> Result<Tagged, D::Error> {
    use serde::Deserialize as _;
    let object = serde_json::Map::deserialize(deserializer)?;
    if object.len() != 1 {
        return Err(serde::de::Error::invalid_length(
            object.len(),
            &"an object with one key",
        ));
    }
    let tag = object.keys().next().expect("one key");
    if known.contains(&tag.as_str()) {
        Ok(Tagged::Known(serde_json::Value::Object(object)))
    } else {
        Ok(Tagged::Unknown(tag.clone()))
    }
}
