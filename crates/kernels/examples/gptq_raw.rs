//! GPTQ a raw little-endian f32 weight with a raw f32 Hessian, for comparisons against reference
//! implementations (benches/gptq_reference.py, tests/python). Usage:
//!   gptq_raw <bits> <group> <sym|asym> <act_order 0|1> <in.f32> <rows> <cols> <hessian.f32> <threads> <out-prefix>
//! Writes <out-prefix>.codes, .scales (f32 LE), .zeros and prints the seconds the call took.

use arrowquant_kernels::gptq::{gptq, GptqOptions};
use arrowquant_kernels::RtnSpec;
use std::process::ExitCode;
use std::time::Instant;

fn read_f32(path: &str) -> Result<Vec<f32>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    Ok(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

fn run(args: &[String]) -> Result<(), String> {
    let [bits, group, sym, act, input, rows, cols, hessian, threads, out] = args else {
        return Err("usage: gptq_raw <bits> <group> <sym|asym> <act_order 0|1> <in.f32> <rows> <cols> <hessian.f32> <threads> <out-prefix>".into());
    };
    let num = |s: &str, what: &str| s.parse::<usize>().map_err(|e| format!("{what} {s:?}: {e}"));
    let spec = RtnSpec::new(num(bits, "bits")? as u32, num(group, "group")?, sym == "sym").map_err(|e| e.to_string())?;
    let act_order = act == "1";
    let opts = GptqOptions { act_order, static_groups: act_order, threads: num(threads, "threads")?, ..GptqOptions::default() };
    let (w, h) = (read_f32(input)?, read_f32(hessian)?);
    let t = Instant::now();
    let q = gptq(&spec, &w, num(rows, "rows")?, num(cols, "cols")?, &h, &opts).map_err(|e| e.to_string())?;
    println!("{:.4}", t.elapsed().as_secs_f64());
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
            eprintln!("gptq_raw: {e}");
            ExitCode::FAILURE
        }
    }
}
