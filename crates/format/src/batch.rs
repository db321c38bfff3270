//! Conversion between [`ChunkRow`]s and Arrow record batches of [`crate::schema::schema`].

use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, Float32Builder, Float64Builder, Int32Builder, Int64Builder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, BinaryArray, ListArray, RecordBatch, StructArray};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{ArrowError, Fields};

use crate::row::{ChunkQuality, ChunkRow, FallbackStep, LayerOutput, Payload, TimeGroupParams};
use crate::schema::{self, fallback_fields, layer_output_fields, list_item, quality_fields, shape_item, time_group_fields};

fn i32_of(v: u32, what: &str, row: &ChunkRow) -> Result<i32, ArrowError> {
    i32::try_from(v).map_err(|_| {
        ArrowError::InvalidArgumentError(format!("{} chunk {}: {what} {v} exceeds i32", row.name, row.chunk_index))
    })
}

fn i64_of(v: u64, what: &str, row: &ChunkRow) -> Result<i64, ArrowError> {
    i64::try_from(v).map_err(|_| {
        ArrowError::InvalidArgumentError(format!("{} chunk {}: {what} {v} exceeds i64", row.name, row.chunk_index))
    })
}

/// Build a list column from per-row item lists (`None` = null list).
fn list_column<T>(
    rows: &[ChunkRow],
    items_of: impl Fn(&ChunkRow) -> Option<&[T]>,
    fields: Fields,
    columns: impl Fn(&[&T]) -> Vec<ArrayRef>,
) -> ListArray {
    let mut lengths = Vec::with_capacity(rows.len());
    let mut valid = Vec::with_capacity(rows.len());
    let mut all: Vec<&T> = Vec::new();
    for r in rows {
        let items = items_of(r);
        valid.push(items.is_some());
        let items = items.unwrap_or(&[]);
        lengths.push(items.len());
        all.extend(items.iter());
    }
    let values = StructArray::new(fields.clone(), columns(&all), None);
    let nulls = if valid.iter().all(|v| *v) { None } else { Some(NullBuffer::from(valid)) };
    ListArray::new(list_item(fields), OffsetBuffer::from_lengths(lengths), Arc::new(values), nulls)
}

/// A binary column from payloads. One value (the writer's case: one row per batch) becomes
/// the column's data buffer as it is, without a copy; several are concatenated.
fn binary_column(values: Vec<Payload>, what: &str) -> Result<BinaryArray, ArrowError> {
    let lengths: Vec<usize> = values.iter().map(|v| v.len()).collect();
    // Binary columns have i32 offsets: refuse (rather than panic on) 2 GiB or more per batch.
    let total: usize = lengths.iter().sum();
    if total > i32::MAX as usize {
        return Err(ArrowError::InvalidArgumentError(format!(
            "{what} payload of {total} bytes exceeds the 2 GiB a row can hold; use a smaller chunk_mib"
        )));
    }
    let data = if values.len() == 1 {
        values.into_iter().next().unwrap_or_else(|| Payload::from_vec(Vec::<u8>::new()))
    } else {
        Payload::from_vec(values.iter().flat_map(|v| v.as_slice().iter().copied()).collect::<Vec<u8>>())
    };
    Ok(BinaryArray::new(OffsetBuffer::from_lengths(lengths), data, None))
}

