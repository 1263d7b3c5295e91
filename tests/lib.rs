//! The conformance suite: every operation of the SDK, exercised against a
//! real S2 server (an embedded s2-lite unless `S2_ACCOUNT_ENDPOINT` is set).
//!
//! Cases are async functions generic over the [`Runtime`]; each adapter crate
//! runs them all with [`conformance_tests!`], so both runtimes pass exactly
//! the same cases.

use std::sync::OnceLock;

use s2_client::{
    ClientConfig, Runtime, S2,
    types::{BasinConfig, BasinName, StreamConfig, StreamName},
};
use s2_test_server::Target;

pub mod alloc;
pub mod append_sessions;
pub mod basins;
pub mod bounds;
pub mod close;
pub mod commands;
pub mod compression;
pub mod deletion;
pub mod encryption;
pub mod faults;
pub mod guarantees;
pub mod hostile;
pub mod lincheck;
pub mod pagination;
pub mod parity;
pub mod pool;
pub mod producer;
pub mod read_sessions;
pub mod restart;
pub mod security;
pub mod sim;
pub mod stream_config;
pub mod streams;
pub mod support;
pub mod tls;
pub mod unary;
pub mod wait;

/// The server every test of this process talks to, started on first use.
pub fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| Target::from_env().expect("S2 test server"))
}

/// Client configuration for the test target.
pub fn config() -> ClientConfig {
    target().client_config()
}

/// A client of the test target on runtime `R`.
pub fn client<R: Runtime + Default>() -> S2<R> {
    S2::with_runtime(config(), R::default()).expect("client")
}

/// A fault proxy in front of the test server, when the server is reachable
/// over plain TCP (cases that need one skip otherwise).
pub fn proxy() -> Option<s2_test_server::FaultProxy> {
    use std::net::ToSocketAddrs;
    let target = target();
    let upstream = match &target.server {
        Some(server) => server.addr(),
        None => {
            let host = target.account_endpoint.strip_prefix("http://")?;
            host.to_socket_addrs().ok()?.next()?
        }
    };
    Some(s2_test_server::FaultProxy::start(upstream).expect("proxy"))
}

/// A basin name no other test uses.
pub fn unique_basin_name(prefix: &str) -> BasinName {
    BasinName::new(format!("{prefix}-{:012x}", rand::random::<u64>() >> 16)).expect("valid name")
}

/// A fresh basin with one fresh stream, for cases that need a stream.
pub async fn fresh_stream<R: Runtime>(s2: &S2<R>, prefix: &str) -> s2_client::S2Stream<R> {
    let basin_name = unique_basin_name(prefix);
    s2.create_basin(&basin_name, BasinConfig::default())
        .await
        .expect("create basin");
    let basin = s2.basin(basin_name);
    let stream_name = StreamName::new("stream").expect("valid name");
    basin
        .create_stream(&stream_name, StreamConfig::default())
        .await
        .expect("create stream");
    basin.stream(stream_name)
}

