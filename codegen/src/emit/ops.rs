//! One module per API: the request struct, the builder with `send()`, the response types and
//! the runtime metadata (method, path, idempotency, sensitive fields, cache).

use bk_spec::{Api, Component, Method, PaginationStyle, Schema, SchemaKind};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::types::{field_doc, is_optional, schema_facts, type_label, TypeCx};
use super::{client_name, doc_attrs, ident};
use crate::names;

/// What the component-level files need to know about an emitted operation.
pub struct Op {
    /// The module's tokens.
    pub file: TokenStream,
    /// The method on the component client that starts this call.
    pub client_method: TokenStream,
    /// Types to re-export at the crate root.
    pub public_types: Vec<String>,
    /// Name of the response type.
    pub response_type: String,
}

/// Whether `s` is a base64-encoded string (`format: base64`).
fn is_base64_string(c: &Component, s: &Schema) -> bool {
    matches!(
        c.resolve(s).kind,
        SchemaKind::String {
            format: Some(bk_spec::Format::Base64),
            ..
        }
    )
}

/// Whether `s` itself becomes a named struct or enum (an object without properties is a map).
fn defines_type(s: &Schema) -> bool {
    match &s.kind {
        SchemaKind::Object { properties, .. } => !properties.is_empty(),
        SchemaKind::Enum { .. } => true,
        _ => false,
    }
}

/// Names every struct or enum defined by `s` and the schemas inside it.
fn defined_names(s: &Schema, out: &mut Vec<String>) {
    match &s.kind {
        SchemaKind::Object {
            rust_type,
            properties,
            ..
        } if !properties.is_empty() => {
            out.push(rust_type.clone());
            for f in properties {
                defined_names(&f.schema, out);
            }
        }
        SchemaKind::Enum { rust_type, .. } => out.push(rust_type.clone()),
        SchemaKind::Array { items, .. } => defined_names(items, out),
        SchemaKind::Map { values, .. } => defined_names(values, out),
        _ => {}
    }
}

