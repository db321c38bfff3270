//! One row through one format on one ISA: the single place that maps (scheme, isa) to a kernel.
//! A SIMD kernel is only called after `Isa::is_available` said the CPU has it (checked once per
//! call in `quantize`), which is what makes the `unsafe` calls below sound.

use crate::formats::{codec, fp8, int8_channel, nf4, q4_0, q8_0, rtn, Scheme};
use crate::quality::QualityAcc;
use crate::simd::Isa;

/// Output slices of one row.
pub(crate) struct RowOut<'a> {
    pub codes: &'a mut [u8],
    pub scales: &'a mut [f32],
    pub zeros: &'a mut [u8],
}

/// Quantize row `x`. `tensor_scale` is the per-tensor scale of FP8 per-tensor (unused otherwise).
/// Errors carry the offset of the first non-finite element within the row.
pub(crate) fn quantize_row(
    scheme: &Scheme,
    isa: Isa,
    x: &[f32],
    out: RowOut<'_>,
    tensor_scale: f32,
    acc: &mut QualityAcc,
) -> Result<(), usize> {
    match scheme {
        Scheme::Rtn(spec) => rtn_row(spec, isa, x, out, acc),
        // Iterative fits, scalar on every ISA: the fit, not memory, bounds their speed.
        Scheme::Hqq(spec) => codec::quantize_row(spec, x, out.codes, out.scales, out.zeros, acc),
        Scheme::R2q(spec) => codec::quantize_row(spec, x, out.codes, out.scales, out.zeros, acc),
        Scheme::Int8PerChannel => match isa {
            Isa::Scalar => int8_channel::quantize_row_ref(x, out.codes, &mut out.scales[0], acc),
            _ => {
                // RTN symmetric 8-bit with one group spanning the row, then offset-binary → i8.
                rtn_row_simd(isa, 8, x.len().max(1), true, x, out.codes, out.scales, &mut [], acc)?;
                out.codes.iter_mut().for_each(|c| *c ^= 0x80);
                Ok(())
            }
        },
        Scheme::Nf4 => match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { nf4::quantize_row_avx2(x, out.codes, out.scales, acc) },
            _ => nf4::quantize_row_ref(x, out.codes, out.scales, acc),
        },
        Scheme::Fp8 { kind, per_channel } => {
            let scale = if *per_channel {
                if let Some(bad) = rtn::first_non_finite(x) {
                    return Err(bad);
                }
                let s = fp8::scale_for(*kind, x.iter().fold(0.0f32, |m, v| m.max(v.abs())));
                out.scales[0] = s;
                s
            } else {
                tensor_scale
            };
            fp8::quantize_run(*kind, x, scale, out.codes, acc)
        }
        Scheme::Q8_0 => match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { crate::simd::avx2::q8_0_row(x, out.codes, acc) },
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => unsafe { crate::simd::neon::q8_0_row(x, out.codes, acc) },
            _ => q8_0::quantize_row_ref(x, out.codes, acc),
        },
        Scheme::Q4_0 => match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { crate::simd::avx2::q4_0_row(x, out.codes, acc) },
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => unsafe { crate::simd::neon::q4_0_row(x, out.codes, acc) },
            _ => q4_0::quantize_row_ref(x, out.codes, acc),
        },
    }
}

fn rtn_row(spec: &rtn::RtnSpec, isa: Isa, x: &[f32], out: RowOut<'_>, acc: &mut QualityAcc) -> Result<(), usize> {
    if isa == Isa::Scalar {
        return rtn::quantize_row_ref(spec, x, out.codes, out.scales, out.zeros, acc);
    }
    rtn_row_simd(isa, spec.bits, spec.group, spec.symmetric, x, out.codes, out.scales, out.zeros, acc)
}

/// One RTN row on a SIMD ISA, monomorphised per bit width.
#[allow(unused_variables, clippy::too_many_arguments)]
fn rtn_row_simd(
    isa: Isa,
    bits: u32,
    group: usize,
    symmetric: bool,
    x: &[f32],
    codes: &mut [u8],
    scales: &mut [f32],
    zeros: &mut [u8],
    acc: &mut QualityAcc,
) -> Result<(), usize> {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe {
            use crate::simd::avx2::rtn_row;
            match bits {
                2 => rtn_row::<2>(x, group, symmetric, codes, scales, zeros, acc),
                4 => rtn_row::<4>(x, group, symmetric, codes, scales, zeros, acc),
                _ => rtn_row::<8>(x, group, symmetric, codes, scales, zeros, acc),
            }
        },
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => unsafe {
            use crate::simd::neon::rtn_row;
            match bits {
                2 => rtn_row::<2>(x, group, symmetric, codes, scales, zeros, acc),
                4 => rtn_row::<4>(x, group, symmetric, codes, scales, zeros, acc),
                _ => rtn_row::<8>(x, group, symmetric, codes, scales, zeros, acc),
            }
        },
        _ => unreachable!("the scalar ISA is handled by the callers"),
    }
}
