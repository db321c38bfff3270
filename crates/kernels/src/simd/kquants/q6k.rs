//! Q6_K rows (`formats::q6_k`): sixteen sub-blocks of 16 per super-block, `make_qx_quants(32)`
//! weighted by `x²` (reference) or by the importance itself.

use super::search::{qx_levels, qx_search, Qx};
use super::{check_finite, lane_offsets, no_lanes, store_lanes, transpose, transpose_checked, Lanes4, QK};
use crate::formats::ggml_search::{fp16_bits, fp16_value, nearest_int, GROUP_MAX_EPS};
use crate::formats::q6_k;
use crate::simd::lanes::{F32s, Mask};

const NE: usize = 16;

#[inline(always)]
pub(crate) unsafe fn row<V: F32s>(x: &[f32], imp: Option<&[f32]>, out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
    type P<V> = Lanes4<V>;
    let nsb = x.len() / QK;
    let nsub = x.len() / NE;

    // Search: one sub-block per lane.
    let (mut scale, mut iscale, mut live) = (vec![0f32; nsub], vec![0f32; nsub], vec![0f32; nsub]);
    let mut idx = [0i32; 64];
    let mut bad = no_lanes::<P<V>>();
    for g in (0..nsub).step_by(P::<V>::N) {
        let n = lane_offsets::<P<V>>(g, nsub, NE, &mut idx);
        let xt: [P<V>; NE] = transpose_checked(x, &idx, &mut bad);
        let mut wt = xt;
        match imp {
            Some(qw) => wt = transpose(qw, &idx),
            None => {
                for w in wt.iter_mut() {
                    *w = *w * *w;
                }
            }
        }
        let mut wx = wt;
        for (a, v) in wx.iter_mut().zip(&xt) {
            *a = *a * *v;
        }
        let r = qx_search::<P<V>, NE, false>(32, &xt, &wt, &wx);
        store_lanes(r.scale, &mut scale[g..], n);
        store_lanes(r.iscale, &mut iscale[g..], n);
        let one = P::<V>::splat(1.0);
        store_lanes(P::<V>::select(r.live, one, P::<V>::zero()), &mut live[g..], n);
    }

    check_finite(bad.any(), x)?;

    // Super-block scale, the sub-block scales to 8 bits, levels, bytes, decoded values.
    let mut lv = [0u8; QK];
    let bytes = q6_k::BLOCK_BYTES;
    let (lo, hi, off) = (V::splat(-32.0), V::splat(31.0), V::splat(32.0));
    for b in 0..nsb {
        let xb = &x[b * QK..(b + 1) * QK];
        let ob = &mut out[b * bytes..(b + 1) * bytes];
        let yb = &mut y[b * QK..(b + 1) * QK];
        let scales = &scale[16 * b..16 * b + 16];
        let (mut max_scale, mut max_abs_scale) = (0.0f32, 0.0f32);
        for &s in scales {
            if s.abs() > max_abs_scale {
                max_abs_scale = s.abs();
                max_scale = s;
            }
        }
        if max_abs_scale < GROUP_MAX_EPS {
            // An all-zero block (rare): what it decodes to (−0: 0·(0 − 32)), by the dequantizer.
            ob.fill(0);
            q6_k::dequantize_block(ob, yb);
            continue;
        }
        let is = -128.0f32 / max_scale;
        let d_bits = fp16_bits(1.0 / is);
        ob[208..210].copy_from_slice(&d_bits.to_le_bytes());
        let mut sc = [0i8; 16];
        for (j, s) in sc.iter_mut().enumerate() {
            *s = nearest_int(is * scales[j]).min(127) as i8;
            ob[192 + j] = *s as u8;
        }
        let dd = fp16_value(d_bits);
        for j in 0..16 {
            let d = dd * sc[j] as f32;
            let dv = V::splat(d);
            let sub = 16 * b + j;
            let r = Qx::<V> { scale: V::zero(), iscale: V::splat(iscale[sub]), live: V::splat(live[sub]).gt(V::zero()) };
            for c in (0..NE).step_by(V::N) {
                let xv = V::load(xb.as_ptr().add(16 * j + c));
                // A sub-block whose scale reads 0 keeps the search's levels.
                let l = if d == 0.0 { qx_levels(xv, &r, 32) } else { (xv / dv).nearest().clamp_c(lo, hi) + off };
                l.store_u8(lv.as_mut_ptr().add(16 * j + c));
                (dv * (l - off)).store(yb.as_mut_ptr().add(16 * j + c));
            }
        }
        for h in 0..2 {
            let j = 128 * h;
            for l in 0..32 {
                let (l1, l2, l3, l4) = (lv[j + l], lv[j + l + 32], lv[j + l + 64], lv[j + l + 96]);
                ob[64 * h + l] = (l1 & 0xF) | ((l3 & 0xF) << 4);
                ob[64 * h + l + 32] = (l2 & 0xF) | ((l4 & 0xF) << 4);
                ob[128 + 32 * h + l] = (l1 >> 4) | ((l2 >> 4) << 2) | ((l3 >> 4) << 4) | ((l4 >> 4) << 6);
            }
        }
    }
    Ok(())
}
