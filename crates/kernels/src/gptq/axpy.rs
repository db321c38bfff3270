//! `y −= a·x`, GPTQ's error feedback (nearly all of its time). A fused multiply-add everywhere
//! (`f32::mul_add`), so every ISA gives the same bits; on x86-64 the loop is compiled a second
//! time with AVX2+FMA enabled and picked at run time (no `target-cpu` flag: the binary must run
//! on any x86-64), on aarch64 NEON's FMA is baseline.

#[inline(always)]
fn body(y: &mut [f32], a: f32, x: &[f32]) {
    for (yv, &xv) in y.iter_mut().zip(x) {
        *yv = (-a).mul_add(xv, *yv);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn body_avx2(y: &mut [f32], a: f32, x: &[f32]) {
    body(y, a, x)
}

#[inline]
pub fn axpy_neg(y: &mut [f32], a: f32, x: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the features were just detected.
            return unsafe { body_avx2(y, a, x) };
        }
    }
    body(y, a, x)
}