/// Build a batch, taking the rows' payload vectors (they are moved, not copied, into the batch).
pub fn to_batch(mut rows: Vec<ChunkRow>) -> Result<RecordBatch, ArrowError> {
    let codes_col = binary_column(rows.iter_mut().map(|r| std::mem::replace(&mut r.codes, Payload::from_vec(Vec::<u8>::new()))).collect(), "codes")?;
    let scales_col = binary_column(rows.iter_mut().map(|r| std::mem::replace(&mut r.scales, Payload::from_vec(Vec::<u8>::new()))).collect(), "scales")?;
    let zeros_col = binary_column(rows.iter_mut().map(|r| std::mem::replace(&mut r.zeros, Payload::from_vec(Vec::<u8>::new()))).collect(), "zeros")?;
    let rows = &rows[..];
    let n = rows.len();
    let mut tensor_index = Int32Builder::with_capacity(n);
    let mut name = StringBuilder::new();
    let mut component = StringBuilder::new();
    let mut shape_values = Int64Builder::new();
    let mut shape_lengths = Vec::with_capacity(n);
    let mut source_dtype = StringBuilder::new();
    let (mut chunk_index, mut chunk_count) = (Int32Builder::with_capacity(n), Int32Builder::with_capacity(n));
    let (mut row_start, mut row_count) = (Int64Builder::with_capacity(n), Int64Builder::with_capacity(n));
    let (mut method, mut scheme) = (StringBuilder::new(), StringBuilder::new());
    let (mut bits, mut group_size, mut requested_bits) =
        (Int32Builder::with_capacity(n), Int32Builder::with_capacity(n), Int32Builder::with_capacity(n));
    let mut channel_scales = BinaryBuilder::new();
    let mut q: Vec<Float64Builder> = (0..8).map(|_| Float64Builder::with_capacity(n)).collect();
    let mut q_elements = Int64Builder::with_capacity(n);

    for r in rows {
        tensor_index.append_value(i32_of(r.tensor_index, "tensor_index", r)?);
        name.append_value(&r.name);
        component.append_option(r.component.as_deref());
        for &d in &r.shape {
            shape_values.append_value(i64_of(d, "dimension", r)?);
        }
        shape_lengths.push(r.shape.len());
        source_dtype.append_value(&r.source_dtype);
        chunk_index.append_value(i32_of(r.chunk_index, "chunk_index", r)?);
        chunk_count.append_value(i32_of(r.chunk_count, "chunk_count", r)?);
        row_start.append_value(i64_of(r.row_start, "row_start", r)?);
        row_count.append_value(i64_of(r.row_count, "row_count", r)?);
        method.append_value(&r.method);
        scheme.append_value(&r.scheme);
        bits.append_value(i32_of(r.bits, "bits", r)?);
        group_size.append_value(i32_of(r.group_size, "group_size", r)?);
        requested_bits.append_value(i32_of(r.requested_bits, "requested_bits", r)?);
        channel_scales.append_option(r.channel_scales.as_deref());
        let qq = &r.quality;
        q_elements.append_value(i64_of(qq.elements, "elements", r)?);
        for (b, v) in q.iter_mut().zip([
            qq.cosine,
            qq.rel_mse,
            qq.sqnr_db,
            qq.max_abs_err,
            qq.sum_xx,
            qq.sum_yy,
            qq.sum_xy,
            qq.sum_ee,
        ]) {
            b.append_value(v);
        }
    }

    let shape = ListArray::new(
        shape_item(),
        OffsetBuffer::from_lengths(shape_lengths),
        Arc::new(shape_values.finish()),
        None,
    );
    let mut quality_columns: Vec<ArrayRef> = vec![Arc::new(q_elements.finish())];
    quality_columns.extend(q.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    let quality = StructArray::new(quality_fields(), quality_columns, None);

    let fallbacks = list_column(
        rows,
        |r| Some(&r.fallbacks[..]),
        fallback_fields(),
        |all: &[&FallbackStep]| {
            let mut from_scheme = StringBuilder::new();
            let mut to_scheme = StringBuilder::new();
            let (mut from_bits, mut to_bits) = (Int32Builder::new(), Int32Builder::new());
            let (mut cosine, mut threshold) = (Float64Builder::new(), Float64Builder::new());
            for f in all {
                from_scheme.append_value(&f.from_scheme);
                to_scheme.append_value(&f.to_scheme);
                from_bits.append_value(f.from_bits as i32);
                to_bits.append_value(f.to_bits as i32);
                cosine.append_value(f.cosine);
                threshold.append_value(f.threshold);
            }
            vec![
                Arc::new(from_scheme.finish()),
                Arc::new(to_scheme.finish()),
                Arc::new(from_bits.finish()),
                Arc::new(to_bits.finish()),
                Arc::new(cosine.finish()),
                Arc::new(threshold.finish()),
            ]
        },
    );
    let time_groups = list_column(
        rows,
        |r| r.time_groups.as_deref(),
        time_group_fields(),
        |all: &[&TimeGroupParams]| {
            let (mut t0, mut t1) = (Int32Builder::new(), Int32Builder::new());
            let (mut scale, mut zero) = (Float32Builder::new(), Float32Builder::new());
            for g in all {
                t0.append_value(g.t_start);
                t1.append_value(g.t_end);
                scale.append_value(g.scale);
                zero.append_value(g.zero_point);
            }
            vec![Arc::new(t0.finish()), Arc::new(t1.finish()), Arc::new(scale.finish()), Arc::new(zero.finish())]
        },
    );

    RecordBatch::try_new(
        schema::schema(),
        vec![
            Arc::new(tensor_index.finish()),
            Arc::new(name.finish()),
            Arc::new(component.finish()),
            Arc::new(shape),
            Arc::new(source_dtype.finish()),
            Arc::new(chunk_index.finish()),
            Arc::new(chunk_count.finish()),
            Arc::new(row_start.finish()),
            Arc::new(row_count.finish()),
            Arc::new(method.finish()),
            Arc::new(scheme.finish()),
            Arc::new(bits.finish()),
            Arc::new(group_size.finish()),
            Arc::new(requested_bits.finish()),
            Arc::new(codes_col),
            Arc::new(scales_col),
            Arc::new(zeros_col),
            Arc::new(quality),
            Arc::new(fallbacks),
            Arc::new(channel_scales.finish()),
            Arc::new(time_groups),
            Arc::new(layer_output_column(rows)),
        ],
    )
}

/// The nullable `layer_output` struct column (null where a chunk was not measured).
fn layer_output_column(rows: &[ChunkRow]) -> StructArray {
    let mut measured = Int64Builder::with_capacity(rows.len());
    let mut f: Vec<Float64Builder> = (0..4).map(|_| Float64Builder::with_capacity(rows.len())).collect();
    for r in rows {
        let o = r.layer_output.unwrap_or_default();
        measured.append_value(o.rows.min(i64::MAX as u64) as i64);
        for (b, v) in f.iter_mut().zip([o.cosine, o.sum_ww, o.sum_we, o.sum_ee]) {
            b.append_value(v);
        }
    }
    let mut columns: Vec<ArrayRef> = vec![Arc::new(measured.finish())];
    columns.extend(f.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    let nulls = NullBuffer::from(rows.iter().map(|r| r.layer_output.is_some()).collect::<Vec<bool>>());
    StructArray::new(layer_output_fields(), columns, Some(nulls))
}

/// Typed access to a batch's columns by name (readers may project a subset).
pub struct Columns<'a> {
    batch: &'a RecordBatch,
}

impl<'a> Columns<'a> {
    pub fn new(batch: &'a RecordBatch) -> Self {
        Columns { batch }
    }

    fn col(&self, name: &str) -> Result<&'a ArrayRef, String> {
        self.batch.column_by_name(name).ok_or_else(|| format!("column {name:?} is missing"))
    }

    pub fn i32(&self, name: &str, i: usize) -> Result<i32, String> {
        let c = self.col(name)?.as_primitive_opt::<Int32Type>().ok_or_else(|| format!("column {name:?} is not int32"))?;
        Ok(c.value(i))
    }

    pub fn u32(&self, name: &str, i: usize) -> Result<u32, String> {
        u32::try_from(self.i32(name, i)?).map_err(|_| format!("column {name:?} row {i} is negative"))
    }

    pub fn u64(&self, name: &str, i: usize) -> Result<u64, String> {
        let c = self.col(name)?.as_primitive_opt::<Int64Type>().ok_or_else(|| format!("column {name:?} is not int64"))?;
        u64::try_from(c.value(i)).map_err(|_| format!("column {name:?} row {i} is negative"))
    }

    pub fn str(&self, name: &str, i: usize) -> Result<Option<String>, String> {
        let c = self.col(name)?.as_string_opt::<i32>().ok_or_else(|| format!("column {name:?} is not utf8"))?;
        Ok(c.is_valid(i).then(|| c.value(i).to_string()))
    }

    pub fn string(&self, name: &str, i: usize) -> Result<String, String> {
        self.str(name, i)?.ok_or_else(|| format!("column {name:?} row {i} is null"))
    }

    pub fn bytes(&self, name: &str, i: usize) -> Result<Option<Vec<u8>>, String> {
        let c = self.col(name)?.as_binary_opt::<i32>().ok_or_else(|| format!("column {name:?} is not binary"))?;
        Ok(c.is_valid(i).then(|| c.value(i).to_vec()))
    }

    pub fn shape(&self, i: usize) -> Result<Vec<u64>, String> {
        let list = self.col("shape")?.as_list_opt::<i32>().ok_or("column \"shape\" is not a list")?;
        let values = list.value(i);
        let values = values.as_primitive_opt::<Int64Type>().ok_or("shape items are not int64")?;
        values.values().iter().map(|&d| u64::try_from(d).map_err(|_| format!("negative dimension {d}"))).collect()
    }

    pub fn quality(&self, i: usize) -> Result<ChunkQuality, String> {
        let s = self.col("quality")?.as_struct_opt().ok_or("column \"quality\" is not a struct")?;
        let f = |name: &str| -> Result<f64, String> {
            let c = s.column_by_name(name).ok_or_else(|| format!("quality.{name} is missing"))?;
            Ok(c.as_primitive_opt::<Float64Type>().ok_or_else(|| format!("quality.{name} is not float64"))?.value(i))
        };
        let elements = s
            .column_by_name("elements")
            .and_then(|c| c.as_primitive_opt::<Int64Type>())
            .ok_or("quality.elements is missing")?
            .value(i);
        Ok(ChunkQuality {
            elements: elements.max(0) as u64,
            cosine: f("cosine")?,
            rel_mse: f("rel_mse")?,
            sqnr_db: f("sqnr_db")?,
            max_abs_err: f("max_abs_err")?,
            sum_xx: f("sum_xx")?,
            sum_yy: f("sum_yy")?,
            sum_xy: f("sum_xy")?,
            sum_ee: f("sum_ee")?,
        })
    }

    /// A row's layer-output figures; None when null or when the file predates the column.
    pub fn layer_output(&self, i: usize) -> Result<Option<LayerOutput>, String> {
        let Some(c) = self.batch.column_by_name("layer_output") else { return Ok(None) };
        let s = c.as_struct_opt().ok_or("column \"layer_output\" is not a struct")?;
        if s.is_null(i) {
            return Ok(None);
        }
        let f = |name: &str| -> Result<f64, String> {
            let c = s.column_by_name(name).ok_or_else(|| format!("layer_output.{name} is missing"))?;
            Ok(c.as_primitive_opt::<Float64Type>().ok_or_else(|| format!("layer_output.{name} is not float64"))?.value(i))
        };
        let rows = s.column_by_name("rows").and_then(|c| c.as_primitive_opt::<Int64Type>()).ok_or("layer_output.rows is missing")?.value(i);
        Ok(Some(LayerOutput { rows: rows.max(0) as u64, cosine: f("cosine")?, sum_ww: f("sum_ww")?, sum_we: f("sum_we")?, sum_ee: f("sum_ee")? }))
    }

    fn struct_items(&self, name: &str, i: usize) -> Result<Option<StructArray>, String> {
        let list = self.col(name)?.as_list_opt::<i32>().ok_or_else(|| format!("column {name:?} is not a list"))?;
        if list.is_null(i) {
            return Ok(None);
        }
        Ok(Some(list.value(i).as_struct_opt().ok_or_else(|| format!("{name} items are not structs"))?.clone()))
    }

    pub fn fallbacks(&self, i: usize) -> Result<Vec<FallbackStep>, String> {
        let Some(s) = self.struct_items("fallbacks", i)? else { return Ok(Vec::new()) };
        let text = |n: &str| s.column_by_name(n).and_then(|c| c.as_string_opt::<i32>().cloned()).ok_or(format!("fallbacks.{n}"));
        let int = |n: &str| s.column_by_name(n).and_then(|c| c.as_primitive_opt::<Int32Type>().cloned()).ok_or(format!("fallbacks.{n}"));
        let float = |n: &str| s.column_by_name(n).and_then(|c| c.as_primitive_opt::<Float64Type>().cloned()).ok_or(format!("fallbacks.{n}"));
        let (fs, ts, fb, tb, c, t) =
            (text("from_scheme")?, text("to_scheme")?, int("from_bits")?, int("to_bits")?, float("cosine")?, float("threshold")?);
        Ok((0..s.len())
            .map(|k| FallbackStep {
                from_scheme: fs.value(k).into(),
                to_scheme: ts.value(k).into(),
                from_bits: fb.value(k).max(0) as u32,
                to_bits: tb.value(k).max(0) as u32,
                cosine: c.value(k),
                threshold: t.value(k),
            })
            .collect())
    }

    pub fn time_groups(&self, i: usize) -> Result<Option<Vec<TimeGroupParams>>, String> {
        let Some(s) = self.struct_items("time_groups", i)? else { return Ok(None) };
        let int = |n: &str| s.column_by_name(n).and_then(|c| c.as_primitive_opt::<Int32Type>().cloned()).ok_or(format!("time_groups.{n}"));
        let float = |n: &str| s.column_by_name(n).and_then(|c| c.as_primitive_opt::<Float32Type>().cloned()).ok_or(format!("time_groups.{n}"));
        let (t0, t1, sc, zp) = (int("t_start")?, int("t_end")?, float("scale")?, float("zero_point")?);
        Ok(Some(
            (0..s.len())
                .map(|k| TimeGroupParams { t_start: t0.value(k), t_end: t1.value(k), scale: sc.value(k), zero_point: zp.value(k) })
                .collect(),
        ))
    }
}
