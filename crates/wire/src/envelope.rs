//! The protobuf envelopes of the coordinator's bulk messages, written by hand: two messages of
//! four fields each (`proto/arrowquant/v1/cluster.proto`), where a generated codec (prost +
//! protoc at build time) would add a code generator to the build for ~40 lines. The TypeScript
//! side decodes them with proto-loader, the real reader; `tests/cluster/wire-native.test.ts`
//! fails if a field number here drifts from the .proto.
//!
//! ```text
//! CoordinatorMessage { oneof kind { DataPart data = 3; LayerPart layer_data = 5; } }
//! DataPart  { uint64 task_id = 1; uint32 seq = 2; bool last = 3; bytes arrow_ipc = 4; }
//! LayerPart { string key = 1;     uint32 seq = 2; bool last = 3; bytes arrow_ipc = 4; }
//! ```
//!
//! Proto3 scalars equal to their default (0, false) are omitted, as the canonical encoding does.

/// `CoordinatorMessage.data`.
const COORDINATOR_DATA: u32 = 3;
/// `CoordinatorMessage.layer_data`.
const COORDINATOR_LAYER_DATA: u32 = 5;
const PART_ID: u32 = 1;
const PART_SEQ: u32 = 2;
const PART_LAST: u32 = 3;
const PART_ARROW_IPC: u32 = 4;

const VARINT: u32 = 0;
const LEN: u32 = 2;

/// The most bytes an envelope header takes with a key of `key_len` bytes: the outer tag and
/// length (1 + 10), the id field (1 + 10, or 1 + 10 + key), seq (1 + 5), last (2), the bytes
/// field's tag and length (1 + 10).
pub(crate) fn max_header_bytes(key_len: usize) -> usize {
    11 + 11 + key_len + 6 + 2 + 11
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_tag(out: &mut Vec<u8>, field: u32, wire_type: u32) {
    put_varint(out, u64::from((field << 3) | wire_type));
}

/// The id of a part: a data part's task id, or a layer part's key.
#[derive(Clone, Copy, Debug)]
pub enum PartId<'a> {
    Task(u64),
    Layer(&'a str),
}

/// The envelope's bytes before the Arrow IPC payload of `ipc_len` bytes: the whole message is
/// this header followed by the payload.
pub(crate) fn header(id: PartId<'_>, seq: u32, last: bool, ipc_len: usize) -> Vec<u8> {
    let mut inner = Vec::with_capacity(max_header_bytes(0));
    let outer_field = match id {
        PartId::Task(task_id) => {
            if task_id != 0 {
                put_tag(&mut inner, PART_ID, VARINT);
                put_varint(&mut inner, task_id);
            }
            COORDINATOR_DATA
        }
        PartId::Layer(key) => {
            if !key.is_empty() {
                put_tag(&mut inner, PART_ID, LEN);
                put_varint(&mut inner, key.len() as u64);
                inner.extend_from_slice(key.as_bytes());
            }
            COORDINATOR_LAYER_DATA
        }
    };
    if seq != 0 {
        put_tag(&mut inner, PART_SEQ, VARINT);
        put_varint(&mut inner, u64::from(seq));
    }
    if last {
        put_tag(&mut inner, PART_LAST, VARINT);
        put_varint(&mut inner, 1);
    }
    put_tag(&mut inner, PART_ARROW_IPC, LEN);
    put_varint(&mut inner, ipc_len as u64);
    let mut out = Vec::with_capacity(inner.len() + 11);
    put_tag(&mut out, outer_field, LEN);
    put_varint(&mut out, (inner.len() + ipc_len) as u64);
    out.extend_from_slice(&inner);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_as_the_protobuf_encoding_spec_gives_them() {
        let enc = |v: u64| {
            let mut o = Vec::new();
            put_varint(&mut o, v);
            o
        };
        assert_eq!(enc(0), [0x00]);
        assert_eq!(enc(1), [0x01]);
        assert_eq!(enc(127), [0x7f]);
        assert_eq!(enc(128), [0x80, 0x01]);
        assert_eq!(enc(150), [0x96, 0x01]);
        assert_eq!(enc(300), [0xac, 0x02]);
        assert_eq!(enc(u64::MAX), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    }

    #[test]
    fn a_data_part_header_field_by_field() {
        // data (3, LEN) { task_id (1) = 150, seq (2) = 2, last (3) = true, arrow_ipc (4, LEN) = 5 bytes }
        let h = header(PartId::Task(150), 2, true, 5);
        assert_eq!(h, [0x1a, 14, 0x08, 0x96, 0x01, 0x10, 0x02, 0x18, 0x01, 0x22, 0x05]);
        // Defaults omitted: task 0, seq 0, not last.
        assert_eq!(header(PartId::Task(0), 0, false, 3), [0x1a, 5, 0x22, 0x03]);
    }

    #[test]
    fn a_layer_part_header_and_the_bound() {
        let h = header(PartId::Layer("7:h"), 1, false, 200);
        // layer_data (5, LEN) of key (5 bytes) + seq (2) + arrow_ipc's tag and length (3) + 200 = 210.
        assert_eq!(h, [0x2a, 0xd2, 0x01, 0x0a, 0x03, b'7', b':', b'h', 0x10, 0x01, 0x22, 0xc8, 0x01]);
        let worst = header(PartId::Layer("k"), u32::MAX, true, usize::MAX >> 8);
        assert!(worst.len() <= max_header_bytes(1));
        assert!(header(PartId::Task(u64::MAX), u32::MAX, true, usize::MAX >> 8).len() <= max_header_bytes(0));
    }
}
