//! Lists the public API of every published crate of the workspace and
//! compares it with the listings checked in under `api/`.
//!
//! ```text
//! cargo run -p s2-public-api            # check: fails with a diff on drift
//! cargo run -p s2-public-api -- --bless # rewrite api/*.txt from the code
//! ```
//!
//! (`scripts/public-api.sh` runs the same.) The published crates are the
//! workspace members that are not `publish = false`; each is documented as
//! rustdoc JSON (`RUSTC_BOOTSTRAP=1` lets the stable rustdoc write it) with
//! every feature except those in [`LEFT_OUT_FEATURES`], and its listing has
//! one line per public item, field, variant, method, associated item and
//! trait impl, under the path a user names it by. Re-exports are followed,
//! globs of other workspace crates included; a re-export of another
//! published crate's root is one line, since that crate has its own
//! listing.

mod listing;
mod load;
mod render;
#[cfg(test)]
mod tests;
mod walk;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use serde_json::Value;

/// Features that add no public item and are left out of the listings:
/// `aws-lc-rs` only picks rustls' crypto provider (over the default `ring`)
/// and would build aws-lc's C code with cmake.
const LEFT_OUT_FEATURES: &[&str] = &["aws-lc-rs"];

/// The folder of the listings, from the workspace root.
const API_DIR: &str = "api";

fn main() -> ExitCode {
    let mut bless = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--bless" => bless = true,
            "-h" | "--help" => {
                println!(
                    "usage: s2-public-api [--bless]\n\n\
                     Without --bless: regenerates the public API listings and fails with a\n\
                     diff if they differ from {API_DIR}/*.txt. With --bless: rewrites them."
                );
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("unknown argument {other:?} (try --help)");
                return ExitCode::from(2);
            }
        }
    }
    match run(bless) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// A published crate of the workspace.
struct Package {
    /// As in Cargo.toml (`s2-core`).
    name: String,
    /// The features its listing is made with.
    features: Vec<String>,
}

/// Checks (or rewrites) every listing; `Ok(false)` when one differs.
fn run(bless: bool) -> Result<bool, String> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let metadata = cargo_metadata(&manifest)?;
    let root = PathBuf::from(str_field(&metadata, "workspace_root")?);
    let target = PathBuf::from(str_field(&metadata, "target_directory")?);
    let packages = published(&metadata)?;
    if packages.is_empty() {
        return Err("no published crate found".into());
    }

    let generated = target.join("public-api");
    let build = generated.join("build");
    document(&manifest, &build, &packages)?;
    let mut loaded = Vec::new();
    for p in &packages {
        let json = build
            .join("doc")
            .join(format!("{}.json", p.name.replace('-', "_")));
        loaded.push(load::Loaded::read(&json)?);
    }
    let ws = load::Workspace::new(loaded);
    let listings = listings(&ws);

    let api = root.join(API_DIR);
    fs::create_dir_all(&generated).map_err(|e| format!("creating {}: {e}", generated.display()))?;
    let mut clean = true;
    let mut expected_files = BTreeSet::new();
    for p in &packages {
        let lines = &listings[ws.crate_index(&p.name.replace('-', "_")).expect("loaded")];
        let text = file_text(p, lines);
        let file = format!("{}.txt", p.name);
        expected_files.insert(file.clone());
        let fresh = generated.join(&file);
        fs::write(&fresh, &text).map_err(|e| format!("writing {}: {e}", fresh.display()))?;
        let checked_in = api.join(&file);
        let old = fs::read_to_string(&checked_in).unwrap_or_default();
        if old == text {
            continue;
        }
        if bless {
            fs::create_dir_all(&api).map_err(|e| format!("creating {}: {e}", api.display()))?;
            fs::write(&checked_in, &text)
                .map_err(|e| format!("writing {}: {e}", checked_in.display()))?;
            println!("updated {API_DIR}/{file}");
        } else {
            clean = false;
            if !checked_in.exists() {
                println!(
                    "{API_DIR}/{file} is missing: {} is a published crate",
                    p.name
                );
            }
            print_diff(&format!("{API_DIR}/{file}"), &old, &text);
        }
    }
    // A listing left from a crate that is no longer published.
    for entry in fs::read_dir(&api).into_iter().flatten().flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.ends_with(".txt") && !expected_files.contains(&file) {
            if bless {
                fs::remove_file(entry.path())
                    .map_err(|e| format!("removing {API_DIR}/{file}: {e}"))?;
                println!("removed {API_DIR}/{file}");
            } else {
                clean = false;
                println!("{API_DIR}/{file}: no published crate has this listing");
            }
        }
    }
    if clean {
        println!(
            "public API listings match the code ({} crates)",
            packages.len()
        );
    } else {
        println!(
            "\nThe public API differs from the listings in {API_DIR}/ (fresh ones are in {}).\n\
             If the change is intended, run `scripts/public-api.sh --bless` and commit {API_DIR}/.",
            generated.display()
        );
    }
    Ok(clean)
}

