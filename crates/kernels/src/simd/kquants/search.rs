//! ggml's parameter searches (`formats::ggml_search`) run in lanes: each lane is one independent
//! search (a sub-block's, or a super-block's over its sub-block scales), element `i` of every
//! lane is one vector. Each lane performs the scalar reference's operations in its order, so its
//! results are the reference's bit for bit; the reference's branches become masks, and a lane
//! whose reference would have stopped (a finished coordinate descent, an all-zero group) is never
//! changed again.
//!
//! Levels are carried as integral floats. Rounding inside the hot loops uses `(v + M) − M`, which
//! equals `nearest_int` only for |v| ≤ 2²²; where a lane's bound could be exceeded the search
//! reports it in `bad` and the caller redoes that group with the scalar reference (only absurd
//! inputs get there: a range of 1e38, a sub-block spanning subnormals and normals, …).

use crate::formats::ggml_search::{MinSearch, GROUP_MAX_EPS};
use crate::simd::lanes::{F32s, Mask, FAST_ROUND_LIMIT};

/// Lanes where `iscale·(x − min)` could leave the fast rounding's range for some `x` in
/// `[lo, hi]` (rounding is monotonic, so the ends bound every element), or is NaN.
#[inline(always)]
unsafe fn outside_fast_range<V: F32s>(iscale: V, lo: V, hi: V, min: V) -> V::M {
    let lim = V::splat(FAST_ROUND_LIMIT);
    (iscale * (lo - min)).gt(-lim).and((iscale * (hi - min)).lt(lim)).not()
}

/// `make_qkx2_quants`/`make_qkx3_quants` per lane (see `ggml_search::make_qkx_quants`).
pub(crate) struct Qkx<V: F32s> {
    pub scale: V,
    /// `-min` as the reference returns it.
    pub the_min: V,
    /// The levels the reference returns are `clamp(nearest_int(iscale·(x − min_used)), 0, nmax)`
    /// (0 in degenerate lanes, where both are 0).
    pub iscale: V,
    pub min_used: V,
    /// Lanes the fast rounding may have got wrong: redo them with the reference.
    pub bad: V::M,
}

/// Σw·score(diff) scoring: `MAD` is q2_K's reference (|diff|), otherwise diff².
#[inline(always)]
fn score<V: F32s, const MAD: bool>(diff: V) -> V {
    if MAD {
        diff.abs()
    } else {
        diff * diff
    }
}

