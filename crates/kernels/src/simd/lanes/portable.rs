//! Portable lanes: plain f32 arithmetic on an array (what the scalar references do, lane by
//! lane), the algorithms' reference instantiation in tests on any machine.

use super::{F32s, Mask, MAGIC};
use std::ops::{Add, Div, Mul, Neg, Sub};

/// Eight f32 lanes in an array; the algorithms' reference instantiation for tests.
#[derive(Clone, Copy)]
pub struct Portable(pub [f32; 8]);

#[derive(Clone, Copy)]
pub struct PortableMask(pub u8);

impl Mask for PortableMask {
    const LEN: u32 = 8;
    #[inline(always)]
    fn and(self, o: Self) -> Self {
        PortableMask(self.0 & o.0)
    }
    #[inline(always)]
    fn or(self, o: Self) -> Self {
        PortableMask(self.0 | o.0)
    }
    #[inline(always)]
    fn andnot(self, o: Self) -> Self {
        PortableMask(self.0 & !o.0)
    }
    #[inline(always)]
    fn not(self) -> Self {
        PortableMask(!self.0)
    }
    #[inline(always)]
    fn any(self) -> bool {
        self.0 != 0
    }
    #[inline(always)]
    fn bits(self) -> u64 {
        self.0 as u64
    }
}

impl Portable {
    #[inline(always)]
    fn map(self, f: impl Fn(f32) -> f32) -> Self {
        Portable(self.0.map(f))
    }
    #[inline(always)]
    fn zip(self, o: Self, f: impl Fn(f32, f32) -> f32) -> Self {
        Portable(std::array::from_fn(|k| f(self.0[k], o.0[k])))
    }
    #[inline(always)]
    fn test(self, o: Self, f: impl Fn(f32, f32) -> bool) -> PortableMask {
        PortableMask((0..8).fold(0u8, |m, k| m | ((f(self.0[k], o.0[k]) as u8) << k)))
    }
}

macro_rules! portable_binop {
    ($tr:ident, $f:ident, $op:tt) => {
        impl $tr for Portable {
            type Output = Self;
            #[inline(always)]
            fn $f(self, o: Self) -> Self {
                self.zip(o, |a, b| a $op b)
            }
        }
    };
}
portable_binop!(Add, add, +);
portable_binop!(Sub, sub, -);
portable_binop!(Mul, mul, *);
portable_binop!(Div, div, /);

impl Neg for Portable {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        self.map(|v| -v)
    }
}

impl F32s for Portable {
    const N: usize = 8;
    type M = PortableMask;
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        Portable([v; 8])
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        Portable(std::array::from_fn(|k| *p.add(k)))
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        for k in 0..8 {
            *p.add(k) = self.0[k];
        }
    }
    #[inline(always)]
    unsafe fn gather(base: *const f32, idx: *const i32) -> Self {
        Portable(std::array::from_fn(|k| *base.offset(*idx.add(k) as isize)))
    }
    #[inline(always)]
    unsafe fn store_u8(self, p: *mut u8) {
        for k in 0..8 {
            *p.add(k) = self.0[k] as u8;
        }
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        self.map(f32::sqrt)
    }
    #[inline(always)]
    fn abs(self) -> Self {
        self.map(f32::abs)
    }
    #[inline(always)]
    fn min_c(self, o: Self) -> Self {
        self.zip(o, |a, b| if a < b { a } else { b })
    }
    #[inline(always)]
    fn max_c(self, o: Self) -> Self {
        self.zip(o, |a, b| if a > b { a } else { b })
    }
    #[inline(always)]
    fn lt(self, o: Self) -> PortableMask {
        self.test(o, |a, b| a < b)
    }
    #[inline(always)]
    fn gt(self, o: Self) -> PortableMask {
        self.test(o, |a, b| a > b)
    }
    #[inline(always)]
    fn le(self, o: Self) -> PortableMask {
        self.test(o, |a, b| a <= b)
    }
    #[inline(always)]
    fn eq(self, o: Self) -> PortableMask {
        self.test(o, |a, b| a == b)
    }
    #[inline(always)]
    fn ne(self, o: Self) -> PortableMask {
        self.test(o, |a, b| a != b)
    }
    #[inline(always)]
    fn select(m: PortableMask, a: Self, b: Self) -> Self {
        Portable(std::array::from_fn(|k| if m.0 >> k & 1 != 0 { a.0[k] } else { b.0[k] }))
    }
    #[inline(always)]
    fn round_fast(self) -> Self {
        self.map(|v| (v + MAGIC) - MAGIC)
    }
    #[inline(always)]
    fn trunc(self) -> Self {
        self.map(f32::trunc)
    }
    #[inline(always)]
    fn nearest(self) -> Self {
        self.map(|v| f32::from_bits(((v + MAGIC).to_bits() & 0x007f_ffff) | 0x4b00_0000) - MAGIC)
    }
}
