//! [`NoData`]: the typed response of APIs that answer no data.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The `data` of an API that answers nothing useful: `null`, `{}` or `[]` on the wire.
///
/// Decoding accepts any value and keeps nothing, so a server that starts sending a summary
/// object does not break callers; encoding writes `null`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct NoData;

impl<'de> Deserialize<'de> for NoData {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(deserializer).map(|_| NoData)
    }
}

impl Serialize for NoData {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit()
    }
}

#[cfg(test)]
mod tests {
    use super::NoData;

    #[test]
    fn anything_decodes_and_null_encodes() {
        for text in ["null", "{}", "[]", r#"{"a":1}"#, "0"] {
            assert_eq!(
                serde_json::from_str::<NoData>(text).unwrap(),
                NoData,
                "{text}"
            );
        }
        assert_eq!(serde_json::to_string(&NoData).unwrap(), "null");
    }
}
