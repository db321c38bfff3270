//! HQQ: half-quadratic quantization (Badri & Shaji, 2023), calibration-free. The grid is RTN's
//! asymmetric integer grid, but the scale and zero-point of each group are *optimised* for the
//! group's values instead of being taken from its min and max.
//!
//! - Elements per block: one group of `group` ∈ {32, 64, 128, 256} consecutive elements of a row
//!   (the last group of a row may be shorter). Bits `b` ∈ {2, 4, 8}, `qmax = 2^b − 1`.
//! - Decode: **`x̂ = (q − z) · s`** in binary32, with `s` and `z` f32 (z is not rounded: it is a
//!   free parameter of the fit). Encode: `q = clamp(rne(x · (1/s) + z), 0, qmax)`.
//! - Fit: from each of two starts, RTN's asymmetric parameters (`crate::formats::rtn`: the range
//!   includes 0 and the zero-point is an integer, so 0 is a level) and the published min/max
//!   start (`s = (max − min)/qmax`, `z = −min/s`), up to `ITERS` rounds of the
//!   half-quadratic splitting of `min ‖x − x̂‖_p^p` (p = 0.7, which tolerates a few large errors
//!   so that the many small weights are fitted well):
//!     1. `q = encode(x)`, `r = x − (q − z)·s`;
//!     2. `e = shrink_p(r, β) = sign(r)·max(|r| − |r|^(p−1)/β, 0)` (the ℓp proximal step);
//!     3. `(s, z)` = least-squares fit of `x − e ≈ (q − z)·s` (a line through the points (q, x − e));
//!        the published HQQ updates `z` only; fitting `s` too lets the grid shrink onto the bulk of
//!        the weights, which is where most of the gain at 2 bits comes from;
//!     4. `β ← κ·β` (β₀ = 10, κ = 1.01, the published defaults).
//!   The loop stops at the first round that does not lower the mean squared error, and the
//!   parameters with the lowest error seen are kept (the published loop tracks mean |x − x̂| and
//!   returns the last; ArrowQuant scores by squared error, which is what SQNR and cosine measure,
//!   so a group is never worse than RTN's start). The better of the two results is kept.
//! - A constant group (max = min = c) is stored exactly: `s = 1`, `z = −c`.
//! - Storage per group: codes packed LSB-first like RTN (`crate::pack`), two f32 (`s`, `z`) in
//!   the scales buffer; no zero-point bytes. Bits per weight `b + 64/group` (INT2 g64: 3.0).

use super::codec::{self, GroupCodec};
use super::{Blocking, Format, FormatInfo, RowContext, RowLayout, RowOut, Scheme};
use crate::error::{KernelError, Result};
use crate::formats::rtn::{group_params, BIT_WIDTHS, GROUP_SIZES};
use crate::gptq::{GptqOptions, Prepared};
use crate::quantize::Quantized;
use crate::simd::Isa;

pub static INFO: FormatInfo = FormatInfo {
    family: "hqq",
    methods: &["hqq"],
    name_pattern: "hqq_int{bits}_g{group}",
    name_regex: r"^hqq_int(?P<bits>2|4|8)_g(?P<group>32|64|128|256)$",
    bits: &BIT_WIDTHS,
    blocking: Blocking::Groups { sizes: &GROUP_SIZES },
    row_multiple: 1,
    row_fallback: None,
    importance: false,
    gptq_target: true,
    gguf: None,
    decode: "x̂ = (q − z) · s, s and z f32",
    bits_per_weight: "bits + 64/g",
    summary: "the rtn grid with scale and zero-point fitted per group by half-quadratic splitting",
    parse_name: |name| {
        let rest = name.strip_prefix("hqq_int")?;
        let parsed = rest.split_once("_g").and_then(|(b, g)| Some((b.parse().ok()?, g.parse().ok()?)));
        Some(match parsed {
            Some((bits, group)) => HqqSpec::new(bits, group).map(Scheme::Hqq),
            None => Err(KernelError::InvalidParameter { field: "scheme", value: name.to_string(), allowed: "hqq_int<bits>_g<group>" }),
        })
    },
    from_method: |_, p| Ok(Scheme::Hqq(HqqSpec::new(p.bits, p.group)?)),
};

