//! The resolved model of the blueking-rs API specs.
//!
//! `specs/**/*.yaml` is the one source of truth. `bk-codegen` loads and validates those files
//! into the types below; the generator emits typed clients from them, and writes the whole
//! model as a JSON bundle ([`bundle`]) that the simulator and the CLI read at run time, so that
//! all three are derived from the same facts.
//!
//! The model is plain data: every reference has been checked, every name is known to be a
//! valid identifier, and nothing here needs the YAML any more.

#![warn(missing_docs)]

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Every component of the specs, sorted by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Bundle {
    /// The components, sorted by name.
    pub components: Vec<Component>,
}

impl Bundle {
    /// The component with this ESB name.
    pub fn component(&self, name: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.name == name)
    }

    /// The API `api` of component `component`.
    pub fn api(&self, component: &str, api: &str) -> Option<&Api> {
        self.component(component)?.api(api)
    }

    /// Every API of every component, with its component.
    pub fn apis(&self) -> impl Iterator<Item = (&Component, &Api)> {
        self.components
            .iter()
            .flat_map(|c| c.apis.iter().map(move |a| (c, a)))
    }
}

/// One ESB component (`cc`, `jobv3`, ...) and its APIs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    /// ESB name, as in the URL path.
    pub name: String,
    /// Cargo package of the generated client (`bk-cc`).
    pub crate_name: String,
    /// One-line title.
    pub title: String,
    /// Longer description (Markdown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Error codes this component returns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ErrorCode>,
    /// Shared named types, sorted by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<NamedType>,
    /// The APIs, sorted by name.
    pub apis: Vec<Api>,
}

impl Component {
    /// The API with this name.
    pub fn api(&self, name: &str) -> Option<&Api> {
        self.apis.iter().find(|a| a.name == name)
    }

    /// The shared type with this name.
    pub fn named_type(&self, name: &str) -> Option<&NamedType> {
        self.types.iter().find(|t| t.name == name)
    }

    /// Follows references until a schema that is not a reference.
    ///
    /// Returns `schema` itself when a reference is dangling or circular (validation rules
    /// out both for a loaded bundle).
    pub fn resolve<'a>(&'a self, mut schema: &'a Schema) -> &'a Schema {
        for _ in 0..32 {
            match &schema.kind {
                SchemaKind::Ref { name } => match self.named_type(name) {
                    Some(t) => schema = &t.schema,
                    None => return schema,
                },
                _ => return schema,
            }
        }
        schema
    }
}

/// A documented error code of a component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorCode {
    /// The numeric code.
    pub code: i64,
    /// A snake_case name, when the spec gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the code means.
    pub meaning: String,
}

/// A shared named type of a component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedType {
    /// PascalCase name.
    pub name: String,
    /// Its schema.
    pub schema: Schema,
}

/// HTTP method of an ESB API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// Parameters in the query string.
    Get,
    /// Parameters in a JSON body.
    Post,
}

impl Method {
    /// `"GET"` or `"POST"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One API of a component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Api {
    /// API name, as in the URL path.
    pub name: String,
    /// HTTP method.
    pub method: Method,
    /// Path template, with `{bk_api_ver}`.
    pub path: String,
    /// One-sentence summary.
    pub summary: String,
    /// Longer description (Markdown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The official doc the spec was written from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// Official SDKs that list this API.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen_in: Vec<String>,
    /// What other official sources say differently.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also_seen: Vec<AlsoSeen>,
    /// Safe to retry.
    pub idempotent: bool,
    /// `Some` when deprecated; the text names the replacement (may be empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<String>,
    /// The result may be cached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<Cache>,
    /// How the API pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagination: Option<Pagination>,
    /// Request parameter paths whose values are secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensitive: Vec<String>,
    /// Corrections made to the official doc.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fixups: Vec<Fixup>,
    /// Request parameters, in spec order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Field>,
    /// Schema of the envelope's `data`; `None` means untyped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Schema>,
    /// Example `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<Value>,
}

impl Api {
    /// The parameter with this wire name.
    pub fn param(&self, name: &str) -> Option<&Field> {
        self.params.iter().find(|f| f.name == name)
    }

    /// The path with the API version filled in (`"/v2"` or `""`).
    pub fn path_for(&self, bk_api_ver: &str) -> String {
        self.path.replace("{bk_api_ver}", bk_api_ver)
    }
}

/// Another official source's differing view of an API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlsoSeen {
    /// Which source.
    pub source: String,
    /// The method it uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<Method>,
    /// The path it uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Cache policy of a slowly changing read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cache {
    /// Time to live, seconds.
    pub ttl: u32,
}

/// How a paged API pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pagination {
    /// The paging style.
    pub style: PaginationStyle,
    /// `start_limit`: the parameter holding the page object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// Largest page size the server accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_limit: Option<u32>,
    /// Dot path of the items inside `data` (empty: `data` is the list).
    #[serde(default)]
    pub items: String,
    /// Dot path of the total count inside `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<String>,
}

