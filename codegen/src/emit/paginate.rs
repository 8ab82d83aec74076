//! Paginators for APIs whose spec has `pagination`: a `PAGINATION` descriptor, a function
//! that moves the items and the total out of the typed response, and the builder methods
//! `.paginate()`, `.pages()`, `.items()` and `.concurrency(n)` (all built on
//! `bk_runtime::pagination::Paginator`).
//!
//! The item type is the element type of the array the spec's `items` path points to. When
//! that path cannot be followed through the typed response (no response schema, a path
//! through an optional object, something other than an array) no paging methods are
//! emitted and the `PAGINATION` doc says why; the API stays callable with `.send()`.

use bk_spec::{Api, Component, Pagination, PaginationStyle, Schema, SchemaKind};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::ident;
use super::types::{is_optional, TypeCx};

/// What the operation module gains from its pagination.
#[derive(Default)]
pub struct Paging {
    /// Module items: the `PAGINATION` static and the split function.
    pub items: TokenStream,
    /// Methods of the builder.
    pub methods: TokenStream,
}

/// Builder method names the paginator adds, in emission order.
const METHODS: [&str; 4] = ["paginate", "pages", "items", "concurrency"];

/// Emits the paging items of `api`; empty when it has no `pagination`.
pub fn paging(c: &Component, api: &Api, tcx: &TypeCx<'_>, response: &Ident) -> Paging {
    let Some(p) = &api.pagination else {
        return Paging::default();
    };
    let spec = spec_static(p);
    let access = match access(c, api, p, tcx) {
        Ok(a) => a,
        Err(why) => {
            let doc = format!(
                " How `{}` pages (from the spec). No `.pages()`/`.items()` are generated: {why}.",
                api.name
            );
            return Paging {
                items: quote! {
                    #[doc = #doc]
                    pub static PAGINATION: bk_runtime::pagination::PageSpec = #spec;
                },
                methods: TokenStream::new(),
            };
        }
    };
    let Access {
        item_ty,
        items_expr,
        total_expr,
        note,
    } = access;
    let doc = match note {
        Some(n) => format!(" How `{}` pages (from the spec). Note: {n}.", api.name),
        None => format!(" How `{}` pages (from the spec).", api.name),
    };
    let items = quote! {
        #[doc = #doc]
        pub static PAGINATION: bk_runtime::pagination::PageSpec = #spec;

        /// Moves the items and the total out of one page's response.
        fn page_of(r: #response) -> bk_runtime::pagination::PageData<#item_ty> {
            let total = #total_expr;
            bk_runtime::pagination::PageData::new(#items_expr, total)
        }
    };

    // A parameter named like a paging method keeps its setter; that method is left out.
    let taken = |name: &str| api.params.iter().any(|f| f.rust_name == name);
    let paginator = quote!(bk_runtime::pagination::Paginator<#response, #item_ty>);
    let mut methods = Vec::new();
    for name in METHODS {
        if taken(name) {
            continue;
        }
        let m = format_ident!("{}", name);
        methods.push(match name {
            "paginate" => quote! {
                /// A [`Paginator`](bk_runtime::pagination::Paginator) over every page of this
                /// request, starting at the request's own page position and size (see
                /// [`bk_runtime::pagination`] for the rules).
                pub fn #m(self) -> #paginator {
                    bk_runtime::pagination::Paginator::new(self.client, &META, &PAGINATION, &self.request, page_of)
                }
            },
            "pages" => quote! {
                /// Every page, in order, one request at a time; ends after the last page or
                /// at an empty one.
                pub fn #m(self) -> bk_runtime::pagination::Pages<#item_ty> {
                    bk_runtime::pagination::Paginator::new(self.client, &META, &PAGINATION, &self.request, page_of).pages()
                }
            },
            "items" => quote! {
                /// Every record of every page, in order (collect with
                /// `bk_runtime::pagination::TryStreamExt::try_collect`).
                pub fn #m(self) -> bk_runtime::pagination::Items<#item_ty> {
                    bk_runtime::pagination::Paginator::new(self.client, &META, &PAGINATION, &self.request, page_of).items()
                }
            },
            _ => quote! {
                /// A paginator that fetches up to `n` pages at a time once the first page
                /// has told the total; pages and items keep their order.
                pub fn #m(self, n: usize) -> #paginator {
                    bk_runtime::pagination::Paginator::new(self.client, &META, &PAGINATION, &self.request, page_of).concurrency(n)
                }
            },
        });
    }
    Paging {
        items,
        methods: quote!(#(#methods)*),
    }
}

