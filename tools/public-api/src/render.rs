//! Types, bounds, generics and signatures as Rust-like text.
//!
//! Every path goes through [`Names`], so that an item is always written
//! the way the listing names it.

use rustdoc_types::{
    Abi, AssocItemConstraint, AssocItemConstraintKind, FunctionHeader, FunctionPointer,
    FunctionSignature, GenericArg, GenericArgs, GenericBound, GenericParamDef, GenericParamDefKind,
    Generics, Id, Path, PreciseCapturingArg, Term, TraitBoundModifier, Type, WherePredicate,
};

/// How a path in some crate's JSON is written.
pub trait Names {
    /// The name for item `id` of crate `krate`'s JSON; `written` is how the
    /// source spelled it, the last resort.
    fn name(&self, krate: usize, id: Id, written: &str) -> String;
}

/// Renders within one crate's JSON.
pub struct Renderer<'a> {
    /// Names items.
    pub names: &'a dyn Names,
    /// The crate whose JSON the ids belong to.
    pub krate: usize,
}

impl Renderer<'_> {
    /// A path with its generic arguments.
    pub fn path(&self, p: &Path) -> String {
        let mut out = self.names.name(self.krate, p.id, &p.path);
        if let Some(args) = &p.args {
            out.push_str(&self.generic_args(args));
        }
        out
    }

    /// `<A, B, Item = C>`, `(A) -> B`, or nothing.
    pub fn generic_args(&self, args: &GenericArgs) -> String {
        match args {
            GenericArgs::AngleBracketed { args, constraints } => {
                if args.is_empty() && constraints.is_empty() {
                    return String::new();
                }
                let parts: Vec<String> = args
                    .iter()
                    .map(|a| self.generic_arg(a))
                    .chain(constraints.iter().map(|c| self.constraint(c)))
                    .collect();
                format!("<{}>", parts.join(", "))
            }
            GenericArgs::Parenthesized { inputs, output } => {
                let inputs: Vec<String> = inputs.iter().map(|t| self.ty(t)).collect();
                let mut out = format!("({})", inputs.join(", "));
                if let Some(output) = output {
                    out.push_str(" -> ");
                    out.push_str(&self.ty(output));
                }
                out
            }
            GenericArgs::ReturnTypeNotation => "(..)".to_owned(),
        }
    }

    fn generic_arg(&self, arg: &GenericArg) -> String {
        match arg {
            GenericArg::Lifetime(l) => l.clone(),
            GenericArg::Type(t) => self.ty(t),
            GenericArg::Const(c) => c.expr.clone(),
            GenericArg::Infer => "_".to_owned(),
        }
    }

    fn constraint(&self, c: &AssocItemConstraint) -> String {
        let mut out = c.name.clone();
        if let Some(args) = &c.args {
            out.push_str(&self.generic_args(args));
        }
        match &c.binding {
            AssocItemConstraintKind::Equality(term) => {
                out.push_str(" = ");
                out.push_str(&self.term(term));
            }
            AssocItemConstraintKind::Constraint(bounds) => {
                out.push_str(": ");
                out.push_str(&self.bounds(bounds));
            }
        }
        out
    }

    fn term(&self, term: &Term) -> String {
        match term {
            Term::Type(t) => self.ty(t),
            Term::Constant(c) => c.expr.clone(),
        }
    }

    /// `A + ?Sized + 'a`.
    pub fn bounds(&self, bounds: &[GenericBound]) -> String {
        let parts: Vec<String> = bounds.iter().map(|b| self.bound(b)).collect();
        parts.join(" + ")
    }

    fn bound(&self, bound: &GenericBound) -> String {
        match bound {
            GenericBound::TraitBound {
                trait_,
                generic_params,
                modifier,
            } => {
                let modifier = match modifier {
                    TraitBoundModifier::None => "",
                    TraitBoundModifier::Maybe => "?",
                    TraitBoundModifier::MaybeConst => "~const ",
                };
                format!(
                    "{}{modifier}{}",
                    self.for_lifetimes(generic_params),
                    self.path(trait_)
                )
            }
            GenericBound::Outlives(l) => l.clone(),
            GenericBound::Use(args) => {
                let args: Vec<&str> = args
                    .iter()
                    .map(|a| match a {
                        PreciseCapturingArg::Lifetime(l) => l.as_str(),
                        PreciseCapturingArg::Param(p) => p.as_str(),
                    })
                    .collect();
                format!("use<{}>", args.join(", "))
            }
        }
    }

    /// `for<'a> ` (with its space), or nothing.
    fn for_lifetimes(&self, params: &[GenericParamDef]) -> String {
        if params.is_empty() {
            return String::new();
        }
        let names: Vec<String> = params.iter().map(|p| self.param(p)).collect();
        format!("for<{}> ", names.join(", "))
    }

    /// A type.
    pub fn ty(&self, ty: &Type) -> String {
        match ty {
            Type::ResolvedPath(p) => self.path(p),
            Type::DynTrait(d) => {
                let mut parts: Vec<String> = d
                    .traits
                    .iter()
                    .map(|t| {
                        format!(
                            "{}{}",
                            self.for_lifetimes(&t.generic_params),
                            self.path(&t.trait_)
                        )
                    })
                    .collect();
                parts.extend(d.lifetime.clone());
                format!("dyn {}", parts.join(" + "))
            }
            Type::Generic(name) | Type::Primitive(name) => name.clone(),
            Type::FunctionPointer(f) => self.fn_pointer(f),
            Type::Tuple(types) => match types.as_slice() {
                [one] => format!("({},)", self.ty(one)),
                _ => {
                    let parts: Vec<String> = types.iter().map(|t| self.ty(t)).collect();
                    format!("({})", parts.join(", "))
                }
            },
            Type::Slice(t) => format!("[{}]", self.ty(t)),
            Type::Array { type_, len } => format!("[{}; {len}]", self.ty(type_)),
            Type::Pat { type_, .. } => self.ty(type_),
            Type::ImplTrait(bounds) => format!("impl {}", self.bounds(bounds)),
            Type::Infer => "_".to_owned(),
            Type::RawPointer { is_mutable, type_ } => {
                let what = if *is_mutable { "mut" } else { "const" };
                format!("*{what} {}", self.pointee(type_))
            }
            Type::BorrowedRef {
                lifetime,
                is_mutable,
                type_,
            } => {
                let mut out = "&".to_owned();
                if let Some(l) = lifetime {
                    out.push_str(l);
                    out.push(' ');
                }
                if *is_mutable {
                    out.push_str("mut ");
                }
                out.push_str(&self.pointee(type_));
                out
            }
            Type::QualifiedPath {
                name,
                args,
                self_type,
                trait_,
            } => {
                let args = args
                    .as_deref()
                    .map(|a| self.generic_args(a))
                    .unwrap_or_default();
                match trait_ {
                    Some(t) if !t.path.is_empty() => {
                        format!("<{} as {}>::{name}{args}", self.ty(self_type), self.path(t))
                    }
                    _ => format!("{}::{name}{args}", self.ty(self_type)),
                }
            }
        }
    }

    /// The type behind `&` or `*`: `dyn A + B` and `impl A + B` need
    /// parentheses there.
    fn pointee(&self, ty: &Type) -> String {
        let inner = self.ty(ty);
        let several = match ty {
            Type::DynTrait(d) => d.traits.len() + usize::from(d.lifetime.is_some()) > 1,
            Type::ImplTrait(b) => b.len() > 1,
            _ => false,
        };
        if several { format!("({inner})") } else { inner }
    }

    fn fn_pointer(&self, f: &FunctionPointer) -> String {
        let inputs: Vec<String> = f.sig.inputs.iter().map(|(_, t)| self.ty(t)).collect();
        format!(
            "{}{}fn({}){}",
            self.for_lifetimes(&f.generic_params),
            header(&f.header),
            inputs.join(", "),
            self.output(&f.sig)
        )
    }

    /// ` -> T`, or nothing for `()`.
    fn output(&self, sig: &FunctionSignature) -> String {
        match &sig.output {
            Some(Type::Tuple(t)) if t.is_empty() => String::new(),
            Some(t) => format!(" -> {}", self.ty(t)),
            None => String::new(),
        }
    }

    /// A generic parameter as declared: `'a: 'b`, `T: Bound = Default`,
    /// `const N: usize`.
    fn param(&self, p: &GenericParamDef) -> String {
        match &p.kind {
            GenericParamDefKind::Lifetime { outlives } => {
                if outlives.is_empty() {
                    p.name.clone()
                } else {
                    format!("{}: {}", p.name, outlives.join(" + "))
                }
            }
            GenericParamDefKind::Type {
                bounds, default, ..
            } => {
                let mut out = p.name.clone();
                if !bounds.is_empty() {
                    out.push_str(": ");
                    out.push_str(&self.bounds(bounds));
                }
                if let Some(d) = default {
                    out.push_str(" = ");
                    out.push_str(&self.ty(d));
                }
                out
            }
            GenericParamDefKind::Const { type_, default } => {
                let mut out = format!("const {}: {}", p.name, self.ty(type_));
                if let Some(d) = default {
                    out.push_str(" = ");
                    out.push_str(d);
                }
                out
            }
        }
    }

    /// `<'a, T: Bound>`, or nothing. Parameters that stand for an
    /// `impl Trait` argument are written at the argument.
    pub fn params(&self, generics: &Generics) -> String {
        let parts: Vec<String> = generics
            .params
            .iter()
            .filter(|p| {
                !matches!(
                    p.kind,
                    GenericParamDefKind::Type {
                        is_synthetic: true,
                        ..
                    }
                )
            })
            .map(|p| self.param(p))
            .collect();
        if parts.is_empty() {
            String::new()
        } else {
            format!("<{}>", parts.join(", "))
        }
    }

    /// The where-clause predicates.
    pub fn predicates(&self, generics: &Generics) -> Vec<String> {
        generics
            .where_predicates
            .iter()
            .map(|w| match w {
                WherePredicate::BoundPredicate {
                    type_,
                    bounds,
                    generic_params,
                } => format!(
                    "{}{}: {}",
                    self.for_lifetimes(generic_params),
                    self.ty(type_),
                    self.bounds(bounds)
                ),
                WherePredicate::LifetimePredicate { lifetime, outlives } => {
                    format!("{lifetime}: {}", outlives.join(" + "))
                }
                WherePredicate::EqPredicate { lhs, rhs } => {
                    format!("{} = {}", self.ty(lhs), self.term(rhs))
                }
            })
            .collect()
    }

    /// The bounds of `generics`' parameters as predicates (`T: Bound`), for
    /// a method that inherits them from its impl block.
    pub fn params_as_predicates(&self, generics: &Generics) -> Vec<String> {
        let mut out = Vec::new();
        for p in &generics.params {
            match &p.kind {
                GenericParamDefKind::Lifetime { outlives } if !outlives.is_empty() => {
                    out.push(format!("{}: {}", p.name, outlives.join(" + ")));
                }
                GenericParamDefKind::Type { bounds, .. } if !bounds.is_empty() => {
                    out.push(format!("{}: {}", p.name, self.bounds(bounds)));
                }
                _ => {}
            }
        }
        out.extend(self.predicates(generics));
        out
    }

    /// A function's `<generics>(inputs) -> output`, without its where-clause.
    pub fn signature(&self, generics: &Generics, sig: &FunctionSignature) -> String {
        let inputs: Vec<String> = sig
            .inputs
            .iter()
            .map(|(name, ty)| self.input(name, ty))
            .collect();
        let variadic = if sig.is_c_variadic { ", ..." } else { "" };
        format!(
            "{}({}{variadic}){}",
            self.params(generics),
            inputs.join(", "),
            self.output(sig)
        )
    }

    fn input(&self, name: &str, ty: &Type) -> String {
        if name == "self" {
            match ty {
                Type::Generic(s) if s == "Self" => return "self".to_owned(),
                Type::BorrowedRef {
                    lifetime,
                    is_mutable,
                    type_,
                } if matches!(&**type_, Type::Generic(s) if s == "Self") => {
                    let mut out = "&".to_owned();
                    if let Some(l) = lifetime {
                        out.push_str(l);
                        out.push(' ');
                    }
                    if *is_mutable {
                        out.push_str("mut ");
                    }
                    out.push_str("self");
                    return out;
                }
                _ => {}
            }
        }
        format!("{name}: {}", self.ty(ty))
    }
}

/// ` where A: B, C: D`, or nothing.
pub fn where_clause(predicates: &[String]) -> String {
    if predicates.is_empty() {
        String::new()
    } else {
        format!(" where {}", predicates.join(", "))
    }
}

/// `const async unsafe extern "C" ` (each part with its space, when present).
pub fn header(h: &FunctionHeader) -> String {
    let mut out = String::new();
    if h.is_const {
        out.push_str("const ");
    }
    if h.is_async {
        out.push_str("async ");
    }
    if h.is_unsafe {
        out.push_str("unsafe ");
    }
    let abi = match &h.abi {
        Abi::Rust => None,
        Abi::C { .. } => Some("C"),
        Abi::Cdecl { .. } => Some("cdecl"),
        Abi::Stdcall { .. } => Some("stdcall"),
        Abi::Fastcall { .. } => Some("fastcall"),
        Abi::Aapcs { .. } => Some("aapcs"),
        Abi::Win64 { .. } => Some("win64"),
        Abi::SysV64 { .. } => Some("sysv64"),
        Abi::System { .. } => Some("system"),
        Abi::Other(other) => Some(other.as_str()),
    };
    if let Some(abi) = abi {
        out.push_str(&format!("extern \"{abi}\" "));
    }
    out
}
