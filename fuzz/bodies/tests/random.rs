//! Runs every fuzz target body under stable `cargo test`: on the checked-in
//! seed corpus, on the recorded regressions, and on random inputs (random
//! bytes and random mutations of the seeds) for a few seconds per target.
//!
//! `S2_FUZZ_SECS` sets the time per target (default 2).

use std::{
    cell::RefCell,
    collections::BTreeMap,
    fs,
    panic::{AssertUnwindSafe, catch_unwind},
    path::{Path, PathBuf},
    sync::Once,
    time::{Duration, Instant},
};

use rand::{Rng, SeedableRng, rngs::SmallRng};
use s2_fuzz_bodies::{Body, TARGETS};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .map(|e| e.expect("a readable directory entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let data = fs::read(&p).expect("a readable corpus file");
            (p, data)
        })
        .collect();
    files.sort();
    files
}

thread_local! {
    /// Where and why the last panic on this thread happened.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Records panics instead of printing them, so that a run can go on and
/// report every distinct violation once.
fn quiet_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let location = info
                .location()
                .map_or_else(String::new, |l| format!("{}:{}", l.file(), l.line()));
            let message = info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{location}: {message}")));
        }));
    });
}

/// Runs `body` on `data`: `None` if it holds, else where and why it panicked.
fn run(body: Body, data: &[u8]) -> Option<String> {
    quiet_panics();
    catch_unwind(AssertUnwindSafe(|| body(data)))
        .err()
        .map(|_| {
            LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_default()
        })
}

/// Violations by panic location, each with its smallest input.
#[derive(Default)]
struct Violations(BTreeMap<String, (String, Vec<u8>)>);

impl Violations {
    fn add(&mut self, panic: String, data: &[u8]) {
        let location = panic.split(": ").next().unwrap_or_default().to_owned();
        let entry = self
            .0
            .entry(location)
            .or_insert_with(|| (panic.clone(), data.to_vec()));
        if data.len() < entry.1.len() {
            *entry = (panic, data.to_vec());
        }
    }

    /// Saves each input and fails with the list.
    fn check(self, name: &str) {
        if self.0.is_empty() {
            return;
        }
        let dir = std::env::temp_dir().join("s2-fuzz-failures").join(name);
        fs::create_dir_all(&dir).expect("a writable temp dir");
        let mut report = String::new();
        for (panic, data) in self.0.into_values() {
            let path = dir.join(format!("crash-{:016x}", hash(&data)));
            fs::write(&path, &data).expect("a writable temp dir");
            report.push_str(&format!("\n  {panic}\n    input: {}", path.display()));
        }
        // The quiet hook swallows panic messages: print the report first.
        println!("{name}: properties violated:{report}");
        panic!("{name}: properties violated:{report}");
    }
}

fn hash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn seconds() -> Duration {
    let secs = std::env::var("S2_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    Duration::from_secs_f64(secs)
}

fn mutate(rng: &mut SmallRng, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        match rng.random_range(0..4) {
            0 if !data.is_empty() => {
                let i = rng.random_range(0..data.len());
                data[i] = rng.random();
            }
            1 => {
                let i = rng.random_range(0..=data.len());
                data.insert(i, rng.random());
            }
            2 if !data.is_empty() => {
                let i = rng.random_range(0..data.len());
                data.remove(i);
            }
            _ if !data.is_empty() => {
                let i = rng.random_range(0..data.len());
                data.truncate(i.max(1));
            }
            _ => data.push(rng.random()),
        }
    }
    data
}

fn random_run(name: &str) {
    let body = TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .expect("a known target")
        .1;
    let corpus = files(&fuzz_dir().join("corpus").join(name));
    assert!(
        corpus.len() >= 10,
        "{name}: the seed corpus is missing (cargo run -p s2-fuzz-bodies --example write_corpus)"
    );
    let mut violations = Violations::default();
    for (_, data) in &corpus {
        if let Some(panic) = run(body, data) {
            violations.add(panic, data);
        }
    }
    let mut rng = SmallRng::seed_from_u64(hash(name.as_bytes()));
    let deadline = Instant::now() + seconds();
    let mut runs = 0u64;
    while Instant::now() < deadline {
        let data = if rng.random_bool(0.5) {
            let len = rng.random_range(0..512);
            (0..len).map(|_| rng.random()).collect()
        } else {
            let (_, seed) = &corpus[rng.random_range(0..corpus.len())];
            mutate(&mut rng, seed)
        };
        if let Some(panic) = run(body, &data) {
            violations.add(panic, &data);
        }
        runs += 1;
    }
    println!("{name}: {runs} random inputs");
    violations.check(name);
}

/// Every crash the fuzzer found, kept so that it stays fixed.
#[test]
fn regressions() {
    let mut failures = Vec::new();
    for (name, body) in TARGETS {
        for (path, data) in files(&fuzz_dir().join("regressions").join(name)) {
            if let Some(panic) = run(*body, &data) {
                failures.push(format!("{}: {panic}", path.display()));
            }
        }
    }
    if !failures.is_empty() {
        println!("regressions fail: {failures:#?}");
        panic!("regressions fail: {failures:#?}");
    }
}

/// The seeds decode as what they claim to be: most success bodies parse.
#[test]
fn seeds_are_current() {
    for (name, _) in TARGETS {
        let written = files(&fuzz_dir().join("corpus").join(name));
        let seeds = s2_fuzz_bodies::seeds::seeds(name);
        for (i, seed) in seeds.iter().enumerate() {
            let file = format!("seed-{i:03}");
            assert!(
                written
                    .iter()
                    .any(|(p, d)| p.file_name().is_some_and(|f| f == file.as_str()) && d == seed),
                "{name}/{file} is stale: run the write_corpus example"
            );
        }
    }
}

macro_rules! random_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                random_run(stringify!($name));
            }
        )*
    };
}

random_tests!(
    frame_decoder,
    proto_messages,
    unary_response,
    append_session,
    read_session,
    endpoints,
);
