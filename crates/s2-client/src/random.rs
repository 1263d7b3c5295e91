//! Random numbers for what the client draws by itself: backoff jitter seeds,
//! request tokens and fencing tokens. They must differ between processes
//! and calls and be unguessable from outside; they need not be
//! cryptographic keys.
//!
//! Drawn from the standard library's `RandomState`, whose SipHash keys are
//! seeded from the operating system once per thread, hashing a process-wide
//! counter, the way `fastrand` seeds itself. This keeps `rand` and a second
//! `getrandom` out of users' builds (rustls already brings one).
//!
//! A forked child inherits its parent's keys and counter, so each draw also
//! hashes the process id and the wall clock: a parent and its children (a
//! pre-fork worker model) draw different fencing and request tokens.

use std::{
    collections::hash_map::RandomState,
    hash::{BuildHasher, Hasher},
    sync::atomic::{AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

/// A random 64-bit number.
pub(crate) fn u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    hasher.write_u128(now.as_nanos());
    hasher.finish()
}

/// A random 128-bit number.
pub(crate) fn u128() -> u128 {
    (u128::from(u64()) << 64) | u128::from(u64())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    #[test]
    fn draws_do_not_repeat() {
        let draws: HashSet<u128> = (0..10_000).map(|_| super::u128()).collect();
        assert_eq!(draws.len(), 10_000);
    }

    #[test]
    fn every_bit_varies() {
        let (mut ones, mut zeros) = (0u128, 0u128);
        for _ in 0..256 {
            let draw = super::u128();
            ones |= draw;
            zeros |= !draw;
        }
        assert_eq!((ones, zeros), (u128::MAX, u128::MAX));
    }

    #[test]
    fn threads_draw_differently() {
        let here = super::u64();
        let there = std::thread::spawn(super::u64).join().expect("thread");
        assert_ne!(here, there);
    }
}