/// `make_qkx_quants(nmax, x, w, p)` for every lane; `x[i]`, `w[i]` are element `i` of each lane.
#[inline(always)]
pub(crate) unsafe fn qkx_search<V: F32s, const NE: usize, const MAD: bool>(nmax: i32, x: &[V; NE], w: &[V; NE], p: MinSearch) -> Qkx<V> {
    let zero = V::zero();
    let nm = V::splat(nmax as f32);
    let (mut min, mut max) = (x[0], x[0]);
    let mut sum_w = w[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..NE {
        min = x[i].min_c(min);
        max = x[i].max_c(max);
        sum_w = sum_w + w[i];
        sum_x = sum_x + w[i] * x[i];
    }
    let (lo, hi) = (min, max);
    min = V::select(min.gt(zero), zero, min);
    let live = max.eq(min).not();

    let mut iscale = nm / (max - min);
    let mut scale = V::splat(1.0) / iscale;
    let mut bad = outside_fast_range(iscale, lo, hi, min);
    let mut best_error = zero;
    for i in 0..NE {
        let l = (iscale * (x[i] - min)).round_fast().clamp_c(zero, nm);
        let diff = scale * l + min - x[i];
        best_error = best_error + w[i] * score::<V, MAD>(diff);
    }
    let (mut best_iscale, mut best_min) = (iscale, min);
    let mut laux = [zero; NE];
    let (lim, half, top) = (V::splat(FAST_ROUND_LIMIT), V::splat(-0.5), V::splat(nmax as f32 + 0.5));
    for is in 0..=p.nstep {
        iscale = V::splat(p.rmin + p.rdelta * is as f32 + nmax as f32) / (max - min);
        // Every element's iscale·(x − min) lies between those of the extremes (rounding is
        // monotonic): they bound the fast rounding's range, and tell which clamps can act.
        let (vlo, vhi) = (iscale * (lo - min), iscale * (hi - min));
        bad = bad.or(vlo.gt(-lim).and(vhi.lt(lim)).not());
        let clamp_lo = live.and(half.le(vlo).not()).any();
        let clamp_hi = live.and(vhi.lt(top).not()).any();
        let (sum_l, sum_l2, sum_xl) = match (clamp_lo, clamp_hi) {
            (false, false) => qkx_sums::<V, NE, false, false>(iscale, min, x, w, nm, &mut laux),
            (true, false) => qkx_sums::<V, NE, true, false>(iscale, min, x, w, nm, &mut laux),
            (false, true) => qkx_sums::<V, NE, false, true>(iscale, min, x, w, nm, &mut laux),
            (true, true) => qkx_sums::<V, NE, true, true>(iscale, min, x, w, nm, &mut laux),
        };
        let d = sum_w * sum_l2 - sum_l * sum_l;
        let ok = d.gt(zero).and(live);
        if !ok.any() {
            continue;
        }
        let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / d;
        let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / d;
        let positive = this_min.gt(zero);
        if positive.any() {
            this_min = V::select(positive, zero, this_min);
            this_scale = V::select(positive, sum_xl / sum_l2, this_scale);
        }
        let mut cur_error = zero;
        for i in 0..NE {
            let diff = this_scale * laux[i] + this_min - x[i];
            cur_error = cur_error + w[i] * score::<V, MAD>(diff);
        }
        let better = ok.and(cur_error.lt(best_error));
        best_error = V::select(better, cur_error, best_error);
        scale = V::select(better, this_scale, scale);
        best_iscale = V::select(better, iscale, best_iscale);
        best_min = V::select(better, min, best_min);
        min = V::select(better, this_min, min);
    }
    Qkx {
        scale: V::select(live, scale, zero),
        the_min: -min,
        iscale: V::select(live, best_iscale, zero),
        min_used: V::select(live, best_min, zero),
        bad: bad.and(live),
    }
}

/// One candidate's sums of `make_qkx_quants` (levels into `laux`); `LO`/`HI`: whether the clamp
/// to 0 / to `nmax` can act in some lane (when it cannot, it is the identity).
#[inline(always)]
unsafe fn qkx_sums<V: F32s, const NE: usize, const LO: bool, const HI: bool>(iscale: V, min: V, x: &[V; NE], w: &[V; NE], nm: V, laux: &mut [V; NE]) -> (V, V, V) {
    let zero = V::zero();
    let (mut sum_l, mut sum_l2, mut sum_xl) = (zero, zero, zero);
    for i in 0..NE {
        let mut l = (iscale * (x[i] - min)).round_fast();
        if HI {
            l = l.min_c(nm);
        }
        if LO {
            l = l.max_c(zero);
        }
        laux[i] = l;
        let wl = w[i] * l;
        sum_l = sum_l + wl;
        sum_l2 = sum_l2 + wl * l;
        sum_xl = sum_xl + wl * x[i];
    }
    (sum_l, sum_l2, sum_xl)
}

/// The levels `qkx_search` chose, for elements `x` of its lanes.
#[inline(always)]
pub(crate) fn qkx_levels<V: F32s>(x: V, iscale: V, min_used: V, zero: V, nmax: V) -> V {
    (iscale * (x - min_used)).round_fast().clamp_c(zero, nmax)
}

/// The signed value of largest magnitude of each lane (the first on ties) and that magnitude.
#[inline(always)]
pub(crate) unsafe fn signed_absmax<V: F32s, const NE: usize>(x: &[V; NE]) -> (V, V) {
    let (mut max, mut amax) = (V::zero(), V::zero());
    for v in x {
        let ax = v.abs();
        let bigger = ax.gt(amax);
        amax = V::select(bigger, ax, amax);
        max = V::select(bigger, *v, max);
    }
    (max, amax)
}

/// Smallest and largest element of each lane (NaN elements skipped).
#[inline(always)]
unsafe fn extremes<V: F32s, const NE: usize>(x: &[V; NE]) -> (V, V) {
    let (mut lo, mut hi) = (x[0], x[0]);
    for v in &x[1..] {
        lo = v.min_c(lo);
        hi = v.max_c(hi);
    }
    (lo, hi)
}

/// `make_qx_quants(nmax, x, L, rmse_type 1, qw)` per lane: `w` are the weights (`x²` without
/// `qw`), `wx = w·x`.
pub(crate) struct Qx<V: F32s> {
    pub scale: V,
    /// Levels are `nmax + clamp(nearest_int(iscale·x), −nmax, nmax − 1)` in live lanes, 0 in the
    /// others (all-zero groups).
    pub iscale: V,
    pub live: V::M,
}

#[inline(always)]
pub(crate) unsafe fn qx_search<V: F32s, const NE: usize, const EXACT: bool>(nmax: i32, x: &[V; NE], w: &[V; NE], wx: &[V; NE]) -> Qx<V> {
    let zero = V::zero();
    let (lo, hi) = (V::splat(-nmax as f32), V::splat((nmax - 1) as f32));
    let (max, amax) = signed_absmax(x);
    let live = amax.lt(V::splat(GROUP_MAX_EPS)).not();
    // |iscale·x| ≤ |iscale·max| ≈ nmax + 1 in live lanes where `x` is finite: the fast rounding
    // is exact; `EXACT` (for inputs that may hold infinities or NaN) emulates nearest_int fully.
    let iscale = V::splat(-(nmax as f32)) / max;
    let (xlo, xhi) = extremes(x);
    let (bot, top) = (V::splat(-(nmax as f32) - 0.5), V::splat(nmax as f32 - 0.5));
    let bounds = (live, xlo, xhi, bot, top);
    let (sumlx, suml2) = qx_candidate::<V, NE, EXACT>(iscale, x, w, wx, lo, hi, bounds);
    let mut scale = V::select(suml2.ne(zero), sumlx / suml2, zero);
    let mut best = scale * sumlx;
    let mut best_iscale = iscale;
    // The candidates' inverse scales do not depend on the search: divide them all up front, so
    // no candidate waits for its division.
    let mut iscales = [zero; 18];
    for (k, is) in (-9..=9).filter(|&is| is != 0).enumerate() {
        iscales[k] = V::splat(-(nmax as f32 + 0.1f32 * is as f32)) / max;
    }
    for &iscale in &iscales {
        let (sumlx, suml2) = qx_candidate::<V, NE, EXACT>(iscale, x, w, wx, lo, hi, bounds);
        let better = suml2.gt(zero).and((sumlx * sumlx).gt(best * suml2));
        if better.any() {
            best_iscale = V::select(better, iscale, best_iscale);
            scale = V::select(better, sumlx / suml2, scale);
            best = V::select(better, scale * sumlx, best);
        }
    }
    Qx { scale: V::select(live, scale, zero), iscale: best_iscale, live }
}

/// One candidate of `make_qx_quants`: its sums, with the clamps only where they can act (every
/// element's iscale·x lies between those of the lane's extremes `xlo`, `xhi`).
#[inline(always)]
#[allow(clippy::type_complexity)]
unsafe fn qx_candidate<V: F32s, const NE: usize, const EXACT: bool>(iscale: V, x: &[V; NE], w: &[V; NE], wx: &[V; NE], lo: V, hi: V, (live, xlo, xhi, bot, top): (V::M, V, V, V, V)) -> (V, V) {
    if EXACT {
        return qx_sums::<V, NE, true, true, true>(iscale, x, w, wx, lo, hi);
    }
    let (a, b) = (iscale * xlo, iscale * xhi);
    let clamp_lo = live.and(a.min_c(b).gt(bot).not()).any();
    let clamp_hi = live.and(a.max_c(b).lt(top).not()).any();
    match (clamp_lo, clamp_hi) {
        (false, false) => qx_sums::<V, NE, false, false, false>(iscale, x, w, wx, lo, hi),
        (true, false) => qx_sums::<V, NE, false, true, false>(iscale, x, w, wx, lo, hi),
        (false, true) => qx_sums::<V, NE, false, false, true>(iscale, x, w, wx, lo, hi),
        (true, true) => qx_sums::<V, NE, false, true, true>(iscale, x, w, wx, lo, hi),
    }
}

/// `make_qx_quants`' sums for one candidate inverse scale.
#[inline(always)]
unsafe fn qx_sums<V: F32s, const NE: usize, const EXACT: bool, const LO: bool, const HI: bool>(iscale: V, x: &[V; NE], w: &[V; NE], wx: &[V; NE], lo: V, hi: V) -> (V, V) {
    let (mut sumlx, mut suml2) = (V::zero(), V::zero());
    for i in 0..NE {
        let v = iscale * x[i];
        let mut l = if EXACT { v.nearest() } else { v.round_fast() };
        if HI {
            l = l.min_c(hi);
        }
        if LO {
            l = l.max_c(lo);
        }
        sumlx = sumlx + wx[i] * l;
        suml2 = suml2 + w[i] * l * l;
    }
    (sumlx, suml2)
}

/// The stored levels (`l + nmax`) `qx_search` chose, for elements `x` of its lanes.
#[inline(always)]
pub(crate) unsafe fn qx_levels<V: F32s>(x: V, r: &Qx<V>, nmax: i32) -> V {
    let (lo, hi) = (V::splat(-nmax as f32), V::splat((nmax - 1) as f32));
    let l = (r.iscale * x).nearest().clamp_c(lo, hi) + V::splat(nmax as f32);
    V::select(r.live, l, V::zero())
}

/// `make_q3_quants(nmax, x, L, do_rmse = true)` per lane. Returns the scale; `l_out` gets the
/// stored levels (`l + nmax`, 0 for all-zero groups).
#[inline(always)]
pub(crate) unsafe fn q3_search<V: F32s, const NE: usize>(nmax: i32, x: &[V; NE], l_out: &mut [V; NE]) -> V {
    let zero = V::zero();
    let (lo, hi) = (V::splat(-nmax as f32), V::splat((nmax - 1) as f32));
    let (max, amax) = signed_absmax(x);
    let live = amax.lt(V::splat(GROUP_MAX_EPS)).not();
    let iscale = V::splat(-(nmax as f32)) / max;
    let mut w = [zero; NE];
    let mut wx = [zero; NE];
    let (mut sumlx, mut suml2) = (zero, zero);
    for i in 0..NE {
        let l = (iscale * x[i]).round_fast().clamp_c(lo, hi);
        l_out[i] = l;
        w[i] = x[i] * x[i];
        wx[i] = w[i] * x[i];
        sumlx = sumlx + wx[i] * l;
        suml2 = suml2 + w[i] * l * l;
    }
    let mut active = live;
    for _ in 0..5 {
        let mut changed = active.and(active.not());
        for i in 0..NE {
            let li = l_out[i];
            let mut slx = sumlx - wx[i] * li;
            let go = active.and(slx.gt(zero));
            let mut sl2 = suml2 - w[i] * li * li;
            // Any value: nearest_int's wrap beyond 2²² is emulated exactly.
            let new_l = (x[i] * sl2 / slx).nearest().clamp_c(lo, hi);
            let go = go.and(new_l.ne(li));
            slx = slx + wx[i] * new_l;
            sl2 = sl2 + w[i] * new_l * new_l;
            let take = go.and(sl2.gt(zero)).and((slx * slx * suml2).gt(sumlx * sumlx * sl2));
            l_out[i] = V::select(take, new_l, li);
            sumlx = V::select(take, slx, sumlx);
            suml2 = V::select(take, sl2, suml2);
            changed = changed.or(take);
        }
        active = active.and(changed);
        if !active.any() {
            break;
        }
    }
    let off = V::splat(nmax as f32);
    for l in l_out.iter_mut() {
        *l = V::select(live, *l + off, zero);
    }
    V::select(live.and(suml2.gt(zero)), sumlx / suml2, zero)
}

/// `make_q3_quants` for lanes whose first coordinate-descent pass changes nothing (most: the
/// reference then stops), without the pass's serial dependency: with the sums constant, every
/// element's test is independent. Returns the scale and the stored levels of those lanes, and
/// the lanes where some element was taken (their descent must run in order: `q3_search`).
#[inline(always)]
pub(crate) unsafe fn q3_search_first_pass<V: F32s, const NE: usize>(nmax: i32, x: &[V; NE], l_out: &mut [V; NE]) -> (V, V::M) {
    let zero = V::zero();
    let (lo, hi) = (V::splat(-nmax as f32), V::splat((nmax - 1) as f32));
    let (max, amax) = signed_absmax(x);
    let live = amax.lt(V::splat(GROUP_MAX_EPS)).not();
    let iscale = V::splat(-(nmax as f32)) / max;
    let mut w = [zero; NE];
    let mut wx = [zero; NE];
    let (mut sumlx, mut suml2) = (zero, zero);
    for i in 0..NE {
        let l = (iscale * x[i]).round_fast().clamp_c(lo, hi);
        l_out[i] = l;
        w[i] = x[i] * x[i];
        wx[i] = w[i] * x[i];
        sumlx = sumlx + wx[i] * l;
        suml2 = suml2 + w[i] * l * l;
    }
    let ss = sumlx * sumlx;
    let mut taken = zero.lt(zero);
    for i in 0..NE {
        let li = l_out[i];
        let mut slx = sumlx - wx[i] * li;
        let go = live.and(slx.gt(zero));
        let mut sl2 = suml2 - w[i] * li * li;
        let new_l = (x[i] * sl2 / slx).nearest().clamp_c(lo, hi);
        let go = go.and(new_l.ne(li));
        slx = slx + wx[i] * new_l;
        sl2 = sl2 + w[i] * new_l * new_l;
        taken = taken.or(go.and(sl2.gt(zero)).and((slx * slx * suml2).gt(ss * sl2)));
    }
    let off = V::splat(nmax as f32);
    for l in l_out.iter_mut() {
        *l = V::select(live, *l + off, zero);
    }
    (V::select(live.and(suml2.gt(zero)), sumlx / suml2, zero), taken)
}

/// `make_qp_quants(nmax, x, L, quant_weights)` per lane. Returns the scale; `l_out` gets the
/// levels. Lanes with a negative or NaN `x`, or where a coordinate-descent level came out
/// negative (the reference wraps it into a `uint8_t`), are reported in the mask: redo them
/// with the reference.
#[inline(always)]
pub(crate) unsafe fn qp_search<V: F32s, const NE: usize>(nmax: i32, x: &[V; NE], w: &[V; NE], l_out: &mut [V; NE]) -> (V, V::M) {
    let zero = V::zero();
    let one = V::splat(1.0);
    let nm = V::splat(nmax as f32);
    let mut max = zero;
    let mut bad = zero.lt(zero);
    for v in x {
        max = max.max_c(*v);
        bad = bad.or(zero.le(*v).not());
    }
    let live = max.lt(V::splat(GROUP_MAX_EPS)).not();
    let iscale = nm / max;
    for i in 0..NE {
        l_out[i] = (iscale * x[i]).nearest();
    }
    let scale = one / iscale;
    let mut best_mse = zero;
    for i in 0..NE {
        let diff = x[i] - scale * l_out[i];
        best_mse = best_mse + w[i] * diff * diff;
    }
    let mut best_iscale = iscale;
    for is in -4..=4 {
        if is == 0 {
            continue;
        }
        let iscale_is = V::splat(0.1f32 * is as f32 + nmax as f32) / max;
        let scale_is = one / iscale_is;
        let mut mse = zero;
        for i in 0..NE {
            let l = (iscale_is * x[i]).nearest().min_c(nm);
            let diff = x[i] - scale_is * l;
            mse = mse + w[i] * diff * diff;
        }
        let better = mse.lt(best_mse);
        best_mse = V::select(better, mse, best_mse);
        best_iscale = V::select(better, iscale_is, best_iscale);
    }
    let (mut sumlx, mut suml2) = (zero, zero);
    for i in 0..NE {
        let l = (best_iscale * x[i]).nearest().min_c(nm);
        l_out[i] = l;
        sumlx = sumlx + w[i] * x[i] * l;
        suml2 = suml2 + w[i] * l * l;
    }
    let mut active = live;
    for _ in 0..5 {
        let mut changed = active.and(active.not());
        for i in 0..NE {
            let li = l_out[i];
            let mut slx = sumlx - w[i] * x[i] * li;
            let mut sl2 = suml2 - w[i] * li * li;
            let go = active.and(slx.gt(zero)).and(sl2.gt(zero));
            let new_l = (x[i] * sl2 / slx).nearest().min_c(nm);
            bad = bad.or(go.and(new_l.lt(zero)));
            let go = go.and(new_l.ne(li));
            slx = slx + w[i] * x[i] * new_l;
            sl2 = sl2 + w[i] * new_l * new_l;
            let take = go.and((slx * slx * suml2).gt(sumlx * sumlx * sl2));
            l_out[i] = V::select(take, new_l, li);
            sumlx = V::select(take, slx, sumlx);
            suml2 = V::select(take, sl2, suml2);
            changed = changed.or(take);
        }
        active = active.and(changed);
        if !active.any() {
            break;
        }
    }
    for l in l_out.iter_mut() {
        *l = V::select(live, *l, zero);
    }
    (V::select(live.and(suml2.gt(zero)), sumlx / suml2, zero), bad.and(live))
}
