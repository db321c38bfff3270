//! ggml's parameter searches (ggml-quants.c: `nearest_int`, `make_qx_quants`, `make_q3_quants`,
//! `make_qkx2_quants`, `make_qkx3_quants`, `make_qp_quants`), the scalar references of the K-quant
//! and legacy GGUF formats. Each is a transcription of the C, operation for operation, so the
//! bytes equal ggml's built with IEEE semantics (no FMA contraction, float evaluated in float):
//! `a*b*c` is `(a*b)*c`, `a + b*c` is two roundings, sums run in index order, divisions are
//! divisions. The tests hold them equal to ggml's own C code (`scripts/setup-ggml.sh`).
//!
//! Conversions follow what ggml compiles to on x86-64 (the build the tests compare with): a float
//! cast to an integer truncates, and a value outside the int32 range or NaN becomes `i32::MIN`
//! (`cvttss2si`), whose low byte is what an `(int8_t)`/`(uint8_t)` cast keeps.

// The loops index several arrays by the same `i`, as the C they transcribe does.
#![allow(clippy::needless_range_loop)]

use half::f16;

/// ggml's `GROUP_MAX_EPS`: below this largest magnitude a group is "all zero".
pub const GROUP_MAX_EPS: f32 = 1e-15;

/// `nearest_int`: round half to even via the 1.5·2²³ magic add (exact for |v| < 2²²; beyond, the
/// same bits as the C).
#[inline(always)]
pub fn nearest_int(v: f32) -> i32 {
    let val = v + 12582912.0f32;
    (val.to_bits() as i32 & 0x007f_ffff) - 0x0040_0000
}

/// C's float → int32 conversion as x86-64 executes it (`cvttss2si`).
#[inline(always)]
pub fn cvtt_i32(v: f32) -> i32 {
    if v.is_nan() || !(-2147483648.0..2147483648.0).contains(&v) {
        i32::MIN
    } else {
        v as i32
    }
}

/// `GGML_FP32_TO_FP16` (round to nearest even; the `half` crate rounds as ggml's bit trick does,
/// a test checks it) as little-endian bytes.
#[inline(always)]
pub fn fp16_bits(v: f32) -> u16 {
    f16::from_f32(v).to_bits()
}

/// `GGML_FP16_TO_FP32`.
#[inline(always)]
pub fn fp16_value(bits: u16) -> f32 {
    f16::from_bits(bits).to_f32()
}

/// Round `v` through f16 and back (what a stored `d` reads as).
#[inline(always)]
pub fn fp16_round(v: f32) -> f32 {
    fp16_value(fp16_bits(v))
}

/// How `make_qx_quants` weights an element when no weights are given.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RmseType {
    /// `x²`
    Squares,
}

