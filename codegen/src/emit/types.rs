//! Rust types from schemas: structs for objects, enums with an `Unknown` fallback for closed
//! value sets, and type expressions for everything else.

use bk_spec::{Component, EnumRepr, Field, Format, Schema, SchemaKind};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{doc_attrs, ident};

/// Turns schemas into type expressions, collecting the definitions of the inline types it
/// meets (structs and enums) so the caller can place them in its module.
pub struct TypeCx<'a> {
    pub component: &'a Component,
    pub defs: Vec<TokenStream>,
}

impl<'a> TypeCx<'a> {
    pub fn new(component: &'a Component) -> Self {
        TypeCx {
            component,
            defs: Vec::new(),
        }
    }

    /// The Rust type of a schema, without defining anything.
    pub fn type_ref(&self, s: &Schema) -> TokenStream {
        match &s.kind {
            SchemaKind::Array { items, .. } => {
                let t = self.type_ref(items);
                quote!(Vec<#t>)
            }
            SchemaKind::Map { values, .. } => {
                let t = self.type_ref(values);
                quote!(std::collections::BTreeMap<String, #t>)
            }
            SchemaKind::Object { properties, .. } if properties.is_empty() => {
                quote!(serde_json::Map<String, serde_json::Value>)
            }
            SchemaKind::Object { rust_type, .. } | SchemaKind::Enum { rust_type, .. } => {
                let id = format_ident!("{}", rust_type);
                quote!(#id)
            }
            _ => self.scalar_type(s),
        }
    }

    fn scalar_type(&self, s: &Schema) -> TokenStream {
        match &s.kind {
            SchemaKind::String { .. } => quote!(String),
            SchemaKind::Integer { .. } => quote!(i64),
            SchemaKind::Number { .. } => quote!(f64),
            SchemaKind::Boolean => quote!(bool),
            SchemaKind::Empty => quote!(bk_runtime::NoData),
            SchemaKind::Ref { name } => {
                let id = format_ident!("{}", name);
                quote!(crate::generated::types::#id)
            }
            _ => quote!(serde_json::Value),
        }
    }

    /// The Rust type of a schema; defines inline objects and enums on the way.
    pub fn type_of(&mut self, s: &Schema) -> TokenStream {
        match &s.kind {
            SchemaKind::String { .. } => quote!(String),
            SchemaKind::Integer { .. } => quote!(i64),
            SchemaKind::Number { .. } => quote!(f64),
            SchemaKind::Boolean => quote!(bool),
            SchemaKind::Any => quote!(serde_json::Value),
            SchemaKind::Empty => quote!(bk_runtime::NoData),
            SchemaKind::Array { items, .. } => {
                let t = self.type_of(items);
                quote!(Vec<#t>)
            }
            SchemaKind::Map { values, .. } => {
                let t = self.type_of(values);
                quote!(std::collections::BTreeMap<String, #t>)
            }
            // An object without listed properties is open-ended: keep every field as sent
            // (an empty struct would silently drop them).
            SchemaKind::Object { properties, .. } if properties.is_empty() => {
                quote!(serde_json::Map<String, serde_json::Value>)
            }
            SchemaKind::Object {
                rust_type,
                properties,
                additional_properties,
            } => {
                let def = self.object(
                    rust_type,
                    s.description.as_deref(),
                    properties,
                    *additional_properties,
                );
                self.defs.push(def);
                let id = format_ident!("{}", rust_type);
                quote!(#id)
            }
            SchemaKind::Enum {
                rust_type,
                repr,
                values,
            } => {
                let def = enumeration(rust_type, s.description.as_deref(), *repr, values);
                self.defs.push(def);
                let id = format_ident!("{}", rust_type);
                quote!(#id)
            }
            SchemaKind::Ref { name } => {
                let id = format_ident!("{}", name);
                quote!(crate::generated::types::#id)
            }
        }
    }

    /// Whether the type of `s` implements `Default` (so a struct holding it can derive it).
    pub fn has_default(&self, s: &Schema) -> bool {
        self.has_default_depth(s, 0)
    }

    fn has_default_depth(&self, s: &Schema, depth: usize) -> bool {
        if depth > 16 {
            return false;
        }
        match &s.kind {
            SchemaKind::Enum { .. } => false,
            SchemaKind::Object { properties, .. } => properties
                .iter()
                .all(|f| is_optional(f) || self.has_default_depth(&f.schema, depth + 1)),
            SchemaKind::Ref { .. } => {
                let r = self.component.resolve(s);
                !matches!(r.kind, SchemaKind::Ref { .. }) && self.has_default_depth(r, depth + 1)
            }
            _ => true,
        }
    }

    /// A struct for an object schema.
    pub fn object(
        &mut self,
        name: &str,
        description: Option<&str>,
        properties: &[Field],
        additional: bool,
    ) -> TokenStream {
        let id = format_ident!("{}", name);
        let mut fields = Vec::new();
        let mut all_default = true;
        for f in properties {
            fields.push(self.field(f));
            if !is_optional(f) && !self.has_default(&f.schema) {
                all_default = false;
            }
        }
        if additional {
            let extra = extra_field_name(properties);
            let extra_id = format_ident!("{}", extra);
            fields.push(quote! {
                #[doc = " Fields the spec does not list (for example user-defined attributes), kept as they came."]
                #[serde(flatten)]
                pub #extra_id: serde_json::Map<String, serde_json::Value>
            });
        }
        let fallback = format!("The `{name}` object (the spec gives no description).");
        let doc = doc_attrs(description.unwrap_or(&fallback));
        let default = all_default.then(|| quote!(Default,));
        quote! {
            #doc
            #[derive(Debug, Clone, PartialEq, #default serde::Serialize, serde::Deserialize)]
            pub struct #id {
                #(#fields,)*
            }
        }
    }

    /// One struct field, with its serde attributes.
    pub fn field(&mut self, f: &Field) -> TokenStream {
        let id = ident(&f.rust_name);
        let ty = self.type_of(&f.schema);
        let rename = (f.rust_name != f.name).then(|| {
            let wire = &f.name;
            quote!(#[serde(rename = #wire)])
        });
        let doc = doc_attrs(&field_doc(f));
        let deprecated = f
            .schema
            .deprecated
            .as_ref()
            .map(|_| quote!(#[doc = ""] #[doc = " Deprecated by the server."]));
        if is_optional(f) {
            quote! {
                #doc #deprecated #rename
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub #id: Option<#ty>
            }
        } else if matches!(
            self.component.resolve(&f.schema).kind,
            SchemaKind::Array { .. } | SchemaKind::Map { .. }
        ) {
            // Servers send `null` or leave out empty lists; both decode to an empty one.
            quote! {
                #doc #deprecated #rename
                #[serde(default, deserialize_with = "bk_runtime::serde_helpers::null_default")]
                pub #id: #ty
            }
        } else {
            quote! { #doc #deprecated #rename pub #id: #ty }
        }
    }
}

/// A field is an `Option` when it is not required, or when the server may send `null`.
pub fn is_optional(f: &Field) -> bool {
    !f.required || f.schema.nullable
}

/// The name of the flattened map of unknown fields: `extra`, unless a property has that name.
fn extra_field_name(properties: &[Field]) -> String {
    let mut name = "extra".to_string();
    while properties.iter().any(|f| f.rust_name == name) {
        name.push('_');
    }
    name
}

/// The doc text of a field: description, then facts (limits, default, format).
pub fn field_doc(f: &Field) -> String {
    let mut parts = Vec::new();
    if let Some(d) = &f.schema.description {
        parts.push(d.trim().to_string());
    }
    let facts = schema_facts(&f.schema);
    if !facts.is_empty() {
        parts.push(facts.join("; "));
    }
    if f.name != f.rust_name {
        parts.push(format!("Wire name: `{}`.", f.name));
    }
    if parts.is_empty() {
        parts.push(format!("`{}` ({}).", f.name, type_label(&f.schema)));
    }
    parts.join("\n\n")
}

/// Short facts about a schema for docs: limits, format, default.
pub fn schema_facts(s: &Schema) -> Vec<String> {
    let mut facts = Vec::new();
    match &s.kind {
        SchemaKind::String {
            format,
            min_length,
            max_length,
            pattern,
        } => {
            if let Some(f) = format {
                facts.push(format_fact(*f));
            }
            if let Some(n) = min_length {
                facts.push(format!("at least {n} characters"));
            }
            if let Some(n) = max_length {
                facts.push(format!("at most {n} characters"));
            }
            if let Some(p) = pattern {
                facts.push(format!("matches `{p}`"));
            }
        }
        SchemaKind::Integer {
            format,
            minimum,
            maximum,
        } => {
            if let Some(f) = format {
                facts.push(format_fact(*f));
            }
            match (minimum, maximum) {
                (Some(lo), Some(hi)) => facts.push(format!("from {lo} to {hi}")),
                (Some(lo), None) => facts.push(format!("at least {lo}")),
                (None, Some(hi)) => facts.push(format!("at most {hi}")),
                (None, None) => {}
            }
        }
        SchemaKind::Number { minimum, maximum } => {
            if let Some(lo) = minimum {
                facts.push(format!("at least {lo}"));
            }
            if let Some(hi) = maximum {
                facts.push(format!("at most {hi}"));
            }
        }
        SchemaKind::Array {
            min_items,
            max_items,
            ..
        } => {
            if let Some(n) = min_items {
                facts.push(format!("at least {n} items"));
            }
            if let Some(n) = max_items {
                facts.push(format!("at most {n} items"));
            }
        }
        SchemaKind::Map { key: Some(f), .. } => facts.push(format!("keys: {}", format_fact(*f))),
        _ => {}
    }
    if let Some(d) = &s.default {
        facts.push(format!("server default `{d}`"));
    }
    if s.sensitive {
        facts.push("secret: redacted in logs".into());
    }
    facts
}

fn format_fact(f: Format) -> String {
    match f {
        Format::EpochMs => "milliseconds since the Unix epoch (convert with [`bk_runtime::formats::from_epoch_ms`])".into(),
        Format::EpochS => "seconds since the Unix epoch (convert with [`bk_runtime::formats::from_epoch_s`])".into(),
        Format::Datetime => "`yyyy-MM-dd HH:mm:ss`".into(),
        Format::Base64 => "base64-encoded (decode with [`bk_runtime::formats::base64_decode`])".into(),
        Format::HostKey => "`\"<bk_cloud_id>:<ip>\"` (parse with [`bk_runtime::formats::HostKey`])".into(),
        Format::Ip => "an IP address".into(),
    }
}

/// An enum with an `Unknown` fallback, with hand-rolled serde impls so that any value the
/// server sends decodes.
pub fn enumeration(
    name: &str,
    description: Option<&str>,
    repr: EnumRepr,
    values: &[bk_spec::EnumValue],
) -> TokenStream {
    let id = format_ident!("{}", name);
    let fallback = format!("The `{name}` values (the spec gives no description).");
    let doc = doc_attrs(description.unwrap_or(&fallback));
    let variants: Vec<_> = values
        .iter()
        .map(|v| format_ident!("{}", v.variant))
        .collect();
    let variant_docs: Vec<_> = values
        .iter()
        .map(|v| {
            let wire = match &v.value {
                serde_json::Value::String(s) => format!("`\"{s}\"`"),
                other => format!("`{other}`"),
            };
            let text = match &v.description {
                Some(d) => format!("{wire}: {}", d.trim()),
                None => wire,
            };
            doc_attrs(&text)
        })
        .collect();
    match repr {
        EnumRepr::String => {
            let wires: Vec<String> = values
                .iter()
                .map(|v| v.value.as_str().unwrap_or_default().to_string())
                .collect();
            quote! {
                #doc
                #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
                pub enum #id {
                    #( #variant_docs #variants, )*
                    /// A value this version of the spec does not know, kept as sent.
                    Unknown(String),
                }
                impl #id {
                    /// The wire value.
                    pub fn as_str(&self) -> &str {
                        match self {
                            #( Self::#variants => #wires, )*
                            Self::Unknown(s) => s.as_str(),
                        }
                    }
                }
                impl From<&str> for #id {
                    fn from(s: &str) -> Self {
                        match s {
                            #( #wires => Self::#variants, )*
                            other => Self::Unknown(other.to_string()),
                        }
                    }
                }
                impl std::fmt::Display for #id {
                    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(self.as_str())
                    }
                }
                impl serde::Serialize for #id {
                    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                        serializer.serialize_str(self.as_str())
                    }
                }
                impl<'de> serde::Deserialize<'de> for #id {
                    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
                        Ok(Self::from(s.as_ref()))
                    }
                }
            }
        }
        EnumRepr::Integer => {
            let wires: Vec<i64> = values
                .iter()
                .map(|v| v.value.as_i64().unwrap_or_default())
                .collect();
            quote! {
                #doc
                #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
                pub enum #id {
                    #( #variant_docs #variants, )*
                    /// A value this version of the spec does not know, kept as sent.
                    Unknown(i64),
                }
                impl #id {
                    /// The wire value.
                    pub fn code(self) -> i64 {
                        match self {
                            #( Self::#variants => #wires, )*
                            Self::Unknown(n) => n,
                        }
                    }
                }
                impl From<i64> for #id {
                    fn from(n: i64) -> Self {
                        match n {
                            #( #wires => Self::#variants, )*
                            other => Self::Unknown(other),
                        }
                    }
                }
                impl std::fmt::Display for #id {
                    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        match self {
                            #( Self::#variants => f.write_str(stringify!(#variants)), )*
                            Self::Unknown(n) => write!(f, "Unknown({n})"),
                        }
                    }
                }
                impl serde::Serialize for #id {
                    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                        serializer.serialize_i64(self.code())
                    }
                }
                impl<'de> serde::Deserialize<'de> for #id {
                    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                        bk_runtime::serde_helpers::lenient_i64(deserializer).map(Self::from)
                    }
                }
            }
        }
    }
}

/// Type names used in docs (`array of string`, a link to a generated type).
pub fn type_label(s: &Schema) -> String {
    match &s.kind {
        SchemaKind::String { .. } => "string".into(),
        SchemaKind::Integer { .. } => "integer".into(),
        SchemaKind::Number { .. } => "number".into(),
        SchemaKind::Boolean => "boolean".into(),
        SchemaKind::Any => "any JSON".into(),
        SchemaKind::Empty => "no data".into(),
        SchemaKind::Array { items, .. } => format!("array of {}", type_label(items)),
        SchemaKind::Map { values, .. } => format!("map of {}", type_label(values)),
        SchemaKind::Object { properties, .. } if properties.is_empty() => "JSON object".into(),
        SchemaKind::Object { rust_type, .. } | SchemaKind::Enum { rust_type, .. } => {
            format!("[`{rust_type}`]")
        }
        SchemaKind::Ref { name } => format!("[`{name}`](crate::types::{name})"),
    }
}
