//! The rows as JS sees them (`ChunkRowJs` to write, `IndexRowJs` read back) and their
//! conversions to and from `arrowquant_format`'s rows.

use arrowquant_format::{ChunkQuality, ChunkRow, FallbackStep, IndexRow, LayerOutput, Payload, TimeGroupParams};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::u64_of;
// Chunk quality crosses as the kernels' figures plus the sums behind them.
use crate::convert::{LayerOutputFigures, QualityFigures};

#[napi(object)]
pub struct FallbackStepJs {
    pub from_scheme: String,
    pub to_scheme: String,
    pub from_bits: u32,
    pub to_bits: u32,
    pub cosine: f64,
    pub threshold: f64,
}

#[napi(object)]
pub struct TimeGroupJs {
    pub t_start: i32,
    pub t_end: i32,
    pub scale: f64,
    pub zero_point: f64,
}

/// One row of the file, as JS builds it (see `arrowquant_format::ChunkRow`).
#[napi(object)]
pub struct ChunkRowJs {
    pub tensor_index: u32,
    pub name: String,
    pub component: Option<String>,
    pub shape: Vec<f64>,
    pub source_dtype: String,
    pub chunk_index: u32,
    pub chunk_count: u32,
    pub row_start: f64,
    pub row_count: f64,
    pub method: String,
    pub scheme: String,
    pub bits: u32,
    pub group_size: u32,
    pub requested_bits: u32,
    /// Payload, for `push`; `pushQuantized`/`pushKept` take it from a native handle instead.
    pub codes: Option<Buffer>,
    pub scales: Option<Buffer>,
    pub zeros: Option<Buffer>,
    pub quality: QualityFigures,
    pub fallbacks: Vec<FallbackStepJs>,
    pub channel_scales: Option<Buffer>,
    pub time_groups: Option<Vec<TimeGroupJs>>,
    pub layer_output: Option<LayerOutputFigures>,
}

#[napi(object)]
pub struct IndexRowJs {
    pub row_group: u32,
    pub tensor_index: u32,
    pub name: String,
    pub component: Option<String>,
    pub shape: Vec<f64>,
    pub source_dtype: String,
    pub chunk_index: u32,
    pub chunk_count: u32,
    pub row_start: f64,
    pub row_count: f64,
    pub method: String,
    pub scheme: String,
    pub bits: u32,
    pub group_size: u32,
    pub requested_bits: u32,
    pub quality: QualityFigures,
    pub fallbacks: Vec<FallbackStepJs>,
    pub layer_output: Option<LayerOutputFigures>,
    pub stored_bytes: f64,
}

impl From<ChunkQuality> for QualityFigures {
    fn from(q: ChunkQuality) -> Self {
        QualityFigures {
            elements: q.elements as f64,
            cosine: q.cosine,
            rel_mse: q.rel_mse,
            sqnr_db: q.sqnr_db,
            max_abs_err: q.max_abs_err,
            sum_xx: q.sum_xx,
            sum_yy: q.sum_yy,
            sum_xy: q.sum_xy,
            sum_ee: q.sum_ee,
        }
    }
}

impl From<LayerOutput> for LayerOutputFigures {
    fn from(o: LayerOutput) -> Self {
        LayerOutputFigures { rows: o.rows as f64, cosine: o.cosine, sum_ww: o.sum_ww, sum_we: o.sum_we, sum_ee: o.sum_ee }
    }
}

impl From<FallbackStep> for FallbackStepJs {
    fn from(f: FallbackStep) -> Self {
        FallbackStepJs {
            from_scheme: f.from_scheme,
            to_scheme: f.to_scheme,
            from_bits: f.from_bits,
            to_bits: f.to_bits,
            cosine: f.cosine,
            threshold: f.threshold,
        }
    }
}

