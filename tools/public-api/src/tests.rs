//! The listing of two small fixture crates (`fixtures/`), documented by the
//! same rustdoc that documents the workspace: `outer` re-exports `inner`
//! the ways the runtime crates re-export s2-client and s2-client re-exports
//! s2-core.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::load::{Loaded, Workspace};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("the toolchain runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Documents both fixture crates as rustdoc JSON into `dir`.
fn document(dir: &Path) -> Workspace {
    let edition = ["--edition", "2024"];
    run(Command::new("rustc")
        .args([
            "--crate-type",
            "lib",
            "--crate-name",
            "inner",
            "--emit",
            "metadata",
        ])
        .args(edition)
        .arg("-o")
        .arg(dir.join("libinner.rmeta"))
        .arg(fixtures().join("inner.rs")));
    for name in ["inner", "outer"] {
        run(Command::new("rustdoc")
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["-Z", "unstable-options", "--output-format", "json"])
            .args(["--crate-type", "lib", "--crate-name", name])
            .args(edition)
            .arg("--extern")
            .arg(format!("inner={}", dir.join("libinner.rmeta").display()))
            .arg("-o")
            .arg(dir)
            .arg(fixtures().join(format!("{name}.rs"))));
    }
    let crates = ["inner", "outer"]
        .iter()
        .map(|name| Loaded::read(&dir.join(format!("{name}.json"))).expect("fixture JSON"))
        .collect();
    Workspace::new(crates)
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("s2-public-api-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

const INNER: &str = "\
pub mod inner
pub struct inner::Config { .. }
pub inner::Config::limit: usize
pub fn inner::Config::new(limit: usize) -> Self
impl core::marker::Send for inner::Config
impl core::marker::Sync for inner::Config
impl core::marker::Unpin for inner::Config
impl core::panic::unwind_safe::RefUnwindSafe for inner::Config
impl core::panic::unwind_safe::UnwindSafe for inner::Config
pub const inner::LIMIT: usize = 1_024usize
pub struct inner::Local(pub alloc::rc::Rc<u8>)
impl !core::marker::Send for inner::Local
impl !core::marker::Sync for inner::Local
impl core::marker::Unpin for inner::Local
impl core::panic::unwind_safe::RefUnwindSafe for inner::Local
impl core::panic::unwind_safe::UnwindSafe for inner::Local
pub struct inner::Token(pub u32, _)
impl core::clone::Clone for inner::Token
impl core::cmp::PartialEq for inner::Token
impl core::convert::From<inner::Token> for u64
impl core::fmt::Debug for inner::Token
impl core::marker::Send for inner::Token
impl core::marker::Sync for inner::Token
impl core::marker::Unpin for inner::Token
impl core::panic::unwind_safe::RefUnwindSafe for inner::Token
impl core::panic::unwind_safe::UnwindSafe for inner::Token
pub fn inner::first<'a>(items: &'a [u8], _hint: impl core::convert::Into<u64>) -> core::option::Option<&'a u8>
pub mod inner::shapes
pub trait inner::shapes::Area: core::marker::Send
const inner::shapes::Area::SIDES: u32
type inner::shapes::Area::Unit
fn inner::shapes::Area::area(&self) -> f64
fn inner::shapes::Area::double(&self) -> f64 { .. }
impl inner::shapes::Area for alloc::string::String { const SIDES: u32 = 1; type Unit = (); }
#[repr(u8)] pub enum inner::shapes::Level
pub inner::shapes::Level::Low = 1
pub inner::shapes::Level::High = 10
impl core::marker::Send for inner::shapes::Level
impl core::marker::Sync for inner::shapes::Level
impl core::marker::Unpin for inner::shapes::Level
impl core::panic::unwind_safe::RefUnwindSafe for inner::shapes::Level
impl core::panic::unwind_safe::UnwindSafe for inner::shapes::Level
#[non_exhaustive] pub enum inner::shapes::Shape
pub inner::shapes::Shape::Point
pub inner::shapes::Shape::Circle(f64)
pub inner::shapes::Shape::Rect { w: f64, h: f64 }
impl core::fmt::Debug for inner::shapes::Shape
impl core::marker::Send for inner::shapes::Shape
impl core::marker::Sync for inner::shapes::Shape
impl core::marker::Unpin for inner::shapes::Shape
impl core::panic::unwind_safe::RefUnwindSafe for inner::shapes::Shape
impl core::panic::unwind_safe::UnwindSafe for inner::shapes::Shape
impl inner::shapes::Area for inner::shapes::Shape { const SIDES: u32 = 0; type Unit = f64; }
pub struct inner::shapes::Wrapper<T>
pub inner::shapes::Wrapper::value: T
pub fn inner::shapes::Wrapper<T>::get(&self) -> T where T: core::clone::Clone
pub fn inner::shapes::Wrapper<T>::map<U, F>(self, f: F) -> inner::shapes::Wrapper<U> where T: core::clone::Clone, F: core::ops::function::FnOnce(T) -> U
impl<T> core::marker::Send for inner::shapes::Wrapper<T> where T: core::marker::Send
impl<T> core::marker::Sync for inner::shapes::Wrapper<T> where T: core::marker::Sync
impl<T> core::marker::Unpin for inner::shapes::Wrapper<T> where T: core::marker::Unpin
impl<T> core::panic::unwind_safe::RefUnwindSafe for inner::shapes::Wrapper<T> where T: core::panic::unwind_safe::RefUnwindSafe
impl<T> core::panic::unwind_safe::UnwindSafe for inner::shapes::Wrapper<T> where T: core::panic::unwind_safe::UnwindSafe
";

