//! Guides: prose, no API. Start with [`guarantees`] before relying on an
//! append in production; see [`troubleshooting`] when something looks
//! wrong, and [`observability`] for what the client logs and measures.

#[doc = include_str!("guarantees.md")]
pub mod guarantees {}

#[doc = include_str!("troubleshooting.md")]
pub mod troubleshooting {}

#[doc = include_str!("observability.md")]
pub mod observability {}
