//! Q2_K rows (`formats::q2_k`): sixteen sub-blocks of 16 per super-block, `make_qkx2_quants`
//! scored by Σw|diff| (reference) or `make_qkx3_quants` + `make_qp_quants(15)` (importance).

use super::q45k::{qkx_phase, qp_phase, Weights, IMP};
use super::search::qkx_levels;
use super::{block_sigma2, check_finite, pack_2bit, reference_block, Lanes2, QK};
use crate::formats::ggml_search::{fp16_bits, fp16_value, nearest_int, MinSearch};
use crate::formats::q2_k;
use crate::simd::lanes::F32s;

const NE: usize = 16;
const REF: MinSearch = MinSearch { rmin: -0.5, rdelta: 0.1, nstep: 15, use_mad: true };

#[inline(always)]
pub(crate) unsafe fn row<V: F32s>(x: &[f32], imp: Option<&[f32]>, out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
    let nsb = x.len() / QK;
    let bytes = q2_k::BLOCK_BYTES;
    let s = match imp {
        None => qkx_phase::<Lanes2<V>, NE, true>(x, 3, REF, Weights::Abs),
        Some(qw) => {
            let sigma2 = block_sigma2::<Lanes2<V>>(x, nsb, 1.0);
            qkx_phase::<Lanes2<V>, NE, false>(x, 3, IMP, Weights::Importance { qw, sigma2: &sigma2 })
        }
    };
    check_finite(s.non_finite, x)?;
    // With importance, the 4-bit scales and mins of every super-block by make_qp_quants(15).
    let (mut dm, mut mm) = (vec![0f32; 0], vec![0f32; 0]);
    let (mut ls, mut lm) = (vec![0u8; 0], vec![0u8; 0]);
    if imp.is_some() {
        (dm, mm, ls, lm) = (vec![0f32; nsb], vec![0f32; nsb], vec![0u8; nsb * 16], vec![0u8; nsb * 16]);
        qp_phase::<Lanes2<V>, 16>(15, &s.scale, &s.sw, &mut dm, &mut ls);
        qp_phase::<Lanes2<V>, 16>(15, &s.the_min, &s.sw, &mut mm, &mut lm);
    }

    let zero = V::zero();
    let nm = V::splat(3.0);
    let mut lv = [0u8; QK];
    for b in 0..nsb {
        let xb = &x[b * QK..(b + 1) * QK];
        let ob = &mut out[b * bytes..(b + 1) * bytes];
        let yb = &mut y[b * QK..(b + 1) * QK];
        if s.fallback[b] {
            match imp {
                None => reference_block(xb, ob, yb, q2_k::quantize_block_ref, q2_k::dequantize_block),
                Some(qw) => reference_block(xb, ob, yb, |x, o| q2_k::quantize_block_imp(x, &qw[b * QK..(b + 1) * QK], o), q2_k::dequantize_block),
            }
            continue;
        }
        let (scales, mins) = (&s.scale[16 * b..16 * b + 16], &s.the_min[16 * b..16 * b + 16]);
        if imp.is_some() {
            ob[80..82].copy_from_slice(&fp16_bits(dm[b]).to_le_bytes());
            ob[82..84].copy_from_slice(&fp16_bits(mm[b]).to_le_bytes());
            for j in 0..16 {
                ob[j] = ls[16 * b + j] | (lm[16 * b + j] << 4);
            }
        } else {
            let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
            for j in 0..16 {
                if scales[j] > max_scale {
                    max_scale = scales[j];
                }
                if mins[j] > max_min {
                    max_min = mins[j];
                }
            }
            const Q4SCALE: f32 = 15.0;
            if max_scale > 0.0 {
                let iscale = Q4SCALE / max_scale;
                for j in 0..16 {
                    ob[j] = nearest_int(iscale * scales[j]) as u8;
                }
                ob[80..82].copy_from_slice(&fp16_bits(max_scale / Q4SCALE).to_le_bytes());
            } else {
                ob[..16].fill(0);
                ob[80..82].copy_from_slice(&fp16_bits(0.0).to_le_bytes());
            }
            if max_min > 0.0 {
                let iscale = Q4SCALE / max_min;
                for j in 0..16 {
                    ob[j] |= (nearest_int(iscale * mins[j]) << 4) as u8;
                }
                ob[82..84].copy_from_slice(&fp16_bits(max_min / Q4SCALE).to_le_bytes());
            } else {
                ob[82..84].copy_from_slice(&fp16_bits(0.0).to_le_bytes());
            }
        }
        let dd = fp16_value(u16::from_le_bytes([ob[80], ob[81]]));
        let dmin = fp16_value(u16::from_le_bytes([ob[82], ob[83]]));
        for j in 0..16 {
            let d = dd * (ob[j] & 0xF) as f32;
            let m = dmin * (ob[j] >> 4) as f32;
            let (dv, mv) = (V::splat(d), V::splat(m));
            let sub = 16 * b + j;
            let (isc, minu) = (V::splat(s.iscale[sub]), V::splat(s.min_used[sub]));
            for c in (0..NE).step_by(V::N) {
                let xv = V::load(xb.as_ptr().add(16 * j + c));
                // A sub-block whose scale reads 0 keeps the search's levels.
                let l = if d == 0.0 { qkx_levels(xv, isc, minu, zero, nm) } else { ((xv + mv) / dv).nearest().clamp_c(zero, nm) };
                l.store_u8(lv.as_mut_ptr().add(16 * j + c));
                (dv * l - mv).store(yb.as_mut_ptr().add(16 * j + c));
            }
        }
        pack_2bit(&lv, &mut ob[16..80]);
    }
    Ok(())
}
