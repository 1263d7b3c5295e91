//! [`Deadline`]: a runtime timer that follows a state machine's next
//! deadline.

use std::{
    task::{Context, Poll},
    time::Instant,
};

use super::{Runtime, SleepFuture};

/// A timer that fires at the state machine's next deadline.
///
/// Deadlines mostly move later (every ack or heartbeat pushes the machine's
/// deadline out), so the timer is re-armed lazily: a later deadline keeps the
/// armed timer, which, when it fires early, is armed again for the remaining
/// time. Only an earlier deadline moves it at once. That keeps timer
/// registrations to about one per timeout period instead of one per frame.
///
/// There is one timer, made on first use and then moved
/// ([`Runtime::reset_sleep`]), so a runtime that can move a timer in place
/// never makes another.
pub(crate) struct Deadline {
    /// The timer, once made; it may have fired.
    sleep: Option<SleepFuture>,
    /// When the timer fires, while it is armed: `None` before the first
    /// deadline and once it fired (a completed timer is not polled again).
    armed_at: Option<Instant>,
}

impl Deadline {
    pub(crate) fn new() -> Self {
        Self {
            sleep: None,
            armed_at: None,
        }
    }

    /// Fires (once) when `at` is reached; follows `at` as it moves.
    pub(crate) fn poll<R: Runtime>(
        &mut self,
        runtime: &R,
        at: Option<Instant>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let Some(at) = at else {
            // Keep an armed timer: a deadline usually comes back soon, and
            // one spurious wakeup costs less than a registration.
            if self.armed_at.is_some() && self.poll_armed(cx).is_ready() {
                self.armed_at = None;
            }
            return Poll::Pending;
        };
        loop {
            if self.armed_at.is_none_or(|armed_at| armed_at > at) {
                self.arm(runtime, at);
            }
            if self.poll_armed(cx).is_pending() {
                return Poll::Pending;
            }
            self.armed_at = None;
            if runtime.now() >= at {
                return Poll::Ready(());
            }
            // Fired for an earlier deadline than the current one: re-arm.
        }
    }

    /// Arms the timer for `at`: moves the one there is, or makes it.
    fn arm<R: Runtime>(&mut self, runtime: &R, at: Instant) {
        match &mut self.sleep {
            Some(sleep) => runtime.reset_sleep(sleep, at),
            None => self.sleep = Some(runtime.sleep_until(at)),
        }
        self.armed_at = Some(at);
    }

    /// Polls the armed timer.
    fn poll_armed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.sleep {
            Some(sleep) => sleep.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{
            Arc, Mutex,
            atomic::{AtomicUsize, Ordering},
        },
        task::Waker,
        time::Duration,
    };

    use super::*;
    use crate::runtime::{ConnectFuture, ConnectTarget, Task};

    /// A runtime on a virtual clock that counts the timers it arms.
    #[derive(Clone)]
    struct VirtualClock {
        start: Instant,
        elapsed: Arc<Mutex<Duration>>,
        timers: Arc<AtomicUsize>,
    }

    impl VirtualClock {
        fn new() -> Self {
            Self {
                start: Instant::now(),
                elapsed: Arc::default(),
                timers: Arc::default(),
            }
        }

        fn advance_to(&self, at: Instant) {
            *self.elapsed.lock().unwrap() = at - self.start;
        }
    }

    impl VirtualClock {
        /// A timer for `until`, not counted.
        fn timer(&self, until: Instant) -> SleepFuture {
            let clock = self.clone();
            Box::pin(std::future::poll_fn(move |_| {
                if clock.now() >= until {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }))
        }
    }

    impl Runtime for VirtualClock {
        fn spawn(&self, _task: Task) {}
        fn sleep(&self, duration: Duration) -> SleepFuture {
            self.timers.fetch_add(1, Ordering::Relaxed);
            self.timer(self.now() + duration)
        }
        fn now(&self) -> Instant {
            self.start + *self.elapsed.lock().unwrap()
        }
        fn connect(&self, _target: ConnectTarget) -> ConnectFuture {
            Box::pin(async { Err(std::io::Error::other("no network")) })
        }
    }

    /// A runtime on the same clock that moves its timers instead of making
    /// new ones, and counts the moves.
    #[derive(Clone)]
    struct MovingClock {
        clock: VirtualClock,
        moves: Arc<AtomicUsize>,
    }

