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
    assert!((a.cosine - b.cosine).abs() <= 1e-6, "{what}: cosine {} vs {}", a.cosine, b.cosine);
    assert!(close(a.rel_mse, b.rel_mse, 1e-4), "{what}: rel_mse {} vs {}", a.rel_mse, b.rel_mse);
    assert!(
        (a.sqnr_db.is_infinite() && b.sqnr_db.is_infinite()) || (a.sqnr_db - b.sqnr_db).abs() <= 1e-3,
        "{what}: sqnr {} vs {}",
        a.sqnr_db,
        b.sqnr_db
    );
    assert!(close(a.max_abs_err, b.max_abs_err, 1e-5), "{what}: max err {} vs {}", a.max_abs_err, b.max_abs_err);
}
