//! The rustdoc JSON of every listed crate, and how an id in one crate's JSON
//! is resolved to an item of another (rustdoc's `--no-deps` JSON only names
//! items of other crates by path).

use std::collections::HashMap;
use std::path::Path;

use rustdoc_types::{Crate, FORMAT_VERSION, Id, Item, ItemKind};

/// An item: the index of its crate in [`Workspace::crates`] and its id in
/// that crate's JSON.
pub type Key = (usize, Id);

/// One crate's rustdoc JSON.
pub struct Loaded {
    /// The crate name as Rust spells it (`s2_core`).
    pub name: String,
    /// The parsed JSON.
    pub krate: Crate,
    /// Local items by path and kind, to resolve other crates' references.
    by_path: HashMap<(Vec<String>, ItemKind), Id>,
}

impl Loaded {
    /// Parses one rustdoc JSON file, refusing a format this tool was not
    /// built for.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let version: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| format!("parsing {}: {e}", path.display()))?;
        let found = version.get("format_version").and_then(|v| v.as_u64());
        if found != Some(u64::from(FORMAT_VERSION)) {
            return Err(format!(
                "{} has rustdoc JSON format {found:?}, but this tool reads format {FORMAT_VERSION}: \
                 set `rustdoc-types = \"=0.<format>.x\"` in tools/public-api/Cargo.toml \
                 (and adapt the tool if the types changed), then re-run with --bless",
                path.display()
            ));
        }
        let krate: Crate = serde_json::from_value(version)
            .map_err(|e| format!("parsing {}: {e}", path.display()))?;
        Ok(Self::new(krate))
    }

    /// Indexes a parsed crate.
    pub fn new(krate: Crate) -> Self {
        let root = &krate.index[&krate.root];
        let name = root.name.clone().expect("the crate root has a name");
        let mut by_path: HashMap<(Vec<String>, ItemKind), Id> = HashMap::new();
        for (id, summary) in &krate.paths {
            if summary.crate_id != 0 {
                continue;
            }
            // Ids are unique; should two items share a path and kind, keep
            // the smaller id so that runs agree.
            by_path
                .entry((summary.path.clone(), summary.kind))
                .and_modify(|old| *old = (*old).min(*id))
                .or_insert(*id);
        }
        Self {
            name,
            krate,
            by_path,
        }
    }
}

/// What an id found in some crate's JSON stands for.
pub enum Target {
    /// An item of a listed crate.
    Item(Key),
    /// An item of another crate (std or a dependency), by its path.
    Foreign(String),
    /// Nothing rustdoc described.
    Unknown,
}

/// Every listed crate's JSON.
pub struct Workspace {
    /// Sorted by name.
    pub crates: Vec<Loaded>,
}

impl Workspace {
    /// Puts the crates in a fixed order.
    pub fn new(mut crates: Vec<Loaded>) -> Self {
        crates.sort_by(|a, b| a.name.cmp(&b.name));
        Self { crates }
    }

    /// The index of the crate named `name` (Rust spelling).
    pub fn crate_index(&self, name: &str) -> Option<usize> {
        self.crates.iter().position(|c| c.name == name)
    }

    /// The item behind a key.
    pub fn item(&self, key: Key) -> Option<&Item> {
        self.crates[key.0].krate.index.get(&key.1)
    }

    /// Resolves an id that appears in crate `krate`'s JSON.
    pub fn resolve(&self, krate: usize, id: Id) -> Target {
        let c = &self.crates[krate].krate;
        if c.index.get(&id).is_some_and(|item| item.crate_id == 0) {
            return Target::Item((krate, id));
        }
        let Some(summary) = c.paths.get(&id) else {
            return Target::Unknown;
        };
        if summary.crate_id == 0 {
            // Described but stripped: a local item that is not public.
            return Target::Foreign(summary.path.join("::"));
        }
        let Some(external) = c.external_crates.get(&summary.crate_id) else {
            return Target::Foreign(summary.path.join("::"));
        };
        if let Some(other) = self.crate_index(&external.name) {
            let key = (summary.path.clone(), summary.kind);
            if let Some(found) = self.crates[other].by_path.get(&key) {
                return Target::Item((other, *found));
            }
        }
        Target::Foreign(summary.path.join("::"))
    }

    /// The path rustdoc gives an item where it is defined (private modules
    /// included), if it gives one.
    pub fn defined_at(&self, key: Key) -> Option<String> {
        self.crates[key.0]
            .krate
            .paths
            .get(&key.1)
            .map(|summary| summary.path.join("::"))
    }
}
