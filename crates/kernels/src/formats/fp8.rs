//! FP8 E4M3 (the "fn" variant: no infinities, max 448) and E5M2 (max 57344), with a per-tensor or
//! per-output-channel (per-row) f32 scale.
//!
//! - Elements per block: the whole tensor (per-tensor) or one row (per-channel).
//! - `scale = max|x| / FP8_MAX` (1 when the block is all zero), `q = fp8(x / scale)` rounded to
//!   nearest, ties to even, **saturating** to ±FP8_MAX (never Inf or NaN), **`x̂ = f32(q) · scale`**.
//! - Code layout: sign bit, then exponent and mantissa, as in the OCP FP8 specification
//!   (E4M3: bias 7, 3 mantissa bits; E5M2: bias 15, 2 mantissa bits).
//! - Bits per weight: 8 + 32/elements-per-scale.
//!
//! [`encode_ref`] finds the nearest value by searching the 127 magnitudes (obviously right);
//! [`encode`] does the same with integer arithmetic on the f32 bits, and a test holds them equal.

use super::{Blocking, Format, FormatInfo, RowContext, RowLayout, RowOut, Scheme};
use crate::rtn::first_non_finite;
use crate::simd::Isa;

fn parse_kind(name: &str) -> Option<(Fp8Kind, bool)> {
    let (kind, rest) = if let Some(r) = name.strip_prefix("fp8_e4m3") {
        (Fp8Kind::E4M3, r)
    } else {
        (Fp8Kind::E5M2, name.strip_prefix("fp8_e5m2")?)
    };
    match rest {
        "" => Some((kind, false)),
        "_channel" => Some((kind, true)),
        _ => None,
    }
}

fn parse_name(name: &str, per_channel: bool) -> Option<crate::Result<Scheme>> {
    let (kind, channel) = parse_kind(name)?;
    (channel == per_channel).then_some(Ok(Scheme::Fp8(Fp8Spec { kind, per_channel })))
}

pub static INFO_TENSOR: FormatInfo = FormatInfo {
    family: "fp8",
    methods: &["fp8_e4m3", "fp8_e5m2"],
    name_pattern: "fp8_{e4m3|e5m2}",
    name_regex: r"^fp8_(?P<kind>e4m3|e5m2)$",
    bits: &[8],
    blocking: Blocking::PerTensor,
    row_multiple: 1,
    row_fallback: None,
    importance: false,
    gptq_target: false,
    gguf: None,
    decode: "x̂ = f32(q) · scale",
    bits_per_weight: "8",
    summary: "8-bit floats (OCP E4M3 or E5M2), one scale for the tensor",
    parse_name: |name| parse_name(name, false),
    from_method: |method, _| Ok(Scheme::Fp8(Fp8Spec { kind: parse_kind(method).expect("an fp8 method").0, per_channel: false })),
};

pub static INFO_CHANNEL: FormatInfo = FormatInfo {
    family: "fp8_channel",
    methods: &["fp8_e4m3_channel", "fp8_e5m2_channel"],
    name_pattern: "fp8_{e4m3|e5m2}_channel",
    name_regex: r"^fp8_(?P<kind>e4m3|e5m2)_channel$",
    bits: &[8],
    blocking: Blocking::PerRow,
    row_multiple: 1,
    row_fallback: None,
    importance: false,
    gptq_target: false,
    gguf: None,
    decode: "x̂ = f32(q) · scale",
    bits_per_weight: "8 + 32/cols",
    summary: "8-bit floats (OCP E4M3 or E5M2), one scale per output channel",
    parse_name: |name| parse_name(name, true),
    from_method: |method, _| Ok(Scheme::Fp8(Fp8Spec { kind: parse_kind(method).expect("an fp8 method").0, per_channel: true })),
};

/// FP8 with its kind and scale granularity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fp8Spec {
    pub kind: Fp8Kind,
    pub per_channel: bool,
}

