//! `cargo xtask coverage`: how much of the official API surface the specs cover.
//!
//! Expected APIs are the union of the official SDKs' inventory
//! (`../shared/reference/inventory.tsv`) and the official docs
//! (`../shared/reference/apidocs/<component>/<api>.md`, less the files that are not APIs).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use bk_spec::{Bundle, Schema, SchemaKind};

/// Doc files that describe shared definitions or callbacks, not APIs.
const NOT_APIS: &[&str] = &["common", "callback_protocol"];

#[derive(Default)]
struct Row {
    expected: BTreeSet<String>,
    inventory: BTreeSet<String>,
    specced: usize,
    params: usize,
    typed_params: usize,
    documented: usize,
    typed_responses_documented: usize,
    typed_responses: usize,
    examples: usize,
}

/// A response is typed unless it is `any`; `empty` (no data) is a precise type.
fn typed(s: &Schema) -> bool {
    !matches!(s.kind, SchemaKind::Any)
}

/// Per component: (all expected APIs, those in the inventory, those documented).
type Expected = BTreeMap<String, (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>)>;

/// Reads the expected APIs of every component.
fn expected(reference: &Path) -> Result<Expected, String> {
    let mut out: Expected = BTreeMap::new();
    let inv_path = reference.join("inventory.tsv");
    let inv = std::fs::read_to_string(&inv_path)
        .map_err(|e| format!("cannot read {}: {e}", inv_path.display()))?;
    for line in inv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 2 || cols[0] == "component" {
            continue;
        }
        let e = out.entry(cols[0].to_string()).or_default();
        e.0.insert(cols[1].to_string());
        e.1.insert(cols[1].to_string());
    }
    let docs = reference.join("apidocs");
    let rd =
        std::fs::read_dir(&docs).map_err(|e| format!("cannot read {}: {e}", docs.display()))?;
    for comp in rd.flatten().filter(|e| e.path().is_dir()) {
        let name = comp.file_name().to_string_lossy().into_owned();
        for f in std::fs::read_dir(comp.path())
            .map_err(|e| e.to_string())?
            .flatten()
        {
            let p = f.path();
            if p.extension().and_then(|x| x.to_str()) != Some("md") {
                continue;
            }
            let stem = p
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("")
                .to_string();
            if NOT_APIS.contains(&stem.as_str()) {
                continue;
            }
            let e = out.entry(name.clone()).or_default();
            e.0.insert(stem.clone());
            e.2.insert(stem);
        }
    }
    Ok(out)
}

/// Prints the coverage table; `Err` when an inventory API has no spec.
pub fn run(bundle: &Bundle, reference: &Path) -> Result<String, String> {
    let expected = expected(reference)?;
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let mut missing_inventory = Vec::new();
    let mut missing_docs = Vec::new();
    for (comp, (all, inv, documented)) in &expected {
        let row = rows.entry(comp.clone()).or_default();
        row.expected = all.clone();
        row.inventory = inv.clone();
        let c = bundle.component(comp);
        for api in all {
            let spec = c.and_then(|c| c.api(api));
            if spec.is_none() {
                if inv.contains(api) {
                    missing_inventory.push(format!("{comp}.{api}"));
                } else {
                    missing_docs.push(format!("{comp}.{api}"));
                }
            }
            if documented.contains(api) {
                row.documented += 1;
                if spec.and_then(|a| a.response.as_ref()).is_some_and(typed) {
                    row.typed_responses_documented += 1;
                }
            }
        }
    }
    for c in &bundle.components {
        let row = rows.entry(c.name.clone()).or_default();
        row.specced = c.apis.len();
        for a in &c.apis {
            row.params += a.params.len();
            row.typed_params += a.params.iter().filter(|f| typed(&f.schema)).count();
            if a.response.as_ref().is_some_and(typed) {
                row.typed_responses += 1;
            }
            if a.example.is_some() {
                row.examples += 1;
            }
        }
    }
    let pct = |a: usize, b: usize| {
        if b == 0 {
            "-".to_string()
        } else {
            format!("{:.0}%", 100.0 * a as f64 / b as f64)
        }
    };
    let mut t = String::new();
    let _ = writeln!(t, "| component | spec'd / expected | inventory | typed params | typed responses (documented APIs) | examples |");
    let _ = writeln!(t, "|---|---|---|---|---|---|");
    let mut tot = Row::default();
    let mut tot_expected = 0;
    let mut tot_inventory = 0;
    for (name, r) in &rows {
        let inv_present = r
            .inventory
            .iter()
            .filter(|a| bundle.api(name, a).is_some())
            .count();
        let _ = writeln!(
            t,
            "| {name} | {} / {} | {inv_present} / {} | {} | {} ({}/{}) | {} |",
            r.specced,
            r.expected.len(),
            r.inventory.len(),
            pct(r.typed_params, r.params),
            pct(r.typed_responses_documented, r.documented),
            r.typed_responses_documented,
            r.documented,
            r.examples
        );
        tot_expected += r.expected.len();
        tot_inventory += r.inventory.len();
        tot.specced += r.specced;
        tot.params += r.params;
        tot.typed_params += r.typed_params;
        tot.documented += r.documented;
        tot.typed_responses_documented += r.typed_responses_documented;
        tot.examples += r.examples;
    }
    let inv_total_present = tot_inventory - missing_inventory.len();
    let _ = writeln!(
        t,
        "| **total** | {} / {tot_expected} | {inv_total_present} / {tot_inventory} | {} | {} ({}/{}) | {} |",
        tot.specced,
        pct(tot.typed_params, tot.params),
        pct(tot.typed_responses_documented, tot.documented),
        tot.typed_responses_documented,
        tot.documented,
        tot.examples
    );
    if !missing_docs.is_empty() {
        let _ = writeln!(
            t,
            "\ndocumented but not spec'd ({}): {}",
            missing_docs.len(),
            missing_docs.join(", ")
        );
    }
    if missing_inventory.is_empty() {
        Ok(t)
    } else {
        Err(format!(
            "{t}\ninventory APIs without a spec ({}): {}",
            missing_inventory.len(),
            missing_inventory.join(", ")
        ))
    }
}
