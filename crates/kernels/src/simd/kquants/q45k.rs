//! Q4_K and Q5_K rows (`formats::q4_k`, `formats::q5_k`): eight sub-blocks of 32 per
//! super-block, `make_qkx2_quants` (reference) or `make_qkx3_quants` + `make_qp_quants`
//! (importance). Also the sub-block search and super-block `make_qp_quants` phases Q2_K shares.

use super::search::{qkx_levels, qkx_search, qp_search};
use super::{block_sigma2, check_finite, lane_offsets, mark_blocks, no_lanes, reference_block, store_lanes, transpose, transpose_checked, Lanes2, QK};
use crate::formats::ggml_blocks::{pack_scale_min_k4, scale_min_k4};
use crate::formats::ggml_search::{fp16_bits, fp16_value, make_qp_quants, nearest_int, MinSearch};
use crate::formats::{q4_k, q5_k};
use crate::simd::lanes::{F32s, Mask};

/// How the sub-block search weighs its elements.
#[derive(Clone, Copy)]
pub(crate) enum Weights<'a> {
    /// Q4_K/Q5_K reference: `av_x + |x|`, `av_x = sqrt(Σx²/n)` over the sub-block.
    AvPlusAbs,
    /// Q2_K reference: `|x|`.
    Abs,
    /// With importance: `qw·sqrt(σ² + x²)`, σ² per super-block.
    Importance { qw: &'a [f32], sigma2: &'a [f32] },
}

/// Per sub-block results of the search (row order), and the super-blocks to redo with the
/// reference.
pub(crate) struct SubSearch {
    pub scale: Vec<f32>,
    pub the_min: Vec<f32>,
    pub iscale: Vec<f32>,
    pub min_used: Vec<f32>,
    /// Σ of the sub-block's weights (importance only).
    pub sw: Vec<f32>,
    pub fallback: Vec<bool>,
    /// Some value may be NaN or infinite (see `check_finite`).
    pub non_finite: bool,
}

/// `make_qkx*_quants` over every sub-block of `NE` values of a row, lanes of `P`.
#[inline(always)]
pub(crate) unsafe fn qkx_phase<P: F32s, const NE: usize, const MAD: bool>(x: &[f32], nmax: i32, p: MinSearch, weights: Weights<'_>) -> SubSearch {
    let nsub = x.len() / NE;
    let per_block = QK / NE;
    let mut r = SubSearch {
        scale: vec![0.0; nsub],
        the_min: vec![0.0; nsub],
        iscale: vec![0.0; nsub],
        min_used: vec![0.0; nsub],
        sw: vec![0.0; if matches!(weights, Weights::Importance { .. }) { nsub } else { 0 }],
        fallback: vec![false; x.len() / QK],
        non_finite: false,
    };
    let mut bad = no_lanes::<P>();
    let mut idx = [0i32; 64];
    let mut blk = [0i32; 64];
    for g in (0..nsub).step_by(P::N) {
        let n = lane_offsets::<P>(g, nsub, NE, &mut idx);
        let xt: [P; NE] = transpose_checked(x, &idx, &mut bad);
        let wt: [P; NE] = match weights {
            Weights::AvPlusAbs => {
                let mut s = P::zero();
                for v in &xt {
                    s = s + *v * *v;
                }
                let av_x = (s / P::splat(NE as f32)).sqrt();
                let mut wt = xt;
                for w in wt.iter_mut() {
                    *w = av_x + w.abs();
                }
                wt
            }
            Weights::Abs => {
                let mut wt = xt;
                for w in wt.iter_mut() {
                    *w = w.abs();
                }
                wt
            }
            Weights::Importance { qw, sigma2 } => {
                for (k, b) in blk.iter_mut().enumerate().take(P::N) {
                    *b = ((g + k).min(nsub - 1) / per_block) as i32;
                }
                let s2 = P::gather(sigma2.as_ptr(), blk.as_ptr());
                let qt: [P; NE] = transpose(qw, &idx);
                let mut wt = qt;
                for (w, v) in wt.iter_mut().zip(&xt) {
                    *w = *w * (s2 + *v * *v).sqrt();
                }
                let mut sw = P::zero();
                for w in &wt {
                    sw = sw + *w;
                }
                store_lanes(sw, &mut r.sw[g..], n);
                wt
            }
        };
        let q = qkx_search::<P, NE, MAD>(nmax, &xt, &wt, p);
        store_lanes(q.scale, &mut r.scale[g..], n);
        store_lanes(q.the_min, &mut r.the_min[g..], n);
        store_lanes(q.iscale, &mut r.iscale[g..], n);
        store_lanes(q.min_used, &mut r.min_used[g..], n);
        mark_blocks(q.bad, g, n, per_block, &mut r.fallback);
    }
    r.non_finite = bad.any();
    r
}

