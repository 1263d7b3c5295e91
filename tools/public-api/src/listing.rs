//! One crate's listing: a line per public item, field, variant, method,
//! associated item and trait impl, each under the path a user names it by.
//!
//! An item is written out in full once, under its canonical path (the
//! shortest; see [`Reachable::canonical`]); each other path it has gets a
//! `pub use PATH = CANONICAL` line. Lines are ordered by the path they
//! belong to, so an item's members follow it.

use std::collections::BTreeSet;

use rustdoc_types::{
    Attribute, GenericArgs, Id, Impl, Item, ItemEnum, ReprKind, StructKind, Type, VariantKind,
    Visibility,
};

use crate::load::{Key, Target, Workspace};
use crate::render::{Names, Renderer, header, where_clause};
use crate::walk::{ItemPath, Reachable};

/// Where a line sorts among the lines of the path it belongs to.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    /// The item itself, or another path to it.
    Item,
    /// Fields and variants, in declaration order.
    Member,
    /// Inherent methods and associated items; a trait's items.
    Associated,
    /// Trait impls.
    Impl,
}

/// Unstable marker traits of std that rustdoc reports impls of (auto
/// traits, or implied by a derive) but that no stable code can name.
const UNNAMEABLE_TRAITS: &[&str] = &[
    "core::marker::Freeze",
    "core::marker::StructuralPartialEq",
    "core::marker::UnsafeUnpin",
];

/// Where a line sorts among the lines of its path and rank: fields and
/// variants by their position, associated items by name.
type Order = (usize, String);

/// A line and where it sorts.
type Line = (ItemPath, Rank, Order, String);

/// Builds the listing of `reachable.root`. `all` holds every crate's
/// reachable paths, to name items this crate does not re-export.
pub fn listing(ws: &Workspace, reachable: &Reachable, all: &[Reachable]) -> Vec<String> {
    let mut lister = Lister {
        ws,
        here: reachable,
        all,
        lines: BTreeSet::new(),
    };
    for (key, paths) in &reachable.items {
        let canonical = reachable
            .canonical(*key)
            .expect("a reachable item has a path");
        lister.item(*key, canonical);
        for other in paths.iter().filter(|p| *p != canonical) {
            lister.push(
                other.clone(),
                Rank::Item,
                Order::default(),
                format!("pub use {} = {}", other.join("::"), canonical.join("::")),
            );
        }
    }
    for (path, target) in &reachable.reexports {
        lister.push(
            path.clone(),
            Rank::Item,
            Order::default(),
            format!("pub use {} = {target}", path.join("::")),
        );
    }
    lister.foreign_impls();
    let mut seen = BTreeSet::new();
    lister
        .lines
        .into_iter()
        .filter_map(|(_, _, _, text)| seen.insert(text.clone()).then_some(text))
        .collect()
}

struct Lister<'a> {
    ws: &'a Workspace,
    here: &'a Reachable,
    all: &'a [Reachable],
    lines: BTreeSet<Line>,
}

impl Names for Lister<'_> {
    fn name(&self, krate: usize, id: Id, written: &str) -> String {
        match self.ws.resolve(krate, id) {
            Target::Item(key) => self
                .canonical(key)
                .map(|p| p.join("::"))
                .or_else(|| self.ws.defined_at(key))
                .unwrap_or_else(|| written.to_owned()),
            Target::Foreign(path) => path,
            Target::Unknown => written.to_owned(),
        }
    }
}

