//! A counting global allocator, so cases can assert that hostile input
//! costs bounded memory.
//!
//! A test binary installs it with
//! [`counting_allocator!`](crate::counting_allocator); cases measure the
//! peak of extra heap during a future with [`peak_during`]. Heap
//! allocated by other threads counts too (the hostile server runs in the
//! same process), so cases that measure run alone: they hold
//! [`exclusive`] while every other case holds [`shared`].
//!
//! Besides counting, the allocator refuses to grow the process past
//! [`HARD_LIMIT`]: a memory bomb that gets past the client's limits aborts
//! the test binary instead of eating the machine.

use std::{
    alloc::System,
    future::Future,
    sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard},
};

use peakmem_alloc::{PeakMemAlloc, PeakMemAllocTrait};

/// The most heap the whole test process may hold.
pub const HARD_LIMIT: usize = 4 * 1024 * 1024 * 1024;

/// Peak tracking, wrapped by the installed [`CountingAllocator`].
pub static PEAK: PeakMemAlloc<System> = PeakMemAlloc::system();

/// The allocator a test binary installs: current bytes and the hard limit
/// ([`cap::Cap`]) over peak tracking ([`PEAK`]) over the system allocator.
pub type CountingAllocator = cap::Cap<&'static PeakMemAlloc<System>>;

/// Declares `static $name` as the process's global allocator, counting.
#[macro_export]
macro_rules! counting_allocator {
    ($name:ident) => {
        #[global_allocator]
        static $name: $crate::alloc::CountingAllocator =
            $crate::alloc::CountingAllocator::new(&$crate::alloc::PEAK, $crate::alloc::HARD_LIMIT);
    };
}

static INSTALLED: OnceLock<&'static CountingAllocator> = OnceLock::new();
static MEASURING: RwLock<()> = RwLock::new(());

/// Records which allocator the binary installed, so [`current_bytes`] can
/// read it. The hostile macro calls this first thing in every case.
pub fn install(allocator: &'static CountingAllocator) {
    INSTALLED.get_or_init(|| allocator);
}

/// Bytes currently allocated by the whole process.
///
/// # Panics
/// When no counting allocator was [`install`]ed.
pub fn current_bytes() -> usize {
    INSTALLED
        .get()
        .expect("the test binary installs a counting allocator")
        .allocated()
}

/// Held by a case that measures memory: no other case runs meanwhile.
pub fn exclusive() -> RwLockWriteGuard<'static, ()> {
    MEASURING.write().unwrap_or_else(|p| p.into_inner())
}

/// Held by a case that does not measure memory: it may run alongside others.
pub fn shared() -> RwLockReadGuard<'static, ()> {
    MEASURING.read().unwrap_or_else(|p| p.into_inner())
}

/// Runs `future` and returns its output with the peak of heap bytes
/// allocated on top of what was held when it started.
///
/// # Panics
/// When the peak is not being counted (no counting allocator installed), so
/// a memory assertion can never pass by measuring nothing.
pub async fn peak_during<F: Future>(future: F) -> (F::Output, usize) {
    assert_counting();
    PEAK.reset_peak_memory();
    let output = future.await;
    (output, PEAK.get_peak_memory())
}

fn assert_counting() {
    const PROBE: usize = 1024 * 1024;
    PEAK.reset_peak_memory();
    let probe = std::hint::black_box(vec![1u8; PROBE]);
    let seen = PEAK.get_peak_memory();
    drop(probe);
    assert!(
        seen >= PROBE && INSTALLED.get().is_some(),
        "the counting allocator is not this binary's global allocator"
    );
}