/// `make_qp_quants(nmax, vals of a super-block, L, sw of it)` for every super-block, one per
/// lane: scales into `scale_out`, levels into `l_out` (`NE` per super-block).
#[inline(always)]
pub(crate) unsafe fn qp_phase<P: F32s, const NE: usize>(nmax: i32, vals: &[f32], sw: &[f32], scale_out: &mut [f32], l_out: &mut [u8]) {
    let nsb = vals.len() / NE;
    let mut idx = [0i32; 64];
    for b0 in (0..nsb).step_by(P::N) {
        let n = lane_offsets::<P>(b0, nsb, NE, &mut idx);
        let xt: [P; NE] = transpose(vals, &idx);
        let wt: [P; NE] = transpose(sw, &idx);
        let mut lt = [P::zero(); NE];
        let (scale, bad) = qp_search::<P, NE>(nmax, &xt, &wt, &mut lt);
        store_lanes(scale, &mut scale_out[b0..], n);
        let mut t = [[0f32; 64]; NE];
        for (ti, l) in t.iter_mut().zip(&lt) {
            l.store(ti.as_mut_ptr());
        }
        for k in 0..n {
            for (i, ti) in t.iter().enumerate() {
                l_out[(b0 + k) * NE + i] = ti[k] as u8;
            }
        }
        let mut bits = bad.bits();
        while bits != 0 {
            let k = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if k < n {
                let b = b0 + k;
                let r = b * NE..(b + 1) * NE;
                scale_out[b] = make_qp_quants(nmax, &vals[r.clone()], &mut l_out[r.clone()], &sw[r]);
            }
        }
    }
}

const Q4_REF: MinSearch = MinSearch { rmin: -1.0, rdelta: 0.1, nstep: 20, use_mad: false };
const Q5_REF: MinSearch = MinSearch { rmin: -0.5, rdelta: 0.1, nstep: 15, use_mad: false };
pub(crate) const IMP: MinSearch = MinSearch { rmin: -0.9, rdelta: 0.05, nstep: 36, use_mad: false };

