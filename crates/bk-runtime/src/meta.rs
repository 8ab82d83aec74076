//! Static description of one API operation.
//!
//! Generated code builds one [`ApiMeta`] per API as a `const` and hands a
//! `&'static` reference to [`Client::send`](crate::Client::send). The runtime
//! reads everything it needs about the operation from here: where to send it,
//! how, whether it is safe to retry and which request fields must never be
//! logged.

use std::fmt;

/// HTTP method of an API. ESB channels accept only `GET` and `POST`; API gateway
/// resources ([`Client::gateway`](crate::Client::gateway)) may also use `PUT`, `PATCH`
/// and `DELETE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`: parameters travel in the query string.
    Get,
    /// `POST`: parameters travel in a JSON body.
    Post,
    /// `PUT` (gateway only): parameters travel in a JSON body.
    Put,
    /// `PATCH` (gateway only): parameters travel in a JSON body.
    Patch,
    /// `DELETE` (gateway only): parameters travel in the query string.
    Delete,
}

impl Method {
    /// The method as it appears on the wire: `"GET"` or `"POST"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// Whether the parameters travel in a JSON body (`POST`, `PUT`, `PATCH`) rather
    /// than the query string (`GET`, `DELETE`).
    pub const fn has_body(self) -> bool {
        matches!(self, Method::Post | Method::Put | Method::Patch)
    }

    /// Whether HTTP defines the method as idempotent (`GET`, `PUT`, `DELETE`).
    pub const fn is_idempotent(self) -> bool {
        matches!(self, Method::Get | Method::Put | Method::Delete)
    }

    pub(crate) fn to_http(self) -> http::Method {
        match self {
            Method::Get => http::Method::GET,
            Method::Post => http::Method::POST,
            Method::Put => http::Method::PUT,
            Method::Patch => http::Method::PATCH,
            Method::Delete => http::Method::DELETE,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything the runtime needs to know about one API operation.
///
/// Built as a `const` by generated code:
///
/// ```
/// use bk_runtime::{ApiMeta, Method};
///
/// const LIST_BIZ_HOSTS_TOPO: ApiMeta = ApiMeta {
///     component: "cc",
///     name: "list_biz_hosts_topo",
///     method: Method::Post,
///     path: "/api/c/compapi{bk_api_ver}/cc/list_biz_hosts_topo/",
///     idempotent: true,
///     sensitive: &[],
///     cache_ttl_secs: None,
/// };
/// assert_eq!(LIST_BIZ_HOSTS_TOPO.method.to_string(), "POST");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ApiMeta {
    /// ESB component name, e.g. `"cc"`.
    pub component: &'static str,
    /// API name inside the component, e.g. `"list_biz_hosts_topo"`.
    pub name: &'static str,
    /// HTTP method.
    pub method: Method,
    /// Path template; `{bk_api_ver}` is replaced by `"/v2"` or `""`
    /// according to [`ApiVersion`](crate::ApiVersion).
    pub path: &'static str,
    /// Whether sending the request twice has the same effect as sending it
    /// once (safe to retry after a failure where the request may have been sent).
    pub idempotent: bool,
    /// Extra request parameter paths to redact in logs, dot separated
    /// (`"a.b"` redacts `params["a"]["b"]`; arrays on the way are walked element-wise).
    pub sensitive: &'static [&'static str],
    /// How long a successful result may be cached, if at all.
    pub cache_ttl_secs: Option<u32>,
}

/// The operation one call targets: either a static [`ApiMeta`] or the pieces
/// given to the untyped [`Client::call`](crate::Client::call).
#[derive(Clone, Debug)]
pub(crate) struct Target<'a> {
    /// ESB component, or gateway name for gateway targets.
    pub(crate) component: &'a str,
    pub(crate) api: &'a str,
    pub(crate) method: Method,
    pub(crate) path: std::borrow::Cow<'a, str>,
    /// The spec's path, for targets made from an [`ApiMeta`]: its request URI (when it
    /// has no query) is built once per client and kept.
    pub(crate) static_path: Option<&'static str>,
    pub(crate) sensitive: &'a [&'a str],
    pub(crate) idempotent: bool,
    /// For an API gateway resource: the base URL (template resolved, stage
    /// included, no trailing slash) that `path` is appended to. `None`: the ESB.
    pub(crate) gateway_base: Option<String>,
}

impl Target<'static> {
    pub(crate) fn from_meta(meta: &'static ApiMeta) -> Self {
        Target {
            component: meta.component,
            api: meta.name,
            method: meta.method,
            path: std::borrow::Cow::Borrowed(meta.path),
            static_path: Some(meta.path),
            sensitive: meta.sensitive,
            idempotent: meta.idempotent,
            gateway_base: None,
        }
    }
}

impl<'a> Target<'a> {
    /// Target for the untyped escape hatch: `/api/c/compapi{bk_api_ver}/{component}/{api}/`.
    pub(crate) fn dynamic(method: Method, component: &'a str, api: &'a str) -> Self {
        Target {
            component,
            api,
            method,
            path: std::borrow::Cow::Owned(format!(
                "/api/c/compapi{{bk_api_ver}}/{component}/{api}/"
            )),
            static_path: None,
            sensitive: &[],
            // Unknown: treated as unsafe to repeat.
            idempotent: false,
            gateway_base: None,
        }
    }
}

/// Checks a component name given to the untyped API: ASCII letters, digits, `_` and `-`.
pub(crate) fn valid_component(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Checks an API name given to the untyped API: `/`-separated segments of
/// ASCII letters, digits, `_`, `-` and `.`, none empty, `.` or `..`.
pub(crate) fn valid_api(s: &str) -> bool {
    !s.is_empty()
        && s.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_display() {
        assert_eq!(Method::Get.to_string(), "GET");
        assert_eq!(Method::Post.to_string(), "POST");
    }

    #[test]
    fn names() {
        assert!(valid_component("bk_login"));
        assert!(valid_component("monitor-v3"));
        assert!(!valid_component(""));
        assert!(!valid_component("cc/../x"));
        assert!(valid_api("list_biz_hosts_topo"));
        assert!(valid_api("v2/list.hosts"));
        assert!(!valid_api("../admin"));
        assert!(!valid_api("a//b"));
        assert!(!valid_api("a?b=c"));
    }
}