/// Every crate's listing, in the order of [`load::Workspace::crates`].
fn listings(ws: &load::Workspace) -> Vec<Vec<String>> {
    let reachable: Vec<walk::Reachable> = (0..ws.crates.len())
        .map(|i| walk::reachable(ws, i))
        .collect();
    reachable
        .iter()
        .map(|r| listing::listing(ws, r, &reachable))
        .collect()
}

fn file_text(p: &Package, lines: &[String]) -> String {
    let features = if p.features.is_empty() {
        "default".to_owned()
    } else {
        format!("default + {}", p.features.join(", "))
    };
    let mut text = format!(
        "# Public API of {} (features: {features}).\n\
         # Generated by `scripts/public-api.sh --bless`; CI fails when it differs from the code.\n",
        p.name
    );
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// Lines only in the old listing (`-`) and only in the new one (`+`): the
/// lines of a listing are unique, so this is the whole difference.
fn print_diff(name: &str, old: &str, new: &str) {
    let old_lines: BTreeSet<&str> = old.lines().collect();
    let new_lines: BTreeSet<&str> = new.lines().collect();
    println!("--- {name} (checked in)\n+++ {name} (from the code)");
    for line in old.lines().filter(|l| !new_lines.contains(l)) {
        println!("-{line}");
    }
    for line in new.lines().filter(|l| !old_lines.contains(l)) {
        println!("+{line}");
    }
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn cargo_metadata(manifest: &Path) -> Result<Value, String> {
    let out = cargo()
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(manifest)
        .output()
        .map_err(|e| format!("running cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("parsing cargo metadata: {e}"))
}

fn str_field<'a>(v: &'a Value, field: &str) -> Result<&'a str, String> {
    v.get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("cargo metadata has no {field}"))
}

/// The workspace members with a library that may be published
/// (`publish = false` shows as an empty registry list).
fn published(metadata: &Value) -> Result<Vec<Package>, String> {
    let members: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .ok_or("cargo metadata has no workspace_members")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut out = Vec::new();
    for p in metadata["packages"]
        .as_array()
        .ok_or("cargo metadata has no packages")?
    {
        if !p["id"].as_str().is_some_and(|id| members.contains(id)) {
            continue;
        }
        if p["publish"]
            .as_array()
            .is_some_and(|registries| registries.is_empty())
        {
            continue;
        }
        let has_lib = p["targets"].as_array().is_some_and(|targets| {
            targets.iter().any(|t| {
                t["kind"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == "lib"))
            })
        });
        if !has_lib {
            continue;
        }
        let features: Vec<String> = p["features"]
            .as_object()
            .map(|f| {
                f.keys()
                    .filter(|k| *k != "default" && !LEFT_OUT_FEATURES.contains(&k.as_str()))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        out.push(Package {
            name: str_field(p, "name")?.to_owned(),
            features,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Writes `<build>/doc/<crate>.json` for every package, in one cargo run.
///
/// `build` is a target directory of its own: the dependencies are checked
/// with these packages' features only, and sharing the workspace's target
/// directory would make `cargo doc --workspace` and this run rebuild them
/// in turn.
fn document(manifest: &Path, build: &Path, packages: &[Package]) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args(["doc", "--no-deps", "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(build);
    let mut features = Vec::new();
    for p in packages {
        cmd.args(["-p", &p.name]);
        features.extend(p.features.iter().map(|f| format!("{}/{f}", p.name)));
    }
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    // Rustdoc JSON is unstable: the stable toolchain writes it when told it
    // may use unstable options. The flags replace any the caller set, so
    // that the JSON does not depend on them.
    cmd.env("RUSTC_BOOTSTRAP", "1")
        .env("RUSTDOCFLAGS", "-Z unstable-options --output-format json")
        .env_remove("CARGO_ENCODED_RUSTDOCFLAGS");
    let status = cmd
        .status()
        .map_err(|e| format!("running cargo doc: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo doc (rustdoc JSON) failed: {status}"))
    }
}
