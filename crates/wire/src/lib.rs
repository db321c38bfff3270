//! The cluster's bulk messages built in native code (issue 16: every byte moves once). A chunk
//! sent by value, or a layer's Hessian, leaves the coordinator as complete protobuf messages
//! (`CoordinatorMessage` with a `DataPart` or `LayerPart` whose `arrow_ipc` is one Arrow IPC
//! stream), written straight from the source read's buffer: no JS copy of the bytes, no
//! apache-arrow encoding and no protobufjs encoding on the coordinator's thread. grpc-js frames
//! the message as it is (`common/cluster/proto.ts` passes encoded messages through).
//!
//! - [`parts`]: the row-aligned cut and the Arrow IPC stream of one part (arrow-rs).
//! - [`envelope`]: the protobuf envelope (hand-written, tested against the .proto's reader).

mod envelope;
pub mod parts;

pub use arrow_buffer::Buffer;
pub use envelope::PartId;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("{len} source bytes are not whole rows of {row_bytes} bytes")]
    NotWholeRows { len: usize, row_bytes: usize },
    #[error("part size must be positive")]
    PartBytes,
    #[error("Arrow IPC: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}

pub type Result<T> = std::result::Result<T, WireError>;

/// More than one part's IPC metadata takes.
const IPC_OVERHEAD: usize = 4096;

/// One encoded message: `bytes[start..]` (the IPC stream is written after room for the largest
/// header, and the header placed right before it, so nothing is moved).
#[derive(Debug)]
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub start: usize,
    /// Bytes of the part's Arrow IPC stream (the payload the statistics count).
    pub ipc_len: usize,
}

impl Encoded {
    pub fn message(&self) -> &[u8] {
        &self.bytes[self.start..]
    }
}

/// The messages that carry `source` (whole rows of `row_bytes`) in parts of about `part_bytes`,
/// numbered from 0, the last one marked.
pub fn part_messages(source: &Buffer, row_bytes: usize, part_bytes: usize, id: PartId<'_>) -> Result<Vec<Encoded>> {
    if part_bytes == 0 {
        return Err(WireError::PartBytes);
    }
    parts::check_rows(source.len(), row_bytes)?;
    let room = envelope::max_header_bytes(match id {
        PartId::Layer(k) => k.len(),
        PartId::Task(_) => 0,
    });
    let ranges = parts::part_ranges(source.len() / row_bytes, row_bytes, part_bytes);
    let count = ranges.len();
    ranges
        .into_iter()
        .enumerate()
        .map(|(seq, (first, n))| {
            let rows = source.slice_with_length(first * row_bytes, n * row_bytes);
            // Room for the header, the rows, and the IPC metadata (schema and batch messages,
            // padding, end of stream: a few hundred bytes), so the writer never reallocates.
            let mut out = Vec::with_capacity(room + n * row_bytes + IPC_OVERHEAD);
            out.resize(room, 0);
            let mut bytes = parts::write_part_ipc(out, rows, row_bytes)?;
            let ipc_len = bytes.len() - room;
            let head = envelope::header(id, seq as u32, seq + 1 == count, ipc_len);
            let start = room - head.len();
            bytes[start..room].copy_from_slice(&head);
            Ok(Encoded { bytes, start, ipc_len })
        })
        .collect()
}
