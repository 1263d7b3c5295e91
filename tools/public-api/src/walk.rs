//! Finds every public path of a crate: from its root through public
//! modules and `pub use` re-exports, globs included, into the other listed
//! crates.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use rustdoc_types::{Id, Item, ItemEnum, ItemKind, Visibility};

use crate::load::{Key, Target, Workspace};

/// A path from a crate root, one segment per name.
pub type ItemPath = Vec<String>;

/// The public paths of one crate.
pub struct Reachable {
    /// The crate these paths start from.
    pub root: usize,
    /// Each reachable item of a listed crate and every path it has here.
    pub items: BTreeMap<Key, BTreeSet<ItemPath>>,
    /// Re-exports that are not followed, with what they point to: items of
    /// other crates (std, dependencies) and the roots of other listed
    /// crates (which have listings of their own).
    pub reexports: BTreeSet<(ItemPath, String)>,
}

impl Reachable {
    /// The path an item is listed under: its shortest path here, the first
    /// in sorted order among equals.
    pub fn canonical(&self, key: Key) -> Option<&ItemPath> {
        self.items
            .get(&key)?
            .iter()
            .min_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)))
    }
}

/// Walks crate `root` of the workspace.
pub fn reachable(ws: &Workspace, root: usize) -> Reachable {
    let mut walker = Walker {
        ws,
        stack: Vec::new(),
        out: Reachable {
            root,
            items: BTreeMap::new(),
            reexports: BTreeSet::new(),
        },
    };
    let krate = &ws.crates[root];
    walker.module((root, krate.krate.root), vec![krate.name.clone()]);
    walker.out
}

/// Rust's namespaces: a glob import is shadowed only by a name in the same
/// one.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Namespace {
    Type,
    Value,
    Macro,
}

fn namespace(inner: &ItemEnum) -> Namespace {
    match inner {
        ItemEnum::Function(_) | ItemEnum::Constant { .. } | ItemEnum::Static(_) => Namespace::Value,
        ItemEnum::Macro(_) | ItemEnum::ProcMacro(_) => Namespace::Macro,
        _ => Namespace::Type,
    }
}

struct Walker<'a> {
    ws: &'a Workspace,
    /// Modules being walked, so that a module re-exported inside itself
    /// does not recurse for ever.
    stack: Vec<Key>,
    out: Reachable,
}

impl<'a> Walker<'a> {
    fn record(&mut self, key: Key, path: ItemPath) {
        self.out.items.entry(key).or_default().insert(path);
    }

    fn public_items(&self, module: Key) -> Vec<(Id, &'a Item)> {
        let ws: &'a Workspace = self.ws;
        let Some(ItemEnum::Module(m)) = ws.item(module).map(|i| &i.inner) else {
            return Vec::new();
        };
        m.items
            .iter()
            .filter_map(|id| {
                let item = ws.item((module.0, *id))?;
                (item.visibility == Visibility::Public).then_some((*id, item))
            })
            .collect()
    }

    /// The name and namespace an entry of a module brings into scope (none
    /// for globs and impls).
    fn binding(&self, krate: usize, item: &Item) -> Option<(Namespace, String)> {
        match &item.inner {
            ItemEnum::Use(u) if u.is_glob => None,
            ItemEnum::Use(u) => {
                // rustdoc's summary of the target gives its kind, whichever
                // crate it is in.
                let kind =
                    u.id.and_then(|id| self.ws.crates[krate].krate.paths.get(&id))
                        .map(|summary| summary.kind);
                let ns = match kind {
                    Some(ItemKind::Function | ItemKind::Constant | ItemKind::Static) => {
                        Namespace::Value
                    }
                    Some(ItemKind::Macro | ItemKind::ProcAttribute | ItemKind::ProcDerive) => {
                        Namespace::Macro
                    }
                    _ => Namespace::Type,
                };
                Some((ns, u.name.clone()))
            }
            ItemEnum::Impl(_) => None,
            inner => Some((namespace(inner), item.name.clone()?)),
        }
    }

