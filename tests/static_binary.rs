//! The release binary is statically linked: no program interpreter and no
//! shared libraries needed. Prints its size (a figure for docs/figures.md).

#[path = "support/skip.rs"]
mod skip;

use std::path::PathBuf;

fn u16le(b: &[u8], o: usize) -> u64 {
    u16::from_le_bytes([b[o], b[o + 1]]) as u64
}
fn u32le(b: &[u8], o: usize) -> u64 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) as u64
}
fn u64le(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

#[test]
fn release_binary_is_static() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/x86_64-unknown-linux-musl/release/vigil");
    if !path.exists() {
        let msg = format!("{} missing: build it with `cargo build --release --target x86_64-unknown-linux-musl` (tests/run does)", path.display());
        skip::skip_or_fail(&msg);
        return;
    }
    let b = std::fs::read(&path).unwrap();
    assert_eq!(&b[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(b[4], 2, "not ELF64");
    let (phoff, phentsize, phnum) = (u64le(&b, 0x20) as usize, u16le(&b, 0x36) as usize, u16le(&b, 0x38) as usize);
    let mut dynamic = None;
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let p_type = u32le(&b, ph);
        assert_ne!(p_type, 3, "PT_INTERP present: dynamically linked");
        if p_type == 2 {
            dynamic = Some((u64le(&b, ph + 8) as usize, u64le(&b, ph + 32) as usize));
        }
    }
    // static-pie has a PT_DYNAMIC (for self-relocation) but no DT_NEEDED.
    if let Some((off, size)) = dynamic {
        for e in (off..off + size).step_by(16) {
            let tag = u64le(&b, e);
            assert_ne!(tag, 1, "DT_NEEDED present: needs a shared library");
            if tag == 0 {
                break;
            }
        }
    }
    println!("static binary: {} bytes ({:.2} MiB)", b.len(), b.len() as f64 / 1048576.0);
}
