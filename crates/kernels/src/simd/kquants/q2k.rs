use crate::quality::QualityAcc;
use crate::simd::lanes::F32s;

#[inline(always)]
pub(crate) unsafe fn row<V: F32s>(x: &[f32], imp: Option<&[f32]>, out: &mut [u8], acc: &mut QualityAcc) -> Result<(), usize> {
    crate::formats::q2_k::quantize_row_ref(x, imp, out, acc)
}
