//! Frame checksums, short frames' with the CPU's CRC32C instruction (the frame
//! layout is in [the format](super)).

/// The checksum of a frame: CRC32C over its `len` then its bytes from `sequence`
/// to the end of the payload.
#[inline]
pub fn frame_crc(len: u32, body: &[u8]) -> u32 {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if body.len() <= SHORT_FRAME && std::arch::is_x86_feature_detected!("sse4.2") {
        // SAFETY: the CPU has SSE4.2, checked just above.
        return unsafe { hardware::frame_crc(len, body) };
    }
    crc32c::crc32c_append(len_crc(len), body)
}

/// The checksum of the frame that [`frame_crc`] would compute over its stored bytes,
/// computed from its parts: `sequence`, `tag` (the reserved word is zero) and the
/// payload as the caller holds it. The writer uses it so that the checksum never
/// reads back bytes just stored: a load that spans two smaller stores still in the
/// store buffer waits for them to reach the cache, and the header and the payload
/// are stored in pieces.
#[inline]
pub fn frame_crc_of(len: u32, sequence: u64, tag: u32, payload: &[u8]) -> u32 {
    debug_assert_eq!(len as usize, super::FRAME_HEADER_LEN + payload.len());
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if payload.len() <= SHORT_FRAME && std::arch::is_x86_feature_detected!("sse4.2") {
        // SAFETY: the CPU has SSE4.2, checked just above.
        return unsafe { hardware::frame_crc_of(len, sequence, tag, payload) };
    }
    let mut head = [0u8; 16];
    head[..8].copy_from_slice(&sequence.to_le_bytes());
    head[8..12].copy_from_slice(&tag.to_le_bytes());
    crc32c::crc32c_append(crc32c::crc32c_append(len_crc(len), &head), payload)
}

/// Short frames' checksums with the CPU's CRC32C instruction, eight bytes at a
/// time. The `crc32c` crate's set-up per call (about 120 instructions for a
/// 24-byte body, callgrind) costs more than the checksum itself; an event's frame
/// is usually that short. Long frames go to the crate, which interleaves three
/// streams.
#[cfg(all(target_arch = "x86_64", not(miri)))]
mod hardware {
    use std::arch::x86_64::{_mm_crc32_u32, _mm_crc32_u64, _mm_crc32_u8};

    #[target_feature(enable = "sse4.2")]
    pub(super) fn frame_crc(len: u32, body: &[u8]) -> u32 {
        finish(u64::from(_mm_crc32_u32(!0, len)), body)
    }

    /// As `frame_crc` over the stored body: the sequence, then the tag and the
    /// zero reserved word as one little-endian word, then the payload.
    #[target_feature(enable = "sse4.2")]
    pub(super) fn frame_crc_of(len: u32, sequence: u64, tag: u32, payload: &[u8]) -> u32 {
        let mut crc = u64::from(_mm_crc32_u32(!0, len));
        crc = _mm_crc32_u64(crc, sequence);
        crc = _mm_crc32_u64(crc, u64::from(tag));
        finish(crc, payload)
    }

    /// Runs `crc` on over `bytes`, eight at a time, then the rest one by one, and
    /// returns the checksum.
    #[target_feature(enable = "sse4.2")]
    fn finish(mut crc: u64, bytes: &[u8]) -> u32 {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let word = u64::from_le_bytes(word.try_into().expect("chunks of eight"));
            crc = _mm_crc32_u64(crc, word);
        }
        let mut crc = crc as u32;
        for &byte in words.remainder() {
            crc = _mm_crc32_u8(crc, byte);
        }
        !crc
    }
}

/// Frames up to this length have their length's checksum looked up, not computed.
const SHORT_FRAME: usize = 512;

/// CRC32C of a frame's length field: the checksum's seed. For short frames it
/// comes from a table built once, because the `crc32c` crate's fixed cost per call
/// (about 60 instructions) is as much as checksumming a short frame's whole body:
/// a second call per frame made the checksum half of the journal's work per event
/// (callgrind, 12-byte events).
#[inline]
fn len_crc(len: u32) -> u32 {
    static SHORT: std::sync::OnceLock<Box<[u32]>> = std::sync::OnceLock::new();
    let short = SHORT.get_or_init(|| {
        (0..SHORT_FRAME as u32)
            .map(|len| crc32c::crc32c(&len.to_le_bytes()))
            .collect()
    });
    match short.get(len as usize) {
        Some(&crc) => crc,
        None => crc32c::crc32c(&len.to_le_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_frame_checksums_equal_the_crates() {
        let bytes: Vec<u8> = (0..SHORT_FRAME as u32 + 40)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for end in 0..bytes.len() {
            for len in [0, end as u32 + 8, u32::MAX] {
                let body = &bytes[end / 3..end];
                let mut whole = len.to_le_bytes().to_vec();
                whole.extend_from_slice(body);
                assert_eq!(frame_crc(len, body), crc32c::crc32c(&whole), "{len} {end}");
            }
        }
    }

    #[test]
    fn checksums_from_the_parts_equal_the_stored_frames() {
        let bytes: Vec<u8> = (0..SHORT_FRAME as u32 + 40)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        // Every short length, then long ones (the crate's path).
        let long = (SHORT_FRAME..SHORT_FRAME + 40).map(|len| 0..len);
        for range in (0..bytes.len()).map(|end| end / 3..end).chain(long) {
            let payload = &bytes[range];
            for (sequence, tag) in [(0, 0), (7, 3), (u64::MAX, u32::MAX)] {
                let mut frame = vec![0; super::super::frame_size(payload.len())];
                let len = super::super::encode_frame_body(&mut frame, sequence, tag, payload);
                assert_eq!(
                    frame_crc_of(len, sequence, tag, payload),
                    frame_crc(len, &frame[8..len as usize]),
                    "{sequence} {tag} {}",
                    payload.len()
                );
            }
        }
    }

    #[test]
    fn looked_up_length_checksums_equal_computed_ones() {
        let body = b"sequence, tag and payload";
        for len in (0..SHORT_FRAME as u32 + 8).chain([u32::MAX]) {
            let mut whole = len.to_le_bytes().to_vec();
            whole.extend_from_slice(body);
            assert_eq!(frame_crc(len, body), crc32c::crc32c(&whole), "len {len}");
        }
    }
}
