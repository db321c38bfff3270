//! Messages read back: the envelope by a protobuf field walker written here (independent of the
//! encoder), the payload by arrow-rs's IPC stream reader; rows equal to the source, parts
//! numbered and cut as the TypeScript encoder cuts them (whole rows, a row larger than a part
//! alone, one empty part for no rows).

use std::io::Cursor;

use arrow_array::{Array, FixedSizeBinaryArray};
use arrow_ipc::reader::StreamReader;
use arrowquant_wire::{part_messages, parts::part_ranges, Buffer, PartId, WireError};

fn varint(b: &[u8], at: &mut usize) -> u64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let byte = b[*at];
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return v;
        }
        shift += 7;
    }
}

/// Fields of one message: (number, varint value or bytes).
fn fields(b: &[u8]) -> Vec<(u32, Result<u64, Vec<u8>>)> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < b.len() {
        let key = varint(b, &mut at);
        let (field, wt) = ((key >> 3) as u32, key & 7);
        match wt {
            0 => out.push((field, Ok(varint(b, &mut at)))),
            2 => {
                let n = varint(b, &mut at) as usize;
                out.push((field, Err(b[at..at + n].to_vec())));
                at += n;
            }
            _ => panic!("wire type {wt}"),
        }
    }
    out
}

struct Part {
    outer: u32,
    id: Result<u64, Vec<u8>>,
    seq: u64,
    last: bool,
    rows: Vec<Vec<u8>>,
    width: i32,
}

fn read(message: &[u8]) -> Part {
    let outer = fields(message);
    assert_eq!(outer.len(), 1, "one oneof member");
    let (outer_field, inner) = (outer[0].0, outer[0].1.clone().expect_err("a sub-message"));
    let (mut id, mut seq, mut last, mut ipc) = (Ok(0), 0, false, None);
    for (f, v) in fields(&inner) {
        match f {
            1 => id = v,
            2 => seq = v.unwrap(),
            3 => last = v.unwrap() == 1,
            4 => ipc = Some(v.unwrap_err()),
            _ => panic!("field {f}"),
        }
    }
    let reader = StreamReader::try_new(Cursor::new(ipc.expect("arrow_ipc")), None).unwrap();
    let schema = reader.schema();
    assert_eq!(schema.fields().len(), 1);
    assert_eq!(schema.field(0).name(), "weights");
    assert!(!schema.field(0).is_nullable());
    let mut rows = Vec::new();
    let mut width = 0;
    for batch in reader {
        let batch = batch.unwrap();
        let col = batch.column(0).as_any().downcast_ref::<FixedSizeBinaryArray>().unwrap();
        width = col.value_length();
        assert_eq!(col.null_count(), 0);
        rows.extend((0..col.len()).map(|i| col.value(i).to_vec()));
    }
    Part { outer: outer_field, id, seq, last, rows, width }
}

fn source(len: usize) -> Buffer {
    Buffer::from_vec((0..len).map(|i| (i * 31 % 251) as u8).collect::<Vec<u8>>())
}

#[test]
fn data_parts_carry_the_rows_in_order() {
    for (rows, row_bytes, part_bytes) in [(1000usize, 40usize, 4096usize), (7, 3000, 4096), (1, 8, 1 << 21), (64, 64, 64), (5, 10_000, 4096)] {
        let src = source(rows * row_bytes);
        let msgs = part_messages(&src, row_bytes, part_bytes, PartId::Task(77_000_000_001)).unwrap();
        let ranges = part_ranges(rows, row_bytes, part_bytes);
        assert_eq!(msgs.len(), ranges.len());
        let mut got = Vec::new();
        for (i, (m, (first, n))) in msgs.iter().zip(&ranges).enumerate() {
            let p = read(m.message());
            assert_eq!(p.outer, 3, "CoordinatorMessage.data");
            assert_eq!(p.id, Ok(77_000_000_001));
            assert_eq!(p.seq, i as u64);
            assert_eq!(p.last, i + 1 == msgs.len());
            assert_eq!(p.width as usize, row_bytes);
            assert_eq!(p.rows.len(), *n);
            assert_eq!(p.rows.concat(), src.as_slice()[first * row_bytes..(first + n) * row_bytes]);
            assert!(m.ipc_len > n * row_bytes && m.message().len() > m.ipc_len);
            got.extend(p.rows);
        }
        assert_eq!(got.concat(), src.as_slice(), "{rows} rows of {row_bytes}");
        // Whole rows per part, at most part_bytes unless one row is larger.
        for (_, n) in &ranges {
            assert!(*n == 1 || n * row_bytes <= part_bytes);
        }
    }
}

#[test]
fn layer_parts_name_their_layer() {
    let src = source(96 * 96 * 4);
    let msgs = part_messages(&src, 96 * 4, 8192, PartId::Layer("job-1/12:h")).unwrap();
    assert!(msgs.len() > 1);
    for (i, m) in msgs.iter().enumerate() {
        let p = read(m.message());
        assert_eq!(p.outer, 5, "CoordinatorMessage.layer_data");
        assert_eq!(p.id, Err(b"job-1/12:h".to_vec()));
        assert_eq!(p.seq, i as u64);
    }
}

#[test]
fn no_rows_is_one_empty_last_part() {
    let msgs = part_messages(&Buffer::from_vec(Vec::<u8>::new()), 16, 4096, PartId::Task(1)).unwrap();
    assert_eq!(msgs.len(), 1);
    let p = read(msgs[0].message());
    assert!(p.last && p.rows.is_empty() && p.seq == 0);
}

#[test]
fn bad_shapes_are_errors() {
    let src = source(100);
    assert!(matches!(part_messages(&src, 30, 4096, PartId::Task(1)), Err(WireError::NotWholeRows { len: 100, row_bytes: 30 })));
    assert!(matches!(part_messages(&src, 0, 4096, PartId::Task(1)), Err(WireError::NotWholeRows { .. })));
    assert!(matches!(part_messages(&src, 10, 0, PartId::Task(1)), Err(WireError::PartBytes)));
    let msg = part_messages(&src, 30, 4096, PartId::Task(1)).unwrap_err().to_string();
    assert!(msg.contains("100 source bytes") && msg.contains("30"), "{msg}");
}

#[test]
fn a_message_fits_the_room_it_was_given() {
    // The buffer never grew past its first allocation: the IPC metadata fits the room reserved.
    for (rows, row_bytes) in [(1usize, 1usize), (4096, 512), (1, 3 << 20)] {
        let src = source(rows * row_bytes);
        for m in part_messages(&src, row_bytes, 2 << 20, PartId::Layer("a-long-layer-key/123:h")).unwrap() {
            // A reallocation would have doubled the capacity, leaving about the whole part spare.
            assert!(m.bytes.capacity() - m.bytes.len() < 4096 + 64, "{} spare", m.bytes.capacity() - m.bytes.len());
        }
    }
}
