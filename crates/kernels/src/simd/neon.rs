//! NEON kernels (aarch64; NEON is part of the base architecture). Same contract as the AVX2
//! kernels: codes, scales and the decoded row bit-identical to the scalar references'.

use std::arch::aarch64::*;

use crate::pack::{pack, packed_len};
use crate::{q4_0, q8_0, rtn};
use half::f16;

/// Four f32x4 of integral values 0..=255 → 16 bytes in order.
#[inline(always)]
unsafe fn narrow16(c: [float32x4_t; 4]) -> uint8x16_t {
    let a = vcombine_u16(vmovn_u32(vcvtq_u32_f32(c[0])), vmovn_u32(vcvtq_u32_f32(c[1])));
    let b = vcombine_u16(vmovn_u32(vcvtq_u32_f32(c[2])), vmovn_u32(vcvtq_u32_f32(c[3])));
    vcombine_u8(vmovn_u16(a), vmovn_u16(b))
}

/// 32 byte-codes packed LSB-first into `out`.
#[inline(always)]
unsafe fn store_packed<const BITS: u32>(c0: uint8x16_t, c1: uint8x16_t, out: *mut u8) {
    match BITS {
        8 => {
            vst1q_u8(out, c0);
            vst1q_u8(out.add(16), c1);
        }
        4 => vst1q_u8(out, vorrq_u8(vuzp1q_u8(c0, c1), vshlq_n_u8::<4>(vuzp2q_u8(c0, c1)))),
        2 => {
            let pairs = vorrq_u8(vuzp1q_u8(c0, c1), vshlq_n_u8::<2>(vuzp2q_u8(c0, c1)));
            let quads = vorrq_u8(vuzp1q_u8(pairs, pairs), vshlq_n_u8::<4>(vuzp2q_u8(pairs, pairs)));
            vst1_u8(out, vget_low_u8(quads));
        }
        _ => unreachable!(),
    }
}

/// RTN over one row in groups of `group` (any length; the last may be shorter). NaN and
/// infinities are not checked for, as on AVX2 (`quantize()` reports them from the row's Σx²).
#[target_feature(enable = "neon")]
pub unsafe fn rtn_row<const BITS: u32>(
    x: &[f32],
    group: usize,
    symmetric: bool,
    codes: &mut [u8],
    scales: &mut [f32],
    zeros: &mut [u8],
    y: &mut [f32],
) -> Result<(), usize> {
    // The groups' stores into `y` go through raw pointers.
    assert_eq!(y.len(), x.len(), "decoded row of the row's length");
    let mut off = 0;
    for (g, (grp, yg)) in x.chunks(group).zip(y.chunks_mut(group)).enumerate() {
        let nb = packed_len(grp.len(), BITS);
        let (scale, zero) = rtn_group::<BITS>(grp, symmetric, &mut codes[off..off + nb], yg);
        scales[g] = scale;
        if !symmetric {
            zeros[g] = zero;
        }
        off += nb;
    }
    Ok(())
}

/// One group: codes, the decoded values `(q − zero)·scale` into `y`, (scale, zero).
#[inline(always)]
unsafe fn rtn_group<const BITS: u32>(x: &[f32], symmetric: bool, codes: &mut [u8], y: &mut [f32]) -> (f32, u8) {
    let n = x.len();
    let n4 = n & !3;
    let p = x.as_ptr();
    let (mut vmin, mut vmax) = (vdupq_n_f32(f32::INFINITY), vdupq_n_f32(f32::NEG_INFINITY));
    let mut i = 0;
    while i < n4 {
        let v = vld1q_f32(p.add(i));
        vmin = vminq_f32(vmin, v);
        vmax = vmaxq_f32(vmax, v);
        i += 4;
    }
    let (mut min, mut max) = (vminvq_f32(vmin), vmaxvq_f32(vmax));
    for &v in &x[n4..] {
        min = min.min(v);
        max = max.max(v);
    }
    let gp = rtn::group_params(BITS, symmetric, min, max);
    let (inv, zero, lo, hi, scale) =
        (vdupq_n_f32(gp.inv), vdupq_n_f32(gp.zero), vdupq_n_f32(gp.lo_code), vdupq_n_f32(gp.hi_code), vdupq_n_f32(gp.scale));
    let n32 = n & !31;
    let (out, yp) = (codes.as_mut_ptr(), y.as_mut_ptr());
    let mut i = 0;
    while i < n32 {
        let mut c = [vdupq_n_f32(0.0); 8];
        for (k, ck) in c.iter_mut().enumerate() {
            let v = vld1q_f32(p.add(i + 4 * k));
            let r = vrndnq_f32(vmulq_f32(v, inv));
            let q = vminq_f32(vmaxq_f32(vaddq_f32(r, zero), lo), hi);
            vst1q_f32(yp.add(i + 4 * k), vmulq_f32(vsubq_f32(q, zero), scale));
            *ck = q;
        }
        let c0 = narrow16([c[0], c[1], c[2], c[3]]);
        let c1 = narrow16([c[4], c[5], c[6], c[7]]);
        store_packed::<BITS>(c0, c1, out.add(i * BITS as usize / 8));
        i += 32;
    }
    if n32 < n {
        let mut q = [0u8; 32];
        for ((qi, o), &v) in q.iter_mut().zip(&mut y[n32..]).zip(&x[n32..]) {
            let c = rtn::quantize_one(&gp, v);
            *o = rtn::dequantize_one(gp.scale, gp.zero, c);
            *qi = c as u8;
        }
        let start = n32 * BITS as usize / 8;
        pack(BITS, &q[..n - n32], &mut codes[start..start + packed_len(n - n32, BITS)]);
    }
    (gp.scale, gp.zero as u8)
}

