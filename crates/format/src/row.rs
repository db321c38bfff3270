/// Payload bytes: an immutable, shareable buffer, so a row can carry bytes that are owned
/// elsewhere (a pooled read buffer, a kernel's output) into the writer without a copy.
pub use arrow_buffer::Buffer as Payload;

/// A payload over bytes owned by `owner` (no copy); the owner is dropped when the writer is done
/// with the bytes.
pub fn shared_payload<T>(owner: std::sync::Arc<T>) -> Payload
where
    T: AsRef<[u8]> + Send + Sync + std::panic::RefUnwindSafe + 'static,
{
    let bytes = (*owner).as_ref();
    let (ptr, len) = (bytes.as_ptr(), bytes.len());
    match std::ptr::NonNull::new(ptr as *mut u8) {
        // SAFETY: `ptr..ptr+len` is owned by `owner`'s heap allocation, which the Arc keeps alive
        // and immutable for as long as the Buffer (which holds the Arc) exists.
        Some(nn) if len > 0 => unsafe { Payload::from_custom_allocation(nn, len, owner) },
        _ => Payload::from_vec(Vec::<u8>::new()),
    }
}

/// One row of the file: a run of whole rows (`row_start..row_start+row_count` of the tensor's 2-D
/// view `[product of leading dims, last dim]`) of one tensor, quantized or kept.
#[derive(Clone, Debug, PartialEq)]
pub struct ChunkRow {
    /// Position of the tensor in model order (0-based, dense).
    pub tensor_index: u32,
    pub name: String,
    /// Diffusers pipeline component (`transformer`, `vae`, ...), `None` for a plain model.
    pub component: Option<String>,
    pub shape: Vec<u64>,
    /// safetensors dtype string of the source (`F32`, `BF16`, `I64`, ...).
    pub source_dtype: String,
    pub chunk_index: u32,
    pub chunk_count: u32,
    pub row_start: u64,
    pub row_count: u64,
    /// `keep` or the configured method (`rtn`, `rtn_sym`, `nf4`, `q4_0`, ...).
    pub method: String,
    /// Kernel scheme name (`rtn_int4_g128_asym`), or for kept tensors the stored dtype (`keep_bf16`).
    pub scheme: String,
    /// Bits per code (kept: bits of the stored dtype).
    pub bits: u32,
    /// Elements per quantization group along a row; 0 when the scheme has no groups.
    pub group_size: u32,
    /// Bits the plan asked for before any fallback.
    pub requested_bits: u32,
    pub codes: Payload,
    /// Little-endian f32 scales.
    pub scales: Payload,
    /// u8 zero-points.
    pub zeros: Payload,
    pub quality: ChunkQuality,
    /// The tensor's fallback steps (same list on every chunk row of the tensor).
    pub fallbacks: Vec<FallbackStep>,
    /// Per-input-channel smoothing factors (little-endian f32), when not folded into a previous op.
    pub channel_scales: Option<Vec<u8>>,
    /// Per-timestep-group activation quantization parameters of the layer's input.
    pub time_groups: Option<Vec<TimeGroupParams>>,
    /// The chunk's layer-output figures, when it was measured with its layer's Hessian.
    pub layer_output: Option<LayerOutput>,
}

/// Layer-output quality of a chunk (docs/FORMAT.md, Quality): over `rows` measured rows w of the
/// weights, e = w − ŵ and the layer's Hessian H, `sum_ww = Σ wHwᵀ`, `sum_we = Σ wHeᵀ`,
/// `sum_ee = Σ eHeᵀ`; `cosine` is the chunk's own cos(XWᵀ, XŴᵀ) from them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LayerOutput {
    pub rows: u64,
    pub cosine: f64,
    pub sum_ww: f64,
    pub sum_we: f64,
    pub sum_ee: f64,
}

/// Quality of this chunk's reconstruction, with the sums that let a reader merge chunks exactly.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ChunkQuality {
    pub elements: u64,
    pub cosine: f64,
    pub rel_mse: f64,
    pub sqnr_db: f64,
    pub max_abs_err: f64,
    pub sum_xx: f64,
    pub sum_yy: f64,
    pub sum_xy: f64,
    pub sum_ee: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FallbackStep {
    pub from_scheme: String,
    pub to_scheme: String,
    pub from_bits: u32,
    pub to_bits: u32,
    /// Cosine similarity measured with `from_scheme` over the whole tensor.
    pub cosine: f64,
    pub threshold: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimeGroupParams {
    pub t_start: i32,
    pub t_end: i32,
    pub scale: f32,
    pub zero_point: f32,
}

impl ChunkRow {
    /// Bytes this row occupies in the file's payload columns (the writer's row-group budget).
    pub fn payload_bytes(&self) -> usize {
        self.codes.len() + self.scales.len() + self.zeros.len() + self.channel_scales.as_ref().map_or(0, Vec::len)
    }
}
