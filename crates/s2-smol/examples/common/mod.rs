//! Scaffolding for running the examples anywhere, NOT part of the SDK: an
//! s2-lite server in this process when no S2 endpoint is configured. Your
//! code needs none of it: `ClientConfig::from_env()?` is the whole set-up.

pub use s2_test_server::examples::config_from_env_or_embedded_s2_lite;