impl Lister<'_> {
    fn push(&mut self, path: ItemPath, rank: Rank, order: Order, text: String) {
        self.lines.insert((path, rank, order, text));
    }

    fn render(&self, krate: usize) -> Renderer<'_> {
        Renderer { names: self, krate }
    }

    /// The path an item is named by: here if this crate re-exports it, else
    /// in its own crate's listing.
    fn canonical(&self, key: Key) -> Option<&ItemPath> {
        self.here.canonical(key).or_else(|| {
            self.all
                .iter()
                .find(|r| r.root == key.0)
                .and_then(|r| r.canonical(key))
        })
    }

    fn item(&mut self, key: Key, path: &ItemPath) {
        let Some(item) = self.ws.item(key) else {
            return;
        };
        let r = self.render(key.0);
        let name = path.join("::");
        let attrs = attributes(item);
        let text = match &item.inner {
            ItemEnum::Module(_) => format!("pub mod {name}"),
            ItemEnum::Struct(s) => {
                let shape = match &s.kind {
                    StructKind::Unit => ";".to_owned(),
                    StructKind::Tuple(fields) => {
                        format!("({})", self.tuple_fields(key.0, fields, "pub "))
                    }
                    StructKind::Plain {
                        has_stripped_fields: true,
                        ..
                    } => " { .. }".to_owned(),
                    StructKind::Plain { .. } => String::new(),
                };
                format!(
                    "{attrs}pub struct {name}{}{shape}{}",
                    r.params(&s.generics),
                    where_clause(&r.predicates(&s.generics))
                )
            }
            ItemEnum::Union(u) => format!(
                "{attrs}pub union {name}{}{}",
                r.params(&u.generics),
                where_clause(&r.predicates(&u.generics))
            ),
            ItemEnum::Enum(e) => format!(
                "{attrs}pub enum {name}{}{}{}",
                r.params(&e.generics),
                where_clause(&r.predicates(&e.generics)),
                if e.has_stripped_variants {
                    " { .. }"
                } else {
                    ""
                }
            ),
            ItemEnum::Trait(t) => {
                let mut kind = String::new();
                if t.is_unsafe {
                    kind.push_str("unsafe ");
                }
                if t.is_auto {
                    kind.push_str("auto ");
                }
                let supertraits = if t.bounds.is_empty() {
                    String::new()
                } else {
                    format!(": {}", r.bounds(&t.bounds))
                };
                format!(
                    "{attrs}pub {kind}trait {name}{}{supertraits}{}",
                    r.params(&t.generics),
                    where_clause(&r.predicates(&t.generics))
                )
            }
            ItemEnum::TraitAlias(t) => format!(
                "{attrs}pub trait {name}{} = {}{}",
                r.params(&t.generics),
                r.bounds(&t.params),
                where_clause(&r.predicates(&t.generics))
            ),
            ItemEnum::Function(f) => format!(
                "{attrs}pub {}fn {name}{}{}",
                header(&f.header),
                r.signature(&f.generics, &f.sig),
                where_clause(&r.predicates(&f.generics))
            ),
            ItemEnum::TypeAlias(t) => format!(
                "{attrs}pub type {name}{} = {}{}",
                r.params(&t.generics),
                r.ty(&t.type_),
                where_clause(&r.predicates(&t.generics))
            ),
            ItemEnum::Constant { type_, const_ } => {
                let value = const_
                    .value
                    .clone()
                    .or_else(|| const_.is_literal.then(|| const_.expr.clone()))
                    .map(|v| format!(" = {v}"))
                    .unwrap_or_default();
                format!("{attrs}pub const {name}: {}{value}", r.ty(type_))
            }
            ItemEnum::Static(s) => format!(
                "{attrs}pub {}static {}{name}: {}",
                if s.is_unsafe { "unsafe " } else { "" },
                if s.is_mutable { "mut " } else { "" },
                r.ty(&s.type_)
            ),
            ItemEnum::Macro(source) => macro_line(source, &name),
            ItemEnum::ProcMacro(p) => {
                let kind = match p.kind {
                    rustdoc_types::MacroKind::Bang => "proc_macro",
                    rustdoc_types::MacroKind::Attr => "proc_macro_attribute",
                    rustdoc_types::MacroKind::Derive => "proc_macro_derive",
                };
                format!("pub {kind} {name}")
            }
            ItemEnum::ExternType => format!("{attrs}pub extern type {name}"),
            ItemEnum::Primitive(_) => format!("pub primitive {name}"),
            // Not nameable on their own: written as part of their parent.
            ItemEnum::ExternCrate { .. }
            | ItemEnum::Use(_)
            | ItemEnum::StructField(_)
            | ItemEnum::Variant(_)
            | ItemEnum::Impl(_)
            | ItemEnum::AssocConst { .. }
            | ItemEnum::AssocType { .. } => return,
        };
        self.push(path.clone(), Rank::Item, Order::default(), text);
        self.members(key, item, path);
    }

    /// Fields, variants, trait items and impls of the item at `path`.
    fn members(&mut self, key: Key, item: &Item, path: &ItemPath) {
        let name = path.join("::");
        let (impls, fields): (&[Id], &[Id]) = match &item.inner {
            ItemEnum::Struct(s) => (
                &s.impls,
                match &s.kind {
                    StructKind::Plain { fields, .. } => fields,
                    _ => &[],
                },
            ),
            ItemEnum::Union(u) => (&u.impls, &u.fields),
            ItemEnum::Enum(e) => {
                for (i, v) in e.variants.iter().enumerate() {
                    if let Some(line) = self.variant((key.0, *v), &name) {
                        self.push(path.clone(), Rank::Member, (i, String::new()), line);
                    }
                }
                (&e.impls, &[])
            }
            ItemEnum::Trait(t) => {
                for id in &t.items {
                    if let Some((item_name, line)) = self.trait_item((key.0, *id), &name) {
                        self.push(path.clone(), Rank::Associated, (0, item_name), line);
                    }
                }
                for id in &t.implementations {
                    self.impl_block((key.0, *id), None);
                }
                return;
            }
            _ => return,
        };
        for (i, id) in fields.iter().enumerate() {
            let Some(field) = self.ws.item((key.0, *id)) else {
                continue;
            };
            if let (ItemEnum::StructField(ty), Some(field_name)) = (&field.inner, &field.name)
                && field.visibility == Visibility::Public
            {
                let line = format!(
                    "{}pub {name}::{field_name}: {}",
                    attributes(field),
                    self.render(key.0).ty(ty)
                );
                self.push(path.clone(), Rank::Member, (i, String::new()), line);
            }
        }
        for id in impls {
            self.impl_block((key.0, *id), Some(path));
        }
    }

    /// `pub T, _` for tuple fields (`_` for a private one).
    fn tuple_fields(&self, krate: usize, fields: &[Option<Id>], vis: &str) -> String {
        let parts: Vec<String> = fields
            .iter()
            .map(
                |f| match f.and_then(|id| self.ws.item((krate, id))).map(|i| &i.inner) {
                    Some(ItemEnum::StructField(ty)) => {
                        format!("{vis}{}", self.render(krate).ty(ty))
                    }
                    _ => "_".to_owned(),
                },
            )
            .collect();
        parts.join(", ")
    }

    fn variant(&self, key: Key, enum_name: &str) -> Option<String> {
        let item = self.ws.item(key)?;
        let ItemEnum::Variant(v) = &item.inner else {
            return None;
        };
        let name = item.name.as_deref()?;
        let shape = match &v.kind {
            VariantKind::Plain => String::new(),
            VariantKind::Tuple(fields) => format!("({})", self.tuple_fields(key.0, fields, "")),
            VariantKind::Struct {
                fields,
                has_stripped_fields,
            } => {
                let mut parts: Vec<String> = fields
                    .iter()
                    .filter_map(|id| {
                        let field = self.ws.item((key.0, *id))?;
                        let ItemEnum::StructField(ty) = &field.inner else {
                            return None;
                        };
                        Some(format!(
                            "{}: {}",
                            field.name.as_deref()?,
                            self.render(key.0).ty(ty)
                        ))
                    })
                    .collect();
                if *has_stripped_fields {
                    parts.push("..".to_owned());
                }
                format!(" {{ {} }}", parts.join(", "))
            }
        };
        let discriminant = v
            .discriminant
            .as_ref()
            .map(|d| format!(" = {}", d.expr))
            .unwrap_or_default();
        Some(format!(
            "{}pub {enum_name}::{name}{shape}{discriminant}",
            attributes(item)
        ))
    }

    /// A trait's method, associated type or constant; a provided method
    /// ends in `{ .. }`.
    fn trait_item(&self, key: Key, trait_name: &str) -> Option<(String, String)> {
        let item = self.ws.item(key)?;
        let name = item.name.as_deref()?;
        let r = self.render(key.0);
        let attrs = attributes(item);
        let line = match &item.inner {
            ItemEnum::Function(f) => format!(
                "{attrs}{}fn {trait_name}::{name}{}{}{}",
                header(&f.header),
                r.signature(&f.generics, &f.sig),
                where_clause(&r.predicates(&f.generics)),
                if f.has_body { " { .. }" } else { "" }
            ),
            ItemEnum::AssocType {
                generics,
                bounds,
                type_,
            } => {
                let mut out = format!("{attrs}type {trait_name}::{name}{}", r.params(generics));
                if !bounds.is_empty() {
                    out.push_str(": ");
                    out.push_str(&r.bounds(bounds));
                }
                out.push_str(&where_clause(&r.predicates(generics)));
                if let Some(t) = type_ {
                    out.push_str(" = ");
                    out.push_str(&r.ty(t));
                }
                out
            }
            ItemEnum::AssocConst { type_, value } => {
                let value = value
                    .as_ref()
                    .map(|v| format!(" = {v}"))
                    .unwrap_or_default();
                format!("{attrs}const {trait_name}::{name}: {}{value}", r.ty(type_))
            }
            _ => return None,
        };
        Some((name.to_owned(), line))
    }

    /// An impl block. An inherent one lists its public items under the
    /// type; a trait impl is one line (with its associated types and
    /// constants), under the type if this listing has it, else under the
    /// trait, else under the crate root. Blanket impls (`impl<T> From<T>
    /// for T` and the like) follow from other impls and are left out.
    fn impl_block(&mut self, key: Key, owner: Option<&ItemPath>) {
        let Some(Item {
            inner: ItemEnum::Impl(imp),
            ..
        }) = self.ws.item(key)
        else {
            return;
        };
        if imp.blanket_impl.is_some() {
            return;
        }
        if let Some(t) = &imp.trait_
            && UNNAMEABLE_TRAITS.contains(&self.name(key.0, t.id, &t.path).as_str())
        {
            return;
        }
        match &imp.trait_ {
            None => {
                if let Some(owner) = owner {
                    self.inherent(key.0, imp, owner);
                }
            }
            Some(trait_path) => {
                let line = self.trait_impl_line(key.0, imp);
                let owner = owner
                    .cloned()
                    .or_else(|| self.listed_type(key.0, &imp.for_))
                    .or_else(|| self.listed(key.0, trait_path.id))
                    .unwrap_or_else(|| vec![self.ws.crates[self.here.root].name.clone()]);
                self.push(owner, Rank::Impl, Order::default(), line);
            }
        }
    }

    fn inherent(&mut self, krate: usize, imp: &Impl, owner: &ItemPath) {
        let r = self.render(krate);
        let self_ty = format!("{}{}", owner.join("::"), self.type_args(krate, &imp.for_));
        let inherited = r.params_as_predicates(&imp.generics);
        let mut lines = Vec::new();
        for id in &imp.items {
            let Some(item) = self.ws.item((krate, *id)) else {
                continue;
            };
            let Some(name) = item.name.as_deref() else {
                continue;
            };
            if item.visibility != Visibility::Public {
                continue;
            }
            let attrs = attributes(item);
            let line = match &item.inner {
                ItemEnum::Function(f) => {
                    let mut predicates = inherited.clone();
                    predicates.extend(r.predicates(&f.generics));
                    format!(
                        "{attrs}pub {}fn {self_ty}::{name}{}{}",
                        header(&f.header),
                        r.signature(&f.generics, &f.sig),
                        where_clause(&predicates)
                    )
                }
                ItemEnum::AssocConst { type_, value } => {
                    let value = value
                        .as_ref()
                        .map(|v| format!(" = {v}"))
                        .unwrap_or_default();
                    format!("{attrs}pub const {self_ty}::{name}: {}{value}", r.ty(type_))
                }
                ItemEnum::AssocType { type_: Some(t), .. } => {
                    format!("{attrs}pub type {self_ty}::{name} = {}", r.ty(t))
                }
                _ => continue,
            };
            lines.push((name.to_owned(), line));
        }
        for (name, line) in lines {
            self.push(owner.clone(), Rank::Associated, (0, name), line);
        }
    }

    /// `impl<G> Trait for Type where ..`, with `{ type Item = T; }` when the
    /// impl sets associated types or constants.
    fn trait_impl_line(&self, krate: usize, imp: &Impl) -> String {
        let r = self.render(krate);
        let trait_path = imp.trait_.as_ref().expect("a trait impl");
        let mut assoc = Vec::new();
        for id in &imp.items {
            let Some(item) = self.ws.item((krate, *id)) else {
                continue;
            };
            let Some(name) = item.name.as_deref() else {
                continue;
            };
            match &item.inner {
                ItemEnum::AssocType {
                    type_: Some(t),
                    generics,
                    ..
                } => assoc.push(format!("type {name}{} = {};", r.params(generics), r.ty(t))),
                ItemEnum::AssocConst { type_, value } => assoc.push(format!(
                    "const {name}: {}{};",
                    r.ty(type_),
                    value
                        .as_ref()
                        .map(|v| format!(" = {v}"))
                        .unwrap_or_default()
                )),
                _ => {}
            }
        }
        assoc.sort();
        let body = if assoc.is_empty() {
            String::new()
        } else {
            format!(" {{ {} }}", assoc.join(" "))
        };
        format!(
            "impl{} {}{}{} for {}{}{body}",
            r.params(&imp.generics),
            if imp.is_unsafe { "unsafe " } else { "" },
            if imp.is_negative { "!" } else { "" },
            r.path(trait_path),
            r.ty(&imp.for_),
            where_clause(&r.predicates(&imp.generics))
        )
    }

    /// `<R>` of `Basin<R>`: the arguments an impl gives its self type.
    fn type_args(&self, krate: usize, ty: &Type) -> String {
        match ty {
            Type::ResolvedPath(p) => p
                .args
                .as_deref()
                .map(|a: &GenericArgs| self.render(krate).generic_args(a))
                .unwrap_or_default(),
            _ => String::new(),
        }
    }

    /// The path of `ty`'s item when this listing has it.
    fn listed_type(&self, krate: usize, ty: &Type) -> Option<ItemPath> {
        match ty {
            Type::ResolvedPath(p) => self.listed(krate, p.id),
            _ => None,
        }
    }

    fn listed(&self, krate: usize, id: Id) -> Option<ItemPath> {
        match self.ws.resolve(krate, id) {
            Target::Item(key) => self.here.canonical(key).cloned(),
            _ => None,
        }
    }

    /// Trait impls this crate writes for types of other crates (`impl
    /// From<Error> for std::io::Error`), which no listed type carries.
    fn foreign_impls(&mut self) {
        let root = self.here.root;
        let mut ids: Vec<Id> = self.ws.crates[root]
            .krate
            .index
            .iter()
            .filter(|(_, item)| item.crate_id == 0)
            .filter_map(|(id, item)| match &item.inner {
                ItemEnum::Impl(imp)
                    if imp.trait_.is_some()
                        && !imp.is_synthetic
                        && imp.blanket_impl.is_none()
                        && !self.is_listed_type(root, &imp.for_) =>
                {
                    Some(*id)
                }
                _ => None,
            })
            .collect();
        ids.sort();
        // Most of these are also in the impl lists of the listed types they
        // mention (`From<Error> for io::Error` under `Error`): keep those
        // there.
        let listed: BTreeSet<String> = self.lines.iter().map(|l| l.3.clone()).collect();
        for id in ids {
            let before = std::mem::take(&mut self.lines);
            self.impl_block((root, id), None);
            let added = std::mem::replace(&mut self.lines, before);
            self.lines
                .extend(added.into_iter().filter(|l| !listed.contains(&l.3)));
        }
    }

    /// Whether `ty` is an item of a listed crate (whose own listing shows
    /// its impls).
    fn is_listed_type(&self, krate: usize, ty: &Type) -> bool {
        match ty {
            Type::ResolvedPath(p) => matches!(self.ws.resolve(krate, p.id), Target::Item(_)),
            _ => false,
        }
    }
}

