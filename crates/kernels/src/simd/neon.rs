//! NEON kernels (aarch64; NEON is part of the base architecture). Same contract as the AVX2
//! kernels: codes bit-identical to the scalar references, quality sums equal to rounding.

use std::arch::aarch64::*;

use crate::pack::{pack, packed_len};
use crate::quality::{BlockSums, QualityAcc};
use crate::{q4_0, q8_0, rtn};
use half::f16;

/// Quality sums in f32 lanes plus a scalar part for tails, folded into
/// the f64 accumulator every `FLUSH_EVERY` elements and at the end of a row (as on AVX2).
struct LaneQuality {
    xx: float32x4_t,
    yy: float32x4_t,
    xy: float32x4_t,
    ee: float32x4_t,
    emax: float32x4_t,
    tail: BlockSums,
    n: usize,
}

const FLUSH_EVERY: usize = 256;

impl LaneQuality {
    #[inline(always)]
    unsafe fn new() -> Self {
        let z = vdupq_n_f32(0.0);
        LaneQuality { xx: z, yy: z, xy: z, ee: z, emax: z, tail: BlockSums::default(), n: 0 }
    }

    #[inline(always)]
    unsafe fn counted(&mut self, n: usize, acc: &mut QualityAcc) {
        self.n += n;
        if self.n >= FLUSH_EVERY {
            self.flush(acc);
        }
    }

    #[inline(always)]
    unsafe fn add(&mut self, x: float32x4_t, y: float32x4_t) {
        let e = vsubq_f32(x, y);
        self.xx = vaddq_f32(self.xx, vmulq_f32(x, x));
        self.yy = vaddq_f32(self.yy, vmulq_f32(y, y));
        self.xy = vaddq_f32(self.xy, vmulq_f32(x, y));
        self.ee = vaddq_f32(self.ee, vmulq_f32(e, e));
        self.emax = vmaxq_f32(self.emax, vabsq_f32(e));
    }

    #[inline(always)]
    unsafe fn flush(&mut self, acc: &mut QualityAcc) {
        if self.n == 0 {
            return;
        }
        let t = self.tail;
        acc.add_partial(
            self.n,
            vaddvq_f32(self.xx) + t.xx,
            vaddvq_f32(self.yy) + t.yy,
            vaddvq_f32(self.xy) + t.xy,
            vaddvq_f32(self.ee) + t.ee,
            vmaxvq_f32(self.emax).max(t.emax),
        );
        *self = Self::new();
    }
}

/// All-ones lanes where `v` is finite (v·0 equals itself only then).
#[inline(always)]
unsafe fn finite_mask(v: float32x4_t) -> uint32x4_t {
    let t = vmulq_f32(v, vdupq_n_f32(0.0));
    vceqq_f32(t, t)
}

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

/// RTN over one row in groups of `group` (any length; the last may be shorter).
#[target_feature(enable = "neon")]
pub unsafe fn rtn_row<const BITS: u32>(
    x: &[f32],
    group: usize,
    symmetric: bool,
    codes: &mut [u8],
    scales: &mut [f32],
    zeros: &mut [u8],
    acc: &mut QualityAcc,
) -> Result<(), usize> {
    let mut lq = LaneQuality::new();
    let mut off = 0;
    for (g, grp) in x.chunks(group).enumerate() {
        let nb = packed_len(grp.len(), BITS);
        let (scale, zero) =
            rtn_group::<BITS>(grp, symmetric, &mut codes[off..off + nb], &mut lq).map_err(|bad| g * group + bad)?;
        lq.counted(grp.len(), acc);
        scales[g] = scale;
        if !symmetric {
            zeros[g] = zero;
        }
        off += nb;
    }
    lq.flush(acc);
    Ok(())
}

