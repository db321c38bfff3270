//! Quantize a raw little-endian f32 file with one format, for cross-checks against other
//! implementations (tests/python). Usage:
//!   quantize_raw <format> <bits> <group> <sym|asym> <isa|best> <in.f32> <rows> <cols> <out-prefix>
//! Writes <out-prefix>.codes, .scales (f32 LE) and .zeros.

mod raw_io;

use arrowquant_kernels::{quantize, Isa, RunOptions, Scheme, Source};
use std::process::ExitCode;

fn run(args: &[String]) -> Result<(), String> {
    let [format, bits, group, sym, isa, input, rows, cols, out] = args else {
        return Err("usage: quantize_raw <format> <bits> <group> <sym|asym> <isa|best> <in.f32> <rows> <cols> <out-prefix>".into());
    };
    let num = |s: &str, what: &str| s.parse::<usize>().map_err(|e| format!("{what} {s:?}: {e}"));
    let scheme = Scheme::parse(format, num(bits, "bits")? as u32, num(group, "group")?, sym == "sym").map_err(|e| e.to_string())?;
    let isa = if isa == "best" { None } else { Some(Isa::parse(isa).ok_or(format!("unknown isa {isa}"))?) };
    let x = raw_io::read_f32(input)?;
    let q = quantize(&scheme, Source::F32(&x), num(rows, "rows")?, num(cols, "cols")?, &RunOptions { threads: 2, isa })
        .map_err(|e| e.to_string())?;
    raw_io::write_quantized(out, &q)
}

fn main() -> ExitCode {
    raw_io::main_with("quantize_raw", run)
}
