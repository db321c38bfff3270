//! The legacy GGUF block formats with importance (`formats::q4_0`, `q4_1`, `q5_0`, `q5_1`):
//! blocks of 32, one block per lane; σ² over the whole row, `w = qw·sqrt(σ² + x²)`, then
//! `make_qx_quants(8 | 16)` (Q4_0, Q5_0) or `make_qkx3_quants(15 | 31, −0.9, 0.05, 36)` (Q4_1,
//! Q5_1), the levels stored as the search returns them. Without importance ([`row_ref`]) they are
//! one rounding pass per block (Q4_0 has its own kernels): the block's parameters in lanes, the
//! values rounded with C's truncating conversion.

use super::q45k::IMP;
use super::search::{qkx_levels, qkx_search, qx_levels, qx_search, signed_absmax, Qx};
use super::{check_finite, lane_offsets, mark_blocks, no_lanes, store_lanes, transpose, transpose_checked, Lanes2};
use crate::formats::ggml_blocks::{fifth_bits, pack_nibbles_32};
use crate::formats::ggml_search::{fp16_bits, fp16_value};
use crate::formats::ggml_blocks::{block_weights, row_sigma2};
use crate::formats::{q4_0, q4_1, q5_0, q5_1};
use crate::simd::lanes::{F32s, Mask};

const NE: usize = 32;

/// The legacy formats with importance kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Legacy {
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
}

impl Legacy {
    fn bytes(self) -> usize {
        match self {
            Legacy::Q4_0 => q4_0::BLOCK_BYTES,
            Legacy::Q4_1 => q4_1::BLOCK_BYTES,
            Legacy::Q5_0 => q5_0::BLOCK_BYTES,
            Legacy::Q5_1 => q5_1::BLOCK_BYTES,
        }
    }
    fn nmax(self) -> i32 {
        match self {
            Legacy::Q4_0 => 8,
            Legacy::Q5_0 => 16,
            Legacy::Q4_1 => 15,
            Legacy::Q5_1 => 31,
        }
    }
    /// With a minimum (`make_qkx3_quants`) or symmetric (`make_qx_quants`).
    fn with_min(self) -> bool {
        matches!(self, Legacy::Q4_1 | Legacy::Q5_1)
    }
    /// The reference's block without importance (bytes `ob`), its decoded values into `yb`.
    fn reference_block_plain(self, xb: &[f32], ob: &mut [u8], yb: &mut [f32]) {
        match self {
            Legacy::Q4_0 => q4_0::quantize_row_ref(xb, ob, yb).expect("finite"),
            Legacy::Q4_1 => {
                q4_1::quantize_block_ref(xb, ob);
                q4_1::dequantize_block(ob, yb);
            }
            Legacy::Q5_0 => {
                q5_0::quantize_block_ref(xb, ob);
                q5_0::dequantize_block(ob, yb);
            }
            Legacy::Q5_1 => {
                q5_1::quantize_block_ref(xb, ob);
                q5_1::dequantize_block(ob, yb);
            }
        }
    }
    /// The reference's block (`quantize_block_weighted` with the reference's weights), its
    /// decoded values into `yb`.
    fn reference_block(self, xb: &[f32], qw: &[f32], sigma2: f32, ob: &mut [u8], yb: &mut [f32]) {
        let w = block_weights(xb, qw, sigma2);
        let dequantize = match self {
            Legacy::Q4_0 => {
                q4_0::quantize_block_weighted(xb, &w, ob);
                q4_0::dequantize_row as fn(&[u8], &mut [f32])
            }
            Legacy::Q4_1 => {
                q4_1::quantize_block_weighted(xb, &w, ob);
                q4_1::dequantize_block
            }
            Legacy::Q5_0 => {
                q5_0::quantize_block_weighted(xb, &w, ob);
                q5_0::dequantize_block
            }
            Legacy::Q5_1 => {
                q5_1::quantize_block_weighted(xb, &w, ob);
                q5_1::dequantize_block
            }
        };
        dequantize(ob, yb);
    }
}

/// Store a block's levels (`lv`) after its parameters.
#[inline(always)]
fn store_levels(kind: Legacy, lv: &[u8; NE], yb: &mut [u8]) {
    match kind {
        Legacy::Q4_0 => pack_nibbles_32(lv, &mut yb[2..18]),
        Legacy::Q4_1 => pack_nibbles_32(lv, &mut yb[4..20]),
        Legacy::Q5_0 => {
            yb[2..6].copy_from_slice(&fifth_bits(lv));
            pack_nibbles_32(lv, &mut yb[6..22]);
        }
        Legacy::Q5_1 => {
            yb[4..8].copy_from_slice(&fifth_bits(lv));
            pack_nibbles_32(lv, &mut yb[8..24]);
        }
    }
}

