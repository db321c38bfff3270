//! RTN: round-to-nearest integer quantization per group, asymmetric or symmetric.
//!
//! - Elements per block: one group of `group` ∈ {32, 64, 128, 256} consecutive elements of a row.
//!   When the row length is not a multiple of `group`, the last group of each row is shorter.
//! - Asymmetric (scale + zero-point), `qmax = 2^bits − 1`:
//!   `lo = min(min x, 0)`, `hi = max(max x, 0)` (zero is always exactly representable),
//!   `scale = (hi − lo) / qmax`, `zero = clamp(rne(−lo / scale), 0, qmax)`,
//!   `q = clamp(rne(x / scale) + zero, 0, qmax)`, **`x̂ = (q − zero) · scale`**.
//! - Symmetric (restricted range, no zero-point stored), `qpos = 2^(bits−1) − 1`, fixed
//!   `zero = 2^(bits−1)`: `scale = max|x| / qpos`, `q = clamp(rne(x / scale), −qpos, qpos) + zero`,
//!   **`x̂ = (q − zero) · scale`**. (INT2 symmetric therefore has three levels: −s, 0, +s.)
//! - `rne` is round-half-to-even; `1/scale` is computed once per group and a scale whose inverse
//!   is not finite (an all-zero or all-subnormal group) quantizes the group to zero.
//! - Storage per group: codes packed LSB-first (see `pack`), one f32 scale, and for the
//!   asymmetric variant one u8 zero-point.
//! - Bits per weight: asymmetric `bits + 40/group` (INT4 g128: 4.31), symmetric `bits + 32/group`.

use super::codec::GroupCodec;
use super::{Blocking, Format, FormatInfo, RowContext, RowLayout, RowOut, Scheme};
use crate::error::{KernelError, Result};
use crate::gptq::{GptqOptions, Prepared};
use crate::pack::{packed_len, unpack_one};
use crate::quantize::Quantized;
use crate::simd::Isa;

pub static INFO: FormatInfo = FormatInfo {
    family: "rtn",
    methods: &["rtn", "rtn_sym"],
    name_pattern: "rtn_int{bits}_g{group}_{sym|asym}",
    name_regex: r"^rtn_int(?P<bits>2|4|8)_g(?P<group>32|64|128|256)_(?P<symmetric>sym|asym)$",
    bits: &BIT_WIDTHS,
    blocking: Blocking::Groups { sizes: &GROUP_SIZES },
    row_multiple: 1,
    row_fallback: None,
    importance: false,
    gptq_target: true,
    gguf: None,
    decode: "x̂ = (q − zero) · scale",
    bits_per_weight: "asym: bits + 40/g; sym: bits + 32/g",
    summary: "round-to-nearest integers per group, with a zero-point (asym) or without (sym)",
    parse_name,
    from_method: |method, p| Ok(Scheme::Rtn(RtnSpec::new(p.bits, p.group, method == "rtn_sym" || p.symmetric)?)),
};

fn parse_name(name: &str) -> Option<Result<Scheme>> {
    let rest = name.strip_prefix("rtn_int")?;
    let parsed = match rest.split('_').collect::<Vec<_>>()[..] {
        [bits, group, sym] => {
            let symmetric = match sym {
                "sym" => Some(true),
                "asym" => Some(false),
                _ => None,
            };
            match (bits.parse::<u32>().ok(), group.strip_prefix('g').and_then(|g| g.parse::<usize>().ok()), symmetric) {
                (Some(bits), Some(group), Some(symmetric)) => Some(RtnSpec::new(bits, group, symmetric).map(Scheme::Rtn)),
                _ => None,
            }
        }
        _ => None,
    };
    Some(parsed.unwrap_or_else(|| Err(KernelError::InvalidParameter { field: "scheme", value: name.to_string(), allowed: "rtn_int<bits>_g<group>_<sym|asym>" })))
}

