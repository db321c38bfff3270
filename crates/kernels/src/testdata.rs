//! Deterministic synthetic weights shared by the property tests and the benchmarks: the same seed
//! gives the same values on every machine. No `rand` dependency, because the exact sequence must
//! never change under a dependency upgrade (tests hold SIMD output to reference output on it).

/// SplitMix64: tiny, fast, and statistically fine for test data.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Student-t with `nu` degrees of freedom (heavy tails like trained weights).
    pub fn student_t(&mut self, nu: u32) -> f64 {
        let chi2: f64 = (0..nu).map(|_| self.normal().powi(2)).sum();
        self.normal() / (chi2 / nu as f64).sqrt()
    }
}

/// A linear layer's weight `[rows, cols]` the way trained transformers look: heavy-tailed entries
/// (t with 5 d.o.f.), std ≈ 1/sqrt(cols), a few input channels (columns) with 10-30x magnitude,
/// and a rank-2 component with larger magnitude.
pub fn linear_weight(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let std = 1.0 / (cols.max(1) as f64).sqrt();
    let outliers: Vec<(usize, f64)> =
        (0..(cols / 256).max(1)).map(|_| (rng.below(cols.max(1)), 10.0 + 20.0 * rng.uniform())).collect();
    let u: Vec<[f64; 2]> = (0..rows).map(|_| [rng.normal(), rng.normal()]).collect();
    let v: Vec<[f64; 2]> = (0..cols).map(|_| [rng.normal(), rng.normal()]).collect();
    let mut w = Vec::with_capacity(rows * cols);
    for ur in &u {
        for vc in &v {
            let low_rank = 0.5 * std * (ur[0] * vc[0] + 0.5 * ur[1] * vc[1]);
            w.push((std * 0.7 * rng.student_t(5) + low_rank) as f32);
        }
    }
    for &(c, mag) in &outliers {
        for r in 0..rows {
            w[r * cols + c] *= mag as f32;
        }
    }
    w
}

/// `linear_weight` plus every awkward case a kernel must get right: all-zero and constant groups,
/// subnormals, signed zeros, exact magnitude ties of opposite sign, values on rounding
/// boundaries, and huge outliers next to tiny values.
pub fn awkward_weight(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
    let mut w = linear_weight(rows, cols, seed);
    let mut rng = Rng::new(seed.wrapping_add(1));
    let n = w.len();
    if n == 0 {
        return w;
    }
    let span = 32.min(n);
    let region = |rng: &mut Rng| {
        let s = rng.below(n - span + 1) & !31;
        s..(s + span).min(n)
    };
    for _ in 0..(n / 512).max(1) {
        let r = region(&mut rng);
        match rng.below(7) {
            0 => w[r].iter_mut().for_each(|v| *v = 0.0),
            1 => {
                let c = rng.normal() as f32;
                w[r].iter_mut().for_each(|v| *v = c);
            }
            2 => w[r].iter_mut().for_each(|v| *v = f32::from_bits(1 + (v.to_bits() & 0x7F_FFFF)) * v.signum()),
            3 => {
                let a = (rng.uniform() + 0.1) as f32;
                let (s, len) = (r.start, r.len());
                w[s + len / 3] = a;
                w[s + 2 * len / 3] = -a;
            }
            4 => w[r].iter_mut().for_each(|v| *v = -0.0 * v.signum()),
            5 => {
                // Multiples of half a step of a 4-bit grid: exercise ties in every rounding rule.
                w[r].iter_mut().enumerate().for_each(|(i, v)| *v = (i as f32 - 15.5) * 0.25);
            }
            _ => {
                let s = r.start;
                w[s] = 1.0e4 * rng.normal() as f32;
                w[s + 1] = 1.0e-30;
            }
        }
    }
    w
}

/// `H = XᵀX / n` (f64 sums rounded to f32) of activations `x` `[n, cols]`: what a calibration
/// capture stores for a layer.
pub fn hessian_of(x: &[f32], n: usize, cols: usize) -> Vec<f32> {
    let mut h = vec![0f32; cols * cols];
    for i in 0..cols {
        for j in i..cols {
            let v = ((0..n).map(|r| x[r * cols + i] as f64 * x[r * cols + j] as f64).sum::<f64>() / n as f64) as f32;
            h[i * cols + j] = v;
            h[j * cols + i] = v;
        }
    }
    h
}

/// ‖X(W − Ŵ)ᵀ‖ / ‖XWᵀ‖ from the activations themselves (`x` `[n, cols]`, `w` and `wq`
/// `[rows, cols]`), in f64: the figure the tests hold GPTQ and the layer-output measure to.
pub fn layer_output_error(x: &[f32], w: &[f32], wq: &[f32], n: usize, rows: usize, cols: usize) -> f64 {
    let (mut num, mut den) = (0f64, 0f64);
    for r in 0..n {
        let xr = &x[r * cols..(r + 1) * cols];
        for o in 0..rows {
            let (mut a, mut b) = (0f64, 0f64);
            for c in 0..cols {
                a += xr[c] as f64 * w[o * cols + c] as f64;
                b += xr[c] as f64 * wq[o * cols + c] as f64;
            }
            num += (a - b) * (a - b);
            den += a * a;
        }
    }
    (num / den).sqrt()
}