#[inline(always)]
unsafe fn load_block(p: *const f32) -> [float32x4_t; 8] {
    let mut v = [vdupq_n_f32(0.0); 8];
    for (k, vk) in v.iter_mut().enumerate() {
        *vk = vld1q_f32(p.add(4 * k));
    }
    v
}

/// Q8_0, one row (length a multiple of 32); the decoded values into `y`. NaN and infinities are
/// not checked for (nothing here depends on finiteness): their codes mean nothing, and
/// `quantize()` reports them from the row's Σx².
#[target_feature(enable = "neon")]
pub unsafe fn q8_0_row(x: &[f32], out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
    for ((blk, o), yb) in x.chunks_exact(q8_0::BLOCK).zip(out.chunks_exact_mut(q8_0::BLOCK_BYTES)).zip(y.chunks_exact_mut(q8_0::BLOCK)) {
        let v = load_block(blk.as_ptr());
        let mut a = vdupq_n_f32(0.0);
        for vk in &v {
            a = vmaxq_f32(a, vabsq_f32(*vk));
        }
        let (d, id) = q8_0::block_scale(vmaxvq_f32(a));
        let dh = f16::from_f32(d);
        o[..2].copy_from_slice(&dh.to_le_bytes());
        let (idv, dsv) = (vdupq_n_f32(id), vdupq_n_f32(dh.to_f32()));
        let mut q = [0i8; 32];
        for (k, vk) in v.iter().enumerate() {
            let r = vrndaq_f32(vmulq_f32(*vk, idv)); // round half away from zero = C roundf
            let qi = vcvtq_s32_f32(r);
            // From the integer code, as the reader converts it (`r` is −0 where a negative value
            // rounds to 0, the reader's code 0 is +0).
            vst1q_f32(yb.as_mut_ptr().add(4 * k), vmulq_f32(dsv, vcvtq_f32_s32(qi)));
            let n16 = vmovn_s32(qi);
            let n8 = vmovn_s16(vcombine_s16(n16, n16));
            vst1_lane_s32::<0>(q.as_mut_ptr().add(4 * k) as *mut i32, vreinterpret_s32_s8(n8));
        }
        for (dst, &s) in o[2..].iter_mut().zip(&q) {
            *dst = s as u8;
        }
    }
    Ok(())
}

/// Q4_0, one row (length a multiple of 32); the decoded values into `y`. NaN and infinities as
/// in [`q8_0_row`].
#[target_feature(enable = "neon")]
pub unsafe fn q4_0_row(x: &[f32], out: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
    for ((blk, o), yb) in x.chunks_exact(q4_0::BLOCK).zip(out.chunks_exact_mut(q4_0::BLOCK_BYTES)).zip(y.chunks_exact_mut(q4_0::BLOCK)) {
        let v = load_block(blk.as_ptr());
        let mut a = vdupq_n_f32(0.0);
        for vk in &v {
            a = vmaxq_f32(a, vabsq_f32(*vk));
        }
        let amax = vmaxvq_f32(a);
        let max = if amax == 0.0 { 0.0 } else { blk[blk.iter().position(|e| e.abs() == amax).unwrap_or(0)] };
        let (d, id) = q4_0::block_scale(max);
        let dh = f16::from_f32(d);
        o[..2].copy_from_slice(&dh.to_le_bytes());
        let (idv, dsv, bias, fifteen, eight) =
            (vdupq_n_f32(id), vdupq_n_f32(dh.to_f32()), vdupq_n_f32(8.5), vdupq_n_u32(15), vdupq_n_f32(8.0));
        let mut c = [vdupq_n_f32(0.0); 8];
        for (k, vk) in v.iter().enumerate() {
            // trunc(x·id + 8.5), then min 15, as llama.cpp's (int8_t) cast and MIN.
            // Out of range or NaN (an overflowing id): code 0, as x86's INT_MIN low byte.
            let t = vaddq_f32(vmulq_f32(*vk, idv), bias);
            let qi = vandq_u32(vminq_u32(vcvtq_u32_f32(t), fifteen), vcaltq_f32(t, vdupq_n_f32(2147483648.0)));
            let qf = vcvtq_f32_u32(qi);
            vst1q_f32(yb.as_mut_ptr().add(4 * k), vmulq_f32(dsv, vsubq_f32(qf, eight)));
            c[k] = qf;
        }
        let lo = narrow16([c[0], c[1], c[2], c[3]]);
        let hi = narrow16([c[4], c[5], c[6], c[7]]);
        vst1q_u8(o.as_mut_ptr().add(2), vorrq_u8(lo, vshlq_n_u8::<4>(hi)));
    }
    Ok(())
}
