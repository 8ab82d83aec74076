//! `bk check-response <component> <api> [FILE|-]`: does a captured ESB envelope decode into
//! the typed response of that API? Backed by the generated registries of every component.

use std::io::Read;
use std::process::ExitCode;

/// Outcome of a check, with the exit code the command uses.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// The data decodes (exit 0).
    Decodes,
    /// The envelope or its data does not fit (exit 1).
    Mismatch(String),
    /// Unknown API or unreadable input (exit 2).
    Unusable(String),
}

impl Checked {
    /// The process exit code.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Checked::Decodes => ExitCode::SUCCESS,
            Checked::Mismatch(_) => ExitCode::from(1),
            Checked::Unusable(_) => ExitCode::from(2),
        }
    }
}

/// Reads the envelope from `input` (`-` or absent: standard input).
pub fn read_input(input: Option<&str>) -> Result<String, String> {
    match input {
        None | Some("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| format!("cannot read standard input: {e}"))?;
            Ok(s)
        }
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}")),
    }
}

/// Checks `text` (a whole envelope) against the typed response of `component.api`.
pub fn check(component: &str, api: &str, text: &str) -> Checked {
    let registries = bk_sdk::registries();
    let Some((_, apis)) = registries.iter().find(|(c, _)| *c == component) else {
        let known: Vec<&str> = registries.iter().map(|(c, _)| *c).collect();
        return Checked::Unusable(format!(
            "unknown component `{component}`; known: {}",
            known.join(", ")
        ));
    };
    let Some(entry) = apis.iter().find(|e| e.meta.name == api) else {
        return Checked::Unusable(format!(
            "component `{component}` has no API `{api}` (see `bk {component} --help`)"
        ));
    };
    let envelope: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return Checked::Unusable(format!("the input is not JSON: {e}")),
    };
    let Some(obj) = envelope.as_object() else {
        return Checked::Unusable(
            "the input is not an ESB envelope (a JSON object with `result` and `data`)".into(),
        );
    };
    if obj.get("result").and_then(|r| r.as_bool()) == Some(false) {
        return Checked::Mismatch(format!(
            "the envelope reports a failure: code {}, message {}",
            obj.get("code")
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into()),
            obj.get("message")
                .map(|m| m.to_string())
                .unwrap_or_else(|| "-".into())
        ));
    }
    let Some(data) = obj.get("data") else {
        return Checked::Unusable("the envelope has no `data` member".into());
    };
    match (entry.check_data)(&data.to_string()) {
        Ok(()) => Checked::Decodes,
        Err(m) => Checked::Mismatch(format!(
            "data.{} does not fit {component}.{api}: {}",
            m.path.trim_start_matches('.'),
            m.message
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_good_envelope() {
        let text = r#"{"result":true,"code":0,"message":"","data":{"count":0,"info":[]},"request_id":"x"}"#;
        assert_eq!(check("cc", "list_biz_hosts_topo", text), Checked::Decodes);
    }

    #[test]
    fn names_the_path_and_expected_type_of_a_bad_field() {
        let text = r#"{"result":true,"code":0,"data":{"count":1,"info":[{"host":{"bk_host_id":"seven"}}]}}"#;
        match check("cc", "list_biz_hosts_topo", text) {
            Checked::Mismatch(m) => {
                assert!(m.contains("info[0].host.bk_host_id"), "{m}");
                assert!(m.contains("expected i64"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_api_and_bad_input_are_unusable() {
        assert!(matches!(
            check("cc", "no_such_api", "{}"),
            Checked::Unusable(_)
        ));
        assert!(matches!(check("nope", "x", "{}"), Checked::Unusable(_)));
        assert!(matches!(
            check("cc", "search_business", "not json"),
            Checked::Unusable(_)
        ));
        assert!(matches!(
            check(
                "cc",
                "search_business",
                r#"{"result":false,"code":1199006,"message":"bad"}"#
            ),
            Checked::Mismatch(_)
        ));
    }
}