#[inline(always)]
pub(crate) unsafe fn row<V: F32s, const Q5: bool>(x: &[f32], imp: Option<&[f32]>, out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
    let nsb = x.len() / QK;
    let (nmax, bytes) = if Q5 { (31, q5_k::BLOCK_BYTES) } else { (15, q4_k::BLOCK_BYTES) };
    let sigma2 = if imp.is_some() { Some(block_sigma2::<Lanes2<V>>(x, nsb, 2.0)) } else { None };
    let (weights, search) = match (imp, &sigma2) {
        (Some(qw), Some(s2)) => (Weights::Importance { qw, sigma2: s2 }, IMP),
        _ => (Weights::AvPlusAbs, if Q5 { Q5_REF } else { Q4_REF }),
    };
    let s = qkx_phase::<Lanes2<V>, 32, false>(x, nmax, search, weights);
    check_finite(s.non_finite, x)?;

    // Super-block parameters: d, dmin and the 6-bit codes of the sub-block scales and mins.
    let (mut d, mut dmin) = (vec![0f32; nsb], vec![0f32; nsb]);
    let (mut ls, mut lm) = (vec![0u8; nsb * 8], vec![0u8; nsb * 8]);
    if imp.is_some() {
        qp_phase::<Lanes2<V>, 8>(63, &s.scale, &s.sw, &mut d, &mut ls);
        qp_phase::<Lanes2<V>, 8>(63, &s.the_min, &s.sw, &mut dmin, &mut lm);
        if Q5 {
            // Q5_K's impl clamps (Q4_K's does not).
            ls.iter_mut().chain(lm.iter_mut()).for_each(|l| *l = (*l).min(63));
        }
    } else {
        for b in 0..nsb {
            let (sc, mn) = (&s.scale[8 * b..8 * b + 8], &s.the_min[8 * b..8 * b + 8]);
            let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
            for j in 0..8 {
                if sc[j] > max_scale {
                    max_scale = sc[j];
                }
                if mn[j] > max_min {
                    max_min = mn[j];
                }
            }
            let inv_scale = if max_scale > 0.0 { 63.0 / max_scale } else { 0.0 };
            let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
            for j in 0..8 {
                ls[8 * b + j] = (nearest_int(inv_scale * sc[j]) as u8).min(63);
                lm[8 * b + j] = (nearest_int(inv_min * mn[j]) as u8).min(63);
            }
            d[b] = max_scale / 63.0;
            dmin[b] = max_min / 63.0;
        }
    }

    // Levels with the stored parameters, bytes, decoded values.
    let zero = V::zero();
    let nm = V::splat(nmax as f32);
    let mut lv = [0u8; QK];
    for b in 0..nsb {
        let xb = &x[b * QK..(b + 1) * QK];
        let ob = &mut out[b * bytes..(b + 1) * bytes];
        let yb = &mut y[b * QK..(b + 1) * QK];
        if s.fallback[b] {
            match (imp.map(|qw| &qw[b * QK..(b + 1) * QK]), Q5) {
                (None, false) => reference_block(xb, ob, yb, q4_k::quantize_block_ref, q4_k::dequantize_block),
                (None, true) => reference_block(xb, ob, yb, q5_k::quantize_block_ref, q5_k::dequantize_block),
                (Some(qw), false) => reference_block(xb, ob, yb, |x, o| q4_k::quantize_block_imp(x, qw, o), q4_k::dequantize_block),
                (Some(qw), true) => reference_block(xb, ob, yb, |x, o| q5_k::quantize_block_imp(x, qw, o), q5_k::dequantize_block),
            }
            continue;
        }
        let lsb: &[u8; 8] = ls[8 * b..8 * b + 8].try_into().unwrap();
        let lmb: &[u8; 8] = lm[8 * b..8 * b + 8].try_into().unwrap();
        ob[0..2].copy_from_slice(&fp16_bits(d[b]).to_le_bytes());
        ob[2..4].copy_from_slice(&fp16_bits(dmin[b]).to_le_bytes());
        ob[4..16].copy_from_slice(&pack_scale_min_k4(lsb, lmb));
        let (dd, dm_all) = (fp16_value(u16::from_le_bytes([ob[0], ob[1]])), fp16_value(u16::from_le_bytes([ob[2], ob[3]])));
        for j in 0..8 {
            let (sc, m) = scale_min_k4(j, &ob[4..16]);
            let dj = dd * sc as f32;
            let dm = dm_all * m as f32;
            let (dv, dmv) = (V::splat(dj), V::splat(dm));
            let sub = 8 * b + j;
            let (isc, minu) = (V::splat(s.iscale[sub]), V::splat(s.min_used[sub]));
            for c in (0..32).step_by(V::N) {
                let xv = V::load(xb.as_ptr().add(32 * j + c));
                // A sub-block whose scale reads 0 keeps the search's levels.
                let l = if dj == 0.0 { qkx_levels(xv, isc, minu, zero, nm) } else { ((xv + dmv) / dv).nearest().clamp_c(zero, nm) };
                l.store_u8(lv.as_mut_ptr().add(32 * j + c));
                (dv * l - dmv).store(yb.as_mut_ptr().add(32 * j + c));
            }
        }
        if Q5 {
            let (qh, ql) = ob[16..].split_at_mut(32);
            qh.fill(0);
            for c in 0..4 {
                for l in 0..32 {
                    let (l1, l2) = (lv[64 * c + l], lv[64 * c + 32 + l]);
                    qh[l] |= ((l1 >> 4) << (2 * c)) | ((l2 >> 4) << (2 * c + 1));
                    ql[32 * c + l] = (l1 & 0xF) | ((l2 & 0xF) << 4);
                }
            }
        } else {
            let qs = &mut ob[16..];
            for c in 0..4 {
                for l in 0..32 {
                    qs[32 * c + l] = lv[64 * c + l] | (lv[64 * c + 32 + l] << 4);
                }
            }
        }
    }
    Ok(())
}