    impl Runtime for MovingClock {
        fn spawn(&self, _task: Task) {}
        fn sleep(&self, duration: Duration) -> SleepFuture {
            self.clock.sleep(duration)
        }
        fn now(&self) -> Instant {
            self.clock.now()
        }
        fn connect(&self, target: ConnectTarget) -> ConnectFuture {
            self.clock.connect(target)
        }
        fn reset_sleep(&self, sleep: &mut SleepFuture, deadline: Instant) {
            self.moves.fetch_add(1, Ordering::Relaxed);
            *sleep = self.clock.timer(deadline);
        }
    }

    #[test]
    fn a_deadline_pushed_later_keeps_its_timer_and_fires_at_the_last_one() {
        let clock = VirtualClock::new();
        let mut cx = Context::from_waker(Waker::noop());
        let mut deadline = Deadline::new();
        let ms = Duration::from_millis;
        let start = clock.now();
        // A heartbeat deadline pushed out by every frame.
        for i in 0..1000 {
            clock.advance_to(start + ms(i));
            let at = Some(clock.now() + ms(20_000));
            assert!(deadline.poll(&clock, at, &mut cx).is_pending());
        }
        assert_eq!(clock.timers.load(Ordering::Relaxed), 1);
        let last = start + ms(999 + 20_000);
        // The first timer fires at its own deadline: not yet the current one.
        clock.advance_to(start + ms(20_000));
        assert!(deadline.poll(&clock, Some(last), &mut cx).is_pending());
        assert_eq!(clock.timers.load(Ordering::Relaxed), 2);
        clock.advance_to(last);
        assert!(deadline.poll(&clock, Some(last), &mut cx).is_ready());
    }

    #[test]
    fn an_earlier_deadline_rearms_at_once_and_none_never_fires() {
        let clock = VirtualClock::new();
        let mut cx = Context::from_waker(Waker::noop());
        let mut deadline = Deadline::new();
        let start = clock.now();
        let (late, early) = (
            start + Duration::from_secs(10),
            start + Duration::from_secs(1),
        );
        assert!(deadline.poll(&clock, Some(late), &mut cx).is_pending());
        assert!(deadline.poll(&clock, Some(early), &mut cx).is_pending());
        clock.advance_to(early);
        assert!(deadline.poll(&clock, Some(early), &mut cx).is_ready());
        // Once fired it stays quiet until polled with a deadline again.
        assert!(deadline.poll(&clock, None, &mut cx).is_pending());
        clock.advance_to(late);
        assert!(deadline.poll(&clock, None, &mut cx).is_pending());
        assert!(deadline.poll(&clock, Some(late), &mut cx).is_ready());
    }

    #[test]
    fn one_timer_is_made_and_then_moved_by_the_runtime() {
        let runtime = MovingClock {
            clock: VirtualClock::new(),
            moves: Arc::default(),
        };
        let (made, moved) = (&runtime.clock.timers, &runtime.moves);
        let count = |counter: &AtomicUsize| counter.load(Ordering::Relaxed);
        let mut cx = Context::from_waker(Waker::noop());
        let mut deadline = Deadline::new();
        let start = runtime.now();
        let secs = Duration::from_secs;
        assert!(
            deadline
                .poll(&runtime, Some(start + secs(10)), &mut cx)
                .is_pending()
        );
        assert_eq!((count(made), count(moved)), (1, 0));
        // Later: kept. Earlier: moved at once.
        assert!(
            deadline
                .poll(&runtime, Some(start + secs(20)), &mut cx)
                .is_pending()
        );
        assert!(
            deadline
                .poll(&runtime, Some(start + secs(5)), &mut cx)
                .is_pending()
        );
        assert_eq!((count(made), count(moved)), (1, 1));
        runtime.clock.advance_to(start + secs(5));
        assert!(
            deadline
                .poll(&runtime, Some(start + secs(5)), &mut cx)
                .is_ready()
        );
        // A fired timer is moved to the next deadline, not made again, and
        // re-armed the same way when it fires early.
        assert!(
            deadline
                .poll(&runtime, Some(start + secs(8)), &mut cx)
                .is_pending()
        );
        runtime.clock.advance_to(start + secs(8));
        assert!(
            deadline
                .poll(&runtime, Some(start + secs(9)), &mut cx)
                .is_pending()
        );
        assert_eq!((count(made), count(moved)), (1, 3));
        runtime.clock.advance_to(start + secs(9));
        assert!(
            deadline
                .poll(&runtime, Some(start + secs(9)), &mut cx)
                .is_ready()
        );
    }
}
