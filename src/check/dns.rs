//! DNS_CHECK (keepalived's check_dns.c): one UDP query (recursion desired,
//! class IN) of the configured type and name; success is a reply with our
//! id, the QR bit, rcode 0 and at least one answer.
//!
//! Query and reply live in fixed 512-byte buffers (no EDNS: a classic DNS
//! reply fits; a longer one is truncated, its header still readable).

use super::net::{Failure, io_failure, random_u64, timeout, udp_connect};
use super::plan::Target;

pub const DNS_BUF: usize = 512;

/// Writes the query into `buf`; its length, or None when the name does not
/// fit DNS rules (labels of 1..=63 bytes, 255 in all).
pub fn build_query(buf: &mut [u8; DNS_BUF], id: u16, qtype: u16, name: &str) -> Option<usize> {
    buf[..12].copy_from_slice(&[0; 12]);
    buf[0..2].copy_from_slice(&id.to_be_bytes());
    buf[2] = 0x01; // RD
    buf[5] = 1; // QDCOUNT
    let mut at = 12;
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let l = label.as_bytes();
        if l.len() > 63 || at + 1 + l.len() > 12 + 255 {
            return None;
        }
        buf[at] = l.len() as u8;
        buf[at + 1..at + 1 + l.len()].copy_from_slice(l);
        at += 1 + l.len();
    }
    buf[at] = 0;
    at += 1;
    buf[at..at + 2].copy_from_slice(&qtype.to_be_bytes());
    buf[at + 2..at + 4].copy_from_slice(&1u16.to_be_bytes()); // IN
    Some(at + 4)
}

/// Judges a reply to query `id`.
pub fn judge_reply(reply: &[u8], id: u16) -> Result<(), Failure> {
    if reply.len() < 12 {
        return Err(Failure::DnsNotReply);
    }
    if u16::from_be_bytes([reply[0], reply[1]]) != id {
        return Err(Failure::DnsId);
    }
    let flags = u16::from_be_bytes([reply[2], reply[3]]);
    if flags & 0x8000 == 0 {
        return Err(Failure::DnsNotReply);
    }
    let rcode = (flags & 0x000f) as u8;
    if rcode != 0 {
        return Err(Failure::DnsRcode(rcode));
    }
    if u16::from_be_bytes([reply[6], reply[7]]) == 0 {
        return Err(Failure::DnsNoAnswer);
    }
    Ok(())
}

pub async fn check(t: &Target, qtype: u16, name: &str) -> Result<(), Failure> {
    let id = random_u64() as u16;
    let mut q = [0u8; DNS_BUF];
    let len = build_query(&mut q, id, qtype, name).ok_or(Failure::DnsNotReply)?;
    let sock = udp_connect(t)?;
    let mut r = [0u8; DNS_BUF];
    let n = timeout(t.connect_timeout, async {
        sock.send(&q[..len]).await.map_err(|e| io_failure(&e))?;
        sock.recv(&mut r).await.map_err(|e| io_failure(&e))
    })
    .await
    // On a connected UDP socket, ECONNREFUSED is an ICMP port unreachable.
    .map_err(|e| {
        if e == Failure::Refused {
            Failure::Unreachable
        } else {
            e
        }
    })?;
    judge_reply(&r[..n], id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_bytes() {
        let mut b = [0xa5; DNS_BUF];
        let n = build_query(&mut b, 0x1234, 1, "ex.org.").unwrap();
        assert_eq!(
            &b[..n],
            &[
                0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2, b'e', b'x', 3, b'o', b'r', b'g', 0, 0,
                1, 0, 1
            ]
        );
        let n = build_query(&mut b, 1, 6, ".").unwrap();
        assert_eq!(&b[12..n], &[0, 0, 6, 0, 1]);
        assert_eq!(build_query(&mut b, 1, 1, &"a".repeat(64)), None);
        assert_eq!(build_query(&mut b, 1, 1, &"abcdefg.".repeat(40)), None);
    }

    #[test]
    fn replies() {
        let ok = [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        assert_eq!(judge_reply(&ok, 0x1234), Ok(()));
        assert_eq!(judge_reply(&ok, 0x1235), Err(Failure::DnsId));
        let mut no_answer = ok;
        no_answer[7] = 0;
        assert_eq!(judge_reply(&no_answer, 0x1234), Err(Failure::DnsNoAnswer));
        let mut nx = ok;
        nx[3] = 0x83;
        assert_eq!(judge_reply(&nx, 0x1234), Err(Failure::DnsRcode(3)));
        let mut query = ok;
        query[2] = 0x01;
        assert_eq!(judge_reply(&query, 0x1234), Err(Failure::DnsNotReply));
        assert_eq!(judge_reply(&ok[..5], 0x1234), Err(Failure::DnsNotReply));
    }
}
