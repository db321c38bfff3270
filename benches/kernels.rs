//! Kernel throughput: GB/s of f32 input per core for every format, SIMD beside its scalar
//! reference, at 1 and 2 threads, against a memcpy of the same bytes measured in the same run.
//!
//!   cargo bench -p arrowquant-kernels --bench kernels [-- --mib 64 --reps 7]
//!
//! The input (default 64 MiB) is far larger than the caches, so these are the rates a real
//! tensor sees. Each figure is the median of `reps` runs.

use std::time::Instant;

use arrowquant_kernels::parallel::pool;
use arrowquant_kernels::testdata::linear_weight;
use arrowquant_kernels::*;
use half::bf16;
use rayon::prelude::*;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Median seconds of `reps` runs of `f` (after one warm-up run).
fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    median((0..reps).map(|_| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64()
    }).collect())
}

fn memcpy_secs(src: &[f32], dst: &mut [f32], threads: usize, reps: usize) -> f64 {
    if threads == 1 {
        time(reps, || dst.copy_from_slice(std::hint::black_box(src)))
    } else {
        let p = pool(threads).unwrap();
        let chunk = src.len().div_ceil(threads);
        time(reps, || {
            p.install(|| {
                dst.par_chunks_mut(chunk).zip(src.par_chunks(chunk)).for_each(|(d, s)| d.copy_from_slice(s));
            })
        })
    }
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let mib = arg("--mib", 64);
    let reps = arg("--reps", 7);
    let cols = 4096;
    let rows = mib * (1 << 20) / 4 / cols;
    let w = linear_weight(rows, cols, 42);
    let bytes = (w.len() * 4) as f64;
    let mut dst = vec![0f32; w.len()];
    let gbs = |secs: f64, threads: usize| bytes / secs / 1e9 / threads as f64;

    let copy1 = gbs(memcpy_secs(&w, &mut dst, 1, reps), 1);
    let copy2 = gbs(memcpy_secs(&w, &mut dst, 2, reps), 2);
    let simd = Isa::best();
    println!("# kernel throughput: {rows}x{cols} f32 ({mib} MiB), median of {reps}, best ISA here: {simd}");
    println!("# memcpy baseline: {copy1:.2} GB/s per core at 1 thread, {copy2:.2} GB/s per core at 2 threads");
    println!(
        "{:<22} {:>9} {:>9} {:>9} {:>10} {:>10} {:>11}",
        "format", "scalar/1", "simd/1", "simd/2", "simd÷copy", "simd÷ref", "2t÷copy(2t)"
    );

    let mut schemes = vec![];
    for bits in [8, 4, 2] {
        schemes.push(Scheme::Rtn(RtnSpec::new(bits, 128, false).unwrap()));
    }
    schemes.push(Scheme::Rtn(RtnSpec::new(4, 128, true).unwrap()));
    schemes.push(Scheme::Rtn(RtnSpec::new(4, 32, false).unwrap()));
    schemes.extend([
        Scheme::Int8PerChannel,
        Scheme::Q8_0,
        Scheme::Q4_0,
        Scheme::Nf4,
        Scheme::Fp8(Fp8Spec { kind: Fp8Kind::E4M3, per_channel: true }),
    ]);
    for scheme in &schemes {
        let run = |isa: Isa, threads: usize| {
            let opts = RunOptions { threads, isa: Some(isa) };
            gbs(time(reps, || drop(std::hint::black_box(quantize(scheme, Source::F32(&w), rows, cols, &opts).unwrap()))), threads)
        };
        let (r1, s1, s2) = (run(Isa::Scalar, 1), run(simd, 1), run(simd, 2));
        println!(
            "{:<22} {:>9.2} {:>9.2} {:>9.2} {:>9.0}% {:>9.2}x {:>10.0}%",
            scheme.name(),
            r1,
            s1,
            s2,
            100.0 * s1 / copy1,
            s1 / r1,
            100.0 * s2 / copy2
        );
    }

    // Half-precision sources are converted per row on the fly; rate in GB/s of their own bytes.
    let b: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
    let scheme = Scheme::Rtn(RtnSpec::new(4, 128, false).unwrap());
    let opts = RunOptions { threads: 1, isa: Some(simd) };
    let secs = time(reps, || drop(std::hint::black_box(quantize(&scheme, Source::Bf16(&b), rows, cols, &opts).unwrap())));
    println!("# rtn_int4_g128_asym from bf16: {:.2} GB/s of bf16 input, {:.2} G elements/s", bytes / 2.0 / secs / 1e9, w.len() as f64 / secs / 1e9);
}
