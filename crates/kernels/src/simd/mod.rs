//! Instruction-set selection. Kernels are compiled for every ISA of the target architecture with
//! `#[target_feature]` and picked at run time, so one binary runs on any x86-64 (no
//! `target-cpu=native`) and uses AVX2 (or, asked for, AVX-512) where the CPU has it.
//!
//! `avx2.rs`/`neon.rs` hold hand-written kernels; `lanes.rs` lane vectors over which `kquants/`
//! writes the GGUF K-quant (and legacy importance) searches once for AVX2, AVX-512 and NEON;
//! `row_sums.rs` the quality sums of a row, the same bits on every ISA.

#[cfg(target_arch = "x86_64")]
pub mod avx2;
pub mod kquants;
pub mod lanes;
#[cfg(target_arch = "aarch64")]
pub mod neon;
pub mod row_sums;

use std::fmt;

/// Ask the CPU to bring `bytes` into its level-2 cache: a hint, with no effect on any result.
/// The quantizer asks for the next row while it measures the current one from cache, so that
/// memory keeps streaming while it computes (a kernel reads its row once and measuring touches no
/// new memory: without the hint the next kernel's loads would wait). Level 2, not 1: the row
/// being measured and its decoded values fill a 32 KiB L1 at 4096 columns.
#[inline(always)]
pub fn prefetch(bytes: &[u8]) {
    for off in (0..bytes.len()).step_by(64) {
        let p = bytes[off..].as_ptr();
        // SAFETY: a prefetch of a valid address has no architectural effect; PREFETCHT1 is SSE,
        // part of x86-64, and PRFM part of AArch64.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T1 }>(p as *const i8)
        };
        #[cfg(target_arch = "aarch64")]
        unsafe {
            std::arch::asm!("prfm pldl2keep, [{0}]", in(reg) p, options(nostack, readonly, preserves_flags))
        };
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        let _ = p;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// The scalar references.
    Scalar,
    /// AVX2 with FMA and F16C (every x86-64 CPU since Haswell / Zen).
    Avx2,
    /// AVX-512 F/BW/VL/DQ, with AVX2, FMA and F16C (Xeons since Skylake-SP, Ice Lake, Zen 4).
    /// The GGUF formats' lane kernels have AVX-512 instances; every other format runs its AVX2
    /// kernel under it (an AVX-512 CPU has AVX2), so it is never slower than AVX2.
    Avx512,
    Neon,
}

impl Isa {
    /// Whether this CPU can run kernels of `self`.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::is_x86_feature_detected!("avx2")
                    && std::is_x86_feature_detected!("fma")
                    && std::is_x86_feature_detected!("f16c")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                Isa::Avx2.is_available()
                    && std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512bw")
                    && std::is_x86_feature_detected!("avx512vl")
                    && std::is_x86_feature_detected!("avx512dq")
            }
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The ISA every format runs fastest on this CPU: AVX-512 where there is one (the K-quants
    /// gain ~1.3× over AVX2, the rest run their AVX2 kernels), else AVX2 or NEON.
    pub fn best() -> Isa {
        [Isa::Avx512, Isa::Avx2, Isa::Neon].into_iter().find(|i| i.is_available()).unwrap_or(Isa::Scalar)
    }

    /// Every ISA there is, as [`Isa::parse`] names them.
    pub const ALL: [Isa; 4] = [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon];

    /// "scalar, avx2, avx512 or neon": the names [`Isa::parse`] takes, for messages.
    pub fn names() -> &'static str {
        "scalar, avx2, avx512 or neon"
    }

    /// Every ISA this CPU can run (the scalar reference first).
    pub fn available() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|i| i.is_available()).collect()
    }

    pub fn parse(name: &str) -> Option<Isa> {
        match name {
            "scalar" => Some(Isa::Scalar),
            "avx2" => Some(Isa::Avx2),
            "avx512" => Some(Isa::Avx512),
            "neon" => Some(Isa::Neon),
            _ => None,
        }
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_listed() {
        for isa in Isa::ALL {
            assert_eq!(Isa::parse(&isa.to_string()), Some(isa));
            assert!(Isa::names().contains(&isa.to_string()), "{isa}");
        }
        assert!(Isa::available().contains(&Isa::Scalar));
    }
}