const OUTER: &str = "\
pub mod outer
pub use outer::BTreeMap = alloc::collections::btree::map::BTreeMap
pub type outer::Config = inner::Config
pub trait outer::Describe
fn outer::Describe::describe(&self) -> alloc::string::String
pub const outer::LIMIT: usize = 1_024usize
pub struct outer::Local(pub alloc::rc::Rc<u8>)
impl !core::marker::Send for outer::Local
impl !core::marker::Sync for outer::Local
impl core::marker::Unpin for outer::Local
impl core::panic::unwind_safe::RefUnwindSafe for outer::Local
impl core::panic::unwind_safe::UnwindSafe for outer::Local
pub struct outer::Token(pub u32, _)
impl core::clone::Clone for outer::Token
impl core::cmp::PartialEq for outer::Token
impl core::convert::From<outer::Token> for u64
impl core::fmt::Debug for outer::Token
impl core::marker::Send for outer::Token
impl core::marker::Sync for outer::Token
impl core::marker::Unpin for outer::Token
impl core::panic::unwind_safe::RefUnwindSafe for outer::Token
impl core::panic::unwind_safe::UnwindSafe for outer::Token
impl outer::Describe for outer::Token
pub use outer::core = inner
pub fn outer::first() -> u8
macro_rules! outer::make { ($name:ident) => { ... }; () => { ... }; }
pub mod outer::shapes
pub trait outer::shapes::Area: core::marker::Send
const outer::shapes::Area::SIDES: u32
type outer::shapes::Area::Unit
fn outer::shapes::Area::area(&self) -> f64
fn outer::shapes::Area::double(&self) -> f64 { .. }
impl outer::shapes::Area for alloc::string::String { const SIDES: u32 = 1; type Unit = (); }
#[repr(u8)] pub enum outer::shapes::Level
pub outer::shapes::Level::Low = 1
pub outer::shapes::Level::High = 10
impl core::marker::Send for outer::shapes::Level
impl core::marker::Sync for outer::shapes::Level
impl core::marker::Unpin for outer::shapes::Level
impl core::panic::unwind_safe::RefUnwindSafe for outer::shapes::Level
impl core::panic::unwind_safe::UnwindSafe for outer::shapes::Level
#[non_exhaustive] pub enum outer::shapes::Shape
pub outer::shapes::Shape::Point
pub outer::shapes::Shape::Circle(f64)
pub outer::shapes::Shape::Rect { w: f64, h: f64 }
impl core::fmt::Debug for outer::shapes::Shape
impl core::marker::Send for outer::shapes::Shape
impl core::marker::Sync for outer::shapes::Shape
impl core::marker::Unpin for outer::shapes::Shape
impl core::panic::unwind_safe::RefUnwindSafe for outer::shapes::Shape
impl core::panic::unwind_safe::UnwindSafe for outer::shapes::Shape
impl outer::shapes::Area for outer::shapes::Shape { const SIDES: u32 = 0; type Unit = f64; }
pub struct outer::shapes::Wrapper<T>
pub outer::shapes::Wrapper::value: T
pub fn outer::shapes::Wrapper<T>::get(&self) -> T where T: core::clone::Clone
pub fn outer::shapes::Wrapper<T>::map<U, F>(self, f: F) -> outer::shapes::Wrapper<U> where T: core::clone::Clone, F: core::ops::function::FnOnce(T) -> U
impl<T> core::marker::Send for outer::shapes::Wrapper<T> where T: core::marker::Send
impl<T> core::marker::Sync for outer::shapes::Wrapper<T> where T: core::marker::Sync
impl<T> core::marker::Unpin for outer::shapes::Wrapper<T> where T: core::marker::Unpin
impl<T> core::panic::unwind_safe::RefUnwindSafe for outer::shapes::Wrapper<T> where T: core::panic::unwind_safe::RefUnwindSafe
impl<T> core::panic::unwind_safe::UnwindSafe for outer::shapes::Wrapper<T> where T: core::panic::unwind_safe::UnwindSafe
";

/// Fails with the lines that differ, then the whole listing.
fn assert_listing(name: &str, actual: &[String], expected: &str) {
    let expected: Vec<&str> = expected.lines().collect();
    if actual == expected.as_slice() {
        return;
    }
    let mut report = format!("the listing of {name} differs:\n");
    for line in expected.iter().filter(|l| !actual.iter().any(|a| a == *l)) {
        report.push_str(&format!("-{line}\n"));
    }
    for line in actual.iter().filter(|a| !expected.contains(&a.as_str())) {
        report.push_str(&format!("+{line}\n"));
    }
    report.push_str(&format!(
        "(or the same lines in another order)\nwhole listing:\n{}",
        actual.join("\n")
    ));
    panic!("{report}");
}

#[test]
fn fixture_listings() {
    let dir = temp_dir("fixtures");
    let ws = document(&dir);
    let listings = crate::listings(&ws);
    let inner = ws.crate_index("inner").expect("inner");
    let outer = ws.crate_index("outer").expect("outer");
    assert_listing("inner", &listings[inner], INNER);
    assert_listing("outer", &listings[outer], OUTER);
    // The same input gives the same listing.
    assert_eq!(crate::listings(&ws), listings);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn another_json_format_is_refused_with_the_fix() {
    let dir = temp_dir("format");
    let file = dir.join("old.json");
    std::fs::write(&file, r#"{"format_version": 1}"#).expect("write");
    let err = Loaded::read(&file).err().expect("format 1 is refused");
    assert!(err.contains("format Some(1)"), "{err}");
    assert!(err.contains("rustdoc-types"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
