//! Response bodies: the ESB envelope, the 404 body and the API gateway error body
//! (PROTOCOL.md 2), and the error codes the simulator uses.

use rand::Rng;
use serde_json::{json, Map, Value};

/// Header carrying the request id of every answer.
pub const REQUEST_ID_HEADER: &str = "X-Bkapi-Request-Id";

/// ESB error codes (blueking-apigateway `common/errors.py`).
pub mod codes {
    /// Generic: validation, app or user auth failure, component exception.
    pub const ESB_GENERIC: i64 = 1306000;
    /// Request to the backend failed (including backend timeout).
    pub const ESB_BACKEND_FAILED: i64 = 1306201;
    /// Test host not configured (`X-Use-Test-Env`).
    pub const ESB_NO_TEST_ENV: i64 = 1306206;
    /// Backend does not support the method.
    pub const ESB_METHOD_NOT_SUPPORTED: i64 = 1306209;
    /// Argument error.
    pub const ESB_ARGUMENT: i64 = 1306406;
    /// Rate limited (legacy ESB; HTTP 200, no headers).
    pub const ESB_RATE_LIMITED: i64 = 1306429;
    /// CMDB: invalid parameters.
    pub const CC_INVALID_PARAMS: i64 = 1199006;
    /// CMDB: page limit is zero / below the minimum (`list_biz_hosts_topo`).
    pub const CC_PAGE_LIMIT_ZERO: i64 = 1199010;
    /// CMDB: page limit exceeds the maximum (`list_biz_hosts_topo`).
    pub const CC_PAGE_LIMIT_EXCEEDED: i64 = 1199035;
    /// CMDB: another API's limit exceeded.
    pub const CC_LIMIT_EXCEEDED: i64 = 1199059;
    /// CMDB: too many requests.
    pub const CC_TOO_MANY_REQUESTS: i64 = 1199997;
    /// API gateway: rate limited (HTTP 429).
    pub const GATEWAY_RATE_LIMITED: i64 = 1642901;
}

/// A fresh request id: 32 lowercase hex digits.
pub fn new_request_id() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    hex::encode(bytes)
}

/// `{"result": true, "code": 0, "message": "success", "data": .., "request_id": ..}`.
pub fn success(data: Value, request_id: &str) -> Value {
    json!({
        "result": true,
        "code": 0,
        "message": "success",
        "data": data,
        "request_id": request_id,
    })
}

/// `{"result": false, "code": .., "message": .., "data": null, "request_id": ..}`, with
/// `permission` when given.
pub fn failure(code: i64, message: &str, permission: Option<Value>, request_id: &str) -> Value {
    let mut m = Map::new();
    m.insert("result".into(), Value::Bool(false));
    m.insert("code".into(), Value::from(code));
    m.insert("message".into(), Value::from(message));
    m.insert("data".into(), Value::Null);
    m.insert("request_id".into(), Value::from(request_id));
    if let Some(p) = permission {
        m.insert("permission".into(), p);
    }
    Value::Object(m)
}

/// The body of an unknown path (HTTP 404; no `code`).
pub fn not_found() -> Value {
    json!({"result": false, "data": null, "message": "The content does not exist"})
}

/// An API gateway error body: `{code, code_name, message, result: false, data: null}`.
pub fn gateway_error(code: i64, code_name: &str, message: &str) -> Value {
    json!({
        "code": code,
        "code_name": code_name,
        "message": message,
        "result": false,
        "data": null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_is_32_hex() {
        let id = new_request_id();
        assert_eq!(id.len(), 32);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(id, new_request_id());
    }

    #[test]
    fn failure_has_permission_only_when_given() {
        let f = failure(1306000, "x", None, "r");
        assert!(f.get("permission").is_none());
        let f = failure(9900403, "x", Some(json!({"system_id": "bk_cmdb"})), "r");
        assert_eq!(f["permission"]["system_id"], "bk_cmdb");
    }
}
