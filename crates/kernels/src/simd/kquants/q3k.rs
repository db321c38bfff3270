//! Q3_K rows (`formats::q3_k`): sixteen sub-blocks of 16 per super-block, `make_q3_quants`'
//! coordinate descent (reference) or `make_qx_quants(4)` per sub-block and `make_qx_quants(32)`
//! over the sub-block scales (importance).

use super::search::{q3_search, q3_search_first_pass, qx_levels, qx_search, Qx};
use super::{block_sigma2, check_finite, lane_offsets, no_lanes, pack_2bit, store_lanes, transpose, transpose_checked, Lanes2, Lanes4, QK};
use crate::formats::ggml_search::{fp16_bits, fp16_value, make_q3_quants, nearest_int};
use crate::formats::q3_k;
use crate::simd::lanes::{F32s, Mask};

const NE: usize = 16;
const SCALES: std::ops::Range<usize> = 96..108;

/// The 12 scale bytes of sixteen 6-bit codes (0..63), as the C's stores lay them out: low
/// nibbles of codes `j` and `j + 8` in byte `j`, the high two bits of code `j` in byte
/// `8 + j mod 4` at bit `2·(j / 4)` (`q3_k::scale` reads them back).
#[inline(always)]
fn scale_bytes(codes: &[u8]) -> [u8; 12] {
    let mut s = [0u8; 12];
    for j in 0..8 {
        s[j] = (codes[j] & 0xF) | ((codes[j + 8] & 0xF) << 4);
    }
    for j in 0..16 {
        s[8 + j % 4] |= (codes[j] >> 4) << (2 * (j / 4));
    }
    s
}

/// How the search's levels of a sub-block are found again when its stored scale reads 0 (rare).
enum SearchLevels {
    /// `make_q3_quants` again (the scalar reference: same levels).
    Q3,
    /// `make_qx_quants(4)`'s inverse scale and liveness per sub-block.
    Qx { iscale: Vec<f32>, live: Vec<f32> },
}