/// `make_qx_quants(n, nmax, x, L, rmse_type = 1, qw)`: symmetric levels `L − nmax` in
/// `[−nmax, nmax − 1]` and the scale that minimises Σw(x − s·l)², searched over 19 candidate
/// inverse scales around `−nmax/max`. `qw = None` weights by `x²`. Returns the scale.
pub fn make_qx_quants(nmax: i32, x: &[f32], l_out: &mut [i8], qw: Option<&[f32]>) -> f32 {
    let n = x.len();
    let (mut max, mut amax) = (0.0f32, 0.0f32);
    for &v in x {
        let ax = v.abs();
        if ax > amax {
            amax = ax;
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        l_out[..n].fill(0);
        return 0.0;
    }
    let weight = |i: usize| qw.map_or(x[i] * x[i], |w| w[i]);
    let clamp = |l: i32| l.clamp(-nmax, nmax - 1);
    let mut iscale = -(nmax as f32) / max;
    let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
    for i in 0..n {
        let l = clamp(nearest_int(iscale * x[i]));
        l_out[i] = (l + nmax) as i8;
        let w = weight(i);
        sumlx += w * x[i] * l as f32;
        suml2 += w * l as f32 * l as f32;
    }
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in -9..=9 {
        if is == 0 {
            continue;
        }
        iscale = -(nmax as f32 + 0.1f32 * is as f32) / max;
        sumlx = 0.0;
        suml2 = 0.0;
        for i in 0..n {
            let l = clamp(nearest_int(iscale * x[i]));
            let w = weight(i);
            sumlx += w * x[i] * l as f32;
            suml2 += w * l as f32 * l as f32;
        }
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            for i in 0..n {
                l_out[i] = (nmax + clamp(nearest_int(iscale * x[i]))) as i8;
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// `make_q3_quants(n, nmax, x, L, do_rmse = true)`: levels in `[−nmax, nmax − 1]` (stored `+nmax`)
/// refined by up to five rounds of coordinate descent on Σx²(x − s·l)². Returns the scale.
pub fn make_q3_quants(nmax: i32, x: &[f32], l_out: &mut [i8]) -> f32 {
    let n = x.len();
    let (mut max, mut amax) = (0.0f32, 0.0f32);
    for &v in x {
        let ax = v.abs();
        if ax > amax {
            amax = ax;
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        l_out[..n].fill(0);
        return 0.0;
    }
    let iscale = -(nmax as f32) / max;
    let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
    let mut l_cur = [0i32; 32];
    for i in 0..n {
        let l = nearest_int(iscale * x[i]).clamp(-nmax, nmax - 1);
        l_cur[i] = l;
        let w = x[i] * x[i];
        sumlx += w * x[i] * l as f32;
        suml2 += w * l as f32 * l as f32;
    }
    for _ in 0..5 {
        let mut n_changed = 0;
        for i in 0..n {
            let w = x[i] * x[i];
            let mut slx = sumlx - w * x[i] * l_cur[i] as f32;
            if slx > 0.0 {
                let mut sl2 = suml2 - w * l_cur[i] as f32 * l_cur[i] as f32;
                let new_l = nearest_int(x[i] * sl2 / slx).clamp(-nmax, nmax - 1);
                if new_l != l_cur[i] {
                    slx += w * x[i] * new_l as f32;
                    sl2 += w * new_l as f32 * new_l as f32;
                    if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                        l_cur[i] = new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed += 1;
                    }
                }
            }
        }
        if n_changed == 0 {
            break;
        }
    }
    for i in 0..n {
        l_out[i] = (l_cur[i] + nmax) as i8;
    }
    if suml2 > 0.0 {
        sumlx / suml2
    } else {
        0.0
    }
}

/// The parameters of `make_qkx2_quants`/`make_qkx3_quants`' candidate search.
#[derive(Clone, Copy)]
pub struct MinSearch {
    pub rmin: f32,
    pub rdelta: f32,
    pub nstep: i32,
    /// Score by Σw|diff| (q2_K's reference) instead of Σw·diff².
    pub use_mad: bool,
}

/// `make_qkx2_quants` (`weights` given) and `make_qkx3_quants` (which differs only where it has
/// no weights — x² — and in `max <= min` vs `max == min`, equal for finite input after
/// `min = min(min, 0)`): levels `L` in `[0, nmax]` with `x ≈ scale·L − the_min`, from the
/// min/max start and `nstep + 1` candidate scales refitted by weighted least squares.
/// Returns `(scale, the_min)`.
pub fn make_qkx_quants(nmax: i32, x: &[f32], weights: &[f32], l_out: &mut [u8], p: MinSearch) -> (f32, f32) {
    let n = x.len();
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        let w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        l_out[..n].fill(0);
        return (0.0, -min);
    }
    let diff_score = |d: f32| if p.use_mad { d.abs() } else { d * d };
    let mut iscale = nmax as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0.0f32;
    for i in 0..n {
        let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
        l_out[i] = l as u8;
        let diff = scale * l as f32 + min - x[i];
        best_error += weights[i] * diff_score(diff);
    }
    if p.nstep < 1 {
        return (scale, -min);
    }
    let mut laux = [0u8; 32];
    for is in 0..=p.nstep {
        iscale = (p.rmin + p.rdelta * is as f32 + nmax as f32) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0.0f32, 0.0f32, 0.0f32);
        for i in 0..n {
            let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
            laux[i] = l as u8;
            let w = weights[i];
            let lf = l as f32;
            sum_l += w * lf;
            sum_l2 += w * lf * lf;
            sum_xl += w * lf * x[i];
        }
        let d = sum_w * sum_l2 - sum_l * sum_l;
        if d > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / d;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / d;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut cur_error = 0.0f32;
            for i in 0..n {
                let diff = this_scale * laux[i] as f32 + this_min - x[i];
                cur_error += weights[i] * diff_score(diff);
            }
            if cur_error < best_error {
                l_out[..n].copy_from_slice(&laux[..n]);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// `make_qp_quants(n, nmax, x, L, quant_weights)`: non-negative levels `L` in `[0, nmax]` for
/// non-negative `x` (a super-block's sub-block scales or mins) and the scale, weighted by
/// `quant_weights`; a candidate search then five rounds of coordinate descent.
pub fn make_qp_quants(nmax: i32, x: &[f32], l_out: &mut [u8], quant_weights: &[f32]) -> f32 {
    let n = x.len();
    let mut max = 0.0f32;
    for &v in x {
        max = if max > v { max } else { v };
    }
    if max < GROUP_MAX_EPS {
        l_out[..n].fill(0);
        return 0.0;
    }
    let mut iscale = nmax as f32 / max;
    // `L` is `uint8_t` in the C: every store wraps, the sums use the unwrapped int.
    let wrap = |l: i32| l as u8 as i32;
    let mut l_cur = [0i32; 16];
    for i in 0..n {
        l_cur[i] = wrap(nearest_int(iscale * x[i]));
    }
    let scale = 1.0 / iscale;
    let mut best_mse = 0.0f32;
    for i in 0..n {
        let diff = x[i] - scale * l_cur[i] as f32;
        best_mse += quant_weights[i] * diff * diff;
    }
    for is in -4..=4 {
        if is == 0 {
            continue;
        }
        let iscale_is = (0.1f32 * is as f32 + nmax as f32) / max;
        let scale_is = 1.0 / iscale_is;
        let mut mse = 0.0f32;
        for i in 0..n {
            let l = nearest_int(iscale_is * x[i]).min(nmax);
            let diff = x[i] - scale_is * l as f32;
            mse += quant_weights[i] * diff * diff;
        }
        if mse < best_mse {
            best_mse = mse;
            iscale = iscale_is;
        }
    }
    let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
    for i in 0..n {
        let l = nearest_int(iscale * x[i]).min(nmax);
        l_cur[i] = wrap(l);
        let w = quant_weights[i];
        sumlx += w * x[i] * l as f32;
        suml2 += w * l as f32 * l as f32;
    }
    for _ in 0..5 {
        let mut n_changed = 0;
        for i in 0..n {
            let w = quant_weights[i];
            let mut slx = sumlx - w * x[i] * l_cur[i] as f32;
            let mut sl2 = suml2 - w * l_cur[i] as f32 * l_cur[i] as f32;
            if slx > 0.0 && sl2 > 0.0 {
                let new_l = nearest_int(x[i] * sl2 / slx).min(nmax);
                if new_l != l_cur[i] {
                    slx += w * x[i] * new_l as f32;
                    sl2 += w * new_l as f32 * new_l as f32;
                    if slx * slx * suml2 > sumlx * sumlx * sl2 {
                        l_cur[i] = wrap(new_l);
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed += 1;
                    }
                }
            }
        }
        if n_changed == 0 {
            break;
        }
    }
    for i in 0..n {
        l_out[i] = l_cur[i] as u8;
    }
    if suml2 > 0.0 {
        sumlx / suml2
    } else {
        0.0
    }
}

/// The importance-weighted element weights of ggml's `quantize_row_*_impl`:
/// `w[l] = qw[l]·sqrt(sigma2 + x[l]²)`.
#[inline(always)]
pub fn importance_weights(qw: &[f32], x: &[f32], sigma2: f32, out: &mut [f32]) {
    for ((o, &q), &v) in out.iter_mut().zip(qw).zip(x) {
        *o = q * (sigma2 + v * v).sqrt();
    }
}

/// Σx² in index order (ggml's `sumx2` loops).
#[inline(always)]
pub fn sum_squares(x: &[f32]) -> f32 {
    let mut s = 0.0f32;
    for &v in x {
        s += v * v;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ggml's `ggml_compute_fp32_to_fp16` (the portable bit trick ggml-base uses), transcribed to
    /// check that `half` rounds the same.
    fn ggml_fp32_to_fp16(f: f32) -> u16 {
        let scale_to_inf = f32::from_bits(0x7780_0000);
        let scale_to_zero = f32::from_bits(0x0880_0000);
        let mut base = (f.abs() * scale_to_inf) * scale_to_zero;
        let w = f.to_bits();
        let shl1_w = w.wrapping_add(w);
        let sign = w & 0x8000_0000;
        let mut bias = shl1_w & 0xFF00_0000;
        if bias < 0x7100_0000 {
            bias = 0x7100_0000;
        }
        base = f32::from_bits((bias >> 1) + 0x0780_0000) + base;
        let bits = base.to_bits();
        let exp_bits = (bits >> 13) & 0x0000_7C00;
        let mantissa_bits = bits & 0x0000_0FFF;
        let nonsign = exp_bits + mantissa_bits;
        ((sign >> 16) | if shl1_w > 0xFF00_0000 { 0x7E00 } else { nonsign }) as u16
    }

    #[test]
    fn half_rounds_like_ggml_on_every_finite_class() {
        // Every 97th bit pattern plus the boundaries: ~44M values, all finite classes.
        let mut bits = 0u32;
        loop {
            let f = f32::from_bits(bits);
            if f.is_finite() {
                assert_eq!(fp16_bits(f), ggml_fp32_to_fp16(f), "{f:e} ({bits:#x})");
            }
            match bits.checked_add(97) {
                Some(b) => bits = b,
                None => break,
            }
        }
        for f in [65504.0f32, 65519.99, 65520.0, -65520.0, 6.1e-5, 5.96e-8, 2.98e-8, 2.99e-8, 0.0, -0.0] {
            assert_eq!(fp16_bits(f), ggml_fp32_to_fp16(f), "{f:e}");
        }
    }

    #[test]
    fn nearest_int_rounds_half_to_even() {
        assert_eq!([0.5, 1.5, 2.5, -0.5, -1.5, 3.49, -3.51].map(nearest_int), [0, 2, 2, 0, -2, 3, -4]);
    }

    #[test]
    fn cvtt_is_x86s() {
        assert_eq!(cvtt_i32(f32::NAN), i32::MIN);
        assert_eq!(cvtt_i32(f32::INFINITY), i32::MIN);
        assert_eq!(cvtt_i32(-3.9), -3);
        assert_eq!(cvtt_i32(8.5), 8);
    }
}
