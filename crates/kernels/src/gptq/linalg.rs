//! The dense linear algebra GPTQ needs: `U` = the upper Cholesky factor of `H⁻¹`, via faer
//! (blocked, SIMD, parallel; a hand-written triple loop took 0.9 s at n = 768 and minutes at
//! n = 4096), in one buffer of `n·(n+1)` values that becomes the result.
//!
//! Not as the reference code does it (Cholesky, full inverse, Cholesky again: ~1.7·n³ flops) but
//! by reversal: with `P` the exchange matrix and `P·H·P = M·Mᵀ` (lower Cholesky),
//! `H = R·Rᵀ` for the upper `R = P·M·P`, so `H⁻¹ = (R⁻¹)ᵀ·R⁻¹` and `U = R⁻¹ = P·M⁻¹·P`: one
//! Cholesky and one triangular inverse (~0.7·n³), the same factor up to rounding.
//!
//! **Memory.** The buffer `B` is `(n+1) × n`, column-major with leading dimension `n+1`. `M` is
//! factored in place in rows `1..=n` (its lower triangle lies strictly below `B`'s diagonal);
//! `M⁻¹` is written transposed into `B`'s upper triangle and diagonal, which `M`'s lower
//! triangle does not touch. Reversing `B` then leaves `U` row-major with row stride `n+1` at
//! offset 1, and a forward copy packs it to stride `n`. So a 4864-input layer needs 90 MiB in f32
//! where an input copy, the factor and its inverse took 3 × 180 MiB in f64.
//!
//! **Precision.** The factor is computed in f32, as the published GPTQ code does (torch, f32),
//! and in f64 only when an f32 pivot is not positive or the f32 inverse overflows (a Hessian
//! conditioned beyond f32's reach; then 1.5 × the memory, transiently). On an outlier-heavy Hessian (30× channels, near-dead
//! ones, damp 0.01 and 0.001) the f32 factor is within 3e-6 of the f64 one (relative, Frobenius)
//! and GPTQ's layer-output error within 3e-7; `gptq::tests` holds them to 1e-4.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::{cholesky_in_place, cholesky_in_place_scratch, LltError};
use faer::linalg::triangular_inverse::invert_lower_triangular;
use faer::traits::RealField;
use faer::{get_global_parallelism, MatMut, MatRef};

use crate::error::KernelError;

/// A type the factor can be computed in.
pub trait Work: RealField + Copy {
    fn from_f64(v: f64) -> Self;
    fn to_f32(self) -> f32;
}
impl Work for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn to_f32(self) -> f32 {
        self
    }
}
impl Work for f64 {
    fn from_f64(v: f64) -> Self {
        v
    }
    fn to_f32(self) -> f32 {
        self as f32
    }
}

/// Why a factorisation failed.
#[derive(Debug, PartialEq)]
pub enum FactorError {
    /// The pivot of this column (of `H`) is not positive.
    NotPositive(usize),
    /// `fill` failed (a Hessian read from a file).
    Fill(KernelError),
}

/// Puts `H[a][b] = v` (`a ≤ b`) into the factorisation's buffer.
pub type Put<'a> = dyn FnMut(usize, usize, f64) + 'a;
/// Gives the factorisation `H`: calls `put(a, b, v)` once for every `a ≤ b` (the upper
/// triangle and diagonal; `H` is symmetric), in any order. May be called twice (the f64 retry).
pub type Fill<'a> = dyn Fn(&mut Put<'_>) -> Result<(), KernelError> + 'a;

/// Upper `U` with `H⁻¹ = Uᵀ·U`, row-major `n×n` in `T` (the returned vector's first `n²` values;
/// its length is `n²`), `H` (symmetric positive definite) given by `fill`.
pub fn inverse_upper_factor<T: Work>(n: usize, fill: &Fill<'_>) -> Result<Vec<T>, FactorError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let ld = n + 1;
    let rev = |i: usize| n - 1 - i;
    // NaN where nothing is written: a read outside M's lower triangle would show in the result.
    let mut b = vec![T::from_f64(f64::NAN); ld * n];
    // M = P·H·P: M[i][j] = H[rev i][rev j]; its lower triangle (i ≥ j) is H's upper one.
    fill(&mut |a: usize, c: usize, v: f64| {
        debug_assert!(a <= c && c < n);
        b[rev(c) * ld + rev(a) + 1] = T::from_f64(v);
    })
    .map_err(FactorError::Fill)?;
    let par = get_global_parallelism();
    let ptr = b.as_mut_ptr();
    {
        // SAFETY: `M` is the n×n view at offset 1 with column stride n+1, inside `b`
        // (last element 1 + (n-1)(n+1) + (n-1) = n² + n - 1).
        let m = unsafe { MatMut::<T>::from_raw_parts_mut(ptr.add(1), n, n, 1, ld as isize) };
        let mut mem = MemBuffer::new(cholesky_in_place_scratch::<T>(n, par, Default::default()));
        cholesky_in_place(m, Default::default(), par, MemStack::new(&mut mem), Default::default()).map_err(|e| match e {
            LltError::NonPositivePivot { index } => FactorError::NotPositive(rev(index)),
        })?;
    }
    {
        // SAFETY: both views lie in `b`. faer reads only the lower triangle of `src` (B[i+1, j],
        // i ≥ j: strictly below B's diagonal) and writes only the lower triangle of `dst`
        // (dst[i, j] = B[j, i], i ≥ j: B's upper triangle and diagonal); the two sets of
        // elements are disjoint, so no element is read through one view and written through
        // the other.
        let src = unsafe { MatRef::<T>::from_raw_parts(ptr.add(1) as *const T, n, n, 1, ld as isize) };
        let dst = unsafe { MatMut::<T>::from_raw_parts_mut(ptr, n, n, ld as isize, 1) };
        invert_lower_triangular(dst, src, par);
    }
    // M⁻¹[a, b] (a ≥ b) is at a·(n+1) + b, so U[i, j] = M⁻¹[rev i, rev j] is at
    // N - 1 - (1 + i·(n+1) + j) with N = n·(n+1): reversed, row-major with stride n+1 at 1.
    b.reverse();
    for i in 0..n {
        // Destination i·n + j ≤ source 1 + i·(n+1) + j: a forward copy never overwrites a value
        // still to be moved.
        b.copy_within(1 + i * ld..1 + i * ld + n, i * n);
        b[i * n..i * n + i].fill(T::from_f64(0.0));
    }
    b.truncate(n * n);
    Ok(b)
}

