//! Exponential backoff with jitter, without a clock.
//!
//! The driver asks [`Backoff::next_delay`] after each failure and waits that
//! long on its own timer; [`Backoff::reset`] after progress starts over. The
//! jitter comes from a seeded RNG, so a simulation replays exactly.

use std::time::Duration;

use rand::{Rng, SeedableRng, rngs::SmallRng};

/// The longest wait a service's retry hint can impose.
pub const MAX_HINT: Duration = Duration::from_secs(60);

/// Default of [`BackoffConfig::base_delay`].
pub const DEFAULT_BASE_DELAY: Duration = Duration::from_millis(100);
/// Default of [`BackoffConfig::max_delay`].
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(5);
/// Default of [`BackoffConfig::max_retries`]: four attempts in all.
pub const DEFAULT_MAX_RETRIES: u32 = 3;

/// Backoff parameters: the retry budget and the delays between retries.
///
/// Every value works: zero delays retry at once, zero retries never retry,
/// and a base delay over the maximum is cut to it.
///
/// ```
/// # use s2_core::backoff::BackoffConfig;
/// # use std::time::Duration;
/// let config = BackoffConfig::default()
///     .with_base_delay(Duration::from_millis(50))
///     .with_max_retries(10);
/// assert_eq!(config.max_delay(), Duration::from_secs(5));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    base_delay: Duration,
    max_delay: Duration,
    max_retries: u32,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            base_delay: DEFAULT_BASE_DELAY,
            max_delay: DEFAULT_MAX_DELAY,
            max_retries: DEFAULT_MAX_RETRIES,
        }
    }
}

impl BackoffConfig {
    /// Sets the delay before the first retry, before jitter (default
    /// [`DEFAULT_BASE_DELAY`]); each later one doubles it, up to
    /// [`max_delay`](Self::max_delay).
    pub fn with_base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// Sets the upper bound of any delay (default [`DEFAULT_MAX_DELAY`]).
    pub fn with_max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Sets how many retries are allowed before giving up, 0 for none
    /// (default [`DEFAULT_MAX_RETRIES`]).
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The delay before the first retry, before jitter.
    pub fn base_delay(&self) -> Duration {
        self.base_delay
    }

    /// The upper bound of any delay.
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// Retries allowed before giving up.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }
}

/// Retry state of one operation.
#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
    retries: u32,
    rng: SmallRng,
}

impl Backoff {
    /// A fresh backoff; `seed` drives the jitter.
    pub fn new(config: BackoffConfig, seed: u64) -> Self {
        Self {
            config,
            retries: 0,
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    /// Retries used so far.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// The delay before the next retry, or `None` when retries are
    /// exhausted. A `hint` from the service (`retry-after-ms`) raises the
    /// delay to at least the hint; a hint longer than [`MAX_HINT`] ends the
    /// retries, so the caller gets the error (and the hint) at once instead
    /// of a client parked for as long as the server likes.
    pub fn next_delay(&mut self, hint: Option<Duration>) -> Option<Duration> {
        if self.retries >= self.config.max_retries || hint.is_some_and(|h| h > MAX_HINT) {
            return None;
        }
        let exponent = self.retries.min(16);
        self.retries += 1;
        let ceiling = self
            .config
            .base_delay
            .saturating_mul(1 << exponent)
            .min(self.config.max_delay);
        // "Equal jitter": half fixed, half random, so delays still grow.
        let half = ceiling / 2;
        let jitter = if half.is_zero() {
            Duration::ZERO
        } else {
            let half_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
            Duration::from_nanos(self.rng.random_range(0..=half_nanos))
        };
        let delay = half + jitter;
        Some(match hint {
            Some(hint) => delay.max(hint),
            None => delay,
        })
    }

    /// Starts over after progress.
    pub fn reset(&mut self) {
        self.retries = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_hint_past_the_limit_ends_the_retries() {
        let mut backoff = Backoff::new(BackoffConfig::default(), 7);
        assert_eq!(backoff.next_delay(Some(Duration::MAX)), None);
        assert_eq!(
            backoff.next_delay(Some(MAX_HINT + Duration::from_millis(1))),
            None
        );
        assert_eq!(backoff.next_delay(Some(MAX_HINT)), Some(MAX_HINT));
    }

    #[test]
    fn bounded_attempts_and_reset() {
        let mut b = Backoff::new(BackoffConfig::default(), 1);
        assert!((0..3).all(|_| b.next_delay(None).is_some()));
        assert_eq!(b.next_delay(None), None);
        b.reset();
        assert!(b.next_delay(None).is_some());
    }

    #[test]
    fn hint_raises_delay() {
        let mut b = Backoff::new(BackoffConfig::default(), 1);
        assert!(b.next_delay(Some(Duration::from_secs(9))).unwrap() >= Duration::from_secs(9));
    }

    #[test]
    fn same_seed_same_delays() {
        let config = BackoffConfig::default();
        let mut a = Backoff::new(config, 7);
        let mut b = Backoff::new(config, 7);
        for _ in 0..3 {
            assert_eq!(a.next_delay(None), b.next_delay(None));
        }
    }

    proptest! {
        #[test]
        fn delays_stay_in_bounds(seed: u64, base_ms in 1u64..1000, max_ms in 1u64..10_000, retries in 0u32..40) {
            let config = BackoffConfig::default()
                .with_base_delay(Duration::from_millis(base_ms))
                .with_max_delay(Duration::from_millis(max_ms))
                .with_max_retries(retries);
            let mut b = Backoff::new(config, seed);
            let mut n = 0;
            while let Some(d) = b.next_delay(None) {
                n += 1;
                let ceiling = Duration::from_millis(base_ms).saturating_mul(1 << (n - 1).min(16)).min(config.max_delay);
                prop_assert!(d <= ceiling && d >= ceiling / 2);
            }
            prop_assert_eq!(n, retries);
        }
    }
}
