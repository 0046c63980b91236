//! Classifies a received message as data, an acknowledgement, an error or the end of a dump.

use nix::errno::Errno;

use super::consts::*;
use super::wire::{Attrs, NlMsg, ParseError, align, u32_at};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    /// NLMSG_ERROR with error 0: the request succeeded.
    Ack,
    /// NLMSG_ERROR with a negative errno (or a failed dump's NLMSG_DONE). `message` is the
    /// kernel's extended-ack text, when the socket asked for it and the kernel had one.
    Error {
        errno: Errno,
        message: Option<&'a str>,
    },
    /// NLMSG_DONE: the last message of a dump.
    Done,
    /// NLMSG_NOOP, or a control type we do not act on.
    Noop,
    /// An rtnetlink message (RTM_*).
    Data(NlMsg<'a>),
}

pub fn classify(msg: NlMsg<'_>) -> Result<Reply<'_>, ParseError> {
    match msg.ty {
        NLMSG_ERROR => parse_error(&msg),
        NLMSG_DONE => {
            // Since Linux 4.x the DONE of a dump carries its status; older kernels may send
            // an empty payload.
            match u32_at(msg.payload, 0).map(|v| v as i32) {
                Some(e) if e < 0 => Ok(Reply::Error {
                    errno: errno_of(e),
                    message: None,
                }),
                _ => Ok(Reply::Done),
            }
        }
        NLMSG_OVERRUN => Ok(Reply::Error {
            errno: Errno::ENOBUFS,
            message: None,
        }),
        t if t < NLMSG_MIN_TYPE => Ok(Reply::Noop),
        _ => Ok(Reply::Data(msg)),
    }
}

fn errno_of(negative: i32) -> Errno {
    Errno::from_raw(negative.checked_neg().unwrap_or(0))
}

/// `struct nlmsgerr { int error; struct nlmsghdr msg; }`, then (with NLM_F_ACK_TLVS) the
/// extended-ack attributes after the echoed request.
fn parse_error<'a>(msg: &NlMsg<'a>) -> Result<Reply<'a>, ParseError> {
    let p = msg.payload;
    let code = u32_at(p, 0).ok_or(ParseError::Truncated)? as i32;
    if code == 0 {
        return Ok(Reply::Ack);
    }
    if code > 0 {
        return Err(ParseError::BadAttribute(NLMSG_ERROR));
    }
    let errno = errno_of(code);
    let mut message = None;
    if msg.flags & NLM_F_ACK_TLVS != 0 {
        let echoed = if msg.flags & NLM_F_CAPPED != 0 {
            NLMSG_HDRLEN
        } else {
            u32_at(p, 4).ok_or(ParseError::Truncated)? as usize
        };
        let start = 4usize
            .checked_add(align(echoed))
            .ok_or(ParseError::BadLength)?;
        let tlvs = p.get(start..).ok_or(ParseError::Truncated)?;
        for attr in Attrs::new(tlvs) {
            let attr = attr?;
            if attr.kind == NLMSGERR_ATTR_MSG {
                let raw = attr.payload.split(|&c| c == 0).next().unwrap_or(&[]);
                message = core::str::from_utf8(raw).ok();
            }
        }
    }
    Ok(Reply::Error { errno, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(ty: u16, flags: u16, payload: &[u8]) -> NlMsg<'_> {
        NlMsg {
            ty,
            flags,
            seq: 1,
            pid: 0,
            payload,
        }
    }

    #[test]
    fn ack_and_error() {
        assert_eq!(classify(msg(NLMSG_ERROR, 0, &[0; 20])), Ok(Reply::Ack));
        let mut p = [0u8; 20];
        p[..4].copy_from_slice(&(-17i32).to_ne_bytes());
        assert_eq!(
            classify(msg(NLMSG_ERROR, NLM_F_CAPPED, &p)),
            Ok(Reply::Error {
                errno: Errno::EEXIST,
                message: None
            })
        );
        assert_eq!(
            classify(msg(NLMSG_ERROR, 0, &[0; 2])),
            Err(ParseError::Truncated)
        );
        let mut p = [0u8; 4];
        p.copy_from_slice(&i32::MIN.to_ne_bytes());
        assert!(classify(msg(NLMSG_ERROR, 0, &p)).is_ok());
    }

    #[test]
    fn extended_ack_message() {
        let mut p = Vec::new();
        p.extend_from_slice(&(-19i32).to_ne_bytes());
        p.extend_from_slice(&[0u8; 16]); // capped echo of the request header
        let text = b"no such device\0";
        p.extend_from_slice(&((4 + text.len()) as u16).to_ne_bytes());
        p.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        p.extend_from_slice(text);
        p.push(0);
        let r = classify(msg(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, &p));
        assert_eq!(
            r,
            Ok(Reply::Error {
                errno: Errno::ENODEV,
                message: Some("no such device")
            })
        );
        // TLV flag set but the echoed length points past the end: rejected, no panic.
        let mut bad = p.clone();
        bad[4..8].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(classify(msg(NLMSG_ERROR, NLM_F_ACK_TLVS, &bad)).is_err());
    }

    #[test]
    fn done_with_and_without_status() {
        assert_eq!(classify(msg(NLMSG_DONE, 0, &[])), Ok(Reply::Done));
        assert_eq!(
            classify(msg(NLMSG_DONE, 0, &0i32.to_ne_bytes())),
            Ok(Reply::Done)
        );
        assert_eq!(
            classify(msg(NLMSG_DONE, 0, &(-4i32).to_ne_bytes())),
            Ok(Reply::Error {
                errno: Errno::EINTR,
                message: None
            })
        );
        assert!(matches!(
            classify(msg(RTM_NEWLINK, 0, &[])),
            Ok(Reply::Data(_))
        ));
        assert_eq!(classify(msg(NLMSG_NOOP, 0, &[])), Ok(Reply::Noop));
    }
}
