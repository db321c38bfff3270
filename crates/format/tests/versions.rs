//! Files written by an earlier format version (tests/fixtures/format-v2: Parquet format 1, data
//! pages V1) still open, and every row reads back.

use std::path::PathBuf;

use arrowquant_format::FileReader;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/format-v2").join(name)
}

#[test]
fn version_2_files_still_open_and_read() {
    for name in ["q4_k.v2.parquet", "rtn4.v2.parquet"] {
        let reader = FileReader::open(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(reader.key_value_metadata().get("arrowquant.format_version").map(String::as_str), Some("2"), "{name}");
        let index = reader.index().unwrap();
        assert_eq!(index.len(), 3, "{name}: one chunk per tensor");
        for row in &index {
            let chunks = reader.tensor_chunks(&index, row.tensor_index).unwrap();
            assert_eq!(chunks.len(), 1);
            let c = &chunks[0];
            assert_eq!(c.name, row.name);
            assert!(!c.codes.is_empty(), "{name}: {} has codes", c.name);
        }
    }
}