impl Format for HqqSpec {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }
    fn name(&self) -> String {
        format!("hqq_int{}_g{}", self.bits, self.group)
    }
    fn bits(&self) -> u32 {
        self.bits
    }
    fn group_size(&self) -> usize {
        self.group
    }
    fn row_layout(&self, cols: usize) -> RowLayout {
        codec::row_layout(self, cols)
    }
    /// Iterative fits, scalar on every ISA: the fit, not memory, bounds their speed.
    unsafe fn quantize_row(&self, _: Isa, x: &[f32], out: RowOut<'_>, _: &RowContext<'_>, y: &mut [f32]) -> std::result::Result<(), usize> {
        codec::quantize_row(self, x, out.codes, out.scales, out.zeros, y)
    }
    fn dequantize_row(&self, codes: &[u8], scales: &[f32], zeros: &[u8], _: f32, out: &mut [f32]) {
        codec::dequantize_row(self, codes, scales, zeros, out)
    }
    /// More bits, same group size.
    fn fallback(&self) -> Vec<Scheme> {
        BIT_WIDTHS.iter().filter(|&&b| b > self.bits).map(|&b| Scheme::Hqq(HqqSpec { bits: b, group: self.group })).collect()
    }
    fn gptq(&self, w: &[f32], rows: usize, cols: usize, prep: &Prepared, opts: &GptqOptions) -> Option<Result<Quantized>> {
        Some(crate::gptq::run(self, &Scheme::Hqq(*self), w, rows, cols, prep, opts))
    }
}

const ITERS: usize = 20;
const P: f64 = 0.7;
const BETA0: f64 = 10.0;
const KAPPA: f64 = 1.01;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HqqSpec {
    pub bits: u32,
    pub group: usize,
}

