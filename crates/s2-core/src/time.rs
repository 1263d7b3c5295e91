//! Deadlines from caller-given durations, guarded against overflow.
//!
//! A caller may ask for any timeout, up to `Duration::MAX` ("never"), but
//! `Instant + Duration` panics when the sum is past what the clock can
//! represent. This module is the one place that decides how far is "far
//! enough": durations are cut to [`MAX_DURATION`], and a deadline that the
//! clock still cannot represent is reported ([`checked_deadline`]) or
//! saturated ([`deadline`]), never a panic.
//!
//! (This is the core's module of time arithmetic, not the `time` crate.)

use std::time::{Duration, Instant};

/// The longest any timeout, interval or backoff delay lasts: longer ones
/// (up to `Duration::MAX`) are cut to this, which in practice means
/// "never", without overflowing the clock. A hundred years.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// `wait` cut to [`MAX_DURATION`].
pub const fn saturate(wait: Duration) -> Duration {
    if wait.as_nanos() > MAX_DURATION.as_nanos() {
        MAX_DURATION
    } else {
        wait
    }
}

/// `now + wait`, saturated far in the future: `wait` is cut to
/// [`MAX_DURATION`], so a caller's absurd timeout (`Duration::MAX`) means
/// "never", not a panic.
///
/// On a clock that cannot even represent `now + MAX_DURATION`, this is
/// `now`: the one instant known to exist. (No clock of a supported
/// platform is that short; [`checked_deadline`] says "never" instead, for
/// callers that can express it.)
pub fn deadline(now: Instant, wait: Duration) -> Instant {
    now.checked_add(saturate(wait)).unwrap_or(now)
}

/// `now + wait`, or `None` when `wait` is too long to be a deadline: past
/// [`MAX_DURATION`], or past what the clock can represent. `None` means
/// "never"; nobody is asked to add such a duration to an instant.
pub fn checked_deadline(now: Instant, wait: Duration) -> Option<Instant> {
    if wait > MAX_DURATION {
        return None;
    }
    now.checked_add(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_up_to_the_cap_are_taken_as_given() {
        let now = Instant::now();
        let second = Duration::from_secs(1);
        assert_eq!(saturate(second), second);
        assert_eq!(saturate(MAX_DURATION), MAX_DURATION);
        assert_eq!(deadline(now, second), now + second);
        assert_eq!(checked_deadline(now, second), Some(now + second));
        assert_eq!(
            checked_deadline(now, MAX_DURATION),
            Some(now + MAX_DURATION)
        );
    }

    #[test]
    fn longer_durations_are_cut_or_never() {
        let now = Instant::now();
        let past_cap = MAX_DURATION + Duration::from_nanos(1);
        assert_eq!(saturate(Duration::MAX), MAX_DURATION);
        assert_eq!(saturate(past_cap), MAX_DURATION);
        assert_eq!(deadline(now, Duration::MAX), now + MAX_DURATION);
        assert_eq!(deadline(now, past_cap), now + MAX_DURATION);
        assert_eq!(checked_deadline(now, Duration::MAX), None);
        assert_eq!(checked_deadline(now, past_cap), None);
    }

    #[test]
    fn the_cap_is_a_hundred_years() {
        assert_eq!(MAX_DURATION.as_secs(), 100 * 365 * 86_400);
    }
}