/// The attributes that are part of the API, as a prefix.
fn attributes(item: &Item) -> String {
    let mut out = String::new();
    if item.deprecation.is_some() {
        out.push_str("#[deprecated] ");
    }
    for attr in &item.attrs {
        match attr {
            Attribute::NonExhaustive => out.push_str("#[non_exhaustive] "),
            Attribute::MustUse { .. } => out.push_str("#[must_use] "),
            Attribute::Repr(repr) => {
                let mut parts = Vec::new();
                match repr.kind {
                    ReprKind::Rust => {}
                    ReprKind::C => parts.push("C".to_owned()),
                    ReprKind::Transparent => parts.push("transparent".to_owned()),
                    ReprKind::Simd => parts.push("simd".to_owned()),
                }
                parts.extend(repr.int.clone());
                parts.extend(repr.align.map(|a| format!("align({a})")));
                parts.extend(repr.packed.map(|p| format!("packed({p})")));
                if !parts.is_empty() {
                    out.push_str(&format!("#[repr({})] ", parts.join(", ")));
                }
            }
            _ => {}
        }
    }
    out
}

/// `macro_rules! path { (matcher) => { ... }; }` on one line.
fn macro_line(source: &str, path: &str) -> String {
    let body = source.find('{').map_or("", |i| &source[i..]);
    let body: Vec<&str> = body.split_whitespace().collect();
    format!("macro_rules! {path} {}", body.join(" "))
}
