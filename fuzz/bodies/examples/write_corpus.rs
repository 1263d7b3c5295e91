//! Writes the seed corpus of every fuzz target under `fuzz/corpus/<target>/`.
//!
//! ```text
//! cargo run -p s2-fuzz-bodies --example write_corpus
//! git add fuzz/corpus       # the seeds are tracked; fuzzing adds to fuzz/target/work-corpus
//! ```
//!
//! Files other than `seed-NNN` are left alone; `scripts/fuzz.sh` keeps what
//! the fuzzer finds in `fuzz/target/work-corpus/` instead.

use std::{fs, path::Path};

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus");
    for (name, _) in s2_fuzz_bodies::TARGETS {
        let dir = root.join(name);
        fs::create_dir_all(&dir)?;
        let seeds = s2_fuzz_bodies::seeds::seeds(name);
        for (i, seed) in seeds.iter().enumerate() {
            fs::write(dir.join(format!("seed-{i:03}")), seed)?;
        }
        println!("{name}: {} seeds", seeds.len());
    }
    Ok(())
}
