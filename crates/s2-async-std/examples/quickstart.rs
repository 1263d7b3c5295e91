//! Quickstart: ensure a basin and a stream, append a few records, read them
//! back (the steps are in `s2_test_server::demo::quickstart`, shared with
//! the tokio quickstart).
//!
//! With no `S2_ACCOUNT_ENDPOINT` set it starts an embedded s2-lite server;
//! otherwise it uses `S2_ACCESS_TOKEN`, `S2_ACCOUNT_ENDPOINT` and
//! `S2_BASIN_ENDPOINT`. The basin and stream come from `S2_BASIN` and
//! `S2_STREAM`.
//!
//! ```text
//! cargo run -p s2-async-std --example quickstart
//! ```

fn main() -> Result<(), Box<dyn std::error::Error>> {
    async_std::task::block_on(s2_test_server::demo::quickstart::<
        s2_async_std::AsyncStdRuntime,
    >())
}