/// [`inverse_upper_factor`] rounded to f32 (what GPTQ stores): computed in f32, or in f64 when
/// an f32 pivot fails or the f32 inverse overflows.
pub fn inverse_upper_factor_f32(n: usize, fill: &Fill<'_>) -> Result<Vec<f32>, FactorError> {
    match inverse_upper_factor::<f32>(n, fill) {
        Ok(u) if u.iter().all(|v| v.is_finite()) => Ok(u),
        Err(FactorError::Fill(e)) => Err(FactorError::Fill(e)),
        _ => inverse_upper_factor::<f64>(n, fill).map(|u| u.into_iter().map(Work::to_f32).collect()),
    }
}

/// A [`Fill`] from a function of the indices (the tests').
#[cfg(test)]
pub fn fill_from(n: usize, entry: impl Fn(usize, usize) -> f64) -> impl Fn(&mut Put<'_>) -> Result<(), KernelError> {
    move |put| {
        for a in 0..n {
            for c in a..n {
                put(a, c, entry(a, c));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spd(n: usize) -> Vec<f64> {
        // B·Bᵀ + n·I from a fixed pseudo-random B.
        let b: Vec<f64> = (0..n * n).map(|i| ((i * 7919 % 101) as f64 - 50.0) / 25.0).collect();
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = (0..n).map(|k| b[i * n + k] * b[j * n + k]).sum::<f64>() + if i == j { n as f64 } else { 0.0 };
            }
        }
        a
    }

    /// max |(UᵀU)·A − I|.
    fn inverse_residual(u: &[f64], a: &[f64], n: usize) -> f64 {
        let mut worst = 0.0f64;
        for i in 0..n {
            for j in 0..n {
                let inv_row_col = |r: usize, c: usize| (0..n).map(|k| u[k * n + r] * u[k * n + c]).sum::<f64>();
                let p: f64 = (0..n).map(|k| inv_row_col(i, k) * a[k * n + j]).sum();
                worst = worst.max((p - if i == j { 1.0 } else { 0.0 }).abs());
            }
        }
        worst
    }

    #[test]
    fn upper_factor_of_the_inverse() {
        for n in [1, 2, 3, 9, 40] {
            let a = spd(n);
            let u = inverse_upper_factor::<f64>(n, &fill_from(n, |i, j| a[i * n + j])).unwrap();
            assert_eq!(u.len(), n * n);
            assert!(inverse_residual(&u, &a, n) < 1e-9, "n = {n}");
            for i in 0..n {
                for j in 0..i {
                    assert_eq!(u[i * n + j], 0.0);
                }
            }
            // f32: the same factor within f32 rounding of a well-conditioned matrix.
            let u32 = inverse_upper_factor_f32(n, &fill_from(n, |i, j| a[i * n + j])).unwrap();
            let scale = u.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            assert!(u.iter().zip(&u32).all(|(a, b)| (a - *b as f64).abs() <= 1e-5 * scale), "n = {n}");
        }
        let n = 9;
        let mut bad = spd(n);
        bad[4 * n + 4] = -1e6;
        assert_eq!(inverse_upper_factor::<f64>(n, &fill_from(n, |i, j| bad[i * n + j])), Err(FactorError::NotPositive(4)));
        assert!(inverse_upper_factor_f32(n, &fill_from(n, |i, j| bad[i * n + j])).is_err());
    }

    #[test]
    fn f32_failure_falls_back_to_f64() {
        // H = [[1, 1−δ], [1−δ, 1]] is positive definite (second pivot ≈ 2δ), but 1 − δ rounds
        // to 1 in f32 and the f32 pivot is 0.
        let d = 1e-9f64;
        let h = [1.0, 1.0 - d, 1.0 - d, 1.0];
        assert!(inverse_upper_factor::<f32>(2, &fill_from(2, |i, j| h[i * 2 + j])).is_err());
        let u = inverse_upper_factor_f32(2, &fill_from(2, |i, j| h[i * 2 + j])).unwrap();
        let u64 = inverse_upper_factor::<f64>(2, &fill_from(2, |i, j| h[i * 2 + j])).unwrap();
        assert_eq!(u, u64.iter().map(|v| *v as f32).collect::<Vec<_>>());
    }
}
