//! Deserialization helpers for generated code.
//!
//! ```
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Host {
//!     #[serde(default, deserialize_with = "bk_runtime::serde_helpers::null_default")]
//!     bk_host_innerip: String,
//!     #[serde(deserialize_with = "bk_runtime::serde_helpers::lenient_i64")]
//!     bk_host_id: i64,
//! }
//!
//! let h: Host = serde_json::from_str(r#"{"bk_host_innerip": null, "bk_host_id": "42"}"#).unwrap();
//! assert_eq!(h.bk_host_innerip, "");
//! assert_eq!(h.bk_host_id, 42);
//! ```

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::envelope::integral;

/// Deserializes `T`, mapping JSON `null` to `T::default()`.
///
/// Pair with `#[serde(default)]` so that a missing field is also `T::default()`.
pub fn null_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Deserializes an `i64` from an integer, a float without fraction
/// (`3.0`) or a numeric string (`"3"`, `" 3 "`, `"3.0"`).
pub fn lenient_i64<'de, D>(deserializer: D) -> Result<i64, D::Error>
where
    D: Deserializer<'de>,
{
    deserializer.deserialize_any(LenientI64)
}

/// Like [`lenient_i64`] for an optional field: `null` gives `None`.
pub fn lenient_i64_opt<'de, D>(deserializer: D) -> Result<Option<i64>, D::Error>
where
    D: Deserializer<'de>,
{
    struct Opt;
    impl<'de> Visitor<'de> for Opt {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer, a numeric string or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            lenient_i64(d).map(Some)
        }
    }
    deserializer.deserialize_option(Opt)
}

struct LenientI64;

impl Visitor<'_> for LenientI64 {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer or a numeric string")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        integral(v).ok_or_else(|| E::invalid_value(de::Unexpected::Float(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        let t = v.trim();
        t.parse::<i64>()
            .ok()
            .or_else(|| t.parse::<f64>().ok().and_then(integral))
            .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug, PartialEq)]
    struct S {
        #[serde(default, deserialize_with = "null_default")]
        list: Vec<u8>,
        #[serde(deserialize_with = "lenient_i64")]
        code: i64,
        #[serde(default, deserialize_with = "lenient_i64_opt")]
        opt: Option<i64>,
    }

    fn s(json: &str) -> Result<S, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn null_and_missing_default() {
        assert_eq!(
            s(r#"{"list":null,"code":1}"#).unwrap().list,
            Vec::<u8>::new()
        );
        assert_eq!(s(r#"{"code":1}"#).unwrap().list, Vec::<u8>::new());
        assert_eq!(s(r#"{"list":[1],"code":1}"#).unwrap().list, vec![1]);
    }

    #[test]
    fn lenient_ints() {
        assert_eq!(s(r#"{"code":-7}"#).unwrap().code, -7);
        assert_eq!(s(r#"{"code":7.0}"#).unwrap().code, 7);
        assert_eq!(s(r#"{"code":"1199006"}"#).unwrap().code, 1199006);
        assert_eq!(s(r#"{"code":" 3.0 "}"#).unwrap().code, 3);
        assert!(s(r#"{"code":7.5}"#).is_err());
        assert!(s(r#"{"code":"x"}"#).is_err());
        assert!(s(r#"{"code":18446744073709551615}"#).is_err());
        assert!(s(r#"{"code":true}"#).is_err());
        assert_eq!(s(r#"{"code":1,"opt":"5"}"#).unwrap().opt, Some(5));
        assert_eq!(s(r#"{"code":1,"opt":null}"#).unwrap().opt, None);
    }
}
