//! Known findings: panics already reported and awaiting their fix.
//!
//! A target that keeps crashing on a known finding spends its time
//! restarting instead of exploring (libFuzzer's fork mode restarts a job per
//! crash). `S2_FUZZ_KNOWN` lists panic locations (`file:line`, comma
//! separated) that [`fuzz`] lets pass quietly; any other panic still crashes
//! the target. The properties themselves are unchanged: the crashing inputs
//! stay under `fuzz/regressions/`, where the stable tests keep failing on
//! them until the fix lands.

use std::{
    cell::Cell,
    panic::{AssertUnwindSafe, catch_unwind, resume_unwind},
    sync::OnceLock,
};

use crate::Body;

thread_local! {
    static KNOWN_PANIC: Cell<bool> = const { Cell::new(false) };
}

fn known_locations() -> &'static [String] {
    static KNOWN: OnceLock<Vec<String>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        std::env::var("S2_FUZZ_KNOWN")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
}

/// Runs `body` on `data` as a fuzz target: a panic at a known location
/// returns normally, any other panic goes to the hook installed before
/// (libFuzzer's, which reports the crash).
pub fn fuzz(body: Body, data: &[u8]) {
    let known = known_locations();
    if known.is_empty() {
        return body(data);
    }
    static HOOK: OnceLock<()> = OnceLock::new();
    HOOK.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            if known_locations()
                .iter()
                .any(|k| location.ends_with(k.as_str()))
            {
                KNOWN_PANIC.with(|k| k.set(true));
            } else {
                previous(info);
            }
        }));
    });
    KNOWN_PANIC.with(|k| k.set(false));
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| body(data)))
        && !KNOWN_PANIC.with(Cell::get)
    {
        resume_unwind(panic);
    }
}