/// `quantize_row_q4_1_ref`, `_q5_0_ref`, `_q5_1_ref` (not Q4_0, which has its own kernels): per
/// block (one per lane) `min`/`max` as the C scans them (Q4_1, Q5_1) or the signed value of
/// largest magnitude (Q5_0), `d` and `id = 1/d`; then per value `(int)(v)` of
/// `v = (x − min)·id + 0.5` (or `x·id + 16.5`) as x86-64 converts (NaN and infinities: 0), through
/// the C's `int8_t`/`uint8_t` and `MIN`. A value the conversion could wrap (impossible with a
/// finite `id`, which bounds `v` by 16, 32 or 33) sends its block to the reference.
#[inline(always)]
pub(crate) unsafe fn row_ref<V: F32s>(kind: Legacy, x: &[f32], out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
    type P<V> = Lanes2<V>;
    let nblk = x.len() / NE;
    let bytes = kind.bytes();
    let (mut d, mut mn, mut id) = (vec![0f32; nblk], vec![0f32; nblk], vec![0f32; nblk]);
    let mut idx = [0i32; 64];
    let mut bad = no_lanes::<P<V>>();
    let (zero, one) = (P::<V>::zero(), P::<V>::splat(1.0));
    for g in (0..nblk).step_by(P::<V>::N) {
        let n = lane_offsets::<P<V>>(g, nblk, NE, &mut idx);
        let xt: [P<V>; NE] = transpose_checked(x, &idx, &mut bad);
        let dv = if kind == Legacy::Q5_0 {
            signed_absmax(&xt).0 / P::<V>::splat(-16.0)
        } else {
            let (mut lo, mut hi) = (P::<V>::splat(f32::MAX), P::<V>::splat(-f32::MAX));
            for v in &xt {
                lo = v.min_c(lo);
                hi = v.max_c(hi);
            }
            store_lanes(lo, &mut mn[g..], n);
            (hi - lo) / P::<V>::splat(kind.nmax() as f32)
        };
        store_lanes(dv, &mut d[g..], n);
        store_lanes(P::<V>::select(dv.ne(zero), one / dv, zero), &mut id[g..], n);
    }
    check_finite(bad.any(), x)?;

    let z = V::zero();
    // (bias, exclusive upper bound of the v that convert without wrapping, MIN's bound)
    let (bias, top, cap) = match kind {
        Legacy::Q5_0 => (16.5, 64.0, Some(31.0)),
        Legacy::Q4_1 => (0.5, 16.0, Some(15.0)),
        _ => (0.5, 32.0, None),
    };
    let (bias, top, floor) = (V::splat(bias), V::splat(top), V::splat(-1.0));
    let mut lv = [0u8; NE];
    for b in 0..nblk {
        let xb = &x[b * NE..(b + 1) * NE];
        let ob = &mut out[b * bytes..(b + 1) * bytes];
        let yb = &mut y[b * NE..(b + 1) * NE];
        let d_bits = fp16_bits(d[b]);
        ob[0..2].copy_from_slice(&d_bits.to_le_bytes());
        let dh = V::splat(fp16_value(d_bits));
        let mh = if kind == Legacy::Q5_0 {
            z
        } else {
            let m_bits = fp16_bits(mn[b]);
            ob[2..4].copy_from_slice(&m_bits.to_le_bytes());
            V::splat(fp16_value(m_bits))
        };
        let (mv, iv) = (V::splat(mn[b]), V::splat(id[b]));
        let mut wraps = false;
        for c in (0..NE).step_by(V::N) {
            let xv = V::load(xb.as_ptr().add(c));
            let v = if kind == Legacy::Q5_0 { xv * iv + bias } else { (xv - mv) * iv + bias };
            // In (−1, top) the conversion truncates; NaN and infinities convert to INT_MIN, whose
            // low byte is 0; a finite v outside would wrap (never happens: see above).
            let ok = floor.lt(v).and(v.lt(top));
            #[allow(clippy::eq_op)]
            let t = v - v;
            wraps |= ok.not().and(t.eq(t)).any();
            let mut l = V::select(ok, v.trunc(), z);
            if let Some(cap) = cap {
                l = l.min_c(V::splat(cap));
            }
            l.store_u8(lv.as_mut_ptr().add(c));
            // The dequantizers: (q − 16)·d, or q·d + m.
            let yv = if kind == Legacy::Q5_0 { (l - V::splat(16.0)) * dh } else { l * dh + mh };
            yv.store(yb.as_mut_ptr().add(c));
        }
        if wraps {
            kind.reference_block_plain(xb, ob, yb);
            continue;
        }
        store_levels(kind, &lv, ob);
    }
    Ok(())
}

