//! NEON lanes: eight f32 as two `float32x4_t`.

use super::{F32s, Mask, MAGIC};
use std::arch::aarch64::*;
use std::ops::{Add, Div, Mul, Neg, Sub};

/// Eight lanes in two `float32x4_t`.
#[derive(Clone, Copy)]
pub struct NeonF32x8(pub float32x4_t, pub float32x4_t);

#[derive(Clone, Copy)]
pub struct NeonMask(pub uint32x4_t, pub uint32x4_t);

impl Mask for NeonMask {
    const LEN: u32 = 8;
    #[inline(always)]
    fn and(self, o: Self) -> Self {
        unsafe { NeonMask(vandq_u32(self.0, o.0), vandq_u32(self.1, o.1)) }
    }
    #[inline(always)]
    fn or(self, o: Self) -> Self {
        unsafe { NeonMask(vorrq_u32(self.0, o.0), vorrq_u32(self.1, o.1)) }
    }
    #[inline(always)]
    fn andnot(self, o: Self) -> Self {
        unsafe { NeonMask(vbicq_u32(self.0, o.0), vbicq_u32(self.1, o.1)) }
    }
    #[inline(always)]
    fn not(self) -> Self {
        unsafe { NeonMask(vmvnq_u32(self.0), vmvnq_u32(self.1)) }
    }
    #[inline(always)]
    fn any(self) -> bool {
        unsafe { vmaxvq_u32(vorrq_u32(self.0, self.1)) != 0 }
    }
    #[inline(always)]
    fn bits(self) -> u64 {
        unsafe {
            let w = vld1q_u32([1u32, 2, 4, 8].as_ptr());
            let lo = vaddvq_u32(vandq_u32(self.0, w)) as u64;
            let hi = vaddvq_u32(vandq_u32(self.1, w)) as u64;
            lo | (hi << 4)
        }
    }
}

macro_rules! neon_binop {
    ($tr:ident, $f:ident, $i:ident) => {
        impl $tr for NeonF32x8 {
            type Output = Self;
            #[inline(always)]
            fn $f(self, o: Self) -> Self {
                unsafe { NeonF32x8($i(self.0, o.0), $i(self.1, o.1)) }
            }
        }
    };
}
neon_binop!(Add, add, vaddq_f32);
neon_binop!(Sub, sub, vsubq_f32);
neon_binop!(Mul, mul, vmulq_f32);
neon_binop!(Div, div, vdivq_f32);

impl Neg for NeonF32x8 {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        unsafe { NeonF32x8(vnegq_f32(self.0), vnegq_f32(self.1)) }
    }
}

impl F32s for NeonF32x8 {
    const N: usize = 8;
    type M = NeonMask;
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        NeonF32x8(vdupq_n_f32(v), vdupq_n_f32(v))
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        NeonF32x8(vld1q_f32(p), vld1q_f32(p.add(4)))
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        vst1q_f32(p, self.0);
        vst1q_f32(p.add(4), self.1);
    }
    #[inline(always)]
    unsafe fn gather(base: *const f32, idx: *const i32) -> Self {
        let a: [f32; 8] = std::array::from_fn(|k| *base.offset(*idx.add(k) as isize));
        Self::load(a.as_ptr())
    }
    #[inline(always)]
    unsafe fn store_u8(self, p: *mut u8) {
        let w = vcombine_u16(vmovn_u32(vcvtq_u32_f32(self.0)), vmovn_u32(vcvtq_u32_f32(self.1)));
        vst1_u8(p, vmovn_u16(w));
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        unsafe { NeonF32x8(vsqrtq_f32(self.0), vsqrtq_f32(self.1)) }
    }
    #[inline(always)]
    fn abs(self) -> Self {
        unsafe { NeonF32x8(vabsq_f32(self.0), vabsq_f32(self.1)) }
    }
    // FMIN/FMAX propagate NaN and order signed zeros: select on the comparison instead.
    #[inline(always)]
    fn min_c(self, o: Self) -> Self {
        unsafe { NeonF32x8(vbslq_f32(vcltq_f32(self.0, o.0), self.0, o.0), vbslq_f32(vcltq_f32(self.1, o.1), self.1, o.1)) }
    }
    #[inline(always)]
    fn max_c(self, o: Self) -> Self {
        unsafe { NeonF32x8(vbslq_f32(vcgtq_f32(self.0, o.0), self.0, o.0), vbslq_f32(vcgtq_f32(self.1, o.1), self.1, o.1)) }
    }
    #[inline(always)]
    fn lt(self, o: Self) -> NeonMask {
        unsafe { NeonMask(vcltq_f32(self.0, o.0), vcltq_f32(self.1, o.1)) }
    }
    #[inline(always)]
    fn gt(self, o: Self) -> NeonMask {
        unsafe { NeonMask(vcgtq_f32(self.0, o.0), vcgtq_f32(self.1, o.1)) }
    }
    #[inline(always)]
    fn le(self, o: Self) -> NeonMask {
        unsafe { NeonMask(vcleq_f32(self.0, o.0), vcleq_f32(self.1, o.1)) }
    }
    #[inline(always)]
    fn eq(self, o: Self) -> NeonMask {
        unsafe { NeonMask(vceqq_f32(self.0, o.0), vceqq_f32(self.1, o.1)) }
    }
    #[inline(always)]
    fn ne(self, o: Self) -> NeonMask {
        unsafe { NeonMask(vmvnq_u32(vceqq_f32(self.0, o.0)), vmvnq_u32(vceqq_f32(self.1, o.1))) }
    }
    #[inline(always)]
    fn select(m: NeonMask, a: Self, b: Self) -> Self {
        unsafe { NeonF32x8(vbslq_f32(m.0, a.0, b.0), vbslq_f32(m.1, a.1, b.1)) }
    }
    #[inline(always)]
    fn round_fast(self) -> Self {
        unsafe {
            let m = vdupq_n_f32(MAGIC);
            NeonF32x8(vsubq_f32(vaddq_f32(self.0, m), m), vsubq_f32(vaddq_f32(self.1, m), m))
        }
    }
    #[inline(always)]
    fn trunc(self) -> Self {
        unsafe { NeonF32x8(vrndq_f32(self.0), vrndq_f32(self.1)) }
    }
    #[inline(always)]
    fn nearest(self) -> Self {
        unsafe {
            let m = vdupq_n_f32(MAGIC);
            let f = |v: float32x4_t| {
                let t = vreinterpretq_u32_f32(vaddq_f32(v, m));
                let b = vorrq_u32(vandq_u32(t, vdupq_n_u32(0x007f_ffff)), vdupq_n_u32(0x4b00_0000));
                vsubq_f32(vreinterpretq_f32_u32(b), m)
            };
            NeonF32x8(f(self.0), f(self.1))
        }
    }
    #[inline(always)]
    unsafe fn hsum(self) -> f32 {
        vaddvq_f32(vaddq_f32(self.0, self.1))
    }
    #[inline(always)]
    unsafe fn hmax(self) -> f32 {
        vmaxvq_f32(vmaxq_f32(self.0, self.1))
    }
}
