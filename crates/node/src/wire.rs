//! A source chunk as the coordinator's bulk messages (`arrowquant-wire`): the chunk's bytes go
//! from the read buffer into complete protobuf messages off the JS thread, without a JS copy.

use std::sync::Arc;

use arrowquant_source::PooledBuf;
use arrowquant_wire::{part_messages, PartId};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::source::SourceChunk;

/// One message, `bytes.subarray(start)` (the header sits right before the IPC stream, in room
/// left for it, so nothing is moved).
#[napi(object)]
pub struct EncodedMessage {
    pub bytes: Buffer,
    pub start: u32,
    /// The Arrow IPC stream's bytes (what the transfer statistics count).
    pub ipc_bytes: u32,
}

pub enum Id {
    Task(u64),
    Layer(String),
}

pub struct EncodeTask {
    data: Arc<PooledBuf>,
    row_bytes: usize,
    part_bytes: usize,
    id: Id,
}

#[napi]
impl Task for EncodeTask {
    type Output = Vec<arrowquant_wire::Encoded>;
    type JsValue = Vec<EncodedMessage>;

    fn compute(&mut self) -> Result<Self::Output> {
        let source = arrowquant_format::shared_payload(self.data.clone());
        let id = match &self.id {
            Id::Task(t) => PartId::Task(*t),
            Id::Layer(k) => PartId::Layer(k),
        };
        part_messages(&source, self.row_bytes, self.part_bytes, id).map_err(|e| Error::from_reason(e.to_string()))
    }

    fn resolve(&mut self, _env: Env, out: Self::Output) -> Result<Self::JsValue> {
        Ok(out
            .into_iter()
            .map(|e| EncodedMessage { start: e.start as u32, ipc_bytes: e.ipc_len as u32, bytes: e.bytes.into() })
            .collect())
    }
}

fn task_id(v: f64) -> Result<u64> {
    if v.fract() != 0.0 || !(0.0..=9_007_199_254_740_991.0).contains(&v) {
        return Err(Error::from_reason(format!("task id {v} is not a non-negative safe integer")));
    }
    Ok(v as u64)
}

#[napi]
impl SourceChunk {
    /// The chunk as `CoordinatorMessage { data: DataPart }` messages of about `partBytes` each
    /// (whole rows of `rowBytes`), numbered from 0, the last marked.
    #[napi(ts_return_type = "Promise<EncodedMessage[]>")]
    pub fn data_messages(&self, task: f64, row_bytes: u32, part_bytes: u32) -> Result<AsyncTask<EncodeTask>> {
        Ok(AsyncTask::new(EncodeTask { data: self.shared()?, row_bytes: row_bytes as usize, part_bytes: part_bytes as usize, id: Id::Task(task_id(task)?) }))
    }

    /// The chunk (a layer's Hessian) as `CoordinatorMessage { layer_data: LayerPart }` messages.
    #[napi(ts_return_type = "Promise<EncodedMessage[]>")]
    pub fn layer_messages(&self, key: String, row_bytes: u32, part_bytes: u32) -> Result<AsyncTask<EncodeTask>> {
        Ok(AsyncTask::new(EncodeTask { data: self.shared()?, row_bytes: row_bytes as usize, part_bytes: part_bytes as usize, id: Id::Layer(key) }))
    }
}
