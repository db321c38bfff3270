//! GPTQ onto the GGUF K-quant grids — what llama.cpp cannot do. At each super-block (256 columns)
//! the parameters are chosen by the format's own importance-weighted search (ggml's
//! `quantize_row_q*_K_impl`, importance = diag(H), the statistic llama.cpp's imatrix collects) on
//! the weights as GPTQ has updated them so far; then every column is rounded inside those
//! parameters with GPTQ's error feedback. The output is an ordinary block of the format: any
//! llama.cpp build loads it, and it decodes exactly as written.

use crate::formats::ggml_blocks::KParams;
use crate::formats::{q2_k, q3_k, q4_k, q5_k, q6_k, GroupCodec, Scheme};

use super::{GptqOptions, Prepared};
use crate::error::Result;
use crate::quantize::Quantized;

/// A K-quant format as a GPTQ grid, with the layer's per-column importance.
pub(crate) struct KGrid<'a> {
    format: Scheme,
    importance: &'a [f32],
}

const BLOCK: usize = 256;

impl KGrid<'_> {
    fn block_bytes(&self) -> usize {
        match self.format {
            Scheme::Q2K => q2_k::BLOCK_BYTES,
            Scheme::Q3K => q3_k::BLOCK_BYTES,
            Scheme::Q4K => q4_k::BLOCK_BYTES,
            Scheme::Q5K => q5_k::BLOCK_BYTES,
            _ => q6_k::BLOCK_BYTES,
        }
    }
}

impl GroupCodec for KGrid<'_> {
    type Params = KParams;
    fn bits(&self) -> u32 {
        self.format.bits()
    }
    fn group(&self) -> usize {
        BLOCK
    }
    fn scales_per_group(&self) -> usize {
        0
    }
    fn zeros_per_group(&self) -> usize {
        0
    }
    fn fit(&self, x: &[f32]) -> KParams {
        self.fit_group(x, 0)
    }
    fn fit_group(&self, x: &[f32], index: usize) -> KParams {
        let qw = &self.importance[index * BLOCK..(index + 1) * BLOCK];
        match self.format {
            Scheme::Q2K => q2_k::gptq_params(x, qw),
            Scheme::Q3K => q3_k::gptq_params(x, qw),
            Scheme::Q4K => q4_k::gptq_params(x, qw),
            Scheme::Q5K => q5_k::gptq_params(x, qw),
            _ => q6_k::gptq_params(x, qw),
        }
    }
    fn encode(&self, p: &KParams, x: f32) -> u8 {
        p.encode(0, x)
    }
    fn decode(&self, p: &KParams, code: u8) -> f32 {
        p.decode(0, code)
    }
    fn encode_at(&self, p: &KParams, i: usize, x: f32) -> u8 {
        p.encode(i, x)
    }
    fn decode_at(&self, p: &KParams, i: usize, code: u8) -> f32 {
        p.decode(i, code)
    }
    fn store(&self, _: &KParams, _: &mut [f32], _: &mut [u8]) {}
    fn load(&self, _: &[f32], _: &[u8]) -> KParams {
        unreachable!("K-quant parameters live in the blocks; GPTQ never reads them back")
    }
    fn group_code_bytes(&self, _: usize) -> usize {
        self.block_bytes()
    }
    fn write_group(&self, p: &KParams, q: &[u8], codes: &mut [u8], _: &mut [f32], _: &mut [u8]) {
        let levels: &[u8; BLOCK] = q.try_into().expect("K-quant rows are whole super-blocks");
        match self.format {
            Scheme::Q2K => q2_k::write_block(p, levels, codes),
            Scheme::Q3K => q3_k::write_block(p, levels, codes),
            Scheme::Q4K => q4_k::write_block(p, levels, codes),
            Scheme::Q5K => q5_k::write_block(p, levels, codes),
            _ => q6_k::write_block(p, levels, codes),
        }
    }
}

/// GPTQ onto the K-quant `format`'s grid (its `Format::gptq`).
pub(crate) fn run(format: Scheme, w: &[f32], rows: usize, cols: usize, prep: &Prepared, opts: &GptqOptions) -> Result<Quantized> {
    let grid = KGrid { format, importance: prep.h_diag() };
    format.layout(rows, cols)?;
    super::run(&grid, &format, w, rows, cols, prep, opts)
}