impl HqqSpec {
    pub fn new(bits: u32, group: usize) -> Result<Self> {
        if !BIT_WIDTHS.contains(&bits) {
            return Err(KernelError::InvalidParameter { field: "bits", value: bits.to_string(), allowed: "2, 4 or 8" });
        }
        if !GROUP_SIZES.contains(&group) {
            return Err(KernelError::InvalidParameter { field: "group_size", value: group.to_string(), allowed: "32, 64, 128 or 256" });
        }
        Ok(HqqSpec { bits, group })
    }
    fn qmax(&self) -> f32 {
        ((1u32 << self.bits) - 1) as f32
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HqqParams {
    pub scale: f32,
    pub zero: f32,
}

#[inline]
fn inv(scale: f32) -> f32 {
    let i = 1.0 / scale;
    if i.is_finite() {
        i
    } else {
        0.0
    }
}

/// The ℓp proximal step, in f32 (the residuals are f32; `powf` is most of the fit's time).
#[inline]
fn shrink(r: f32, beta: f32) -> f32 {
    if r == 0.0 {
        return 0.0;
    }
    let a = r.abs();
    r.signum() * (a - a.powf(P as f32 - 1.0) / beta).max(0.0)
}

impl HqqSpec {
    /// The half-quadratic rounds from `p`; returns the best (error, parameters) seen.
    fn refine(&self, x: &[f32], mut p: HqqParams) -> (f64, HqqParams) {
        let mut best = (f64::INFINITY, p);
        let mut beta = BETA0 as f32;
        let n = x.len() as f64;
        // Each pass scores the current parameters and gathers the sums for the next ones, so
        // a round costs one pass over the group.
        for _ in 0..=ITERS {
            // Steps 1-2: codes and the shrunk residual; step 3: regress (x − e) on q.
            let (mut err, mut sq, mut sy, mut sqq, mut sqy) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
            for &v in x {
                let code = self.encode(&p, v);
                let r = v - self.decode(&p, code);
                let (q, y) = (code as f64, (v - shrink(r, beta)) as f64);
                err += (r as f64) * (r as f64);
                sq += q;
                sy += y;
                sqq += q * q;
                sqy += q * y;
            }
            if err / n < best.0 {
                best = (err / n, p);
            } else {
                break;
            }
            let var = sqq - sq * sq / n;
            let cov = sqy - sq * sy / n;
            let s = if var > 0.0 { cov / var } else { p.scale as f64 };
            if !(s.is_finite() && s > 0.0 && (s as f32).is_normal()) {
                break;
            }
            // ȳ = s·(q̄ − z)  ⇒  z = q̄ − ȳ/s
            let z = sq / n - (sy / n) / s;
            p = HqqParams { scale: s as f32, zero: z as f32 };
            beta *= KAPPA as f32;
        }
        best
    }

    #[cfg(test)]
    fn sq_error(&self, p: &HqqParams, x: &[f32]) -> f64 {
        x.iter().map(|&v| ((v - self.decode(p, self.encode(p, v))) as f64).powi(2)).sum::<f64>() / x.len().max(1) as f64
    }
}

impl GroupCodec for HqqSpec {
    type Params = HqqParams;
    fn bits(&self) -> u32 {
        self.bits
    }
    fn group(&self) -> usize {
        self.group
    }
    fn scales_per_group(&self) -> usize {
        2
    }
    fn zeros_per_group(&self) -> usize {
        0
    }

    fn fit(&self, x: &[f32]) -> HqqParams {
        let min = x.iter().copied().fold(f32::INFINITY, f32::min);
        let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if x.is_empty() || !(max > min) || !((max - min) / self.qmax()).is_normal() {
            return HqqParams { scale: 1.0, zero: if x.is_empty() { 0.0 } else { -min } };
        }
        // Two starts, the better result kept: RTN's parameters (zero inside the range, integer
        // zero-point, so 0 is a level: what heavy-tailed groups need) and the published min/max
        // start with a free zero-point (better for light tails).
        let rtn = group_params(self.bits, false, min, max);
        let s0 = (max - min) / self.qmax();
        let a = self.refine(x, HqqParams { scale: rtn.scale, zero: rtn.zero });
        let b = self.refine(x, HqqParams { scale: s0, zero: -min / s0 });
        if b.0 < a.0 {
            b.1
        } else {
            a.1
        }
    }

    #[inline]
    fn encode(&self, p: &HqqParams, x: f32) -> u8 {
        (x * inv(p.scale) + p.zero).round_ties_even().clamp(0.0, self.qmax()) as u8
    }
    #[inline]
    fn decode(&self, p: &HqqParams, code: u8) -> f32 {
        (code as f32 - p.zero) * p.scale
    }
    fn store(&self, p: &HqqParams, scales: &mut [f32], _zeros: &mut [u8]) {
        scales[0] = p.scale;
        scales[1] = p.zero;
    }
    fn load(&self, scales: &[f32], _zeros: &[u8]) -> HqqParams {
        HqqParams { scale: scales[0], zero: scales[1] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::codec::roundtrip;
    use crate::formats::rtn::RtnSpec;
    use crate::testdata;

    /// (`roundtrip` checks that decoding reproduces the values the quantizer handed over.)
    fn sqnr<C: GroupCodec>(codec: &C, x: &[f32]) -> f64 {
        roundtrip(codec, x).1.finish().sqnr_db
    }

    #[test]
    fn beats_min_max_rtn_on_heavy_tailed_weights() {
        let w = testdata::linear_weight(64, 1024, 11);
        for (bits, margin) in [(2, 1.0), (4, 0.1)] {
            let hqq = sqnr(&HqqSpec::new(bits, 64).unwrap(), &w);
            let rtn = sqnr(&RtnSpec::new(bits, 64, false).unwrap(), &w);
            assert!(hqq > rtn + margin, "bits={bits}: hqq {hqq:.2} dB vs rtn {rtn:.2} dB");
        }
    }

    #[test]
    fn constant_and_zero_groups_are_exact() {
        let mut x = vec![0.0f32; 64];
        x.extend(std::iter::repeat_n(-1.25f32, 64));
        let spec = HqqSpec::new(2, 64).unwrap();
        assert_eq!(sqnr(&spec, &x), f64::INFINITY);
    }

    #[test]
    fn never_worse_than_its_starting_point() {
        // The kept parameters are the best seen, and the first candidate is the min/max start.
        let spec = HqqSpec::new(4, 32).unwrap();
        for seed in 0..20 {
            let x = testdata::linear_weight(1, 32, seed);
            let p = spec.fit(&x);
            let min = x.iter().copied().fold(f32::INFINITY, f32::min);
            let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let r = group_params(4, false, min, max);
            let start = HqqParams { scale: r.scale, zero: r.zero };
            assert!(spec.sq_error(&p, &x) <= spec.sq_error(&start, &x), "seed {seed}");
        }
    }
}
