//! Round trips through a real file, byte determinism, model-order enforcement and atomicity.

use std::collections::BTreeMap;
use std::path::Path;

use arrowquant_format::{ChunkQuality, ChunkRow, FallbackStep, FileReader, FileWriter, LayerOutput, TimeGroupParams, WriterOptions};

fn row(tensor: u32, chunk: u32, count: u32, payload: usize) -> ChunkRow {
    let fill = |k: usize| (0..payload).map(|i| ((i * 31 + k * 7 + tensor as usize * 13 + chunk as usize) % 251) as u8).collect::<Vec<_>>();
    ChunkRow {
        tensor_index: tensor,
        name: format!("blocks.{tensor}.attn.to_q.weight"),
        component: (tensor % 2 == 0).then(|| "transformer".to_string()),
        shape: vec![8 * count as u64, 3, 5],
        source_dtype: "BF16".into(),
        chunk_index: chunk,
        chunk_count: count,
        row_start: 8 * chunk as u64,
        row_count: 8,
        method: "rtn".into(),
        scheme: "rtn_int4_g32_asym".into(),
        bits: 4,
        group_size: 32,
        requested_bits: if tensor == 1 { 2 } else { 4 },
        codes: fill(0).into(),
        scales: fill(1)[..payload / 4 * 4].to_vec().into(),
        zeros: fill(2)[..payload / 8].to_vec().into(),
        quality: ChunkQuality {
            elements: 120,
            cosine: 0.99 - tensor as f64 * 1e-3,
            rel_mse: 0.01,
            sqnr_db: if chunk == 1 { f64::INFINITY } else { 20.5 },
            max_abs_err: 0.125,
            sum_xx: 3.0,
            sum_yy: 2.9,
            sum_xy: 2.95,
            sum_ee: 0.03,
        },
        fallbacks: if tensor == 1 {
            vec![FallbackStep { from_scheme: "rtn_int2_g32_asym".into(), to_scheme: "rtn_int4_g32_asym".into(), from_bits: 2, to_bits: 4, cosine: 0.61, threshold: 0.85 }]
        } else {
            vec![]
        },
        channel_scales: (tensor == 2).then(|| vec![1, 2, 3, 4]),
        time_groups: (tensor == 2).then(|| vec![TimeGroupParams { t_start: 0, t_end: 500, scale: 0.5, zero_point: -1.0 }]),
        layer_output: (tensor == 1).then_some(LayerOutput { rows: 3, cosine: 0.99, sum_ww: 2.0, sum_we: 0.01, sum_ee: 0.02 + chunk as f64 }),
    }
}

fn rows() -> Vec<ChunkRow> {
    vec![row(0, 0, 1, 1000), row(1, 0, 3, 50_000), row(1, 1, 3, 50_000), row(1, 2, 3, 10), row(2, 0, 1, 0), row(3, 0, 2, 300), row(3, 1, 2, 300)]
}

fn meta() -> BTreeMap<String, String> {
    BTreeMap::from([("arrowquant.modality".to_string(), "image".to_string())])
}

fn write(path: &Path, rows: Vec<ChunkRow>, row_group_bytes: usize) -> arrowquant_format::WriteSummary {
    let mut w = FileWriter::create(path, &meta(), WriterOptions { row_group_bytes }).unwrap();
    for r in rows {
        w.push(r).unwrap();
    }
    w.finish(&BTreeMap::from([("arrowquant.summary".to_string(), "{}".to_string())])).unwrap()
}

#[test]
fn rows_round_trip_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.parquet");
    let summary = write(&path, rows(), 60_000);
    assert_eq!(summary.rows, 7);
    assert!(summary.row_groups >= 2, "expected several row groups, got {}", summary.row_groups);
    let reader = FileReader::open(&path).unwrap();
    assert_eq!(reader.key_value_metadata().get("arrowquant.format_version").map(String::as_str), Some("3"));
    assert_eq!(reader.key_value_metadata().get("arrowquant.modality").map(String::as_str), Some("image"));
    assert!(reader.key_value_metadata().contains_key("arrowquant.summary"));
    let index = reader.index().unwrap();
    assert_eq!(index.len(), 7);
    let expected = rows();
    for (t, want) in [(0u32, &expected[0..1]), (1, &expected[1..4]), (2, &expected[4..5]), (3, &expected[5..7])] {
        let got = reader.tensor_chunks(&index, t).unwrap();
        assert_eq!(got, want, "tensor {t}");
    }
    assert_eq!(index[1].fallbacks, expected[1].fallbacks);
    assert_eq!(index[2].quality.sqnr_db, f64::INFINITY);
    assert_eq!((index[0].layer_output, index[1].layer_output), (None, expected[1].layer_output));
}

