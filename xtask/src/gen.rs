//! `cargo xtask gen [--check]`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Folders whose every file belongs to the generator: a file there that the generator did
/// not produce is stale and gets removed.
fn owned_dirs(out: &bk_codegen::Output) -> BTreeSet<PathBuf> {
    out.generated
        .iter()
        .filter_map(|f| {
            let p = f.path.to_string_lossy();
            p.find("/src/generated/")
                .map(|i| PathBuf::from(&p[..i + "/src/generated".len()]))
        })
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Loads, generates, then writes (or checks) every file. Returns a one-line summary.
pub fn run(root: &Path, specs: &Path, check: bool) -> Result<String, String> {
    let bundle = bk_codegen::load_dir(specs, root).map_err(|d| d.to_string())?;
    let out = bk_codegen::generate(&bundle)?;
    let apis: usize = bundle.components.iter().map(|c| c.apis.len()).sum();

    let produced: BTreeSet<PathBuf> = out.generated.iter().map(|f| root.join(&f.path)).collect();
    let mut extra = Vec::new();
    for dir in owned_dirs(&out) {
        let mut files = Vec::new();
        walk(&root.join(dir), &mut files);
        extra.extend(files.into_iter().filter(|f| !produced.contains(f)));
    }
    extra.sort();

    let mut problems = String::new();
    let mut written = 0;
    for f in &out.generated {
        let path = root.join(&f.path);
        let current = std::fs::read(&path).ok();
        if current.as_deref() == Some(f.contents.as_bytes()) {
            continue;
        }
        if check {
            let what = if current.is_none() {
                "missing"
            } else {
                "stale"
            };
            let _ = writeln!(problems, "{what}: {}", f.path.display());
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, &f.contents)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written += 1;
    }
    for f in &extra {
        let shown = f.strip_prefix(root).unwrap_or(f).display().to_string();
        if check {
            let _ = writeln!(problems, "stale: {shown} (no spec produces it any more)");
        } else {
            std::fs::remove_file(f).map_err(|e| format!("cannot remove {shown}: {e}"))?;
        }
    }
    let mut scaffolded = 0;
    for s in &out.scaffold {
        let path = root.join(&s.path);
        if path.exists() {
            continue;
        }
        if check {
            let _ = writeln!(
                problems,
                "missing: {} (run `cargo xtask gen` to create it)",
                s.path.display()
            );
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, &s.contents)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        scaffolded += 1;
    }
    if check {
        if problems.is_empty() {
            return Ok(format!(
                "generated code is up to date: {} files, {apis} APIs in {} components",
                out.generated.len(),
                bundle.components.len()
            ));
        }
        return Err(format!(
            "{problems}generated code is out of date with specs/: run `cargo xtask gen`"
        ));
    }
    Ok(format!(
        "{apis} APIs in {} components: {} files generated, {written} written, {} removed, {scaffolded} scaffolded",
        bundle.components.len(),
        out.generated.len(),
        extra.len()
    ))
}
