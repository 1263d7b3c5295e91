use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::{
    names::FencingToken,
    types::record::{CommandRecord, Header, MeteredBytes},
};

fn batcher(config: BatcherConfig) -> Batcher {
    Batcher::new(config).unwrap()
}

/// A record of exactly `size` (>= 8) metered bytes.
fn sized(size: u64) -> AppendRecord {
    AppendRecord::new(vec![0u8; (size - 8) as usize])
}

fn drain(b: &mut Batcher) -> Vec<AppendInput> {
    std::iter::from_fn(|| b.poll_output()).collect()
}

fn lens(batches: &[AppendInput]) -> Vec<usize> {
    batches.iter().map(AppendInput::len).collect()
}

#[test]
fn default_config_matches_reference() {
    let config = BatcherConfig::default();
    assert_eq!(config.max_records, 1000);
    assert_eq!(config.max_bytes, 1024 * 1024);
    assert_eq!(config.linger, Some(Duration::from_millis(5)));
    assert_eq!(config.match_seq_num, None);
    assert_eq!(config.fencing_token, None);
    assert!(config.validate().is_ok());
}

#[test]
fn config_validation() {
    let base = BatcherConfig::default();
    let bad = [
        (base.clone().with_max_records(0), "max_records"),
        (base.clone().with_max_records(1001), "max_records"),
        (base.clone().with_max_bytes(7), "max_bytes"),
        (base.clone().with_max_bytes(1024 * 1024 + 1), "max_bytes"),
    ];
    for (config, named) in bad {
        let refused = |result: Result<(), ValidationError>| match result {
            Err(ValidationError::InvalidSetting { setting, .. }) => setting,
            other => panic!("{config:?} was not refused: {other:?}"),
        };
        assert_eq!(refused(config.validate()), named);
        assert_eq!(refused(Batcher::new(config.clone()).map(drop)), named);
    }
    for (max_records, max_bytes) in [(1, 8), (1000, 1024 * 1024)] {
        let config = BatcherConfig {
            max_records,
            max_bytes,
            ..Default::default()
        };
        assert!(config.validate().is_ok());
    }
}

#[test]
fn batch_reaching_max_records_closes_at_once() {
    let now = Instant::now();
    let mut b = batcher(BatcherConfig {
        max_records: 3,
        ..Default::default()
    });
    for _ in 0..2 {
        b.handle_record(AppendRecord::new("x"), now).unwrap();
    }
    assert!(b.poll_output().is_none());
    assert_eq!(b.pending_records(), 2);
    b.handle_record(AppendRecord::new("x"), now).unwrap();
    assert_eq!(b.pending_records(), 0);
    assert_eq!(b.pending_bytes(), 0);
    assert_eq!(lens(&drain(&mut b)), [3]);
    assert!(b.is_empty());
}

#[test]
fn record_over_the_byte_limit_closes_the_batch_first() {
    let now = Instant::now();
    let mut b = batcher(BatcherConfig {
        max_bytes: 100,
        ..Default::default()
    });
    b.handle_record(sized(60), now).unwrap();
    b.handle_record(sized(40), now).unwrap(); // exactly 100: full, closed
    assert_eq!(lens(&drain(&mut b)), [2]);
    b.handle_record(sized(60), now).unwrap();
    b.handle_record(sized(41), now).unwrap(); // 101: closes [60] first
    let out = drain(&mut b);
    assert_eq!(lens(&out), [1]);
    assert_eq!(out[0].metered_bytes(), 60);
    assert_eq!(b.pending_records(), 1);
    assert_eq!(b.pending_bytes(), 41);
}

#[test]
fn batch_with_no_room_for_any_record_closes_at_once() {
    let now = Instant::now();
    let mut b = batcher(BatcherConfig {
        max_bytes: 100,
        ..Default::default()
    });
    b.handle_record(sized(92), now).unwrap(); // 8 bytes of room left
    assert_eq!(b.pending_records(), 1);
    b.handle_record(sized(8), now).unwrap(); // none left
    assert_eq!(lens(&drain(&mut b)), [2]);
    b.handle_record(sized(93), now).unwrap(); // 7 bytes left: no record fits
    assert_eq!(lens(&drain(&mut b)), [1]);
}

