//! How fast the writer streams payload: `cargo run --release -p arrowquant-format --example write_speed [MiB] [rows]`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::time::Instant;

use arrowquant_format::{ChunkQuality, ChunkRow, FileWriter, WriterOptions};

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let mib = *args.first().unwrap_or(&16);
    let rows = *args.get(1).unwrap_or(&64);
    let path = std::env::var_os("OUT").map(std::path::PathBuf::from).unwrap_or_else(|| std::env::temp_dir().join("aq-write-speed.parquet"));
    let payload: Vec<u8> = (0..mib << 20).map(|i| (i * 7 + i / 3) as u8).collect();
    let t = Instant::now();
    let mut w = FileWriter::create(&path, &BTreeMap::new(), WriterOptions::default()).unwrap();
    for i in 0..rows {
        w.push(ChunkRow {
            tensor_index: i as u32,
            name: format!("t{i}"),
            component: None,
            shape: vec![1, payload.len() as u64],
            source_dtype: "U8".into(),
            chunk_index: 0,
            chunk_count: 1,
            row_start: 0,
            row_count: 1,
            method: "keep".into(),
            scheme: "keep_U8".into(),
            bits: 8,
            group_size: 0,
            requested_bits: 8,
            codes: payload.clone().into(),
            scales: Vec::<u8>::new().into(),
            zeros: Vec::<u8>::new().into(),
            quality: ChunkQuality::default(),
            fallbacks: vec![],
            channel_scales: None,
            time_groups: None,
            layer_output: None,
        })
        .unwrap();
    }
    let s = w.finish(&BTreeMap::new()).unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!("{} rows x {} MiB: {:.2} s, {:.2} GB/s, file {} bytes, {} row groups", rows, mib, secs, s.bytes as f64 / secs / 1e9, s.bytes, s.row_groups);
    std::fs::remove_file(path).unwrap();
}
