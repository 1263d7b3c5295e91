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
/// time. Only an earlier deadline replaces it at once. That keeps timer
/// registrations to about one per timeout period instead of one per frame.
pub(crate) struct Deadline {
    /// When the armed timer fires, and the timer.
    armed: Option<(Instant, SleepFuture)>,
}

impl Deadline {
    pub(crate) fn new() -> Self {
        Self { armed: None }
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
            if let Some((_, sleep)) = self.armed.as_mut()
                && sleep.as_mut().poll(cx).is_ready()
            {
                self.armed = None;
            }
            return Poll::Pending;
        };
        loop {
            let sleep = match &mut self.armed {
                Some((armed_at, sleep)) if *armed_at <= at => sleep,
                armed => {
                    let duration = at.saturating_duration_since(runtime.now());
                    &mut armed.insert((at, runtime.sleep(duration))).1
                }
            };
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.armed = None;
            if runtime.now() >= at {
                return Poll::Ready(());
            }
            // Fired for an earlier deadline than the current one: re-arm.
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

    impl Runtime for VirtualClock {
        fn spawn(&self, _task: Task) {}
        fn sleep(&self, duration: Duration) -> SleepFuture {
            self.timers.fetch_add(1, Ordering::Relaxed);
            let (clock, until) = (self.clone(), self.now() + duration);
            Box::pin(std::future::poll_fn(move |_| {
                if clock.now() >= until {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }))
        }
        fn now(&self) -> Instant {
            self.start + *self.elapsed.lock().unwrap()
        }
        fn connect(&self, _target: ConnectTarget) -> ConnectFuture {
            Box::pin(async { Err(std::io::Error::other("no network")) })
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
}