#[test]
fn record_that_can_never_fit_is_rejected_and_changes_nothing() {
    let now = Instant::now();
    let mut b = batcher(BatcherConfig {
        max_bytes: 100,
        linger: Some(Duration::from_millis(5)),
        match_seq_num: Some(7),
        ..Default::default()
    });
    b.handle_record(sized(50), now).unwrap();
    let deadline = b.poll_timeout();
    let later = now + Duration::from_secs(1); // past the deadline
    let err = b.handle_record(sized(101), later).unwrap_err();
    assert!(
        matches!(
            err,
            ValidationError::InvalidSetting {
                setting: "max_bytes",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("100 is under"), "{err}");
    assert_eq!(b.pending_records(), 1);
    assert_eq!(b.pending_bytes(), 50);
    assert_eq!(b.poll_timeout(), deadline);
    assert!(b.poll_output().is_none());
    assert_eq!(b.next_match_seq_num(), Some(7));

    let mut b = batcher(BatcherConfig::default());
    let huge = sized(MAX_BATCH_METERED_BYTES + 1);
    assert_eq!(
        b.handle_record(huge, now),
        Err(ValidationError::BatchTooLarge {
            metered_bytes: MAX_BATCH_METERED_BYTES + 1
        })
    );
    assert!(b.is_empty());
    // Exactly the limit is fine, and fills a batch.
    b.handle_record(sized(MAX_BATCH_METERED_BYTES), now)
        .unwrap();
    assert_eq!(lens(&drain(&mut b)), [1]);
}

/// A record of `n` `("a", "b")` headers: 4 metered bytes each, but 8 on
/// the wire.
fn header_heavy(n: usize) -> AppendRecord {
    (0..n).fold(AppendRecord::new(""), |r, _| r.with_header("a", "b"))
}

#[test]
fn record_too_large_to_encode_is_rejected_and_changes_nothing() {
    let now = Instant::now();
    let mut b = batcher(BatcherConfig::default());
    b.handle_record(AppendRecord::new("a"), now).unwrap();
    // 1,048,568 metered bytes (within 1 MiB), about 2 MiB encoded.
    let record = header_heavy(262_140);
    assert_eq!(record.metered_bytes(), 1_048_568);
    assert!(matches!(
        b.handle_record(record, now),
        Err(ValidationError::EncodedBatchTooLarge { .. })
    ));
    assert_eq!(b.pending_records(), 1);
    b.flush();
    assert_eq!(lens(&drain(&mut b)), [1]);
}

#[test]
fn positions_past_the_last_seq_num_are_refused() {
    let now = Instant::now();
    let mut b = batcher(BatcherConfig {
        max_records: 2,
        match_seq_num: Some(u64::MAX - 3),
        ..Default::default()
    });
    for _ in 0..3 {
        b.handle_record(AppendRecord::new("x"), now).unwrap();
    }
    assert!(matches!(
        b.handle_record(AppendRecord::new("x"), now),
        Err(ValidationError::MatchSeqNumOverflow { .. })
    ));
    b.flush();
    let batches = drain(&mut b);
    assert_eq!(lens(&batches), [2, 1]);
    assert_eq!(batches[1].match_seq_num(), Some(u64::MAX - 1));
    assert_eq!(b.next_match_seq_num(), Some(u64::MAX));
}

#[test]
fn batches_are_split_at_the_encoded_limit() {
    let now = Instant::now();
    let mut b = batcher(BatcherConfig::default());
    // Together exactly 1 MiB metered, but over 2 MiB encoded.
    for _ in 0..2 {
        b.handle_record(header_heavy(131_070), now).unwrap();
    }
    b.flush();
    assert_eq!(lens(&drain(&mut b)), [1, 1]);
}

#[test]
fn records_breaking_header_rules_are_rejected_and_change_nothing() {
    let now = Instant::now();
    let mut b = batcher(BatcherConfig::default());
    b.handle_record(AppendRecord::new("a"), now).unwrap();
    b.handle_record(AppendRecord::new("b"), now).unwrap();
    let two = AppendRecord::new("x")
        .with_header("", "fence")
        .with_header("k", "v");
    assert_eq!(
        b.handle_record(two, now),
        Err(ValidationError::EmptyHeaderName { index: 2 })
    );
    let unknown = AppendRecord::new("").with_header("", "explode");
    assert!(matches!(
        b.handle_record(unknown, now),
        Err(ValidationError::InvalidCommandRecord { index: 2, .. })
    ));
    assert_eq!(b.pending_records(), 2);
    assert_eq!(b.pending_bytes(), 18);
    // Well-formed command records are accepted.
    b.handle_record(CommandRecord::trim(5), now).unwrap();
    b.flush();
    assert_eq!(lens(&drain(&mut b)), [3]);
}

#[test]
fn linger_deadline_starts_with_the_first_record() {
    let t0 = Instant::now();
    let linger = Duration::from_millis(10);
    let mut b = batcher(BatcherConfig {
        linger: Some(linger),
        ..Default::default()
    });
    assert_eq!(b.poll_timeout(), None);
    b.handle_record(AppendRecord::new("a"), t0).unwrap();
    assert_eq!(b.poll_timeout(), Some(t0 + linger));
    b.handle_record(AppendRecord::new("b"), t0 + Duration::from_millis(6))
        .unwrap();
    assert_eq!(b.poll_timeout(), Some(t0 + linger));

    b.handle_timeout(t0 + Duration::from_millis(9)); // early: nothing
    assert!(b.poll_output().is_none());
    assert_eq!(b.pending_records(), 2);

    b.handle_timeout(t0 + linger);
    assert_eq!(lens(&drain(&mut b)), [2]);
    assert_eq!(b.poll_timeout(), None);
    b.handle_timeout(t0 + linger); // spurious: nothing
    assert!(b.is_empty());

    // The next batch's deadline starts with its own first record.
    let t1 = t0 + Duration::from_millis(50);
    b.handle_record(AppendRecord::new("c"), t1).unwrap();
    assert_eq!(b.poll_timeout(), Some(t1 + linger));
}

#[test]
fn record_after_the_deadline_starts_a_new_batch() {
    let t0 = Instant::now();
    let linger = Duration::from_millis(10);
    let mut b = batcher(BatcherConfig {
        linger: Some(linger),
        ..Default::default()
    });
    b.handle_record(AppendRecord::new("a"), t0).unwrap();
    // The caller was late to call handle_timeout.
    b.handle_record(AppendRecord::new("b"), t0 + linger)
        .unwrap();
    let out = drain(&mut b);
    assert_eq!(lens(&out), [1]);
    assert_eq!(&out[0].records()[0].body()[..], b"a");
    assert_eq!(b.pending_records(), 1);
    assert_eq!(b.poll_timeout(), Some(t0 + linger + linger));
}

#[test]
fn zero_linger_closes_on_the_next_timeout() {
    let t0 = Instant::now();
    let mut b = batcher(BatcherConfig {
        linger: Some(Duration::ZERO),
        ..Default::default()
    });
    b.handle_record(AppendRecord::new("a"), t0).unwrap();
    assert_eq!(b.poll_timeout(), Some(t0));
    b.handle_timeout(t0);
    assert_eq!(lens(&drain(&mut b)), [1]);
}

#[test]
fn without_linger_batches_wait_for_flush() {
    let t0 = Instant::now();
    let mut b = batcher(BatcherConfig {
        linger: None,
        ..BatcherConfig::default()
    });
    b.handle_timeout(t0); // spurious on an empty batcher
    for i in 0..10 {
        b.handle_record(AppendRecord::new("x"), t0 + Duration::from_secs(i))
            .unwrap();
    }
    assert_eq!(b.poll_timeout(), None);
    b.handle_timeout(t0 + Duration::from_secs(3600));
    assert!(b.poll_output().is_none());
    b.flush();
    assert_eq!(lens(&drain(&mut b)), [10]);
    b.flush(); // nothing pending: no empty batch
    assert!(b.poll_output().is_none());
    assert!(b.is_empty());
}

#[test]
fn batches_come_out_in_order() {
    let now = Instant::now();
    let mut b = batcher(BatcherConfig {
        max_records: 2,
        ..Default::default()
    });
    for i in 0..7u64 {
        b.handle_record(AppendRecord::new("x").with_timestamp(i), now)
            .unwrap();
    }
    b.flush();
    assert_eq!(b.ready_batches(), 4);
    assert!(!b.is_empty());
    let out = drain(&mut b);
    assert_eq!(lens(&out), [2, 2, 2, 1]);
    let stamps: Vec<_> = out
        .iter()
        .flat_map(|batch| batch.records().iter().map(|r| r.timestamp().unwrap()))
        .collect();
    assert_eq!(stamps, (0..7).collect::<Vec<_>>());
}

#[test]
fn match_seq_num_advances_and_fencing_token_is_on_every_batch() {
    let now = Instant::now();
    let token = FencingToken::new("tok").unwrap();
    let mut b = batcher(BatcherConfig {
        max_records: 3,
        match_seq_num: Some(10),
        fencing_token: Some(token.clone()),
        ..Default::default()
    });
    for _ in 0..7 {
        b.handle_record(AppendRecord::new("x"), now).unwrap();
    }
    b.flush();
    let out = drain(&mut b);
    let seq: Vec<_> = out.iter().map(AppendInput::match_seq_num).collect();
    assert_eq!(seq, [Some(10), Some(13), Some(16)]);
    assert!(
        out.iter()
            .all(|batch| batch.fencing_token() == Some(&token))
    );
    assert_eq!(b.next_match_seq_num(), Some(17));

    let mut b = batcher(BatcherConfig::default());
    b.handle_record(AppendRecord::new("x"), now).unwrap();
    b.flush();
    let out = b.poll_output().unwrap();
    assert_eq!(out.match_seq_num(), None);
    assert_eq!(out.fencing_token(), None);
}

#[test]
fn bodies_are_moved_not_copied() {
    let now = Instant::now();
    let body = Bytes::from(vec![1u8; 4096]);
    let ptr = body.as_ptr();
    let mut b = batcher(BatcherConfig::default());
    b.handle_record(AppendRecord::new(body), now).unwrap();
    b.flush();
    assert_eq!(b.poll_output().unwrap().records()[0].body().as_ptr(), ptr);
}

#[test]
fn capacity_is_reserved_once_for_uniform_records() {
    let now = Instant::now();
    let mut b = batcher(BatcherConfig::default());
    b.handle_record(sized(1032), now).unwrap();
    // 1048576 / 1032 = 1016 fit by bytes, bounded by max_records.
    assert_eq!(b.pending.capacity(), 1000);
    let mut b = batcher(BatcherConfig::default());
    b.handle_record(sized(65544), now).unwrap();
    assert_eq!(b.pending.capacity(), 15);
    for _ in 1..15 {
        b.handle_record(sized(65544), now).unwrap();
    }
    assert_eq!(b.pending.capacity(), 15);
    b.handle_record(sized(65544), now).unwrap();
    assert_eq!(lens(&drain(&mut b)), [15]);
}

// ---------------------------------------------------------------------
// Properties under virtual time
// ---------------------------------------------------------------------

static ZEROS: [u8; 70_000] = [0; 70_000];

#[derive(Debug, Clone)]
struct RecordSpec {
    body_len: usize,
    headers: Vec<(String, String)>,
    /// Breaks the header rules (two headers, one with an empty name).
    invalid: bool,
}

impl RecordSpec {
    /// The record, made unique by its timestamp.
    fn build(&self, id: u64) -> AppendRecord {
        let mut record = AppendRecord::new(Bytes::from_static(&ZEROS[..self.body_len]))
            .with_timestamp(id)
            .with_headers(
                self.headers
                    .iter()
                    .map(|(n, v)| Header::new(n.clone(), v.clone())),
            );
        if self.invalid {
            record = record.with_header("", "fence").with_header("k", "v");
        }
        record
    }
}

#[derive(Debug, Clone)]
enum Op {
    Record(RecordSpec),
    /// Advance virtual time by this many milliseconds, then call
    /// `handle_timeout` (possibly spuriously).
    Timeout(u64),
    /// Advance virtual time without telling the batcher.
    Advance(u64),
    Flush,
}

fn record_spec() -> impl Strategy<Value = RecordSpec> {
    (
        prop_oneof![0..=200usize, 0..=70_000usize],
        prop::collection::vec(("[a-z]{1,8}", "[a-z]{0,16}"), 0..3),
        prop::bool::weighted(0.03),
    )
        .prop_map(|(body_len, headers, invalid)| RecordSpec {
            body_len,
            headers,
            invalid,
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => record_spec().prop_map(Op::Record),
        2 => (0..30u64).prop_map(Op::Timeout),
        1 => (0..30u64).prop_map(Op::Advance),
        1 => Just(Op::Flush),
    ]
}

fn config() -> impl Strategy<Value = BatcherConfig> {
    (
        prop_oneof![1..=4usize, 1..=1000usize, Just(1000usize)],
        prop_oneof![
            8..=300u64,
            8..=200_000u64,
            8..=MAX_BATCH_METERED_BYTES,
            Just(MAX_BATCH_METERED_BYTES)
        ],
        prop::option::of(0..40u64),
        prop::option::of(0..=u64::MAX / 2),
        prop::option::of("[a-z0-9]{0,36}"),
    )
        .prop_map(
            |(max_records, max_bytes, linger_ms, match_seq_num, token)| BatcherConfig {
                max_records,
                max_bytes,
                linger: linger_ms.map(Duration::from_millis),
                match_seq_num,
                fencing_token: token.map(|t| FencingToken::new(t).unwrap()),
            },
        )
}

/// Checks every batch as it comes out, and what is expected of it.
struct Checker {
    config: BatcherConfig,
    /// Arrival time of every accepted record, by id (its timestamp).
    arrivals: Vec<Instant>,
    /// Accepted records in order.
    expected: Vec<AppendRecord>,
    /// Records seen in batches so far, in order.
    seen: Vec<AppendRecord>,
    next_match_seq_num: Option<u64>,
}

impl Checker {
    fn deadline(&self, batch: &AppendInput) -> Option<Instant> {
        let first = batch.records()[0].timestamp().unwrap() as usize;
        self.config
            .linger
            .map(|linger| self.arrivals[first] + linger)
    }

    /// Takes the batches out and checks the rules every batch obeys.
    fn take(&mut self, b: &mut Batcher) -> Result<Vec<AppendInput>, TestCaseError> {
        let out = drain(b);
        for batch in &out {
            prop_assert!(!batch.is_empty());
            prop_assert!(batch.len() <= self.config.max_records);
            prop_assert!(batch.metered_bytes() <= self.config.max_bytes);
            prop_assert_eq!(batch.metered_bytes(), batch.records().metered_bytes());
            prop_assert_eq!(batch.match_seq_num(), self.next_match_seq_num);
            self.next_match_seq_num = self.next_match_seq_num.map(|m| m + batch.len() as u64);
            prop_assert_eq!(batch.fencing_token(), self.config.fencing_token.as_ref());
            self.seen.extend_from_slice(batch.records());
        }
        Ok(out)
    }

    /// Whether nothing more could have joined `batch`.
    fn is_full(&self, batch: &AppendInput) -> bool {
        batch.len() == self.config.max_records
            || self.config.max_bytes - batch.metered_bytes() < MIN_RECORD_METERED_BYTES
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn batches_respect_limits_order_linger_and_conditions(
        config in config(),
        ops in prop::collection::vec(op(), 0..120),
    ) {
        let base = Instant::now();
        let mut now = base;
        let mut b = Batcher::new(config.clone()).unwrap();
        let mut checker = Checker {
            next_match_seq_num: config.match_seq_num,
            config,
            arrivals: Vec::new(),
            expected: Vec::new(),
            seen: Vec::new(),
        };

        for op in ops {
            match op {
                Op::Record(spec) => {
                    let id = checker.arrivals.len() as u64;
                    let record = spec.build(id);
                    let size = record.metered_bytes();
                    let before = (b.pending_records(), b.pending_bytes(), b.poll_timeout());
                    match b.handle_record(record.clone(), now) {
                        Ok(()) => {
                            prop_assert!(!spec.invalid);
                            prop_assert!(size <= checker.config.max_bytes);
                            checker.arrivals.push(now);
                            checker.expected.push(record);
                        }
                        Err(err) => {
                            prop_assert!(
                                spec.invalid || size > checker.config.max_bytes,
                                "unexpected rejection: {}", err
                            );
                            prop_assert_eq!(
                                (b.pending_records(), b.pending_bytes(), b.poll_timeout()),
                                before
                            );
                            prop_assert_eq!(b.ready_batches(), 0);
                            continue;
                        }
                    }
                    for batch in checker.take(&mut b)? {
                        let holds_new = batch.records().last().unwrap().timestamp() == Some(id);
                        let expired = checker.deadline(&batch).is_some_and(|d| d <= now);
                        let no_room_for_new =
                            batch.metered_bytes() + size > checker.config.max_bytes;
                        // Closed early only for a reason: full, expired,
                        // or the new record did not fit.
                        prop_assert!(
                            checker.is_full(&batch)
                                || (!holds_new && (expired || no_room_for_new)),
                            "batch of {} records / {} bytes closed early",
                            batch.len(), batch.metered_bytes()
                        );
                    }
                }
                Op::Timeout(ms) => {
                    now += Duration::from_millis(ms);
                    b.handle_timeout(now);
                    for batch in checker.take(&mut b)? {
                        // Never closed by a timeout before its deadline.
                        let deadline = checker.deadline(&batch);
                        prop_assert!(deadline.is_some_and(|d| d <= now));
                    }
                    // Nothing stays open past its deadline.
                    prop_assert!(b.poll_timeout().is_none_or(|d| d > now));
                }
                Op::Advance(ms) => now += Duration::from_millis(ms),
                Op::Flush => {
                    b.flush();
                    checker.take(&mut b)?;
                    prop_assert!(b.is_empty());
                    prop_assert_eq!(b.poll_timeout(), None);
                }
            }

            // The open batch: its size and deadline are as expected.
            let pending = &checker.expected[checker.seen.len()..];
            prop_assert_eq!(b.pending_records(), pending.len());
            prop_assert_eq!(b.pending_bytes(), pending.metered_bytes());
            let expected_timeout = match (pending.first(), checker.config.linger) {
                (Some(first), Some(linger)) => {
                    Some(checker.arrivals[first.timestamp().unwrap() as usize] + linger)
                }
                _ => None,
            };
            prop_assert_eq!(b.poll_timeout(), expected_timeout);
            if let Some(deadline) = expected_timeout {
                // No record joined the open batch at or after its deadline.
                for record in &pending[1..] {
                    let arrival = checker.arrivals[record.timestamp().unwrap() as usize];
                    prop_assert!(arrival < deadline);
                }
            }
            // A full batch never stays open.
            if !pending.is_empty() {
                prop_assert!(pending.len() < checker.config.max_records);
                prop_assert!(
                    checker.config.max_bytes - b.pending_bytes() >= MIN_RECORD_METERED_BYTES
                );
            }
        }

        b.flush();
        checker.take(&mut b)?;
        prop_assert!(b.is_empty());
        // Nothing lost, duplicated or reordered.
        prop_assert_eq!(&checker.seen, &checker.expected);
        prop_assert_eq!(b.next_match_seq_num(), checker.next_match_seq_num);
    }
}

fn header_rules_record() -> impl Strategy<Value = AppendRecord> {
    let name = prop::sample::select(vec!["", "", "k"]);
    let value = prop::sample::select(vec!["fence", "trim", "", "x"]);
    let body = prop::sample::select(vec![0usize, 8, 36, 37]);
    (
        prop::collection::vec((name, value), 0..4),
        body,
        any::<bool>(),
    )
        .prop_map(|(headers, body, utf8)| {
            AppendRecord::new(vec![if utf8 { b'a' } else { 0xff }; body])
                .with_headers(headers.into_iter().map(|(n, v)| Header::new(n, v)))
        })
}

proptest! {
    /// The one-pass measure accepts and rejects exactly what metering,
    /// encoded length and the header rules each decide, wherever an empty
    /// name is among the headers.
    #[test]
    fn one_pass_measure_decides_as_the_separate_checks(
        records in prop::collection::vec(header_rules_record(), 1..8),
    ) {
        let now = Instant::now();
        let mut b = batcher(BatcherConfig::default());
        let mut accepted = 0;
        for record in records {
            let expected = record.validate(accepted);
            let (metered, encoded) = (
                record.metered_bytes(),
                crate::types::append::encoded_record_len(&record),
            );
            let sizes = record_sizes(&record);
            prop_assert_eq!((sizes.metered, sizes.encoded), (metered, encoded));
            let got = b.handle_record(record, now);
            prop_assert_eq!(&got, &expected);
            accepted += usize::from(got.is_ok());
            prop_assert_eq!(b.pending_records(), accepted);
        }
    }
}