impl ChunkRowJs {
    /// The row with the payload copied out of JS memory (it outlives this call on another thread).
    pub(crate) fn to_row(&self) -> Result<ChunkRow> {
        let copy = |b: &Option<Buffer>, what: &str| {
            b.as_ref()
                .map(|b| Payload::from_vec(b.to_vec()))
                .ok_or_else(|| {
                    Error::new(
                        Status::InvalidArg,
                        format!(
                            "row {:?} chunk {} has no {what}",
                            self.name, self.chunk_index
                        ),
                    )
                })
        };
        let (codes, scales, zeros) = (
            copy(&self.codes, "codes")?,
            copy(&self.scales, "scales")?,
            copy(&self.zeros, "zeros")?,
        );
        self.to_row_with(codes, scales, zeros)
    }

    pub(crate) fn to_row_with(
        &self,
        codes: Payload,
        scales: Payload,
        zeros: Payload,
    ) -> Result<ChunkRow> {
        let q = &self.quality;
        Ok(ChunkRow {
            tensor_index: self.tensor_index,
            name: self.name.clone(),
            component: self.component.clone(),
            shape: self
                .shape
                .iter()
                .map(|&d| u64_of(d, "shape"))
                .collect::<Result<_>>()?,
            source_dtype: self.source_dtype.clone(),
            chunk_index: self.chunk_index,
            chunk_count: self.chunk_count,
            row_start: u64_of(self.row_start, "rowStart")?,
            row_count: u64_of(self.row_count, "rowCount")?,
            method: self.method.clone(),
            scheme: self.scheme.clone(),
            bits: self.bits,
            group_size: self.group_size,
            requested_bits: self.requested_bits,
            codes,
            scales,
            zeros,
            quality: ChunkQuality {
                elements: u64_of(q.elements, "quality.elements")?,
                cosine: q.cosine,
                rel_mse: q.rel_mse,
                sqnr_db: q.sqnr_db,
                max_abs_err: q.max_abs_err,
                sum_xx: q.sum_xx,
                sum_yy: q.sum_yy,
                sum_xy: q.sum_xy,
                sum_ee: q.sum_ee,
            },
            fallbacks: self
                .fallbacks
                .iter()
                .map(|f| FallbackStep {
                    from_scheme: f.from_scheme.clone(),
                    to_scheme: f.to_scheme.clone(),
                    from_bits: f.from_bits,
                    to_bits: f.to_bits,
                    cosine: f.cosine,
                    threshold: f.threshold,
                })
                .collect(),
            channel_scales: self.channel_scales.as_ref().map(|b| b.to_vec()),
            time_groups: self.time_groups.as_ref().map(|gs| {
                gs.iter()
                    .map(|g| TimeGroupParams {
                        t_start: g.t_start,
                        t_end: g.t_end,
                        scale: g.scale as f32,
                        zero_point: g.zero_point as f32,
                    })
                    .collect()
            }),
            layer_output: match &self.layer_output {
                Some(o) => Some(LayerOutput {
                    rows: u64_of(o.rows, "layerOutput.rows")?,
                    cosine: o.cosine,
                    sum_ww: o.sum_ww,
                    sum_we: o.sum_we,
                    sum_ee: o.sum_ee,
                }),
                None => None,
            },
        })
    }
}

impl From<IndexRow> for IndexRowJs {
    fn from(r: IndexRow) -> Self {
        IndexRowJs {
            row_group: r.row_group as u32,
            tensor_index: r.tensor_index,
            name: r.name,
            component: r.component,
            shape: r.shape.iter().map(|&d| d as f64).collect(),
            source_dtype: r.source_dtype,
            chunk_index: r.chunk_index,
            chunk_count: r.chunk_count,
            row_start: r.row_start as f64,
            row_count: r.row_count as f64,
            method: r.method,
            scheme: r.scheme,
            bits: r.bits,
            group_size: r.group_size,
            requested_bits: r.requested_bits,
            quality: r.quality.into(),
            fallbacks: r.fallbacks.into_iter().map(Into::into).collect(),
            layer_output: r.layer_output.map(Into::into),
            stored_bytes: r.stored_bytes as f64,
        }
    }
}
