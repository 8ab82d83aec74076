//! URL routing: which spec'd API a path names.
//!
//! The ESB serves `/api/c/compapi/v2/{component}/{api}/` and the v1 form
//! `/api/c/compapi/{component}/{api}/`, with and without the trailing slash
//! (PROTOCOL.md 1). Routes are looked up in the spec bundle; there is no hand-kept list.

use bk_spec::{Api, Component};

/// The ESB URL prefix.
pub const PREFIX: &str = "/api/c/compapi";

/// API version of a request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    /// `/api/c/compapi/{component}/{api}/`.
    V1,
    /// `/api/c/compapi/v2/{component}/{api}/`.
    V2,
}

/// A path that names a spec'd API.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The version the path used.
    pub version: ApiVersion,
    /// The component's spec.
    pub component: &'static Component,
    /// The API's spec.
    pub api: &'static Api,
}

impl Route {
    /// `component.api`, the key of per-API counters and fault rules.
    pub fn key(&self) -> String {
        format!("{}.{}", self.component.name, self.api.name)
    }
}

/// Finds the API a path names, or `None` (the caller answers the 404 body).
pub fn route(path: &str) -> Option<Route> {
    let rest = path.strip_prefix(PREFIX)?.strip_prefix('/')?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let segments: Vec<&str> = rest.split('/').collect();
    let (version, component, api) = match segments.as_slice() {
        ["v2", component, api] => (ApiVersion::V2, *component, *api),
        [component, api] => (ApiVersion::V1, *component, *api),
        _ => return None,
    };
    let bundle = bk_spec::bundle();
    let component = bundle.component(component)?;
    let api = component.api(api)?;
    Some(Route {
        version,
        component,
        api,
    })
}

/// How many APIs the simulator serves (every API of the spec bundle).
pub fn api_count() -> usize {
    bk_spec::bundle().apis().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_v2_with_and_without_slash() {
        for p in [
            "/api/c/compapi/v2/cc/search_business/",
            "/api/c/compapi/v2/cc/search_business",
            "/api/c/compapi/cc/search_business/",
            "/api/c/compapi/cc/search_business",
        ] {
            let r = route(p).unwrap_or_else(|| panic!("{p} routes"));
            assert_eq!(r.key(), "cc.search_business");
        }
        assert_eq!(
            route("/api/c/compapi/cc/search_business").map(|r| r.version),
            Some(ApiVersion::V1)
        );
    }

    #[test]
    fn unknown_paths() {
        for p in [
            "/",
            "/api/c/compapi",
            "/api/c/compapi/",
            "/api/c/compapi/v2/cc/",
            "/api/c/compapi/v2/cc/nope/",
            "/api/c/compapi/v2/nope/search_business/",
            "/api/c/compapi/v2/cc/search_business//",
            "/api/c/compapi/v3/cc/search_business/",
            "/api/c/compapiX/cc/search_business/",
        ] {
            assert!(route(p).is_none(), "{p}");
        }
    }
}