impl Format for RtnSpec {
    fn info(&self) -> &'static FormatInfo {
        &INFO
    }
    fn name(&self) -> String {
        format!("rtn_int{}_g{}_{}", self.bits, self.group, if self.symmetric { "sym" } else { "asym" })
    }
    fn bits(&self) -> u32 {
        self.bits
    }
    fn group_size(&self) -> usize {
        self.group
    }
    fn method(&self) -> &'static str {
        if self.symmetric {
            "rtn_sym"
        } else {
            "rtn"
        }
    }
    fn row_layout(&self, cols: usize) -> RowLayout {
        let g = self.groups_per_row(cols);
        RowLayout { code_bytes: self.row_code_bytes(cols), scales: g, zeros: if self.symmetric { 0 } else { g } }
    }
    unsafe fn quantize_row(&self, isa: Isa, x: &[f32], out: RowOut<'_>, _: &RowContext<'_>, y: &mut [f32]) -> std::result::Result<(), usize> {
        if isa == Isa::Scalar {
            return quantize_row_ref(self, x, out.codes, out.scales, out.zeros, y);
        }
        row_simd(isa, self.bits, self.group, self.symmetric, x, out.codes, out.scales, out.zeros, y)
    }
    fn dequantize_row(&self, codes: &[u8], scales: &[f32], zeros: &[u8], _: f32, out: &mut [f32]) {
        dequantize_row(self, codes, scales, zeros, out)
    }
    /// More bits, same group size and symmetry.
    fn fallback(&self) -> Vec<Scheme> {
        BIT_WIDTHS.iter().filter(|&&b| b > self.bits).map(|&b| Scheme::Rtn(RtnSpec { bits: b, ..*self })).collect()
    }
    fn gptq(&self, w: &[f32], rows: usize, cols: usize, prep: &Prepared, opts: &GptqOptions) -> Option<Result<Quantized>> {
        Some(crate::gptq::run(self, &Scheme::Rtn(*self), w, rows, cols, prep, opts))
    }
}

/// One RTN row on a SIMD ISA, monomorphised per bit width (also INT8 per channel's kernel).
#[allow(unused_variables, clippy::too_many_arguments)]
pub(crate) fn row_simd(
    isa: Isa,
    bits: u32,
    group: usize,
    symmetric: bool,
    x: &[f32],
    codes: &mut [u8],
    scales: &mut [f32],
    zeros: &mut [u8],
    y: &mut [f32],
) -> std::result::Result<(), usize> {
    match isa {
        // No AVX-512 kernel: an AVX-512 CPU runs the AVX2 one.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 | Isa::Avx512 => unsafe {
            use crate::simd::avx2::rtn_row;
            match bits {
                2 => rtn_row::<2>(x, group, symmetric, codes, scales, zeros, y),
                4 => rtn_row::<4>(x, group, symmetric, codes, scales, zeros, y),
                _ => rtn_row::<8>(x, group, symmetric, codes, scales, zeros, y),
            }
        },
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => unsafe {
            use crate::simd::neon::rtn_row;
            match bits {
                2 => rtn_row::<2>(x, group, symmetric, codes, scales, zeros, y),
                4 => rtn_row::<4>(x, group, symmetric, codes, scales, zeros, y),
                _ => rtn_row::<8>(x, group, symmetric, codes, scales, zeros, y),
            }
        },
        _ => codec_ref(bits, group, symmetric, x, codes, scales, zeros, y),
    }
}

/// The scalar rule for an ISA without an RTN kernel.
#[allow(clippy::too_many_arguments)]
fn codec_ref(bits: u32, group: usize, symmetric: bool, x: &[f32], codes: &mut [u8], scales: &mut [f32], zeros: &mut [u8], y: &mut [f32]) -> std::result::Result<(), usize> {
    super::codec::quantize_row(&RtnSpec { bits, group, symmetric }, x, codes, scales, zeros, y)
}

pub const GROUP_SIZES: [usize; 4] = [32, 64, 128, 256];
pub const BIT_WIDTHS: [u32; 3] = [2, 4, 8];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtnSpec {
    pub bits: u32,
    pub group: usize,
    pub symmetric: bool,
}

impl RtnSpec {
    pub fn new(bits: u32, group: usize, symmetric: bool) -> Result<Self> {
        if !BIT_WIDTHS.contains(&bits) {
            return Err(KernelError::InvalidParameter { field: "bits", value: bits.to_string(), allowed: "2, 4 or 8" });
        }
        if !GROUP_SIZES.contains(&group) {
            return Err(KernelError::InvalidParameter {
                field: "group_size",
                value: group.to_string(),
                allowed: "32, 64, 128 or 256",
            });
        }
        Ok(RtnSpec { bits, group, symmetric })
    }