#[inline(always)]
pub(crate) unsafe fn row<V: F32s>(kind: Legacy, x: &[f32], qw: &[f32], out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
    type P<V> = Lanes2<V>;
    let nblk = x.len() / NE;
    let bytes = kind.bytes();
    let nmax = kind.nmax();
    let sigma2 = row_sigma2(x);

    // Search: one block per lane.
    let (mut scale, mut the_min, mut iscale, mut min_used) = (vec![0f32; nblk], vec![0f32; nblk], vec![0f32; nblk], vec![0f32; nblk]);
    let mut fallback = vec![false; nblk];
    let mut idx = [0i32; 64];
    let mut bad = no_lanes::<P<V>>();
    let s2 = P::<V>::splat(sigma2);
    for g in (0..nblk).step_by(P::<V>::N) {
        let n = lane_offsets::<P<V>>(g, nblk, NE, &mut idx);
        let xt: [P<V>; NE] = transpose_checked(x, &idx, &mut bad);
        let mut wt: [P<V>; NE] = transpose(qw, &idx);
        for (w, v) in wt.iter_mut().zip(&xt) {
            *w = *w * (s2 + *v * *v).sqrt();
        }
        if kind.with_min() {
            let r = qkx_search::<P<V>, NE, false>(nmax, &xt, &wt, IMP);
            store_lanes(r.scale, &mut scale[g..], n);
            store_lanes(r.the_min, &mut the_min[g..], n);
            store_lanes(r.iscale, &mut iscale[g..], n);
            store_lanes(r.min_used, &mut min_used[g..], n);
            mark_blocks(r.bad, g, n, 1, &mut fallback);
        } else {
            let mut wx = wt;
            for (a, v) in wx.iter_mut().zip(&xt) {
                *a = *a * *v;
            }
            let r = qx_search::<P<V>, NE, false>(nmax, &xt, &wt, &wx);
            store_lanes(r.scale, &mut scale[g..], n);
            store_lanes(r.iscale, &mut iscale[g..], n);
            // `min_used` carries liveness for the symmetric search.
            store_lanes(P::<V>::select(r.live, P::<V>::splat(1.0), P::<V>::zero()), &mut min_used[g..], n);
        }
    }
    check_finite(bad.any(), x)?;

    // Levels as the search left them, bytes, decoded values.
    let zero = V::zero();
    let nm = V::splat(nmax as f32);
    let mut lv = [0u8; NE];
    for b in 0..nblk {
        let xb = &x[b * NE..(b + 1) * NE];
        let ob = &mut out[b * bytes..(b + 1) * bytes];
        let yb = &mut y[b * NE..(b + 1) * NE];
        if fallback[b] {
            kind.reference_block(xb, &qw[b * NE..(b + 1) * NE], sigma2, ob, yb);
            continue;
        }
        let d_bits = fp16_bits(scale[b]);
        let d = fp16_value(d_bits);
        ob[0..2].copy_from_slice(&d_bits.to_le_bytes());
        let (dv, mv, off) = if kind.with_min() {
            let m_bits = fp16_bits(-the_min[b]);
            ob[2..4].copy_from_slice(&m_bits.to_le_bytes());
            (V::splat(d), V::splat(fp16_value(m_bits)), zero)
        } else {
            (V::splat(d), zero, nm)
        };
        let (isc, minu) = (V::splat(iscale[b]), V::splat(min_used[b]));
        for c in (0..NE).step_by(V::N) {
            let xv = V::load(xb.as_ptr().add(c));
            let l = if kind.with_min() {
                qkx_levels(xv, isc, minu, zero, nm)
            } else {
                qx_levels(xv, &Qx::<V> { scale: zero, iscale: isc, live: minu.gt(zero) }, nmax)
            };
            l.store_u8(lv.as_mut_ptr().add(c));
            // The dequantizers: q·d + m, or (q − nmax)·d.
            let yv = if kind.with_min() { l * dv + mv } else { (l - off) * dv };
            yv.store(yb.as_mut_ptr().add(c));
        }
        store_levels(kind, &lv, ob);
    }
    Ok(())
}
