//! GPTQ a raw little-endian f32 weight with a raw f32 Hessian, for comparisons against reference
//! implementations (benches/gptq_reference.py, tests/python). Usage:
//!   gptq_raw <bits> <group> <sym|asym> <act_order 0|1> <in.f32> <rows> <cols> <hessian.f32> <threads> <out-prefix>
//! Writes <out-prefix>.codes, .scales (f32 LE), .zeros and prints the seconds the call took.

mod raw_io;

use arrowquant_kernels::gptq::{gptq, GptqOptions};
use arrowquant_kernels::{RtnSpec, Scheme};
use std::process::ExitCode;
use std::time::Instant;

fn run(args: &[String]) -> Result<(), String> {
    let [bits, group, sym, act, input, rows, cols, hessian, threads, out] = args else {
        return Err("usage: gptq_raw <bits> <group> <sym|asym> <act_order 0|1> <in.f32> <rows> <cols> <hessian.f32> <threads> <out-prefix>".into());
    };
    let num = |s: &str, what: &str| s.parse::<usize>().map_err(|e| format!("{what} {s:?}: {e}"));
    let spec = Scheme::Rtn(RtnSpec::new(num(bits, "bits")? as u32, num(group, "group")?, sym == "sym").map_err(|e| e.to_string())?);
    let act_order = act == "1";
    let opts = GptqOptions { act_order, static_groups: act_order, threads: num(threads, "threads")?, ..GptqOptions::default() };
    let (w, h) = (raw_io::read_f32(input)?, raw_io::read_f32(hessian)?);
    let t = Instant::now();
    let q = gptq(&spec, &w, num(rows, "rows")?, num(cols, "cols")?, &h, &opts).map_err(|e| e.to_string())?;
    println!("{:.4}", t.elapsed().as_secs_f64());
    raw_io::write_quantized(out, &q)
}

fn main() -> ExitCode {
    raw_io::main_with("gptq_raw", run)
}
