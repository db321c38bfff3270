//! GGUF K-quants against ggml's own C, single thread, on the same input:
//!
//!   cargo bench -p arrowquant-kernels --bench kquants [-- --rows 4096 --cols 4096 --reps 5 --types q4_k,q6_k --imatrix no|yes --isa avx512 --scalar --ours-only]
//!   npm run bench:kquants
//!
//! Input: a `rows × cols` f32 tensor of realistic weights (`testdata::linear_weight`, seed 42)
//! and, for the "imatrix" rows, a positive per-column importance vector (exp of N(0,1), seed 7).
//!
//! ggml is timed in this process on the same buffers, through the harness `scripts/setup-ggml.sh`
//! builds (`tests/oracle/ggml_oracle.c`'s `oracle_quantize`, which calls `quantize_<type>` over the
//! whole tensor):
//! - "ggml -O2": `libggml_oracle.so` as setup-ggml.sh builds it (the byte oracle, -O2);
//! - "ggml -O3": the same harness linked with `ggml-quants-O3.o` (ggml-quants.c at -O3, the way
//!   llama.cpp's Release build ships ggml-base; the speed baseline), made here with gcc from the
//!   objects setup-ggml.sh leaves in `.cache/ggml/<v>/out` into `target/ggml_oracle_O3.so`.
//!
//! Ours: `quantize_weighted` with `threads: 1` on each SIMD ISA this CPU runs (and the scalar
//! reference with `--scalar`). Every figure is MB/s of f32 input (10^6 bytes) from the median
//! **thread CPU time** of `reps` runs after one warm-up (the machine is shared: CPU time is what
//! a busy neighbour disturbs least); the median wall-clock rate is printed beside it. Every ISA's
//! bytes are checked identical to ggml's before its time counts.

