//! The dense linear algebra GPTQ needs, in f64 (Hessians of outlier-heavy activations are badly
//! conditioned): `U` = the upper Cholesky factor of `H⁻¹`, via faer (blocked, SIMD, parallel;
//! a hand-written triple loop took 0.9 s at n = 768 and minutes at n = 4096).
//!
//! Not as the reference code does it (Cholesky, full inverse, Cholesky again: ~1.7·n³ flops) but
//! by reversal: with `P` the exchange matrix and `P·H·P = M·Mᵀ` (lower Cholesky),
//! `H = R·Rᵀ` for the upper `R = P·M·P`, so `H⁻¹ = (R⁻¹)ᵀ·R⁻¹` and `U = R⁻¹ = P·M⁻¹·P`: one
//! Cholesky and one triangular inverse (~0.7·n³), the same factor up to rounding.

use faer::linalg::cholesky::llt::factor::LltError;
use faer::linalg::triangular_inverse::invert_lower_triangular;
use faer::{get_global_parallelism, Mat, Side};

fn pivot(e: LltError) -> usize {
    match e {
        LltError::NonPositivePivot { index } => index,
    }
}

/// `M⁻¹` for the lower Cholesky factor `M` of `P·H·P`, where `entry(i, j)` gives `H[i][j]`
/// (symmetric positive definite, `n×n`). Only one `n×n` f64 matrix besides the result is alive at
/// a time (the input is read straight into faer's matrix and dropped after factoring).
fn reversed_factor_inverse(n: usize, entry: impl Fn(usize, usize) -> f64) -> Result<Mat<f64>, usize> {
    let rev = |i: usize| n - 1 - i;
    let llt = {
        let reversed = Mat::<f64>::from_fn(n, n, |i, j| entry(rev(i), rev(j)));
        reversed.llt(Side::Lower).map_err(|e| rev(pivot(e)))?
    };
    let mut m_inv = Mat::<f64>::zeros(n, n);
    invert_lower_triangular(m_inv.as_mut(), llt.L(), get_global_parallelism());
    Ok(m_inv)
}

/// Upper `U` with `H⁻¹ = Uᵀ·U`, row-major, from the symmetric positive definite `h` (row-major
/// `n×n`). Errors with the column whose pivot is not positive. (The tests' form; GPTQ uses
/// [`inverse_upper_factor_f32`].)
#[cfg(test)]
pub fn inverse_upper_factor(h: &[f64], n: usize) -> Result<Vec<f64>, usize> {
    let m_inv = reversed_factor_inverse(n, |i, j| h[i * n + j])?;
    let rev = |i: usize| n - 1 - i;
    let mut u = vec![0.0f64; n * n];
    for i in 0..n {
        for j in i..n {
            u[i * n + j] = m_inv[(rev(i), rev(j))];
        }
    }
    Ok(u)
}

/// [`inverse_upper_factor`] of the matrix `entry(i, j)`, rounded to f32 (what GPTQ stores): the
/// same values without an f64 copy of the input or of the result.
pub fn inverse_upper_factor_f32(n: usize, entry: impl Fn(usize, usize) -> f64) -> Result<Vec<f32>, usize> {
    let m_inv = reversed_factor_inverse(n, entry)?;
    let rev = |i: usize| n - 1 - i;
    let mut u = vec![0.0f32; n * n];
    for i in 0..n {
        for j in i..n {
            u[i * n + j] = m_inv[(rev(i), rev(j))] as f32;
        }
    }
    Ok(u)
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

    #[test]
    fn upper_factor_of_the_inverse() {
        let n = 9;
        let a = spd(n);
        let u = inverse_upper_factor(&a, n).unwrap();
        // (UᵀU)·A = I, and U is upper triangular.
        for i in 0..n {
            for j in 0..n {
                let inv_row_col = |r: usize, c: usize| (0..n).map(|k| u[k * n + r] * u[k * n + c]).sum::<f64>();
                let p: f64 = (0..n).map(|k| inv_row_col(i, k) * a[k * n + j]).sum();
                assert!((p - if i == j { 1.0 } else { 0.0 }).abs() < 1e-9, "({i},{j}) = {p}");
                if j < i {
                    assert_eq!(u[i * n + j], 0.0);
                }
            }
        }
        // The f32 variant is the f64 one rounded.
        let u32 = inverse_upper_factor_f32(n, |i, j| a[i * n + j]).unwrap();
        assert!(u.iter().zip(&u32).all(|(a, b)| (*a as f32) == *b));
        let mut bad = a.clone();
        bad[4 * n + 4] = -1e6;
        assert!(inverse_upper_factor(&bad, n).is_err());
    }
}
