//! Which faults the model injects and how often, what tests force, and how
//! many of each kind it has injected.
//!
//! Every decision is drawn from the seeded source the model was built with,
//! in the order requests reach the decision points, so one seed (and one
//! schedule of the executor) gives the same faults.

use std::{
    fmt,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use rand::{Rng, RngCore};

use super::lock;

/// A kind of fault the model injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// The connection is dropped after an append (unary, or one input of a
    /// session) was applied and before its ack went out.
    CutAfterApply,
    /// A unary answer is reset (RST_STREAM) after its request was served
    /// (applied, for a write).
    LostResponse,
    /// A unary request gets a 503 `unavailable` before anything is applied;
    /// an append session gets it as a terminal frame instead of applying an
    /// input, a read session instead of its next batch.
    Unavailable,
    /// A session frame carries the reconnect-advised flag.
    ReconnectAdvice,
    /// A session is ended by a terminal `server_draining` frame (503) before
    /// its next input is applied or its next batch sent.
    ServerDraining,
    /// A request starts a graceful GOAWAY of its connection: the request
    /// and those already accepted are served, later ones are not processed.
    GoAway,
    /// A request makes its connection send GOAWAY naming it as the last
    /// stream and close at once: the request (not processed) and every
    /// request in flight on the connection (perhaps processed) end without
    /// an answer.
    AbruptGoAway,
    /// A request is reset with REFUSED_STREAM before it is processed.
    RefusedStream,
    /// An ack (unary or session) is held back for the slow-ack delay.
    SlowAck,
    /// A session goes silent (no acks, batches or heartbeats) for the stall
    /// duration before its next frame.
    Stall,
    /// A request makes the model drop its whole connection before the
    /// request is processed (requests in flight on it may have been).
    Cut,
    /// A new connection is dropped at once.
    RefusedConnection,
}

impl FaultKind {
    /// Every kind, in declaration order.
    pub const ALL: [FaultKind; 12] = [
        FaultKind::CutAfterApply,
        FaultKind::LostResponse,
        FaultKind::Unavailable,
        FaultKind::ReconnectAdvice,
        FaultKind::ServerDraining,
        FaultKind::GoAway,
        FaultKind::AbruptGoAway,
        FaultKind::RefusedStream,
        FaultKind::SlowAck,
        FaultKind::Stall,
        FaultKind::Cut,
        FaultKind::RefusedConnection,
    ];

    const COUNT: usize = Self::ALL.len();

    fn index(self) -> usize {
        self as usize
    }
}

/// How often the model injects each fault: a probability per opportunity
/// (per request, per input, per frame or per connection, as
/// [`FaultKind`] says), all zero by default, so the default model is a
/// well-behaved server.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    probabilities: [f64; FaultKind::COUNT],
    slow_ack_delay: Duration,
    stall: Duration,
}

impl Default for Faults {
    fn default() -> Self {
        Self::none()
    }
}

impl Faults {
    /// Default [slow-ack delay](Self::with_slow_ack_delay): within every
    /// default timeout of the client.
    pub const DEFAULT_SLOW_ACK_DELAY: Duration = Duration::from_secs(1);
    /// Default [stall](Self::with_stall): past the client's default ack
    /// timeout (10 s) and heartbeat timeout (20 s).
    pub const DEFAULT_STALL: Duration = Duration::from_secs(30);

    /// No faults.
    pub fn none() -> Self {
        Self {
            probabilities: [0.0; FaultKind::COUNT],
            slow_ack_delay: Self::DEFAULT_SLOW_ACK_DELAY,
            stall: Self::DEFAULT_STALL,
        }
    }

    /// Injects `kind` with probability `p` (clamped to 0..=1; NaN is 0) at
    /// each opportunity.
    pub fn with(mut self, kind: FaultKind, p: f64) -> Self {
        self.probabilities[kind.index()] = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        self
    }

    /// How long a [slow ack](FaultKind::SlowAck) is held back.
    pub fn with_slow_ack_delay(mut self, delay: Duration) -> Self {
        self.slow_ack_delay = delay;
        self
    }

    /// How long a [stalled](FaultKind::Stall) session stays silent.
    pub fn with_stall(mut self, stall: Duration) -> Self {
        self.stall = stall;
        self
    }

    /// The probability of `kind`.
    pub fn probability(&self, kind: FaultKind) -> f64 {
        self.probabilities[kind.index()]
    }

    /// How long a slow ack is held back.
    pub fn slow_ack_delay(&self) -> Duration {
        self.slow_ack_delay
    }

    /// How long a stalled session stays silent.
    pub fn stall(&self) -> Duration {
        self.stall
    }
}

/// How many faults of each kind the model has injected.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultCounts([u64; FaultKind::COUNT]);

impl FaultCounts {
    /// Faults of `kind` injected.
    pub fn get(&self, kind: FaultKind) -> u64 {
        self.0[kind.index()]
    }