    pub fn groups_per_row(&self, cols: usize) -> usize {
        cols.div_ceil(self.group)
    }

    /// Packed code bytes of one row (each group starts on a byte boundary).
    pub fn row_code_bytes(&self, cols: usize) -> usize {
        let full = cols / self.group;
        let tail = cols % self.group;
        full * packed_len(self.group, self.bits) + packed_len(tail, self.bits)
    }
}

/// Per-group parameters, computed by one shared function so that every kernel (scalar or SIMD)
/// uses bit-identical values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroupParams {
    pub scale: f32,
    pub inv: f32,
    pub zero: f32,
    pub lo_code: f32,
    pub hi_code: f32,
}

#[inline(always)]
pub fn group_params(bits: u32, symmetric: bool, min: f32, max: f32) -> GroupParams {
    let finite_inv = |scale: f32| {
        let inv = 1.0 / scale;
        if inv.is_finite() {
            inv
        } else {
            0.0
        }
    };
    if symmetric {
        let qpos = ((1u32 << (bits - 1)) - 1) as f32;
        let zero = (1u32 << (bits - 1)) as f32;
        let amax = (-min).max(max).max(0.0);
        let scale = amax / qpos;
        GroupParams { scale, inv: finite_inv(scale), zero, lo_code: zero - qpos, hi_code: zero + qpos }
    } else {
        let qmax = ((1u32 << bits) - 1) as f32;
        let lo = min.min(0.0);
        let hi = max.max(0.0);
        let scale = (hi - lo) / qmax;
        let inv = finite_inv(scale);
        let zero = (-lo * inv).round_ties_even().clamp(0.0, qmax);
        GroupParams { scale, inv, zero, lo_code: 0.0, hi_code: qmax }
    }
}

/// The element rule, shared by the reference and by SIMD tails.
#[inline(always)]
pub fn quantize_one(p: &GroupParams, x: f32) -> f32 {
    ((x * p.inv).round_ties_even() + p.zero).clamp(p.lo_code, p.hi_code)
}

#[inline(always)]
pub fn dequantize_one(p_scale: f32, zero: f32, q: f32) -> f32 {
    (q - zero) * p_scale
}

/// RTN as a group codec (what GPTQ refits at each group start). The plain row quantizer keeps
/// its own SIMD paths; this is the scalar rule they are tested equal to.
impl GroupCodec for RtnSpec {
    type Params = GroupParams;
    fn bits(&self) -> u32 {
        self.bits
    }
    fn group(&self) -> usize {
        self.group
    }
    fn scales_per_group(&self) -> usize {
        1
    }
    fn zeros_per_group(&self) -> usize {
        usize::from(!self.symmetric)
    }
    fn fit(&self, x: &[f32]) -> GroupParams {
        let min = x.iter().copied().fold(f32::INFINITY, f32::min);
        let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        group_params(self.bits, self.symmetric, min, max)
    }
    #[inline]
    fn encode(&self, p: &GroupParams, x: f32) -> u8 {
        quantize_one(p, x) as u8
    }
    #[inline]
    fn decode(&self, p: &GroupParams, code: u8) -> f32 {
        dequantize_one(p.scale, p.zero, code as f32)
    }
    fn store(&self, p: &GroupParams, scales: &mut [f32], zeros: &mut [u8]) {
        scales[0] = p.scale;
        if !self.symmetric {
            zeros[0] = p.zero as u8;
        }
    }
    fn load(&self, scales: &[f32], zeros: &[u8]) -> GroupParams {
        let zero = if self.symmetric { (1u32 << (self.bits - 1)) as f32 } else { zeros[0] as f32 };
        GroupParams { scale: scales[0], inv: 0.0, zero, lo_code: 0.0, hi_code: 0.0 }
    }
}

/// Offset of the first NaN/Inf in `x`, if any.
pub(crate) fn first_non_finite(x: &[f32]) -> Option<usize> {
    x.iter().position(|v| !v.is_finite())
}

/// Scalar reference: quantize one row. `scales`/`zeros` get one entry per group
/// (`zeros` is empty for the symmetric variant), `y` the decoded values. Returns the offset of a
/// non-finite input. It is the group-codec rule (`GroupCodec for RtnSpec` above) applied group
/// by group.
pub fn quantize_row_ref(spec: &RtnSpec, x: &[f32], codes: &mut [u8], scales: &mut [f32], zeros: &mut [u8], y: &mut [f32]) -> std::result::Result<(), usize> {
    super::codec::quantize_row(spec, x, codes, scales, zeros, y)
}

