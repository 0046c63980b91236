//! The Internet checksum (RFC 1071) and the pseudo-headers VRRPv3 sums over.

use core::net::{Ipv4Addr, Ipv6Addr};

/// One's complement sum of `data` as big-endian 16-bit words (odd tail padded with zero), unfolded.
pub fn sum(data: &[u8]) -> u64 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(u16::from_be_bytes([*last, 0]));
    }
    acc
}

/// Fold a wide sum into 16 bits, end-around carry.
pub fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The checksum to write: complement of the folded sum of `parts`.
pub fn checksum(parts: &[&[u8]], initial: u64) -> u16 {
    let acc = parts.iter().fold(initial, |a, p| a + sum(p));
    !fold(acc)
}

/// Sum of the IPv4 pseudo-header: source, destination, zero, protocol, 16-bit length.
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u64 {
    sum(&src.octets()) + sum(&dst.octets()) + u64::from(protocol) + u64::from(length)
}

/// Sum of the IPv6 pseudo-header (RFC 8200 §8.1): source, destination, 32-bit length, next header.
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, length: u32) -> u64 {
    sum(&src.octets())
        + sum(&dst.octets())
        + u64::from(length >> 16)
        + u64::from(length & 0xffff)
        + u64::from(next_header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&d)), 0xddf2);
        assert_eq!(checksum(&[&d], 0), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum(&[0x12]), 0x1200);
        assert_eq!(sum(&[]), 0);
    }

    #[test]
    fn checksum_of_data_with_its_checksum_is_zero() {
        let mut d = [
            0x45u8, 0, 0, 0x20, 0x12, 0x34, 0, 0, 0xff, 0x70, 0, 0, 10, 0, 0, 1, 224, 0, 0, 18,
        ];
        let c = checksum(&[&d], 0);
        d[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(checksum(&[&d], 0), 0);
    }
}