    /// Faults injected, of every kind.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

impl fmt::Debug for FaultCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the kinds that happened: a run's summary stays one line.
        let mut map = f.debug_map();
        for kind in FaultKind::ALL {
            if self.get(kind) > 0 {
                map.entry(&kind, &self.get(kind));
            }
        }
        map.finish()
    }
}

/// Draws fault decisions: forced ones first, then from the seeded source.
pub(crate) struct Dice {
    rng: Mutex<Box<dyn RngCore + Send>>,
    faults: Mutex<Faults>,
    forced: Mutex<[u64; FaultKind::COUNT]>,
    counts: [AtomicU64; FaultKind::COUNT],
}

impl Dice {
    pub(crate) fn new(rng: Box<dyn RngCore + Send>, faults: Faults) -> Self {
        Self {
            rng: Mutex::new(rng),
            faults: Mutex::new(faults),
            forced: Mutex::new([0; FaultKind::COUNT]),
            counts: Default::default(),
        }
    }

    /// Whether to inject `kind` at this opportunity; counted if so.
    pub(crate) fn roll(&self, kind: FaultKind) -> bool {
        let hit = self.take_forced(kind) || {
            let p = lock(&self.faults).probability(kind);
            // No draw for a fault that is off: turning one kind on does
            // not change the draws of a run without faults.
            p > 0.0 && lock(&self.rng).random_bool(p)
        };
        if hit {
            self.count(kind);
        }
        hit
    }

    fn take_forced(&self, kind: FaultKind) -> bool {
        let mut forced = lock(&self.forced);
        let left = &mut forced[kind.index()];
        let hit = *left > 0;
        *left = left.saturating_sub(1);
        hit
    }

    /// Injects `kind` at its next `n` opportunities, whatever the
    /// probabilities.
    pub(crate) fn force(&self, kind: FaultKind, n: u64) {
        lock(&self.forced)[kind.index()] += n;
    }

    /// Counts a fault injected on a test's demand.
    pub(crate) fn count(&self, kind: FaultKind) {
        self.counts[kind.index()].fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn counts(&self) -> FaultCounts {
        FaultCounts(std::array::from_fn(|i| {
            self.counts[i].load(Ordering::SeqCst)
        }))
    }

    pub(crate) fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    pub(crate) fn set_faults(&self, faults: Faults) {
        *lock(&self.faults) = faults;
    }

    /// A uniform draw from `range` (milliseconds), for timings that s2-lite
    /// randomises (heartbeat intervals).
    pub(crate) fn millis_in(&self, range: std::ops::Range<u64>) -> Duration {
        Duration::from_millis(lock(&self.rng).random_range(range))
    }
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::SmallRng};

    use super::*;

    fn dice(faults: Faults) -> Dice {
        Dice::new(Box::new(SmallRng::seed_from_u64(7)), faults)
    }

    #[test]
    fn no_faults_by_default() {
        let dice = dice(Faults::default());
        for kind in FaultKind::ALL {
            assert!((0..1000).all(|_| !dice.roll(kind)), "{kind:?}");
        }
        assert_eq!(dice.counts().total(), 0);
    }

    #[test]
    fn forced_faults_come_first_and_are_counted() {
        let dice = dice(Faults::none());
        dice.force(FaultKind::CutAfterApply, 2);
        assert!(dice.roll(FaultKind::CutAfterApply));
        assert!(!dice.roll(FaultKind::Stall));
        assert!(dice.roll(FaultKind::CutAfterApply));
        assert!(!dice.roll(FaultKind::CutAfterApply));
        assert_eq!(dice.counts().get(FaultKind::CutAfterApply), 2);
        assert_eq!(dice.counts().total(), 2);
    }

    #[test]
    fn probabilities_are_honoured_and_seeded() {
        let faults = Faults::none().with(FaultKind::SlowAck, 0.25);
        let draws = |dice: &Dice| {
            (0..4000)
                .map(|_| dice.roll(FaultKind::SlowAck))
                .collect::<Vec<_>>()
        };
        let (a, b) = (dice(faults.clone()), dice(faults));
        let first = draws(&a);
        assert_eq!(first, draws(&b), "one seed, one sequence");
        let hits = first.iter().filter(|h| **h).count();
        assert!((800..1200).contains(&hits), "{hits} of 4000 at p = 0.25");
        assert_eq!(a.counts().get(FaultKind::SlowAck), hits as u64);
    }

    #[test]
    fn probabilities_are_clamped() {
        let faults = Faults::none()
            .with(FaultKind::Cut, 7.0)
            .with(FaultKind::Stall, -1.0)
            .with(FaultKind::GoAway, f64::NAN);
        assert_eq!(faults.probability(FaultKind::Cut), 1.0);
        assert_eq!(faults.probability(FaultKind::Stall), 0.0);
        assert_eq!(faults.probability(FaultKind::GoAway), 0.0);
    }
}