/// Dequantize one row produced by any RTN kernel.
pub fn dequantize_row(spec: &RtnSpec, codes: &[u8], scales: &[f32], zeros: &[u8], out: &mut [f32]) {
    let sym_zero = (1u32 << (spec.bits - 1)) as f32;
    let mut code_off = 0;
    for (g, grp) in out.chunks_mut(spec.group).enumerate() {
        let zero = if spec.symmetric { sym_zero } else { zeros[g] as f32 };
        let nb = packed_len(grp.len(), spec.bits);
        let packed = &codes[code_off..code_off + nb];
        for (i, o) in grp.iter_mut().enumerate() {
            *o = dequantize_one(scales[g], zero, unpack_one(spec.bits, packed, i) as f32);
        }
        code_off += nb;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::QualityAcc;

    /// The decoded row (`roundtrip` checks it is what the quantizer handed over) and its quality.
    fn run(spec: RtnSpec, x: &[f32]) -> (Vec<f32>, QualityAcc) {
        crate::formats::codec::roundtrip(&spec, x)
    }

    #[test]
    fn asymmetric_error_is_at_most_half_a_step() {
        let x: Vec<f32> = (0..300).map(|i| ((i * 37 % 101) as f32 - 40.0) * 0.013).collect();
        for bits in BIT_WIDTHS {
            let spec = RtnSpec::new(bits, 64, false).unwrap();
            let (y, acc) = run(spec, &x);
            for (g, (xs, ys)) in x.chunks(64).zip(y.chunks(64)).enumerate() {
                let (lo, hi) = xs.iter().fold((0f32, 0f32), |(l, h), &v| (l.min(v), h.max(v)));
                let step = (hi - lo) / ((1 << bits) - 1) as f32;
                for (a, b) in xs.iter().zip(ys) {
                    assert!((a - b).abs() <= step * 0.5 + 1e-6, "bits={bits} group={g} x={a} x̂={b} step={step}");
                }
            }
            assert_eq!(acc.n, 300);
        }
    }

    #[test]
    fn zero_and_constant_groups_are_exact() {
        let mut x = vec![0.0f32; 64];
        x.extend(std::iter::repeat_n(0.37f32, 64));
        x.extend(std::iter::repeat_n(-2.5f32, 64));
        for symmetric in [false, true] {
            let (y, acc) = run(RtnSpec::new(4, 64, symmetric).unwrap(), &x);
            assert_eq!(y, x, "symmetric={symmetric}");
            assert_eq!(acc.finish().sqnr_db, f64::INFINITY);
        }
    }

    #[test]
    fn symmetric_int2_has_three_levels() {
        let x: Vec<f32> = (0..32).map(|i| i as f32 - 16.0).collect();
        let (y, _) = run(RtnSpec::new(2, 32, true).unwrap(), &x);
        let mut levels: Vec<i32> = y.iter().map(|v| (v * 1000.0).round() as i32).collect();
        levels.sort();
        levels.dedup();
        assert_eq!(levels, vec![-16000, 0, 16000]);
    }

    #[test]
    fn partial_last_group_and_nan_position() {
        let x: Vec<f32> = (0..100).map(|i| (i as f32).sin()).collect();
        let (y, acc) = run(RtnSpec::new(8, 32, false).unwrap(), &x);
        assert_eq!(y.len(), 100);
        assert!(acc.finish().cosine > 0.9999);
        let mut bad = x.clone();
        bad[70] = f32::NAN;
        let spec = RtnSpec::new(8, 32, false).unwrap();
        let mut codes = vec![0; spec.row_code_bytes(100)];
        let (mut s, mut z) = (vec![0.0; 4], vec![0; 4]);
        let err = quantize_row_ref(&spec, &bad, &mut codes, &mut s, &mut z, &mut [0.0; 100]);
        assert_eq!(err, Err(70));
    }

    #[test]
    fn rejects_unsupported_parameters() {
        assert!(RtnSpec::new(3, 64, false).is_err());
        assert!(RtnSpec::new(4, 100, false).is_err());
    }
}
