//! The registry as data for the world outside Rust: `docs/formats.json` (read by
//! `docs/reference_reader.py`) and the formats table in `docs/FORMAT.md`. Both are generated from
//! [`FAMILIES`] and committed; a test fails when they drift (regenerate with
//! `ARROWQUANT_UPDATE_DOCS=1 cargo test -p arrowquant-kernels registry`).

use serde_json::{json, Value};

use super::{Blocking, FormatInfo, FAMILIES};

/// Version of the JSON document's own shape (not of the Parquet format).
pub const REGISTRY_SCHEMA: u32 = 1;

fn blocking_json(b: &Blocking) -> Value {
    match *b {
        Blocking::Groups { sizes } => json!({ "kind": "groups", "sizes": sizes }),
        Blocking::Blocks { elements, bytes } => json!({ "kind": "blocks", "elements": elements, "bytes": bytes }),
        Blocking::FixedGroups { elements } => json!({ "kind": "fixed_groups", "elements": elements }),
        Blocking::PerRow => json!({ "kind": "per_row" }),
        Blocking::PerTensor => json!({ "kind": "per_tensor" }),
    }
}

fn family_json(f: &FormatInfo) -> Value {
    json!({
        "family": f.family,
        "methods": f.methods,
        "name_pattern": f.name_pattern,
        "name_regex": f.name_regex,
        "bits": f.bits,
        "blocking": blocking_json(&f.blocking),
        "row_multiple": f.row_multiple,
        "row_fallback": f.row_fallback,
        "importance": f.importance,
        "gptq_target": f.gptq_target,
        "gguf": f.gguf.map(|g| json!({ "name": g.name, "type_id": g.type_id, "file_type": g.file_type })),
        "decode": f.decode,
        "bits_per_weight": f.bits_per_weight,
        "summary": f.summary,
    })
}

/// `docs/formats.json`: every family's static facts.
pub fn registry_json() -> String {
    let doc = json!({
        "generated_by": "crates/kernels/src/formats/registry.rs (do not edit by hand)",
        "schema": REGISTRY_SCHEMA,
        "families": FAMILIES.iter().map(|f| family_json(f)).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&doc).expect("JSON of static data") + "\n"
}

fn blocking_text(f: &FormatInfo) -> String {
    match f.blocking {
        Blocking::Groups { sizes } => format!("groups of {}", sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("/")),
        Blocking::Blocks { elements, bytes } => format!("blocks of {elements} ({bytes} bytes)"),
        Blocking::FixedGroups { elements } => format!("blocks of {elements}"),
        Blocking::PerRow => "per row".into(),
        Blocking::PerTensor => "per tensor".into(),
    }
}

/// The formats table of `docs/FORMAT.md` (between its `formats-table` markers).
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| family | `method` | canonical names | bits | blocking | row length | bits/weight | importance | GPTQ | GGUF | decode |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for f in FAMILIES {
        let bits = f.bits.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(", ");
        let row = match (f.row_multiple, f.row_fallback) {
            (1, _) => "any".to_string(),
            (m, Some(other)) => format!("multiple of {m} (else {other})"),
            (m, None) => format!("multiple of {m} (else kept)"),
        };
        let gguf = f.gguf.map_or("—".to_string(), |g| format!("{} ({})", g.name, g.type_id));
        let methods = f.methods.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ");
        // A `|` inside a cell (even in code) ends the cell in GitHub's tables.
        let cell = |s: &str| s.replace('|', "\\|");
        out += &format!(
            "| {} | {} | `{}` | {} | {} | {} | {} | {} | {} | {} | `{}` |\n",
            f.family,
            methods,
            cell(f.name_pattern),
            bits,
            blocking_text(f),
            row,
            f.bits_per_weight,
            if f.importance { "yes" } else { "—" },
            if f.gptq_target { "yes" } else { "—" },
            gguf,
            cell(f.decode)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const BEGIN: &str = "<!-- formats-table:begin (generated from the registry: crates/kernels/src/formats/registry.rs) -->\n";
    const END: &str = "<!-- formats-table:end -->";

    fn docs() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs")
    }

    fn update() -> bool {
        std::env::var_os("ARROWQUANT_UPDATE_DOCS").is_some()
    }

    #[test]
    fn registry_json_is_current() {
        let path = docs().join("formats.json");
        let want = registry_json();
        if update() {
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(have == want, "{} is out of date: ARROWQUANT_UPDATE_DOCS=1 cargo test -p arrowquant-kernels registry", path.display());
    }

    #[test]
    fn format_md_table_is_current() {
        let path = docs().join("FORMAT.md");
        let text = std::fs::read_to_string(&path).unwrap();
        let (start, end) = (text.find(BEGIN).expect("FORMAT.md has the table's begin marker"), text.find(END).expect("FORMAT.md has the end marker"));
        let want = markdown_table();
        if update() && text[start + BEGIN.len()..end] != want {
            std::fs::write(&path, format!("{}{}{}", &text[..start + BEGIN.len()], want, &text[end..])).unwrap();
            return;
        }
        assert!(text[start + BEGIN.len()..end] == want, "the formats table in {} is out of date: ARROWQUANT_UPDATE_DOCS=1 cargo test -p arrowquant-kernels registry", path.display());
    }

    #[test]
    fn every_family_is_in_the_json() {
        let v: Value = serde_json::from_str(&registry_json()).unwrap();
        let names: Vec<&str> = v["families"].as_array().unwrap().iter().map(|f| f["family"].as_str().unwrap()).collect();
        assert_eq!(names.len(), FAMILIES.len());
        assert!(names.contains(&"rtn") && names.contains(&"q4_0"));
    }
}
