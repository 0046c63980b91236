//! HMAC-MD5 (RFC 2104) over a message given in parts, without allocation.
//!
//! keepalived keys it with the 8-byte zero-padded `auth_pass` and keeps 96 bits (RFC 2403).

use md5::{Digest, Md5};

const BLOCK: usize = 64;

/// HMAC-MD5 of the concatenation of `parts` under `key`.
pub fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    // Keys longer than a block are replaced by their digest (RFC 2104 §2).
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..16].copy_from_slice(&Md5::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut ipad = [0x36u8; BLOCK];
    let mut opad = [0x5cu8; BLOCK];
    for i in 0..BLOCK {
        ipad[i] ^= k[i];
        opad[i] ^= k[i];
    }
    let mut inner = Md5::new();
    inner.update(ipad);
    for p in parts {
        inner.update(p);
    }
    let inner = inner.finalize();
    let mut outer = Md5::new();
    outer.update(opad);
    outer.update(inner);
    outer.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::hmac_md5;

    fn hex(b: &[u8]) -> heapless::String<64> {
        let mut s = heapless::String::new();
        for x in b {
            let _ = core::fmt::Write::write_fmt(&mut s, format_args!("{x:02x}"));
        }
        s
    }

    // RFC 2202 §2 test cases 1, 2, 6 (long key).
    #[test]
    fn rfc2202_vectors() {
        assert_eq!(
            hex(&hmac_md5(&[0x0b; 16], &[b"Hi There"])),
            "9294727a3638bb1c13f48ef8158bfc9d"
        );
        assert_eq!(
            hex(&hmac_md5(b"Jefe", &[b"what do ya want ", b"for nothing?"])),
            "750c783e6ab0b503eaa86e310a5db738"
        );
        assert_eq!(
            hex(&hmac_md5(
                &[0xaa; 80],
                &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
            )),
            "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd"
        );
    }
}