impl Format for Fp8Spec {
    fn info(&self) -> &'static FormatInfo {
        if self.per_channel {
            &INFO_CHANNEL
        } else {
            &INFO_TENSOR
        }
    }
    fn name(&self) -> String {
        format!("fp8_{}{}", if self.kind == Fp8Kind::E4M3 { "e4m3" } else { "e5m2" }, if self.per_channel { "_channel" } else { "" })
    }
    fn bits(&self) -> u32 {
        8
    }
    fn group_size(&self) -> usize {
        0
    }
    fn row_layout(&self, cols: usize) -> RowLayout {
        RowLayout { code_bytes: cols, scales: usize::from(self.per_channel), zeros: 0 }
    }
    fn tensor_scales(&self) -> usize {
        usize::from(!self.per_channel)
    }
    fn tensor_scale(&self, absmax: f32) -> f32 {
        scale_for(self.kind, absmax)
    }
    unsafe fn quantize_row(&self, _: Isa, x: &[f32], out: RowOut<'_>, ctx: &RowContext<'_>, y: &mut [f32]) -> Result<(), usize> {
        let scale = if self.per_channel {
            if let Some(bad) = first_non_finite(x) {
                return Err(bad);
            }
            let s = scale_for(self.kind, x.iter().fold(0.0f32, |m, v| m.max(v.abs())));
            out.scales[0] = s;
            s
        } else {
            ctx.tensor_scale
        };
        quantize_run(self.kind, x, scale, out.codes, y)
    }
    fn dequantize_row(&self, codes: &[u8], scales: &[f32], _: &[u8], tensor_scale: f32, out: &mut [f32]) {
        dequantize_run(self.kind, codes, if self.per_channel { scales[0] } else { tensor_scale }, out)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fp8Kind {
    E4M3,
    E5M2,
}

impl Fp8Kind {
    const fn mbits(self) -> u32 {
        match self {
            Fp8Kind::E4M3 => 3,
            Fp8Kind::E5M2 => 2,
        }
    }
    const fn bias(self) -> i32 {
        match self {
            Fp8Kind::E4M3 => 7,
            Fp8Kind::E5M2 => 15,
        }
    }
    /// Largest finite magnitude code (E4M3: 0x7E = 448; E5M2: 0x7B = 57344).
    pub const fn max_code(self) -> u8 {
        match self {
            Fp8Kind::E4M3 => 0x7E,
            Fp8Kind::E5M2 => 0x7B,
        }
    }
    pub fn max_value(self) -> f32 {
        decode(self, self.max_code())
    }
}

/// Value of a code, from a 256-entry table built once per kind.
#[inline(always)]
pub fn decode(kind: Fp8Kind, code: u8) -> f32 {
    static E4M3: std::sync::OnceLock<[f32; 256]> = std::sync::OnceLock::new();
    static E5M2: std::sync::OnceLock<[f32; 256]> = std::sync::OnceLock::new();
    let table = match kind {
        Fp8Kind::E4M3 => &E4M3,
        Fp8Kind::E5M2 => &E5M2,
    };
    table.get_or_init(|| std::array::from_fn(|c| decode_ref(kind, c as u8)))[code as usize]
}

/// Value of a code computed from its fields (finite codes only are ever produced).
pub fn decode_ref(kind: Fp8Kind, code: u8) -> f32 {
    let mag = code & 0x7F;
    let (mbits, bias) = (kind.mbits(), kind.bias());
    let e = (mag >> mbits) as i32;
    let m = (mag & ((1 << mbits) - 1)) as f32;
    let v = if e == 0 {
        m * 2f32.powi(1 - bias - mbits as i32)
    } else {
        (1.0 + m / (1 << mbits) as f32) * 2f32.powi(e - bias)
    };
    if code & 0x80 != 0 {
        -v
    } else {
        v
    }
}

/// Reference encoder: nearest magnitude by search, ties to the even code, saturating.
pub fn encode_ref(kind: Fp8Kind, v: f32) -> u8 {
    let sign = if v.is_sign_negative() { 0x80 } else { 0 };
    let a = v.abs();
    let max = kind.max_code();
    // Largest code whose value is <= a.
    let mut c = 0u8;
    while c < max && decode(kind, c + 1) <= a {
        c += 1;
    }
    if c < max {
        let (lo, hi) = (decode(kind, c), decode(kind, c + 1));
        let (dlo, dhi) = (a - lo, hi - a);
        if dhi < dlo || (dhi == dlo && (c + 1).is_multiple_of(2)) {
            c += 1;
        }
    }
    sign | c
}

/// Fast encoder: RNE on the f32 bit pattern, subnormals by an exact power-of-two scaling.
#[inline(always)]
pub fn encode(kind: Fp8Kind, v: f32) -> u8 {
    let bits = v.to_bits();
    let sign = ((bits >> 31) << 7) as u8;
    let abs_bits = bits & 0x7FFF_FFFF;
    let a = f32::from_bits(abs_bits);
    let (mbits, bias) = (kind.mbits(), kind.bias());
    let min_normal = f32::from_bits(((1 - bias + 127) as u32) << 23);
    let mag = if a < min_normal {
        let to_units = f32::from_bits(((bias - 1 + mbits as i32 + 127) as u32) << 23);
        (a * to_units).round_ties_even() as u32
    } else {
        let shift = 23 - mbits;
        let rounded = abs_bits + ((1 << (shift - 1)) - 1) + ((abs_bits >> shift) & 1);
        (rounded >> shift) - (((127 - bias) as u32) << mbits)
    };
    sign | mag.min(kind.max_code() as u32) as u8
}

/// The scale for a block with largest magnitude `amax`.
pub fn scale_for(kind: Fp8Kind, amax: f32) -> f32 {
    let s = amax / kind.max_value();
    if s > 0.0 && (1.0 / s).is_finite() {
        s
    } else {
        1.0
    }
}

/// Quantize a run of elements with a fixed scale (one row, or a row of a per-tensor job), the
/// decoded values into `y`.
pub fn quantize_run(kind: Fp8Kind, x: &[f32], scale: f32, codes: &mut [u8], y: &mut [f32]) -> Result<(), usize> {
    if let Some(bad) = first_non_finite(x) {
        return Err(bad);
    }
    let inv = 1.0 / scale;
    for ((c, o), &v) in codes.iter_mut().zip(y.iter_mut()).zip(x) {
        *c = encode(kind, v * inv);
        *o = decode(kind, *c) * scale;
    }
    Ok(())
}

pub fn dequantize_run(kind: Fp8Kind, codes: &[u8], scale: f32, out: &mut [f32]) {
    for (o, &c) in out.iter_mut().zip(codes) {
        *o = decode(kind, c) * scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_values_match_the_ocp_spec() {
        assert_eq!(Fp8Kind::E4M3.max_value(), 448.0);
        assert_eq!(Fp8Kind::E5M2.max_value(), 57344.0);
        assert_eq!(decode(Fp8Kind::E4M3, 0x01), 2f32.powi(-9));
        assert_eq!(decode(Fp8Kind::E5M2, 0x01), 2f32.powi(-16));
    }

    #[test]
    fn every_code_round_trips_and_midpoints_tie_to_even() {
        for kind in [Fp8Kind::E4M3, Fp8Kind::E5M2] {
            for c in 0..=kind.max_code() {
                for s in [0u8, 0x80] {
                    let v = decode(kind, c | s);
                    assert_eq!(encode(kind, v), c | s, "{kind:?} code {c:#x}");
                }
                if c < kind.max_code() {
                    let mid = (decode(kind, c) + decode(kind, c + 1)) / 2.0;
                    let even = if c % 2 == 0 { c } else { c + 1 };
                    assert_eq!(encode(kind, mid), even, "{kind:?} midpoint above {c:#x}");
                    assert_eq!(encode_ref(kind, mid), even);
                }
            }
        }
    }

    #[test]
    fn saturates_instead_of_overflowing() {
        assert_eq!(encode(Fp8Kind::E4M3, 1e6), 0x7E);
        assert_eq!(encode(Fp8Kind::E4M3, -470.0), 0xFE);
        assert_eq!(encode(Fp8Kind::E5M2, 1e9), 0x7B);
    }

    #[test]
    fn fast_encoder_equals_reference_on_a_dense_sweep() {
        for kind in [Fp8Kind::E4M3, Fp8Kind::E5M2] {
            let mut v = 1e-9f32;
            while v < 1e5 {
                for s in [v, -v] {
                    assert_eq!(encode(kind, s), encode_ref(kind, s), "{kind:?} {s:e}");
                }
                v *= 1.0007;
            }
        }
    }
}