#[test]
fn same_rows_give_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
    write(&a, rows(), 60_000);
    write(&b, rows(), 60_000);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

#[test]
fn rows_out_of_model_order_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = FileWriter::create(&dir.path().join("o.parquet"), &meta(), WriterOptions::default()).unwrap();
    w.push(row(0, 0, 1, 10)).unwrap();
    let err = w.push(row(1, 1, 3, 10)).unwrap_err().to_string();
    assert!(err.contains("expected tensor 1 chunk 0, got tensor 1 chunk 1"), "{err}");
    let err = w.push(row(2, 0, 1, 10)).unwrap_err().to_string();
    assert!(err.contains("expected tensor 1 chunk 0"), "{err}");
}

#[test]
fn output_appears_only_when_finished_and_abort_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.parquet");
    std::fs::write(&path, b"the user's previous file").unwrap();
    let mut w = FileWriter::create(&path, &meta(), WriterOptions { row_group_bytes: 1 }).unwrap();
    for r in rows() {
        w.push(r).unwrap();
    }
    let temp = w.temp_path().to_path_buf();
    assert!(temp.exists());
    assert_eq!(std::fs::read(&path).unwrap(), b"the user's previous file");
    w.abort();
    assert!(!temp.exists());
    assert_eq!(std::fs::read(&path).unwrap(), b"the user's previous file");
    let listing: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(listing.len(), 1, "{listing:?}");

    // Dropped without finishing: same.
    let w = FileWriter::create(&path, &meta(), WriterOptions::default()).unwrap();
    let temp = w.temp_path().to_path_buf();
    drop(w);
    assert!(!temp.exists());

    // Finished: replaces the old file.
    write(&path, rows(), 1);
    assert!(FileReader::open(&path).is_ok());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn bad_output_locations_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir/out.parquet");
    let err = FileWriter::create(&missing, &meta(), WriterOptions::default()).err().unwrap().to_string();
    assert!(err.contains("no/such/dir") && err.contains("output directory"), "{err}");
    let err = FileWriter::create(dir.path(), &meta(), WriterOptions::default()).err().unwrap().to_string();
    assert!(err.contains("cannot write the output file: it is a directory"), "{err}");
}

#[test]
fn files_that_are_not_arrowquant_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.parquet");
    std::fs::write(&path, b"PAR1 this is not parquet").unwrap();
    let err = FileReader::open(&path).err().unwrap();
    assert!(matches!(err, arrowquant_format::FormatError::NotArrowQuant { .. }), "{err:?}");
    assert!(err.to_string().contains("x.parquet: not an ArrowQuant file"), "{err}");
    let truncated = dir.path().join("t.parquet");
    write(&truncated, rows(), 60_000);
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() - 100]).unwrap();
    let err = FileReader::open(&truncated).err().unwrap();
    assert!(matches!(err, arrowquant_format::FormatError::NotArrowQuant { .. } | arrowquant_format::FormatError::Parquet { .. }), "{err:?}");
    assert!(err.to_string().starts_with(&truncated.display().to_string()), "{err}");
    // A valid Parquet file without ArrowQuant's footer key is refused too.
    let plain = dir.path().join("plain.parquet");
    {
        use std::sync::Arc;
        let schema = Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new("x", arrow_schema::DataType::Int32, false)]));
        let batch = arrow_array::RecordBatch::try_new(schema.clone(), vec![Arc::new(arrow_array::Int32Array::from(vec![1, 2]))]).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&plain).unwrap(), schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }
    let err = FileReader::open(&plain).err().unwrap().to_string();
    assert!(err.contains("the footer has no arrowquant.format_version key"), "{err}");
}
