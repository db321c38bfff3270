//! Quantize a raw little-endian f32 file with one format, for cross-checks against other
//! implementations (tests/python). Usage:
//!   quantize_raw <format> <bits> <group> <sym|asym> <isa|best> <in.f32> <rows> <cols> <out-prefix>
//! Writes <out-prefix>.codes, .scales (f32 LE) and .zeros.

use arrowquant_kernels::{quantize, Isa, RunOptions, Scheme, Source};
use std::process::ExitCode;

fn run(args: &[String]) -> Result<(), String> {
    let [format, bits, group, sym, isa, input, rows, cols, out] = args else {
        return Err("usage: quantize_raw <format> <bits> <group> <sym|asym> <isa|best> <in.f32> <rows> <cols> <out-prefix>".into());
    };
    let num = |s: &str, what: &str| s.parse::<usize>().map_err(|e| format!("{what} {s:?}: {e}"));
    let scheme = Scheme::parse(format, num(bits, "bits")? as u32, num(group, "group")?, sym == "sym").map_err(|e| e.to_string())?;
    let isa = if isa == "best" { None } else { Some(Isa::parse(isa).ok_or(format!("unknown isa {isa}"))?) };
    let bytes = std::fs::read(input).map_err(|e| format!("{input}: {e}"))?;
    let x: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let q = quantize(&scheme, Source::F32(&x), num(rows, "rows")?, num(cols, "cols")?, &RunOptions { threads: 2, isa })
        .map_err(|e| e.to_string())?;
    let scales: Vec<u8> = q.scales.iter().flat_map(|s| s.to_le_bytes()).collect();
    for (ext, data) in [("codes", &q.codes), ("scales", &scales), ("zeros", &q.zeros)] {
        std::fs::write(format!("{out}.{ext}"), data).map_err(|e| format!("{out}.{ext}: {e}"))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quantize_raw: {e}");
            ExitCode::FAILURE
        }
    }
}
