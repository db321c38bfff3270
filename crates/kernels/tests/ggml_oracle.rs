//! The GGUF block formats against ggml's own C code (not a port of ours): `scripts/setup-ggml.sh`
//! builds ggml-base's scalar quantizers from the pinned llama-cpp-python sdist into
//! `.cache/ggml/<version>/out/libggml_oracle.so` (`tests/oracle/ggml_oracle.c` is the ABI). For
//! every type, with and without importance, on random and adversarial tensors (zeros, constant
//! blocks, subnormals, ties, single outliers, values near the f16 limits, one-signed blocks), our
//! bytes must equal ggml's, and our dequantization ggml's values bit for bit — on the scalar
//! reference and on every SIMD ISA this CPU runs.
//!
//! Without the library the test says so and passes, unless `ARROWQUANT_REQUIRE_ORACLE` is set
//! (`scripts/test-all.sh` builds the library and sets it, so CI always compares).

use std::ffi::{c_char, CString};
use std::path::PathBuf;

use arrowquant_kernels::testdata::{awkward_weight, linear_weight, Rng};
use arrowquant_kernels::*;

type QuantizeFn = unsafe extern "C" fn(*const c_char, *const f32, i64, i64, *const f32, *mut u8) -> i64;
type DequantizeFn = unsafe extern "C" fn(*const c_char, *const u8, i64, *mut f32) -> i64;
type RowSizeFn = unsafe extern "C" fn(*const c_char, i64) -> i64;

struct Oracle {
    _lib: libloading::Library,
    quantize: QuantizeFn,
    dequantize: DequantizeFn,
    row_size: RowSizeFn,
}

fn library_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("GGML_ORACLE_LIB") {
        return Some(PathBuf::from(p));
    }
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.cache/ggml");
    let mut found: Vec<PathBuf> = std::fs::read_dir(cache).ok()?.filter_map(|e| e.ok()).map(|e| e.path().join("out/libggml_oracle.so")).filter(|p| p.exists()).collect();
    found.sort();
    found.pop()
}

/// Whether the ELF library at `path` is for the architecture these tests run on (the oracle is
/// built for the host; `scripts/test-arm64.sh` runs these tests for aarch64 under qemu, where an
/// x86-64 oracle cannot load and the comparison belongs to the host's run).
fn built_for_this_arch(path: &std::path::Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else { return true };
    let Some(machine) = bytes.get(18..20).map(|b| u16::from_le_bytes([b[0], b[1]])) else { return true };
    match std::env::consts::ARCH {
        "x86_64" => machine == 62,
        "aarch64" => machine == 183,
        _ => true,
    }
}

fn oracle() -> Option<Oracle> {
    if let Some(path) = library_path().filter(|p| !built_for_this_arch(p)) {
        eprintln!("ggml oracle {} is built for another architecture than {}: skipping the comparison with ggml here", path.display(), std::env::consts::ARCH);
        return None;
    }
    let Some(path) = library_path() else {
        assert!(std::env::var_os("ARROWQUANT_REQUIRE_ORACLE").is_none(), "ARROWQUANT_REQUIRE_ORACLE is set but ggml's oracle is not built: run scripts/setup-ggml.sh");
        eprintln!("ggml oracle not built (scripts/setup-ggml.sh): skipping the comparison with ggml");
        return None;
    };
    unsafe {
        let lib = libloading::Library::new(&path).unwrap_or_else(|e| panic!("loading {}: {e}", path.display()));
        let quantize = *lib.get::<QuantizeFn>(b"oracle_quantize\0").unwrap();
        let dequantize = *lib.get::<DequantizeFn>(b"oracle_dequantize\0").unwrap();
        let row_size = *lib.get::<RowSizeFn>(b"oracle_row_size\0").unwrap();
        Some(Oracle { _lib: lib, quantize, dequantize, row_size })
    }
}

impl Oracle {
    fn quantize(&self, ty: &str, x: &[f32], rows: usize, cols: usize, imatrix: Option<&[f32]>) -> Vec<u8> {
        let t = CString::new(ty).unwrap();
        let row = unsafe { (self.row_size)(t.as_ptr(), cols as i64) };
        assert!(row > 0, "oracle row size of {ty}");
        let mut out = vec![0u8; row as usize * rows];
        let n = unsafe { (self.quantize)(t.as_ptr(), x.as_ptr(), rows as i64, cols as i64, imatrix.map_or(std::ptr::null(), |m| m.as_ptr()), out.as_mut_ptr()) };
        assert_eq!(n as usize, out.len(), "oracle quantize {ty}");
        out
    }
    fn dequantize(&self, ty: &str, codes: &[u8], n: usize) -> Vec<f32> {
        let t = CString::new(ty).unwrap();
        let mut out = vec![0f32; n];
        let got = unsafe { (self.dequantize)(t.as_ptr(), codes.as_ptr(), n as i64, out.as_mut_ptr()) };
        assert_eq!(got as usize, n, "oracle dequantize {ty}");
        out
    }
}

/// (our canonical name, ggml's type name)
const TYPES: &[(&str, &str)] = &[
    ("q4_0", "q4_0"),
    ("q4_1", "q4_1"),
    ("q5_0", "q5_0"),
    ("q5_1", "q5_1"),
    ("q8_0", "q8_0"),
    ("q2_k", "q2_K"),
    ("q3_k", "q3_K"),
    ("q4_k", "q4_K"),
    ("q5_k", "q5_K"),
    ("q6_k", "q6_K"),
];

