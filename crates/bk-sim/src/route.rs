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
    let (version, rest) = match rest.strip_prefix("v2/") {
        Some(r) => (ApiVersion::V2, r),
        None => (ApiVersion::V1, rest),
    };
    let (component, api) = rest.split_once('/')?;
    if api.split('/').any(str::is_empty) {
        return None;
    }
    let bundle = bk_spec::bundle();
    let component = bundle.component(component)?;
    let api = if api.contains('/') {
        // A few real routes have more than one segment after the component (ITSM
        // `token/verify`): those are matched by the spec's path, not by the API name.
        component
            .apis
            .iter()
            .find(|a| path_tail(&a.path, &component.name) == Some(api))?
    } else {
        component.api(api)?
    };
    Some(Route {
        version,
        component,
        api,
    })
}

/// The part of a spec path after `{bk_api_ver}/{component}/`, without the trailing slash.
fn path_tail<'a>(spec_path: &'a str, component: &str) -> Option<&'a str> {
    let rest = spec_path.strip_prefix(PREFIX)?;
    let rest = rest.strip_prefix("{bk_api_ver}").unwrap_or(rest);
    let rest = rest
        .strip_prefix('/')?
        .strip_prefix(component)?
        .strip_prefix('/')?;
    Some(rest.strip_suffix('/').unwrap_or(rest))
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
    fn multi_segment_routes_follow_the_spec_path() {
        for p in [
            "/api/c/compapi/v2/itsm/token/verify/",
            "/api/c/compapi/v2/itsm/token/verify",
            "/api/c/compapi/itsm/token/verify/",
        ] {
            let r = route(p).unwrap_or_else(|| panic!("{p} routes"));
            assert_eq!(r.key(), "itsm.token_verify");
        }
        assert!(route("/api/c/compapi/v2/itsm/token/nope/").is_none());
        assert!(route("/api/c/compapi/v2/itsm/token//verify/").is_none());
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
