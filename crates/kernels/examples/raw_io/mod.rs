//! File I/O shared by the raw-file example tools (quantize_raw, gptq_raw): little-endian f32
//! input, the `<prefix>.codes/.scales/.zeros` output, and the exit-code wrapper.

use std::process::ExitCode;

pub fn read_f32(path: &str) -> Result<Vec<f32>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    Ok(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

pub fn write_quantized(out: &str, q: &arrowquant_kernels::Quantized) -> Result<(), String> {
    let scales: Vec<u8> = q.scales.iter().flat_map(|s| s.to_le_bytes()).collect();
    for (ext, data) in [("codes", &q.codes), ("scales", &scales), ("zeros", &q.zeros)] {
        std::fs::write(format!("{out}.{ext}"), data).map_err(|e| format!("{out}.{ext}: {e}"))?;
    }
    Ok(())
}

pub fn main_with(tool: &str, run: fn(&[String]) -> Result<(), String>) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{tool}: {e}");
            ExitCode::FAILURE
        }
    }
}