/// Paging styles of the BlueKing components.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaginationStyle {
    /// CMDB: `page: {start, limit}`.
    StartLimit,
    /// ITSM: `page` (from 1) and `page_size`.
    PageNumber,
    /// JOB: `start` and `length`.
    StartLength,
}

/// A named correction to the official doc.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fixup {
    /// Stable name of the fixup.
    pub name: String,
    /// What was wrong and what the spec does instead.
    pub what: String,
}

/// A request parameter or an object property.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// Wire name.
    pub name: String,
    /// Rust identifier (snake_case, not yet keyword-escaped).
    pub rust_name: String,
    /// Must be present.
    #[serde(default)]
    pub required: bool,
    /// The value's schema.
    pub schema: Schema,
}

/// A value's schema, with the keys every schema may carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// What kind of value.
    #[serde(flatten)]
    pub kind: SchemaKind,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The server may send `null`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub nullable: bool,
    /// `Some` when deprecated, with the replacement (may be empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<String>,
    /// A secret, never logged.
    #[serde(default, skip_serializing_if = "is_false")]
    pub sensitive: bool,
    /// The server's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// An example value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<Value>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Schema {
    /// A schema of this kind with no other keys.
    pub fn new(kind: SchemaKind) -> Schema {
        Schema {
            kind,
            description: None,
            nullable: false,
            deprecated: None,
            sensitive: false,
            default: None,
            example: None,
        }
    }
}

/// The kinds of value a schema describes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SchemaKind {
    /// A string.
    String {
        /// Its format.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<Format>,
        /// Shortest length.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_length: Option<u64>,
        /// Longest length.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_length: Option<u64>,
        /// A regular expression the value matches.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pattern: Option<String>,
    },
    /// An integer (`i64`).
    Integer {
        /// Its format.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<Format>,
        /// Smallest value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        minimum: Option<i64>,
        /// Largest value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        maximum: Option<i64>,
    },
    /// A floating point number.
    Number {
        /// Smallest value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        minimum: Option<f64>,
        /// Largest value.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        maximum: Option<f64>,
    },
    /// `true` or `false`.
    Boolean,
    /// Any JSON value.
    Any,
    /// No data: the API answers `data: null` (or an empty object or list); nothing to decode.
    Empty,
    /// A list.
    Array {
        /// Element schema.
        items: Box<Schema>,
        /// Fewest elements.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_items: Option<u64>,
        /// Most elements.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_items: Option<u64>,
    },
    /// A JSON object used as a string-keyed map.
    Map {
        /// Value schema.
        values: Box<Schema>,
        /// Format of the keys.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<Format>,
    },
    /// A JSON object with known properties.
    Object {
        /// Rust name of the generated struct.
        rust_type: String,
        /// Properties, in spec order.
        #[serde(default)]
        properties: Vec<Field>,
        /// Unknown properties are kept.
        #[serde(default, skip_serializing_if = "is_false")]
        additional_properties: bool,
    },
    /// A closed set of strings or integers.
    Enum {
        /// Rust name of the generated enum.
        rust_type: String,
        /// Wire representation.
        repr: EnumRepr,
        /// The values.
        values: Vec<EnumValue>,
    },
    /// A reference to a named type of the component.
    Ref {
        /// The type's name.
        name: String,
    },
}

/// Wire representation of an enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnumRepr {
    /// JSON strings.
    String,
    /// JSON integers.
    Integer,
}

/// One value of an enum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnumValue {
    /// The wire value: a string or an integer.
    pub value: Value,
    /// PascalCase variant name.
    pub variant: String,
    /// What the value means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Value formats with special meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Milliseconds since the Unix epoch.
    EpochMs,
    /// Seconds since the Unix epoch.
    EpochS,
    /// `yyyy-MM-dd HH:mm:ss`.
    Datetime,
    /// Base64-encoded text.
    Base64,
    /// `"<bk_cloud_id>:<ip>"`.
    HostKey,
    /// An IP address.
    Ip,
}

impl Format {
    /// Every format, with its spec name.
    pub const ALL: &'static [(&'static str, Format)] = &[
        ("epoch_ms", Format::EpochMs),
        ("epoch_s", Format::EpochS),
        ("datetime", Format::Datetime),
        ("base64", Format::Base64),
        ("host_key", Format::HostKey),
        ("ip", Format::Ip),
    ];

    /// The spec name of the format.
    pub fn name(self) -> &'static str {
        Format::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map(|(n, _)| *n)
            .unwrap_or("unknown")
    }
}

static BUNDLE_JSON: &str = include_str!("generated/bundle.json");

/// The model of every spec in `specs/`, as of the last `cargo xtask gen`.
///
/// Parsed once, on first use.
pub fn bundle() -> &'static Bundle {
    static BUNDLE: OnceLock<Bundle> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        // The bundle is written by `cargo xtask gen` from this very model and checked by
        // `gen --check`; failing to read it back is a build defect, not an input error.
        serde_json::from_str(BUNDLE_JSON).expect("generated bundle.json matches bk-spec's model")
    })
}
