//! Bit packing shared by the integer formats.
//!
//! Codes of `bits` ∈ {2, 4, 8} are packed LSB-first: element `i` of a group occupies bits
//! `(i % (8/bits)) * bits ..` of byte `i / (8/bits)`. For 4-bit codes the even element is the low
//! nibble; for 2-bit codes element 0 is bits 0-1. A group whose length is not a multiple of
//! `8/bits` is padded with zero bits to a whole byte. (NF4 and Q4_0 use their own orders, kept
//! for compatibility; see their files.)

/// Bytes that `n` codes of `bits` bits occupy.
#[inline]
pub const fn packed_len(n: usize, bits: u32) -> usize {
    (n * bits as usize).div_ceil(8)
}

pub fn pack(bits: u32, codes: &[u8], out: &mut [u8]) {
    debug_assert_eq!(out.len(), packed_len(codes.len(), bits));
    match bits {
        8 => out.copy_from_slice(codes),
        4 => {
            for (o, pair) in out.iter_mut().zip(codes.chunks(2)) {
                *o = pair[0] | pair.get(1).map_or(0, |c| c << 4);
            }
        }
        2 => {
            for (o, quad) in out.iter_mut().zip(codes.chunks(4)) {
                *o = quad.iter().enumerate().fold(0u8, |acc, (k, c)| acc | (c << (2 * k)));
            }
        }
        _ => unreachable!("bits validated by the caller"),
    }
}

#[inline]
pub fn unpack_one(bits: u32, packed: &[u8], i: usize) -> u8 {
    match bits {
        8 => packed[i],
        4 => (packed[i / 2] >> ((i % 2) * 4)) & 0x0F,
        2 => (packed[i / 4] >> ((i % 4) * 2)) & 0x03,
        _ => unreachable!("bits validated by the caller"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips_every_width_and_odd_lengths() {
        for bits in [2u32, 4, 8] {
            let max = ((1u32 << bits) - 1) as u8;
            for n in [1usize, 3, 5, 32, 37, 128] {
                let codes: Vec<u8> = (0..n).map(|i| (i as u8).wrapping_mul(7) & max).collect();
                let mut out = vec![0u8; packed_len(n, bits)];
                pack(bits, &codes, &mut out);
                let back: Vec<u8> = (0..n).map(|i| unpack_one(bits, &out, i)).collect();
                assert_eq!(back, codes, "bits={bits} n={n}");
            }
        }
    }

    #[test]
    fn nibble_order_is_low_first() {
        let mut out = [0u8; 1];
        pack(4, &[0x3, 0xA], &mut out);
        assert_eq!(out[0], 0xA3);
        pack(2, &[1, 2, 3, 0], &mut out);
        assert_eq!(out[0], 0b00_11_10_01);
    }
}
