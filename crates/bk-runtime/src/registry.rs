//! What generated crates publish about each API for tools (the CLI, `check-response`):
//! its metadata and a checker that decodes a `data` value into the API's typed response.

use serde::de::DeserializeOwned;

use crate::ApiMeta;

/// One API of a generated component.
#[derive(Debug, Clone, Copy)]
pub struct ApiEntry {
    /// The API's metadata.
    pub meta: &'static ApiMeta,
    /// Decodes a JSON `data` value into the API's typed response, reporting the first field
    /// that does not fit.
    pub check_data: fn(&str) -> Result<(), DataMismatch>,
}

/// Where and why a `data` value does not fit the typed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataMismatch {
    /// JSON path of the failing field (`info[0].bk_host_id`; `.` for the root).
    pub path: String,
    /// What serde expected and found.
    pub message: String,
}

impl std::fmt::Display for DataMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at `{}`: {}", self.path, self.message)
    }
}

impl std::error::Error for DataMismatch {}

/// Decodes `data` (JSON text) into `T`, reporting the JSON path of the first failing field.
pub fn check_data<T: DeserializeOwned>(data: &str) -> Result<(), DataMismatch> {
    let mut de = serde_json::Deserializer::from_str(data);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(_) => de.end().map_err(|e| DataMismatch {
            path: ".".into(),
            message: e.to_string(),
        }),
        Err(e) => Err(DataMismatch {
            path: e.path().to_string(),
            message: e.into_inner().to_string(),
        }),
    }
}

/// Helpers for tests of generated crates.
pub mod testing {
    /// Panics, naming the API and the JSON path of the field, when `json` does not decode
    /// into `T`. Used by the generated `tests/spec_examples.rs` of every component.
    #[track_caller]
    pub fn assert_example_decodes<T: serde::de::DeserializeOwned>(api: &str, json: &str) {
        if let Err(e) = super::check_data::<T>(json) {
            panic!(
                "the spec example of {api} does not decode into {}: {e}",
                std::any::type_name::<T>()
            );
        }
    }
}
