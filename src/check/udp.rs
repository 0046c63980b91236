//! UDP_CHECK (keepalived's check_udp.c and layer4.c): send the payload
//! (an empty datagram without one) over a connected socket, then wait
//! connect_timeout.
//!
//! - without require_reply: silence is success (no ICMP port unreachable
//!   came back); an ICMP error is failure; any reply is success;
//! - with require_reply: a reply must come, its length within
//!   min/max_reply_length, and its first bytes (as many as both have)
//!   equal to require_reply.
//!
//! Replies land in a fixed buffer; their true length comes from MSG_TRUNC.

use super::net::{Failure, io_failure, timeout, udp_connect};
use super::plan::Target;
use crate::config::model::UdpCheck;
use std::os::fd::AsRawFd;

pub const UDP_BUF: usize = 2048;

/// Judges a reply of true length `len` (`data`: what fitted the buffer).
pub fn judge_reply(u: &UdpCheck, data: &[u8], len: usize) -> Result<(), Failure> {
    let Some(want) = &u.require_reply else {
        return Ok(());
    };
    let min = u.min_reply_length.unwrap_or(0) as usize;
    let max = u.max_reply_length.unwrap_or(u32::from(u16::MAX)) as usize;
    if len < min || len > max {
        return Err(Failure::ReplyMismatch);
    }
    let n = want.len().min(data.len());
    if data[..n] != want[..n] {
        return Err(Failure::ReplyMismatch);
    }
    Ok(())
}

pub async fn check(t: &Target, u: &UdpCheck) -> Result<(), Failure> {
    let sock = udp_connect(t)?;
    let payload: &[u8] = u.payload.as_deref().unwrap_or(&[]);
    sock.send(payload).await.map_err(|e| io_failure(&e))?;
    let mut buf = [0u8; UDP_BUF];
    let got = timeout(t.connect_timeout, async {
        sock.read_with(|s| {
            // MSG_TRUNC makes recv return the datagram's real length.
            Ok(nix::sys::socket::recv(s.as_raw_fd(), &mut buf, nix::sys::socket::MsgFlags::MSG_TRUNC)?)
        })
        .await
        .map_err(|e| io_failure(&e))
    })
    .await;
    match got {
        Ok(len) => judge_reply(u, &buf[..len.min(UDP_BUF)], len),
        Err(Failure::Timeout) if u.require_reply.is_none() => Ok(()),
        Err(Failure::Refused) => Err(Failure::Unreachable),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_rules() {
        let u = UdpCheck {
            require_reply: Some(vec![1, 2, 3]),
            min_reply_length: Some(2),
            max_reply_length: Some(5),
            ..UdpCheck::default()
        };
        assert_eq!(judge_reply(&u, &[1, 2, 3, 4], 4), Ok(()));
        assert_eq!(judge_reply(&u, &[1, 2], 2), Ok(()));
        assert_eq!(judge_reply(&u, &[1], 1), Err(Failure::ReplyMismatch));
        assert_eq!(
            judge_reply(&u, &[1, 2, 3, 4, 5, 6], 6),
            Err(Failure::ReplyMismatch)
        );
        assert_eq!(judge_reply(&u, &[1, 9, 3], 3), Err(Failure::ReplyMismatch));
        assert_eq!(judge_reply(&UdpCheck::default(), &[7], 1), Ok(()));
    }
}