/// Tensors of `cols = 512` columns with what a search can trip on, one case per row group.
fn adversarial(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
    let mut w = awkward_weight(rows, cols, seed);
    let mut rng = Rng::new(seed ^ 0x5eed);
    for r in 0..rows {
        let row = &mut w[r * cols..(r + 1) * cols];
        match r % 12 {
            0 => row.fill(0.0),
            1 => row.fill(0.731),
            2 => row.iter_mut().enumerate().for_each(|(i, v)| *v = f32::from_bits(1 + (i as u32 * 7919) % 0x7F_FFFF) * if i % 3 == 0 { -1.0 } else { 1.0 }),
            3 => row.iter_mut().enumerate().for_each(|(i, v)| *v = ((i % 17) as f32 - 8.0) * 0.5),
            4 => {
                row.iter_mut().for_each(|v| *v = 1e-3 * rng.normal() as f32);
                let k = rng.below(cols);
                row[k] = 40.0;
            }
            5 => row.iter_mut().enumerate().for_each(|(i, v)| *v = if i % 2 == 0 { 65504.0 } else { -60000.0 + i as f32 }),
            6 => row.iter_mut().for_each(|v| *v = (rng.uniform() as f32) * 3.0 + 0.5),
            7 => row.iter_mut().for_each(|v| *v = -(rng.uniform() as f32) * 2.0 - 0.1),
            8 => row.iter_mut().enumerate().for_each(|(i, v)| *v = if i % 16 == 5 { 1.0 } else { 0.0 }),
            9 => row.iter_mut().enumerate().for_each(|(i, v)| *v = if (i / 32) % 2 == 0 { 1e-20 * rng.normal() as f32 } else { 2.0 * rng.normal() as f32 }),
            10 => row.iter_mut().enumerate().for_each(|(i, v)| *v = if (i / 16) % 3 == 0 { 0.0 } else { 0.25 * (i % 5) as f32 - 0.5 }),
            _ => {}
        }
    }
    w
}

fn importance(cols: usize, seed: u64, shape: usize) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..cols)
        .map(|c| match shape {
            0 => (rng.uniform() * 2.0) as f32 + 1e-3,
            1 => if c % 97 == 3 { 500.0 } else { (rng.uniform() * 0.1) as f32 },
            _ => if c % 5 == 0 { 0.0 } else { 1.0 },
        })
        .collect()
}

fn check(o: &Oracle, ours: &str, ggml: &str, w: &[f32], rows: usize, cols: usize, imp: Option<&[f32]>, what: &str) {
    let scheme = Scheme::from_name(ours).unwrap();
    let want = o.quantize(ggml, w, rows, cols, imp);
    for isa in Isa::available() {
        let got = quantize_weighted(&scheme, Source::F32(w), rows, cols, &RunOptions { threads: 1, isa: Some(isa) }, imp).unwrap();
        if got.codes != want {
            let i = got.codes.iter().zip(&want).position(|(a, b)| a != b).unwrap();
            let row_bytes = want.len() / rows;
            panic!("{ours} on {isa}, {what}: byte {i} (row {}, byte {} of the row) is {:#04x}, ggml wrote {:#04x}", i / row_bytes, i % row_bytes, got.codes[i], want[i]);
        }
    }
    let mut ours_values = vec![0f32; rows * cols];
    dequantize(&scheme, rows, cols, &want, &[], &[], &mut ours_values).unwrap();
    let theirs = o.dequantize(ggml, &want, rows * cols);
    for (i, (a, b)) in ours_values.iter().zip(&theirs).enumerate() {
        assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()), "{ours} {what}: dequantized value {i} is {a:e}, ggml's {b:e}");
    }
}

#[test]
fn every_gguf_type_equals_ggml_with_and_without_importance() {
    let Some(o) = oracle() else { return };
    let (rows, cols) = (24, 512);
    let datasets = [("random", linear_weight(rows, cols, 11)), ("adversarial", adversarial(rows, cols, 12))];
    for &(ours, ggml) in TYPES {
        for (name, w) in &datasets {
            check(&o, ours, ggml, w, rows, cols, None, &format!("{name}, no importance"));
            for shape in 0..3 {
                let imp = importance(cols, 40 + shape as u64, shape);
                check(&o, ours, ggml, w, rows, cols, Some(&imp), &format!("{name}, importance shape {shape}"));
            }
        }
    }
}

#[test]
fn many_seeds_and_shapes() {
    let Some(o) = oracle() else { return };
    for seed in 0..24u64 {
        let (rows, cols) = (1 + (seed as usize % 5), 256 * (1 + seed as usize % 4));
        let w = if seed % 2 == 0 { linear_weight(rows, cols, seed) } else { adversarial(rows, cols, seed) };
        let imp = importance(cols, seed, seed as usize % 3);
        for &(ours, ggml) in TYPES {
            check(&o, ours, ggml, &w, rows, cols, None, &format!("seed {seed}"));
            check(&o, ours, ggml, &w, rows, cols, Some(&imp), &format!("seed {seed}, importance"));
        }
    }
}