use std::ffi::{c_char, CString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use arrowquant_kernels::testdata::{linear_weight, Rng};
use arrowquant_kernels::*;

type QuantizeFn = unsafe extern "C" fn(*const c_char, *const f32, i64, i64, *const f32, *mut u8) -> i64;
type RowSizeFn = unsafe extern "C" fn(*const c_char, i64) -> i64;

struct Oracle {
    _lib: libloading::Library,
    quantize: QuantizeFn,
    row_size: RowSizeFn,
}

impl Oracle {
    fn load(path: &Path) -> Option<Oracle> {
        unsafe {
            let lib = libloading::Library::new(path).map_err(|e| eprintln!("# cannot load {}: {e}", path.display())).ok()?;
            let quantize = *lib.get::<QuantizeFn>(b"oracle_quantize\0").ok()?;
            let row_size = *lib.get::<RowSizeFn>(b"oracle_row_size\0").ok()?;
            Some(Oracle { _lib: lib, quantize, row_size })
        }
    }
    fn quantize(&self, ty: &str, x: &[f32], rows: usize, cols: usize, imatrix: Option<&[f32]>, out: &mut Vec<u8>) {
        let t = CString::new(ty).unwrap();
        let row = unsafe { (self.row_size)(t.as_ptr(), cols as i64) };
        out.resize(row as usize * rows, 0);
        let n = unsafe { (self.quantize)(t.as_ptr(), x.as_ptr(), rows as i64, cols as i64, imatrix.map_or(std::ptr::null(), |m| m.as_ptr()), out.as_mut_ptr()) };
        assert_eq!(n as usize, out.len(), "ggml quantize {ty}");
    }
}

/// The newest `.cache/ggml/<version>/out` that setup-ggml.sh completed.
fn ggml_out_dir() -> Option<PathBuf> {
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.cache/ggml");
    let mut found: Vec<PathBuf> = std::fs::read_dir(cache).ok()?.filter_map(|e| e.ok()).map(|e| e.path().join("out")).filter(|p| p.join("libggml_oracle.so").exists()).collect();
    found.sort();
    found.pop()
}

/// Link the -O3 harness library from setup-ggml.sh's objects (gcc; skipped when missing).
fn build_o3(out: &Path) -> Option<PathBuf> {
    let (harness, quants) = (out.join("ggml_oracle.o"), out.join("ggml-quants-O3.o"));
    let base = out.join("../build/src/libggml-base.a");
    if !(harness.exists() && quants.exists() && base.exists()) {
        eprintln!("# -O3 objects missing in {}: run scripts/setup-ggml.sh", out.display());
        return None;
    }
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/ggml_oracle_O3.so");
    let fresh = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if target.exists() && [&harness, &quants, &base].iter().all(|p| fresh(p) <= fresh(&target)) {
        return Some(target);
    }
    // ggml-quants-O3.o ahead of the archive, so the archive's -O2 copy is not used (as the CLI).
    let status = Command::new("gcc").arg("-shared").arg("-o").arg(&target).arg(&harness).arg(&quants).arg(&base).args(["-lstdc++", "-lm", "-lpthread", "-Wl,--no-undefined"]).status();
    match status {
        Ok(s) if s.success() => Some(target),
        other => {
            eprintln!("# could not link {} ({other:?})", target.display());
            None
        }
    }
}

#[cfg(target_os = "linux")]
fn thread_cpu_secs() -> f64 {
    #[repr(C)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
    }
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec { sec: 0, nsec: 0 };
    unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.sec as f64 + ts.nsec as f64 * 1e-9
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu_secs() -> f64 {
    f64::NAN
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// (median thread-CPU seconds, median wall seconds) of `reps` runs after one warm-up.
fn time(reps: usize, mut f: impl FnMut()) -> (f64, f64) {
    f();
    let (mut cpu, mut wall) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let (c0, t0) = (thread_cpu_secs(), Instant::now());
        f();
        wall.push(t0.elapsed().as_secs_f64());
        cpu.push(thread_cpu_secs() - c0);
    }
    let c = median(cpu);
    (if c.is_nan() { median(wall.clone()) } else { c }, median(wall))
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn main() {
    let num = |name: &str, default: usize| arg(name).and_then(|v| v.parse().ok()).unwrap_or(default);
    let (rows, cols, reps) = (num("--rows", 4096), num("--cols", 4096), num("--reps", 5));
    let with_scalar = std::env::args().any(|a| a == "--scalar");
    let ours_only = std::env::args().any(|a| a == "--ours-only");
    let modes: Vec<bool> = match arg("--imatrix").as_deref() {
        Some("no") => vec![false],
        Some("yes") => vec![true],
        _ => vec![false, true],
    };
    let all = ["q2_k", "q3_k", "q4_k", "q5_k", "q6_k"];
    let types: Vec<String> = arg("--types").map(|t| t.split(',').map(String::from).collect()).unwrap_or_else(|| all.iter().map(|s| s.to_string()).collect());

    let w = linear_weight(rows, cols, 42);
    let mut rng = Rng::new(7);
    let imatrix: Vec<f32> = (0..cols).map(|_| (rng.normal() as f32).exp()).collect();
    let mb = (w.len() * 4) as f64 / 1e6;

    let out_dir = if ours_only { None } else { ggml_out_dir() };
    let o2 = out_dir.as_ref().and_then(|d| Oracle::load(&d.join("libggml_oracle.so")));
    let o3 = out_dir.as_ref().and_then(|d| build_o3(d)).and_then(|p| Oracle::load(&p));
    if o2.is_none() {
        eprintln!("# ggml's oracle is not built (bash scripts/setup-ggml.sh): timing ours only, bytes unchecked");
    }
    let only_isa = arg("--isa").map(|n| Isa::parse(&n).unwrap_or_else(|| panic!("unknown ISA {n}")));
    let isas: Vec<Isa> = Isa::available().into_iter().filter(|i| (with_scalar || *i != Isa::Scalar) && only_isa.is_none_or(|o| o == *i)).collect();

    println!("# GGUF K-quants, {rows}x{cols} f32 ({mb:.0} MB), single thread, MB/s of f32 input from the median thread CPU time of {reps} runs (wall-clock rate in brackets)");
    println!("# ggml: tests/oracle/ggml_oracle.c's oracle_quantize (quantize_<type> over the whole tensor), dlopened in this process: -O2 = libggml_oracle.so, -O3 = the same with ggml-quants.c at -O3");
    let mut header = format!("{:<6} {:<8} {:>15} {:>15}", "type", "imatrix", "ggml -O2", "ggml -O3");
    for isa in &isas {
        header += &format!(" {:>15} {:>8}", format!("ours {isa}"), "÷-O3");
    }
    println!("{header}  bytes");

    let rate = |(cpu, wall): (f64, f64)| (mb / cpu, mb / wall);
    let cell = |(c, w): (f64, f64)| format!("{c:>7.0} [{w:>5.0}]");
    for ty in &types {
        let scheme = Scheme::from_name(ty).unwrap_or_else(|e| panic!("{ty}: {e}"));
        let ggml_name = ty.replace("_k", "_K");
        for imp in modes.iter().map(|&m| m.then_some(imatrix.as_slice())) {
            let mut line = format!("{:<6} {:<8}", ty, if imp.is_some() { "yes" } else { "no" });
            let mut want = Vec::new();
            let mut o3_rate = f64::NAN;
            for (o, is_o3) in [(&o2, false), (&o3, true)] {
                match o {
                    Some(o) => {
                        let r = rate(time(reps, || o.quantize(&ggml_name, &w, rows, cols, imp, &mut want)));
                        if is_o3 {
                            o3_rate = r.0;
                        }
                        line += &format!(" {:>15}", cell(r));
                    }
                    None => line += &format!(" {:>15}", "-"),
                }
            }
            let mut verdict = if want.is_empty() { "unchecked".to_string() } else { "identical".to_string() };
            for &isa in &isas {
                let opts = RunOptions { threads: 1, isa: Some(isa) };
                let mut got = None;
                let r = rate(time(reps, || got = Some(quantize_weighted(&scheme, Source::F32(&w), rows, cols, &opts, imp).unwrap())));
                if !want.is_empty() && got.as_ref().unwrap().codes != want {
                    verdict = format!("DIFFERENT on {isa}");
                }
                line += &format!(" {:>15} {:>7.1}x", cell(r), r.0 / o3_rate);
            }
            println!("{line}  {verdict}");
        }
    }
    // ggml's own CLI bench (its N(0,1) tensor of the same shape) as a cross-check of the -O3 rates.
    if let Some(cli) = out_dir.map(|d| d.join("ggml_oracle_O3")).filter(|p| p.exists()) {
        println!("# cross-check, ggml_oracle_O3 bench <type> api {rows} {cols} [--imatrix] (its own N(0,1) data), cpu_MB/s:");
        for ty in &types {
            let ggml_name = ty.replace("_k", "_K");
            let mut cells = Vec::new();
            for imat in [false, true] {
                let mut cmd = Command::new(&cli);
                cmd.args(["bench", &ggml_name, "api", &rows.to_string(), &cols.to_string(), "--reps", &reps.to_string()]);
                if imat {
                    cmd.arg("--imatrix");
                }
                let text = cmd.output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
                let cpu = text.split_whitespace().find_map(|f| f.strip_prefix("cpu_MB/s=")).unwrap_or("?").to_string();
                cells.push(format!("{} {}", if imat { "imatrix" } else { "plain" }, cpu));
            }
            println!("#   {ty}: {}", cells.join(", "));
        }
    }
}
