//! 2-bit quality: weight SQNR of RTN INT2 (asymmetric, min/max), HQQ INT2 and R2Q at the same
//! group size, on synthetic weights with the statistics of real layers. Run with
//! `cargo bench -p arrowquant-kernels --bench low_bit`; prints one table (dB, and bits per
//! weight) and the time each method took, all measured in this run, plus the ceiling any
//! 4-level quantizer could reach (per-group Lloyd-Max), which shows where a +3 dB gain over RTN
//! is possible at all.

use std::time::Instant;

use arrowquant_kernels::testdata::{linear_weight, Rng};
use arrowquant_kernels::{quantize, HqqSpec, R2qSpec, RtnSpec, RunOptions, Scheme, Source};

const ROWS: usize = 512;
const COLS: usize = 2048;

fn weights(kind: &str, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let n = ROWS * COLS;
    match kind {
        "gaussian" => (0..n).map(|_| rng.normal() as f32).collect(),
        "student-t(5)" => (0..n).map(|_| rng.student_t(5) as f32).collect(),
        "student-t(3)" => (0..n).map(|_| rng.student_t(3) as f32).collect(),
        // t(5) entries, outlier input channels, a low-rank spike (crate::testdata).
        _ => linear_weight(ROWS, COLS, seed),
    }
}

/// The ceiling for any 4-level quantizer of a group: Lloyd-Max (k-means in 1-D, quantile start,
/// 30 rounds), levels stored freely. No 2-bit method can beat this on weight SQNR.
fn lloyd4_sqnr(w: &[f32], group: usize) -> f64 {
    let (mut xx, mut ee) = (0f64, 0f64);
    for g in w.chunks(group) {
        let mut sorted: Vec<f32> = g.to_vec();
        sorted.sort_by(f32::total_cmp);
        let mut c: Vec<f64> = [0.125, 0.375, 0.625, 0.875].iter().map(|q| sorted[((q * g.len() as f64) as usize).min(g.len() - 1)] as f64).collect();
        let nearest = |c: &[f64], v: f64| (0..4).min_by(|&a, &b| (v - c[a]).abs().total_cmp(&(v - c[b]).abs())).unwrap();
        for _ in 0..30 {
            let (mut sum, mut n) = ([0f64; 4], [0usize; 4]);
            for &v in g {
                let k = nearest(&c, v as f64);
                sum[k] += v as f64;
                n[k] += 1;
            }
            for k in 0..4 {
                if n[k] > 0 {
                    c[k] = sum[k] / n[k] as f64;
                }
            }
        }
        for &v in g {
            let e = v as f64 - c[nearest(&c, v as f64)];
            xx += (v as f64).powi(2);
            ee += e * e;
        }
    }
    10.0 * (xx / ee).log10()
}

fn main() {
    let opts = RunOptions { threads: 0, isa: None };
    println!("2-bit weight SQNR (dB), {ROWS}x{COLS} per distribution; bits/weight in brackets; seconds for the whole matrix");
    println!("{:<14} {:>5} {:>18} {:>18} {:>18} {:>9} {:>9} {:>12}", "weights", "group", "rtn int2", "hqq int2", "r2q", "hqq−rtn", "r2q−rtn", "lloyd4−rtn");
    for kind in ["gaussian", "student-t(5)", "student-t(3)", "linear layer"] {
        let w = weights(kind, 42);
        for group in [32, 64, 128, 256] {
            let schemes = [
                Scheme::Rtn(RtnSpec::new(2, group, false).unwrap()),
                Scheme::Hqq(HqqSpec::new(2, group).unwrap()),
                Scheme::R2q(R2qSpec::new(group).unwrap()),
            ];
            let cells: Vec<(f64, f64, f64)> = schemes
                .iter()
                .map(|s| {
                    let t = Instant::now();
                    let q = quantize(s, Source::F32(&w), ROWS, COLS, &opts).unwrap();
                    (q.quality.sqnr_db, q.layout.bits_per_weight(), t.elapsed().as_secs_f64())
                })
                .collect();
            let cell = |c: &(f64, f64, f64)| format!("{:.2} [{:.3}] {:.2}s", c.0, c.1, c.2);
            println!(
                "{:<14} {:>5} {:>18} {:>18} {:>18} {:>+9.2} {:>+9.2} {:>+12.2}",
                kind,
                group,
                cell(&cells[0]),
                cell(&cells[1]),
                cell(&cells[2]),
                cells[1].0 - cells[0].0,
                cells[2].0 - cells[0].0,
                lloyd4_sqnr(&w, group) - cells[0].0
            );
        }
    }
}