fn spec_static(p: &Pagination) -> TokenStream {
    let (style, param) = match p.style {
        PaginationStyle::StartLimit => (
            quote!(StartLimit),
            p.param.clone().unwrap_or_else(|| "page".into()),
        ),
        PaginationStyle::PageNumber => (quote!(PageNumber), "page".to_string()),
        PaginationStyle::StartLength => (quote!(StartLength), "start".to_string()),
    };
    let max = match p.max_limit {
        Some(m) => quote!(Some(#m)),
        None => quote!(None),
    };
    let items = &p.items;
    let total = match &p.total {
        Some(t) => quote!(Some(#t)),
        None => quote!(None),
    };
    quote! {
        bk_runtime::pagination::PageSpec {
            style: bk_runtime::pagination::PageStyle::#style,
            param: #param,
            max_limit: #max,
            items: #items,
            total: #total,
        }
    }
}

struct Access {
    item_ty: TokenStream,
    items_expr: TokenStream,
    total_expr: TokenStream,
    /// Why the total is not used, when the spec names one.
    note: Option<String>,
}

/// One step of a path through the typed response.
struct Step<'a> {
    /// `r.a.b` so far.
    expr: TokenStream,
    /// The schema reached.
    schema: &'a Schema,
    /// Whether the field reached is an `Option`.
    optional: bool,
    /// Whether a named type was crossed (inline types below it live in `types.rs`).
    via_ref: bool,
}

/// Follows a dot path from the response value `r`; every object on the way must be a
/// required field (so that the path is a plain field access).
fn walk<'a>(c: &'a Component, root: &'a Schema, path: &str) -> Result<Step<'a>, String> {
    let mut step = Step {
        expr: quote!(r),
        schema: root,
        optional: false,
        via_ref: matches!(root.kind, SchemaKind::Ref { .. }),
    };
    if path.is_empty() {
        return Ok(step);
    }
    for seg in path.split('.') {
        if step.optional {
            return Err(format!("the path `{path}` goes through an optional field"));
        }
        let resolved = c.resolve(step.schema);
        let SchemaKind::Object { properties, .. } = &resolved.kind else {
            return Err(format!("`{path}` does not lead through objects"));
        };
        let Some(f) = properties.iter().find(|f| f.name == seg) else {
            return Err(format!("the response has no field `{seg}`"));
        };
        let id = ident(&f.rust_name);
        let expr = &step.expr;
        step = Step {
            expr: quote!(#expr.#id),
            schema: &f.schema,
            optional: is_optional(f),
            via_ref: step.via_ref || matches!(f.schema.kind, SchemaKind::Ref { .. }),
        };
    }
    Ok(step)
}

fn access(c: &Component, api: &Api, p: &Pagination, tcx: &TypeCx<'_>) -> Result<Access, String> {
    let Some(root) = &api.response else {
        return Err("the spec gives no response schema".into());
    };
    let items = walk(c, root, &p.items)?;
    let resolved = c.resolve(items.schema);
    let SchemaKind::Array { items: elem, .. } = &resolved.kind else {
        return Err(format!("`{}` is not an array", p.items));
    };
    let via_ref = items.via_ref || matches!(items.schema.kind, SchemaKind::Ref { .. });
    let item_ty = qualified(tcx, elem, via_ref);
    let e = &items.expr;
    let items_expr = if items.optional {
        quote!(#e.unwrap_or_default())
    } else {
        quote!(#e)
    };
    // A total that cannot be read from the typed response only costs the early stop and
    // the parallel fetch: paging then ends on a short page.
    let mut note = None;
    let total_expr = match &p.total {
        None => quote!(None),
        Some(path) => match total(c, root, path) {
            Ok(t) => t,
            Err(why) => {
                note = Some(format!(
                    "the total `{path}` cannot be read ({why}), so paging ends on a short page"
                ));
                quote!(None)
            }
        },
    };
    Ok(Access {
        item_ty,
        items_expr,
        total_expr,
        note,
    })
}

fn total(c: &Component, root: &Schema, path: &str) -> Result<TokenStream, String> {
    let t = walk(c, root, path)?;
    if !matches!(c.resolve(t.schema).kind, SchemaKind::Integer { .. }) {
        return Err(format!("`{path}` is not an integer"));
    }
    let e = &t.expr;
    Ok(if t.optional {
        quote!(#e)
    } else {
        quote!(Some(#e))
    })
}

/// The Rust type of `s` as seen from the operation module: inline types met below a named
/// type are defined in `types.rs`.
fn qualified(tcx: &TypeCx<'_>, s: &Schema, via_ref: bool) -> TokenStream {
    if !via_ref {
        return tcx.type_ref(s);
    }
    match &s.kind {
        SchemaKind::Array { items, .. } => {
            let t = qualified(tcx, items, via_ref);
            quote!(Vec<#t>)
        }
        SchemaKind::Map { values, .. } => {
            let t = qualified(tcx, values, via_ref);
            quote!(std::collections::BTreeMap<String, #t>)
        }
        SchemaKind::Object {
            rust_type,
            properties,
            ..
        } if !properties.is_empty() => {
            let id = format_ident!("{}", rust_type);
            quote!(crate::generated::types::#id)
        }
        SchemaKind::Enum { rust_type, .. } => {
            let id = format_ident!("{}", rust_type);
            quote!(crate::generated::types::#id)
        }
        _ => tcx.type_ref(s),
    }
}