#[inline(always)]
unsafe fn rtn_group<const BITS: u32>(
    x: &[f32],
    symmetric: bool,
    codes: &mut [u8],
    lq: &mut LaneQuality,
) -> Result<(f32, u8), usize> {
    let n = x.len();
    let n4 = n & !3;
    let p = x.as_ptr();
    let (mut vmin, mut vmax) = (vdupq_n_f32(f32::INFINITY), vdupq_n_f32(f32::NEG_INFINITY));
    let mut ok = vdupq_n_u32(u32::MAX);
    let mut i = 0;
    while i < n4 {
        let v = vld1q_f32(p.add(i));
        vmin = vminq_f32(vmin, v);
        vmax = vmaxq_f32(vmax, v);
        ok = vandq_u32(ok, finite_mask(v));
        i += 4;
    }
    if vminvq_u32(ok) == 0 || x[n4..].iter().any(|v| !v.is_finite()) {
        return Err(rtn::first_non_finite(x).unwrap_or(0));
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
    let out = codes.as_mut_ptr();
    let mut i = 0;
    while i < n32 {
        let mut c = [vdupq_n_f32(0.0); 8];
        for (k, ck) in c.iter_mut().enumerate() {
            let v = vld1q_f32(p.add(i + 4 * k));
            let r = vrndnq_f32(vmulq_f32(v, inv));
            let q = vminq_f32(vmaxq_f32(vaddq_f32(r, zero), lo), hi);
            lq.add(v, vmulq_f32(vsubq_f32(q, zero), scale));
            *ck = q;
        }
        let c0 = narrow16([c[0], c[1], c[2], c[3]]);
        let c1 = narrow16([c[4], c[5], c[6], c[7]]);
        store_packed::<BITS>(c0, c1, out.add(i * BITS as usize / 8));
        i += 32;
    }
    if n32 < n {
        let mut q = [0u8; 32];
        for (qi, &v) in q.iter_mut().zip(&x[n32..]) {
            let c = rtn::quantize_one(&gp, v);
            lq.tail.add(v, rtn::dequantize_one(gp.scale, gp.zero, c));
            *qi = c as u8;
        }
        let start = n32 * BITS as usize / 8;
        pack(BITS, &q[..n - n32], &mut codes[start..start + packed_len(n - n32, BITS)]);
    }
    Ok((gp.scale, gp.zero as u8))
}

#[inline(always)]
unsafe fn load_block(p: *const f32) -> [float32x4_t; 8] {
    let mut v = [vdupq_n_f32(0.0); 8];
    for (k, vk) in v.iter_mut().enumerate() {
        *vk = vld1q_f32(p.add(4 * k));
    }
    v
}

#[inline(always)]
unsafe fn block_is_finite(v: &[float32x4_t; 8]) -> bool {
    let mut ok = vdupq_n_u32(u32::MAX);
    for vk in v {
        ok = vandq_u32(ok, finite_mask(*vk));
    }
    vminvq_u32(ok) != 0
}

#[target_feature(enable = "neon")]
pub unsafe fn q8_0_row(x: &[f32], out: &mut [u8], acc: &mut QualityAcc) -> Result<(), usize> {
    let mut lq = LaneQuality::new();
    for (b, (blk, o)) in x.chunks_exact(q8_0::BLOCK).zip(out.chunks_exact_mut(q8_0::BLOCK_BYTES)).enumerate() {
        let v = load_block(blk.as_ptr());
        if !block_is_finite(&v) {
            return Err(b * q8_0::BLOCK + rtn::first_non_finite(blk).unwrap_or(0));
        }
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
            lq.add(*vk, vmulq_f32(dsv, r));
            let qi = vcvtq_s32_f32(r);
            let n16 = vmovn_s32(qi);
            let n8 = vmovn_s16(vcombine_s16(n16, n16));
            vst1_lane_s32::<0>(q.as_mut_ptr().add(4 * k) as *mut i32, vreinterpret_s32_s8(n8));
        }
        for (dst, &s) in o[2..].iter_mut().zip(&q) {
            *dst = s as u8;
        }
        lq.counted(q8_0::BLOCK, acc);
    }
    lq.flush(acc);
    Ok(())
}

#[target_feature(enable = "neon")]
pub unsafe fn q4_0_row(x: &[f32], out: &mut [u8], acc: &mut QualityAcc) -> Result<(), usize> {
    let mut lq = LaneQuality::new();
    for (b, (blk, o)) in x.chunks_exact(q4_0::BLOCK).zip(out.chunks_exact_mut(q4_0::BLOCK_BYTES)).enumerate() {
        let v = load_block(blk.as_ptr());
        if !block_is_finite(&v) {
            return Err(b * q4_0::BLOCK + rtn::first_non_finite(blk).unwrap_or(0));
        }
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
            lq.add(*vk, vmulq_f32(dsv, vsubq_f32(qf, eight)));
            c[k] = qf;
        }
        let lo = narrow16([c[0], c[1], c[2], c[3]]);
        let hi = narrow16([c[4], c[5], c[6], c[7]]);
        vst1q_u8(o.as_mut_ptr().add(2), vorrq_u8(lo, vshlq_n_u8::<4>(hi)));
        lq.counted(q4_0::BLOCK, acc);
    }
    lq.flush(acc);
    Ok(())
}