/// Emits the module of one API.
pub fn operation(c: &Component, api: &Api) -> Result<Op, String> {
    let pascal = names::pascal(&api.name);
    let builder = format_ident!("{}", pascal);
    let request = format_ident!("{}Request", pascal);
    let response_name = format!("{pascal}Response");
    let response = format_ident!("{}", response_name);
    let mut tcx = TypeCx::new(c);
    let mut public_types = vec![
        pascal.clone(),
        format!("{pascal}Request"),
        response_name.clone(),
    ];

    // Request struct.
    let fields: Vec<TokenStream> = api.params.iter().map(|f| tcx.field(f)).collect();
    let request_default = api
        .params
        .iter()
        .all(|f| is_optional(f) || tcx.has_default(&f.schema));
    let default = request_default.then(|| quote!(Default,));
    let request_doc = doc_attrs(&format!("Parameters of `{}` ([`{}`]).", api.name, pascal));
    let request_def = quote! {
        #request_doc
        #[derive(Debug, Clone, PartialEq, #default serde::Serialize, serde::Deserialize)]
        pub struct #request {
            #(#fields,)*
        }
    };
    for f in &api.params {
        defined_names(&f.schema, &mut public_types);
    }

    // Response type.
    let response_schema = api.response.clone().map(|mut s| {
        if s.description.is_none() {
            s.description = Some(format!(
                "The `data` of a successful `{}` response.",
                api.name
            ));
        }
        s
    });
    let response_def = match &response_schema {
        Some(s) => match &s.kind {
            SchemaKind::Object { rust_type, .. } | SchemaKind::Enum { rust_type, .. }
                if defines_type(s) =>
            {
                tcx.type_of(s);
                defined_names(s, &mut public_types);
                if rust_type == &response_name {
                    quote!()
                } else {
                    // The spec named the response type with `title`; keep `<Api>Response` too.
                    let titled = format_ident!("{}", rust_type);
                    let doc = doc_attrs(&format!(
                        "The `data` of a successful `{}` response.",
                        api.name
                    ));
                    quote!(#doc pub type #response = #titled;)
                }
            }
            _ => {
                let ty = tcx.type_of(s);
                defined_names(s, &mut public_types);
                let doc = doc_attrs(&format!(
                    "The `data` of a successful `{}` response.",
                    api.name
                ));
                quote!(#doc pub type #response = #ty;)
            }
        },
        None => {
            let doc = doc_attrs(&format!(
                "The `data` of a successful `{}` response (untyped: the spec gives no schema).",
                api.name
            ));
            quote!(#doc pub type #response = serde_json::Value;)
        }
    };
    public_types.sort();
    public_types.dedup();

    // Builder: required parameters are arguments, optional ones are setters.
    let mut args = Vec::new();
    let mut arg_names = Vec::new();
    let mut init = Vec::new();
    let mut setters = Vec::new();
    for f in &api.params {
        let id = ident(&f.rust_name);
        let (param_ty, conv) = arg_type(&mut tcx, &f.schema);
        if is_optional(f) {
            let doc = doc_attrs(&setter_doc(f));
            setters.push(quote! {
                #doc
                pub fn #id(mut self, value: #param_ty) -> Self {
                    self.request.#id = Some(#conv);
                    self
                }
            });
            if is_base64_string(tcx.component, &f.schema) {
                // Base64 fields (JOB scripts and their parameters) take plain text too.
                let text_id = quote::format_ident!("{}_text", f.rust_name);
                let text_doc = doc_attrs(&format!(
                    "Sets `{}` from plain text, base64-encoding it for the wire.",
                    f.name
                ));
                setters.push(quote! {
                    #text_doc
                    pub fn #text_id(mut self, text: impl AsRef<str>) -> Self {
                        self.request.#id = Some(bk_runtime::formats::base64_encode(text.as_ref()));
                        self
                    }
                });
            }
            init.push(quote!(#id: None));
        } else {
            args.push(quote!(#id: #param_ty));
            arg_names.push(quote!(#id));
            // Strings convert from `impl Into<String>`; everything else is stored as given
            // (field init shorthand).
            init.push(match tcx.component.resolve(&f.schema).kind {
                SchemaKind::String { .. } => quote!(#id: #id.into()),
                _ => quote!(#id),
            });
        }
    }
    // Setters convert `value`; initialisers convert the argument of the same name.
    let meta_doc = meta_line(api);
    let builder_doc = doc_attrs(&operation_doc(c, api));
    let component = &c.name;
    let api_name = &api.name;
    let path = &api.path;
    let method = match api.method {
        Method::Get => quote!(bk_runtime::Method::Get),
        Method::Post => quote!(bk_runtime::Method::Post),
    };
    let idempotent = api.idempotent;
    let mut sensitive: Vec<String> = api.sensitive.clone();
    for f in &api.params {
        if f.schema.sensitive && !sensitive.contains(&f.name) {
            sensitive.push(f.name.clone());
        }
    }
    let cache = match &api.cache {
        Some(c) => {
            let ttl = c.ttl;
            quote!(Some(#ttl))
        }
        None => quote!(None),
    };
    let paging = super::paginate::paging(c, api, &tcx, &response);
    let (paging_items, paging_methods) = (paging.items, paging.methods);
    let defs = std::mem::take(&mut tcx.defs);
    let send_doc = doc_attrs(&format!(
        "Sends the request and returns the typed `data`.\n\n{meta_doc}\n\n# Errors\n\nA [`bk_runtime::Error`] for transport failures, HTTP errors, non-JSON bodies, API errors (`result: false`) and data that does not match [`{response_name}`]."
    ));
    let module_doc = format!(" `{}`: {}\n\n {meta_doc}", api.name, api.summary.trim());
    let file = quote! {
        #![doc = #module_doc]
        #![allow(clippy::doc_lazy_continuation, clippy::too_many_arguments)]

        /// Runtime metadata of this API.
        pub static META: bk_runtime::ApiMeta = bk_runtime::ApiMeta {
            component: #component,
            name: #api_name,
            method: #method,
            path: #path,
            idempotent: #idempotent,
            sensitive: &[#(#sensitive),*],
            cache_ttl_secs: #cache,
        };

        #paging_items

        #request_def

        #builder_doc
        #[derive(Debug, Clone)]
        #[must_use = "a request does nothing until `.send().await`"]
        pub struct #builder {
            client: bk_runtime::Client,
            request: #request,
            options: bk_runtime::CallOptions,
        }

        impl #builder {
            /// Starts a call; required parameters are arguments.
            pub fn new(client: bk_runtime::Client, #(#args),*) -> Self {
                Self { client, request: #request { #(#init),* }, options: bk_runtime::CallOptions::default() }
            }

            /// Starts a call from a complete request value.
            pub fn from_request(client: bk_runtime::Client, request: #request) -> Self {
                Self { client, request, options: bk_runtime::CallOptions::default() }
            }

            #(#setters)*

            /// The request as it will be sent.
            pub fn request(&self) -> &#request {
                &self.request
            }

            /// Per-call retry policy and operation timeout (default: the client's).
            pub fn options(mut self, options: bk_runtime::CallOptions) -> Self {
                self.options = options;
                self
            }

            #send_doc
            pub async fn send(self) -> Result<#response, bk_runtime::Error> {
                self.client.send_with(&META, &self.request, &self.options).await
            }

            #paging_methods
        }

        #response_def
        #(#defs)*
    };

    let method_id = ident(&api.name);
    let module = ident(&api.name);
    let client_doc = doc_attrs(&format!(
        "{}\n\n{}\n\nSee [`{pascal}`](crate::{pascal}).",
        api.summary.trim(),
        meta_doc
    ));
    let deprecated = api.deprecated.as_ref().map(|note| {
        if note.is_empty() {
            quote!(#[deprecated])
        } else {
            quote!(#[deprecated(note = #note)])
        }
    });
    let client_method = quote! {
        #client_doc
        #deprecated
        #[allow(clippy::too_many_arguments)]
        pub fn #method_id(&self, #(#args),*) -> operations::#module::#builder {
            operations::#module::#builder::new(self.client.clone(), #(#arg_names),*)
        }
    };
    Ok(Op {
        file,
        client_method,
        public_types,
        response_type: response_name,
    })
}

/// The argument type of a parameter and the expression that converts `value` into the field.
fn arg_type(tcx: &mut TypeCx<'_>, s: &Schema) -> (TokenStream, TokenStream) {
    match &tcx.component.resolve(s).kind {
        SchemaKind::String { .. } => (quote!(impl Into<String>), quote!(value.into())),
        _ => (tcx.type_ref(s), quote!(value)),
    }
}

fn setter_doc(f: &bk_spec::Field) -> String {
    let d = field_doc(f);
    if d.is_empty() {
        format!("Sets `{}`.", f.name)
    } else {
        d
    }
}

/// `POST /api/c/compapi/v2/cc/x/` plus behaviour facts.
fn meta_line(api: &Api) -> String {
    let mut facts = vec![format!("`{} {}`", api.method.as_str(), api.path_for("/v2"))];
    facts.push(if api.idempotent {
        "idempotent (retried on transient failures)".into()
    } else {
        "not idempotent (never retried once sent)".into()
    });
    if let Some(p) = &api.pagination {
        let style = match p.style {
            PaginationStyle::StartLimit => "start/limit",
            PaginationStyle::PageNumber => "page/page_size",
            PaginationStyle::StartLength => "start/length",
        };
        match p.max_limit {
            Some(m) => facts.push(format!("paged by {style}, at most {m} per page")),
            None => facts.push(format!("paged by {style}")),
        }
    }
    if let Some(cache) = &api.cache {
        facts.push(format!("cacheable for {} s", cache.ttl));
    }
    facts.join(" · ")
}

/// The full doc of a builder: summary, description, metadata, parameters.
fn operation_doc(c: &Component, api: &Api) -> String {
    let mut doc = format!("{}\n", api.summary.trim());
    if let Some(d) = &api.description {
        doc.push('\n');
        doc.push_str(d.trim());
        doc.push('\n');
    }
    doc.push('\n');
    doc.push_str(&meta_line(api));
    doc.push('\n');
    if let Some(note) = &api.deprecated {
        doc.push_str(&format!(
            "\n**Deprecated**{}\n",
            if note.is_empty() {
                ".".into()
            } else {
                format!(": {note}")
            }
        ));
    }
    if !api.params.is_empty() {
        doc.push_str("\n# Parameters\n\n");
        for f in &api.params {
            let req = if f.required { ", required" } else { "" };
            let mut line = format!("- `{}` ({}{req})", f.name, type_label(&f.schema));
            if let Some(d) = &f.schema.description {
                line.push_str(": ");
                line.push_str(d.trim().lines().next().unwrap_or(""));
            }
            let facts = schema_facts(&f.schema);
            if !facts.is_empty() {
                line.push_str(&format!(" ({})", facts.join("; ")));
            }
            doc.push_str(&line);
            doc.push('\n');
        }
    }
    let required: Vec<&bk_spec::Field> = api.params.iter().filter(|f| !is_optional(f)).collect();
    let args: Vec<String> = required
        .iter()
        .map(|f| names::escape(&f.rust_name))
        .collect();
    doc.push_str(&format!(
        "\n# Example\n\n```ignore\nuse {}::{}Ext;\n\nlet data = client.{}().{}({}).send().await?;\n```\n",
        c.crate_name.replace('-', "_"),
        client_name(c),
        names::escape(&c.name),
        names::escape(&api.name),
        args.join(", ")
    ));
    if let Some(d) = &api.doc {
        doc.push_str(&format!("\nOfficial doc: `{d}`.\n"));
    }
    doc
}