#[inline(always)]
pub(crate) unsafe fn row<V: F32s>(x: &[f32], imp: Option<&[f32]>, out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
    let nsb = x.len() / QK;
    let nsub = x.len() / NE;
    let bytes = q3_k::BLOCK_BYTES;
    let mut scale = vec![0f32; nsub];
    let mut idx = [0i32; 64];
    // The 6-bit scale code of every sub-block (0..63; the scale is code − 32).
    let mut imp_codes = Vec::new();
    let search = match imp {
        None => {
            // Most sub-blocks finish after a first pass that changes nothing: run that pass for
            // all, lanes side by side with no serial dependency; the others (a few percent) run
            // the descent in order, gathered four vectors at a time (its chains go through a
            // division).
            type P<V> = Lanes2<V>;
            let lanes = P::<V>::N;
            let mut again: Vec<usize> = Vec::new();
            let mut bad = no_lanes::<P<V>>();
            for g in (0..nsub).step_by(lanes) {
                let n = lane_offsets::<P<V>>(g, nsub, NE, &mut idx);
                let xt: [P<V>; NE] = transpose_checked(x, &idx, &mut bad);
                let mut lt = [P::<V>::zero(); NE];
                let (sc, taken) = q3_search_first_pass::<P<V>, NE>(4, &xt, &mut lt);
                store_lanes(sc, &mut scale[g..], n);
                let mut bits = taken.bits();
                while bits != 0 {
                    let k = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    if k < n {
                        again.push(g + k);
                    }
                }
            }
            check_finite(bad.any(), x)?;
            type Q<V> = Lanes4<V>;
            let mut t = [0f32; 64];
            for chunk in again.chunks(Q::<V>::N) {
                for (k, o) in idx.iter_mut().enumerate().take(Q::<V>::N) {
                    *o = (chunk[k.min(chunk.len() - 1)] * NE) as i32;
                }
                let xt: [Q<V>; NE] = transpose(x, &idx);
                let mut lt = [Q::<V>::zero(); NE];
                q3_search::<Q<V>, NE>(4, &xt, &mut lt).store(t.as_mut_ptr());
                for (k, &sub) in chunk.iter().enumerate() {
                    scale[sub] = t[k];
                }
            }
            SearchLevels::Q3
        }
        Some(qw) => {
            type P<V> = Lanes2<V>;
            let sigma2 = block_sigma2::<P<V>>(x, nsb, 2.0);
            let (mut iscale, mut live) = (vec![0f32; nsub], vec![0f32; nsub]);
            let mut sw = vec![0f32; nsub];
            let mut blk = [0i32; 64];
            let mut bad = no_lanes::<P<V>>();
            for g in (0..nsub).step_by(P::<V>::N) {
                let n = lane_offsets::<P<V>>(g, nsub, NE, &mut idx);
                for (k, b) in blk.iter_mut().enumerate().take(P::<V>::N) {
                    *b = ((g + k).min(nsub - 1) / 16) as i32;
                }
                let s2 = P::<V>::gather(sigma2.as_ptr(), blk.as_ptr());
                let xt: [P<V>; NE] = transpose_checked(x, &idx, &mut bad);
                let mut wt: [P<V>; NE] = transpose(qw, &idx);
                let mut wx = wt;
                let mut s = P::<V>::zero();
                for i in 0..NE {
                    wt[i] = wt[i] * (s2 + xt[i] * xt[i]).sqrt();
                    s = s + wt[i];
                    wx[i] = wt[i] * xt[i];
                }
                store_lanes(s, &mut sw[g..], n);
                let r = qx_search::<P<V>, NE, false>(4, &xt, &wt, &wx);
                store_lanes(r.scale, &mut scale[g..], n);
                store_lanes(r.iscale, &mut iscale[g..], n);
                store_lanes(P::<V>::select(r.live, P::<V>::splat(1.0), P::<V>::zero()), &mut live[g..], n);
            }
            check_finite(bad.any(), x)?;
            // make_qx_quants(32) over each super-block's 16 scales weighted by their Σw, one
            // super-block per lane; the codes go straight into the scale bytes.
            let mut d_block = vec![0f32; nsb];
            let mut codes = vec![0u8; nsb * 16];
            for b0 in (0..nsb).step_by(P::<V>::N) {
                let n = lane_offsets::<P<V>>(b0, nsb, 16, &mut idx);
                let st: [P<V>; 16] = transpose(&scale, &idx);
                let wt: [P<V>; 16] = transpose(&sw, &idx);
                let mut wx = wt;
                for (a, v) in wx.iter_mut().zip(&st) {
                    *a = *a * *v;
                }
                let r = qx_search::<P<V>, 16, true>(32, &st, &wt, &wx);
                store_lanes(r.scale, &mut d_block[b0..], n);
                let mut t = [0f32; 64];
                for (i, v) in st.iter().enumerate() {
                    qx_levels(*v, &r, 32).store(t.as_mut_ptr());
                    for k in 0..n {
                        codes[(b0 + k) * 16 + i] = t[k] as u8;
                    }
                }
            }
            for b in 0..nsb {
                let ob = &mut out[b * bytes..(b + 1) * bytes];
                ob[SCALES].copy_from_slice(&scale_bytes(&codes[16 * b..16 * b + 16]));
                ob[108..110].copy_from_slice(&fp16_bits(d_block[b]).to_le_bytes());
            }
            imp_codes = codes;
            SearchLevels::Qx { iscale, live }
        }
    };

    let (lo, hi, off) = (V::splat(-4.0), V::splat(3.0), V::splat(4.0));
    let mut lv = [0u8; QK];
    let mut stored = [0f32; 16];
    for b in 0..nsb {
        let xb = &x[b * QK..(b + 1) * QK];
        let ob = &mut out[b * bytes..(b + 1) * bytes];
        let yb = &mut y[b * QK..(b + 1) * QK];
        let mut codes = [0u8; 16];
        if imp.is_none() {
            let scales = &scale[16 * b..16 * b + 16];
            let (mut max_scale, mut amax) = (0.0f32, 0.0f32);
            for &s in scales {
                if s.abs() > amax {
                    amax = s.abs();
                    max_scale = s;
                }
            }
            if max_scale != 0.0 {
                let iscale = -32.0f32 / max_scale;
                for j in 0..16 {
                    // `int8_t l = nearest_int(...)` wraps, then is clamped and offset.
                    codes[j] = ((nearest_int(iscale * scales[j]) as i8 as i32).clamp(-32, 31) + 32) as u8;
                }
                ob[108..110].copy_from_slice(&fp16_bits(1.0 / iscale).to_le_bytes());
            } else {
                ob[108..110].copy_from_slice(&fp16_bits(0.0).to_le_bytes());
            }
            ob[SCALES].copy_from_slice(&scale_bytes(&codes));
        } else {
            codes.copy_from_slice(&imp_codes[16 * b..16 * b + 16]);
        }
        let dd = fp16_value(u16::from_le_bytes([ob[108], ob[109]]));
        for j in 0..16 {
            let d = dd * (codes[j] as i32 - 32) as f32;
            let dv = V::splat(d);
            let sub = 16 * b + j;
            for c in (0..NE).step_by(V::N) {
                let xv = V::load(xb.as_ptr().add(16 * j + c));
                let l = if d != 0.0 {
                    (xv / dv).nearest().clamp_c(lo, hi) + off
                } else {
                    // A sub-block whose scale reads 0 keeps the search's levels.
                    match &search {
                        SearchLevels::Q3 => {
                            let mut l8 = [0i8; NE];
                            make_q3_quants(4, &xb[16 * j..16 * j + 16], &mut l8);
                            for (s, &l) in stored.iter_mut().zip(&l8) {
                                *s = l as f32;
                            }
                            V::load(stored.as_ptr().add(c))
                        }
                        SearchLevels::Qx { iscale, live } => {
                            let r = Qx::<V> { scale: V::zero(), iscale: V::splat(iscale[sub]), live: V::splat(live[sub]).gt(V::zero()) };
                            qx_levels(xv, &r, 4)
                        }
                    }
                };
                l.store_u8(lv.as_mut_ptr().add(16 * j + c));
                (dv * (l - off)).store(yb.as_mut_ptr().add(16 * j + c));
            }
        }
        // The third bit into hmask (value 32·k + m at bit k of byte m), the low two bits packed.
        let hmask = &mut ob[..32];
        hmask.fill(0);
        for k in 0..8 {
            for m in 0..32 {
                hmask[m] |= (lv[32 * k + m] >> 2) << k;
            }
        }
        for l in lv.iter_mut() {
            *l &= 3;
        }
        pack_2bit(&lv, &mut ob[32..96]);
    }
    Ok(())
}
