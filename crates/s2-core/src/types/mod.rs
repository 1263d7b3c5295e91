//! The S2 data model.

pub mod access;
pub mod append;
pub mod config;
pub mod metrics;
pub mod read;
pub mod record;
pub mod resources;

pub use access::*;
pub use append::*;
pub use config::*;
pub use metrics::*;
pub use read::*;
pub use record::*;
pub use resources::*;