/// Expands to one `#[test]` per conformance case, each run to completion by
/// `$block_on` on runtime `$runtime`.
#[macro_export]
macro_rules! conformance_tests {
    ($runtime:ty, $block_on:path) => {
        $crate::conformance_tests!(@in basins, $runtime, $block_on;
            basin_lifecycle,
            duplicate_and_missing_basins_fail_with_their_codes,
            ensure_basin_reports_provisioning,
            access_tokens_and_metrics_not_served_by_lite,
        );
        $crate::conformance_tests!(@in streams, $runtime, $block_on;
            stream_lifecycle,
            duplicate_and_missing_streams_fail_with_their_codes,
        );
        $crate::conformance_tests!(@in pagination, $runtime, $block_on;
            list_basins_across_pages,
            list_streams_across_pages,
        );
        $crate::conformance_tests!(@in unary, $runtime, $block_on;
            validation_happens_before_sending,
            append_and_read_back_exactly,
            read_positions_and_limits,
            read_past_tail_and_clamp,
            a_match_seq_num_mismatch_appends_nothing,
        );
        $crate::conformance_tests!(@in commands, $runtime, $block_on;
            a_fence_command_fences_out_other_tokens,
            a_trim_command_removes_the_records_before_it,
            ignore_command_records_drops_fence_and_trim,
        );
        $crate::conformance_tests!(@in compression, $runtime, $block_on;
            compressed_reads_round_trip,
            compressed_appends_round_trip,
        );
        $crate::conformance_tests!(@in append_sessions, $runtime, $block_on;
            append_session_acks_in_order,
            append_session_handle_submits_and_drains,
            a_conditioned_append_session_advances_match_seq_num,
            append_inputs_batches_for_sessions,
            session_options_override_the_client_caps,
            append_session_recovers_from_a_refused_token,
            an_unchecked_input_is_refused_and_the_session_goes_on,
        );
        $crate::conformance_tests!(@in read_sessions, $runtime, $block_on;
            a_bounded_read_session_delivers_its_range_and_ends,
            read_session_follows_the_tail,
            read_session_past_tail,
        );
        $crate::conformance_tests!(@in producer, $runtime, $block_on;
            producer_acks_each_record,
            a_producer_on_a_small_cap_without_linger_never_waits_forever,
        );
        $crate::conformance_tests!(@in close, $runtime, $block_on;
            close_drains_sessions_and_refuses_later_calls,
            close_times_out_on_a_stalled_session,
            close_drains_lingering_producer_records,
            a_refused_producer_holds_up_no_close,
            permit_submitted_while_closing_is_not_dropped,
            producer_permit_used_while_closing_does_not_hang_close,
        );
        $crate::conformance_tests!(@in tls, $runtime, $block_on;
            tls_end_to_end,
        );
        $crate::conformance_tests!(@in faults, $runtime, $block_on;
            exactly_once_append_through_cuts,
            read_session_through_cuts_and_stalls,
            at_least_once_resends_after_cut,
            no_side_effects_fails_precisely,
            conditioned_unary_append_is_exactly_once,
            exactly_once_producer_through_cuts_and_a_stall,
            exactly_once_append_through_a_write_stall,
        );
        $crate::conformance_tests!(@in bounds, $runtime, $block_on;
            unary_read_waits_past_the_request_timeout,
            unary_read_wait_returns_a_record_appended_meanwhile,
        );
        $crate::conformance_tests!(@in guarantees, $runtime, $block_on;
            fenced_retry_after_unknown_outcome_is_not_no_effect,
            fenced_retry_with_match_seq_num_is_resolved,
            conditioned_retry_behind_another_writer_is_not_applied,
            no_side_effects_unary_never_retries_unknown_outcome,
            cancelled_submits_never_land_unacknowledged,
            cancelled_producer_submits_never_land_unacknowledged,
            producer_record_errors_say_what_landed,
            refused_input_comes_after_the_acks_before_it,
        );
        $crate::conformance_tests!(@in parity, $runtime, $block_on;
            locations,
            reconfigure_stream_resets_to_default,
            reconfigure_basin_resets_to_default,
            append_session_reserve_is_cancel_safe,
            producer_reserve_is_cancel_safe,
            read_session_caught_up_future,
            read_session_connect_errors_up_front,
            indefinite_read_retries_outlive_the_budget,
            access_token_provider_refreshes_after_401,
            default_headers_and_user_agent,
            http2_settings,
            generated_fencing_token_fences,
        );
        $crate::conformance_tests!(@in security, $runtime, $block_on;
            huge_durations_never_panic,
            path_like_stream_names_stay_names,
            an_untrusted_certificate_fails_without_retries,
        );
        $crate::conformance_tests!(@in encryption, $runtime, $block_on;
            encrypted_stream_round_trips_on_every_path,
            encrypted_stream_refuses_missing_and_wrong_keys,
            basin_cipher_reconfiguration,
            exactly_once_read_backs_carry_the_key,
        );
        $crate::conformance_tests!(@in stream_config, $runtime, $block_on;
            create_on_append_takes_the_handle_config,
            create_on_read_takes_the_handle_config,
            stream_metrics_reach_the_stream_endpoint,
        );
        $crate::conformance_tests!(@in wait, $runtime, $block_on;
            bounded_read_session_waits_for_a_record,
            tailing_read_session_ends_after_its_wait,
            read_session_wait_is_carried_across_reconnects,
        );
        $crate::conformance_tests!(@in deletion, $runtime, $block_on;
            delete_if_exists_ignores_only_not_found,
            list_all_skips_what_is_being_deleted,
            delete_if_exists_after_a_lost_answer_succeeds,
        );
        $crate::conformance_tests!(@in pool, $runtime, $block_on;
            read_session_heartbeat_timeout_replaces_the_connection,
            append_session_ack_timeout_replaces_the_connection,
            read_session_advice_replaces_the_connection,
            append_session_advice_replaces_the_connection,
            many_sessions_leave_room_for_unary_calls,
            a_slow_consumer_stalls_no_other_session,
            acks_do_not_wait_behind_read_batches,
        );
        // Cases with a server of their own, which they crash and restart.
        $crate::conformance_tests!(@own restart, $runtime, $block_on;
            sessions_ride_out_a_long_server_restart,
            unary_calls_ride_out_a_short_server_restart,
            unfixable_errors_fail_at_the_first_attempt,
        );
    };
    (@in $module:ident, $runtime:ty, $block_on:path; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $block_on($crate::$module::$case::<$runtime>($crate::client::<$runtime>()));
            }
        )*
    };
    (@own $module:ident, $runtime:ty, $block_on:path; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $block_on($crate::$module::$case::<$runtime>());
            }
        )*
    };
}
