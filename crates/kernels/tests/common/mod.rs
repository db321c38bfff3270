#![allow(dead_code)] // each test binary uses a different subset
//! Helpers shared by the kernel integration tests.

use arrowquant_kernels::*;

/// Every format the registry builds (every RTN/HQQ bit width, group size and symmetry).
pub fn all_schemes() -> Vec<Scheme> {
    Scheme::all()
}

pub fn supports(scheme: &Scheme, cols: usize) -> bool {
    scheme.layout(1, cols).is_ok()
}

/// Relative closeness for accumulated sums.
pub fn close(a: f64, b: f64, rel: f64) -> bool {
    if a == b {
        return true;
    }
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-30)
}

pub fn assert_quality_close(a: &Quality, b: &Quality, what: &str) {
    assert_eq!(a.elements, b.elements, "{what}: element count");
    // `quantize()` sums each row's blocks in f32 lanes (the canonical order) before folding into
    // f64; figures recomputed in f64 differ from those by the f32 rounding, a relative error of
    // about ε·√m per sum (ε = 6e-8, m = the terms a lane adds), ~1e-6 at worst, which the cosine
    // inherits. 1e-5 is ten times that and still far below any difference a wrong code makes.
    assert!((a.cosine - b.cosine).abs() <= 1e-5, "{what}: cosine {} vs {}", a.cosine, b.cosine);
    assert!(close(a.rel_mse, b.rel_mse, 1e-4), "{what}: rel_mse {} vs {}", a.rel_mse, b.rel_mse);
    assert!(
        (a.sqnr_db.is_infinite() && b.sqnr_db.is_infinite()) || (a.sqnr_db - b.sqnr_db).abs() <= 1e-3,
        "{what}: sqnr {} vs {}",
        a.sqnr_db,
        b.sqnr_db
    );
    assert!(close(a.max_abs_err, b.max_abs_err, 1e-5), "{what}: max err {} vs {}", a.max_abs_err, b.max_abs_err);
}

/// The same f32 bits, or both NaN (a NaN's payload depends on the operations that made it).
pub fn same_value(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}
