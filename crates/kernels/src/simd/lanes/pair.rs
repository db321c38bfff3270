//! [`Pair`]: two lane vectors run side by side as one of twice the lanes, so every operation
//! has two independent dependency chains (it hides the latency of the searches' serial sums).

use super::{F32s, Mask};
use std::ops::{Add, Div, Mul, Neg, Sub};

/// Two vectors as one of twice the lanes (lanes `0..V::N` in `.0`).
#[derive(Clone, Copy)]
pub struct Pair<V>(pub V, pub V);

#[derive(Clone, Copy)]
pub struct PairMask<M>(pub M, pub M);

impl<M: Mask> Mask for PairMask<M> {
    const LEN: u32 = 2 * M::LEN;
    #[inline(always)]
    fn and(self, o: Self) -> Self {
        PairMask(self.0.and(o.0), self.1.and(o.1))
    }
    #[inline(always)]
    fn or(self, o: Self) -> Self {
        PairMask(self.0.or(o.0), self.1.or(o.1))
    }
    #[inline(always)]
    fn andnot(self, o: Self) -> Self {
        PairMask(self.0.andnot(o.0), self.1.andnot(o.1))
    }
    #[inline(always)]
    fn not(self) -> Self {
        PairMask(self.0.not(), self.1.not())
    }
    #[inline(always)]
    fn any(self) -> bool {
        self.0.or(self.1).any()
    }
    #[inline(always)]
    fn bits(self) -> u64 {
        self.0.bits() | (self.1.bits() << M::LEN)
    }
}

macro_rules! pair_binop {
    ($tr:ident, $f:ident) => {
        impl<V: F32s> $tr for Pair<V> {
            type Output = Self;
            #[inline(always)]
            fn $f(self, o: Self) -> Self {
                Pair(self.0.$f(o.0), self.1.$f(o.1))
            }
        }
    };
}
pair_binop!(Add, add);
pair_binop!(Sub, sub);
pair_binop!(Mul, mul);
pair_binop!(Div, div);

impl<V: F32s> Neg for Pair<V> {
    type Output = Self;
    #[inline(always)]
    fn neg(self) -> Self {
        Pair(-self.0, -self.1)
    }
}

impl<V: F32s> F32s for Pair<V> {
    const N: usize = 2 * V::N;
    type M = PairMask<V::M>;
    #[inline(always)]
    unsafe fn splat(v: f32) -> Self {
        Pair(V::splat(v), V::splat(v))
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        Pair(V::load(p), V::load(p.add(V::N)))
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        self.0.store(p);
        self.1.store(p.add(V::N));
    }
    #[inline(always)]
    unsafe fn gather(base: *const f32, idx: *const i32) -> Self {
        Pair(V::gather(base, idx), V::gather(base, idx.add(V::N)))
    }
    #[inline(always)]
    unsafe fn store_u8(self, p: *mut u8) {
        self.0.store_u8(p);
        self.1.store_u8(p.add(V::N));
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        Pair(self.0.sqrt(), self.1.sqrt())
    }
    #[inline(always)]
    fn abs(self) -> Self {
        Pair(self.0.abs(), self.1.abs())
    }
    #[inline(always)]
    fn min_c(self, o: Self) -> Self {
        Pair(self.0.min_c(o.0), self.1.min_c(o.1))
    }
    #[inline(always)]
    fn max_c(self, o: Self) -> Self {
        Pair(self.0.max_c(o.0), self.1.max_c(o.1))
    }
    #[inline(always)]
    fn lt(self, o: Self) -> Self::M {
        PairMask(self.0.lt(o.0), self.1.lt(o.1))
    }
    #[inline(always)]
    fn gt(self, o: Self) -> Self::M {
        PairMask(self.0.gt(o.0), self.1.gt(o.1))
    }
    #[inline(always)]
    fn le(self, o: Self) -> Self::M {
        PairMask(self.0.le(o.0), self.1.le(o.1))
    }
    #[inline(always)]
    fn eq(self, o: Self) -> Self::M {
        PairMask(self.0.eq(o.0), self.1.eq(o.1))
    }
    #[inline(always)]
    fn ne(self, o: Self) -> Self::M {
        PairMask(self.0.ne(o.0), self.1.ne(o.1))
    }
    #[inline(always)]
    fn select(m: Self::M, a: Self, b: Self) -> Self {
        Pair(V::select(m.0, a.0, b.0), V::select(m.1, a.1, b.1))
    }
    #[inline(always)]
    fn round_fast(self) -> Self {
        Pair(self.0.round_fast(), self.1.round_fast())
    }
    #[inline(always)]
    fn trunc(self) -> Self {
        Pair(self.0.trunc(), self.1.trunc())
    }
    #[inline(always)]
    fn nearest(self) -> Self {
        Pair(self.0.nearest(), self.1.nearest())
    }
    #[inline(always)]
    unsafe fn load_transposed<const NE: usize>(base: *const f32, idx: *const i32) -> [Self; NE] {
        let (a, b) = (V::load_transposed::<NE>(base, idx), V::load_transposed::<NE>(base, idx.add(V::N)));
        let mut t = [Self::zero(); NE];
        for i in 0..NE {
            t[i] = Pair(a[i], b[i]);
        }
        t
    }
    #[inline(always)]
    unsafe fn hsum(self) -> f32 {
        (self.0 + self.1).hsum()
    }
    #[inline(always)]
    unsafe fn hmax(self) -> f32 {
        self.0.max_c(self.1).hmax()
    }
}