    fn module(&mut self, module: Key, path: ItemPath) {
        self.record(module, path.clone());
        if self.stack.contains(&module) {
            return;
        }
        self.stack.push(module);
        let entries = self.public_items(module);
        let explicit: HashSet<(Namespace, String)> = entries
            .iter()
            .filter_map(|(_, item)| self.binding(module.0, item))
            .collect();
        for (id, item) in &entries {
            match &item.inner {
                ItemEnum::Use(u) if u.is_glob => self.glob(module.0, u, &path, &explicit),
                _ => self.entry((module.0, *id), &path),
            }
        }
        self.stack.pop();
    }

    /// `pub use source::*` inside the module at `path`: every public name of
    /// the source that the module does not define itself.
    fn glob(
        &mut self,
        krate: usize,
        u: &rustdoc_types::Use,
        path: &ItemPath,
        explicit: &HashSet<(Namespace, String)>,
    ) {
        let target =
            u.id.map_or(Target::Unknown, |id| self.ws.resolve(krate, id));
        let mut star = path.clone();
        star.push("*".to_owned());
        match target {
            Target::Item(source) => {
                let is_module = matches!(
                    self.ws.item(source).map(|i| &i.inner),
                    Some(ItemEnum::Module(_))
                );
                if !is_module {
                    // The variants of an enum: named by the enum's listing.
                    let shown = self.ws.defined_at(source).unwrap_or(u.source.clone());
                    self.out.reexports.insert((star, format!("{shown}::*")));
                    return;
                }
                if self.stack.contains(&source) {
                    return;
                }
                self.stack.push(source);
                for (id, item) in self.public_items(source) {
                    match &item.inner {
                        ItemEnum::Use(inner) if inner.is_glob => {
                            self.glob(source.0, inner, path, explicit)
                        }
                        _ => {
                            let shadowed = self
                                .binding(source.0, item)
                                .is_none_or(|b| explicit.contains(&b));
                            if !shadowed {
                                self.entry((source.0, id), path);
                            }
                        }
                    }
                }
                self.stack.pop();
            }
            Target::Foreign(shown) => {
                self.out.reexports.insert((star, format!("{shown}::*")));
            }
            Target::Unknown => {
                self.out
                    .reexports
                    .insert((star, format!("{}::*", u.source)));
            }
        }
    }

    /// One (non-glob) entry of the module at `path`.
    fn entry(&mut self, key: Key, path: &ItemPath) {
        let ws: &'a Workspace = self.ws;
        let Some(item) = ws.item(key) else {
            return;
        };
        match &item.inner {
            ItemEnum::Impl(_) => {}
            ItemEnum::Use(u) => {
                let mut at = path.clone();
                at.push(u.name.clone());
                match u
                    .id
                    .map_or(Target::Unknown, |id| self.ws.resolve(key.0, id))
                {
                    Target::Item(target) => match self.ws.item(target).map(|i| &i.inner) {
                        Some(ItemEnum::Module(m)) if m.is_crate => {
                            // Another listed crate's root: its own listing
                            // shows what is in it.
                            let name = self.ws.crates[target.0].name.clone();
                            self.out.reexports.insert((at, name));
                        }
                        _ => self.item(target, at),
                    },
                    Target::Foreign(shown) => {
                        self.out.reexports.insert((at, shown));
                    }
                    Target::Unknown => {
                        self.out.reexports.insert((at, u.source.clone()));
                    }
                }
            }
            _ => {
                if let Some(name) = &item.name {
                    let mut at = path.clone();
                    at.push(name.clone());
                    self.item(key, at);
                }
            }
        }
    }

    fn item(&mut self, key: Key, path: ItemPath) {
        match self.ws.item(key).map(|i| &i.inner) {
            Some(ItemEnum::Module(_)) => self.module(key, path),
            Some(_) => self.record(key, path),
            None => {}
        }
    }
}
