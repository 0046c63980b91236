//! Generic netlink: the 4-byte `genlmsghdr` after the netlink header, and the controller
//! request that turns a family name ("IPVS") into the message type to use.
//!
//! ```text
//!  0      8      16     24     32
//! +------+------+-------------+
//! | cmd  | ver  |  reserved   |   genlmsghdr, then the family's attributes
//! +------+------+-------------+
//! ```

use crate::netlink::consts::{NLM_F_ACK, NLM_F_REQUEST};
use crate::netlink::wire::{Attrs, MsgWriter, NlMsg, NoSpace, ParseError};

use super::consts::*;

/// Starts a generic-netlink request of message type `family` with command `cmd`.
pub fn begin(
    buf: &mut [u8],
    family: u16,
    flags: u16,
    seq: u32,
    cmd: u8,
    version: u8,
) -> Result<MsgWriter<'_>, NoSpace> {
    let mut w = MsgWriter::new(buf, family, flags, seq)?;
    w.put(&[cmd, version, 0, 0])?;
    Ok(w)
}

/// The command byte and the attributes of a generic-netlink message.
pub fn split<'a>(msg: &NlMsg<'a>) -> Result<(u8, Attrs<'a>), ParseError> {
    let hdr = msg
        .payload
        .get(..GENL_HDRLEN)
        .ok_or(ParseError::Truncated)?;
    let rest = msg.payload.get(GENL_HDRLEN..).unwrap_or(&[]);
    Ok((hdr[0], Attrs::new(rest)))
}

/// `CTRL_CMD_GETFAMILY` for `name`, as ipvsadm (libnl) sends it.
pub fn build_get_family(buf: &mut [u8], seq: u32, name: &str) -> Result<usize, NoSpace> {
    let mut w = begin(
        buf,
        GENL_ID_CTRL,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        CTRL_CMD_GETFAMILY,
        CTRL_VERSION,
    )?;
    w.attr_str(CTRL_ATTR_FAMILY_NAME, name)?;
    Ok(w.finish()?.len())
}

/// The family id from the controller's `CTRL_CMD_NEWFAMILY` reply. A reply naming another
/// family is rejected: an id is only good for the name it was asked for.
pub fn parse_family(msg: &NlMsg<'_>, name: &str) -> Result<u16, ParseError> {
    if msg.ty != GENL_ID_CTRL {
        return Err(ParseError::UnexpectedType(msg.ty));
    }
    let (cmd, attrs) = split(msg)?;
    if cmd != CTRL_CMD_NEWFAMILY {
        return Err(ParseError::UnexpectedType(u16::from(cmd)));
    }
    let mut id = None;
    for a in attrs {
        let a = a?;
        match a.kind {
            CTRL_ATTR_FAMILY_ID => {
                let v = match a.payload {
                    [x, y] => u16::from_ne_bytes([*x, *y]),
                    _ => return Err(ParseError::BadAttribute(a.kind)),
                };
                id = Some(v);
            }
            CTRL_ATTR_FAMILY_NAME if a.str::<32>()?.as_str() != name => {
                return Err(ParseError::BadAttribute(a.kind));
            }
            _ => {}
        }
    }
    match id {
        // Ids below NLMSG_MIN_TYPE are netlink's control messages, never a family.
        Some(id) if id >= GENL_ID_CTRL => Ok(id),
        Some(_) => Err(ParseError::BadAttribute(CTRL_ATTR_FAMILY_ID)),
        None => Err(ParseError::MissingAttribute(CTRL_ATTR_FAMILY_ID)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::wire::Messages;

    #[test]
    fn get_family_golden() {
        let mut buf = [0xa5u8; 64];
        let n = build_get_family(&mut buf, 0x0102_0304, "IPVS").unwrap();
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x20, 0, 0, 0,  0x10, 0,  0x05, 0,  4, 3, 2, 1,  0, 0, 0, 0,
            3, 1, 0, 0,                          // GETFAMILY, version 1
            9, 0, 2, 0,  b'I', b'P', b'V', b'S', 0, 0, 0, 0, // FAMILY_NAME "IPVS\0" + pad
        ];
        if cfg!(target_endian = "little") {
            assert_eq!(&buf[..n], want);
        }
    }

    fn reply(attrs: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((16 + 4 + attrs.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&GENL_ID_CTRL.to_ne_bytes());
        m.extend_from_slice(&[0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        m.extend_from_slice(&[CTRL_CMD_NEWFAMILY, 2, 0, 0]);
        m.extend_from_slice(attrs);
        m
    }

    fn parse(b: &[u8]) -> Result<u16, ParseError> {
        let m = Messages::new(b).next().ok_or(ParseError::Truncated)??;
        parse_family(&m, "IPVS")
    }

    #[test]
    fn family_reply_parses_and_rejects_garbage() {
        let mut a = vec![6, 0, 1, 0, 0x2a, 0, 0, 0];
        a.extend_from_slice(&[9, 0, 2, 0, b'I', b'P', b'V', b'S', 0, 0, 0, 0]);
        let ok = reply(&a);
        assert_eq!(parse(&ok), Ok(0x2a));
        // Another family's name.
        let mut other = ok.clone();
        other[32] = b'X';
        assert_eq!(
            parse(&other),
            Err(ParseError::BadAttribute(CTRL_ATTR_FAMILY_NAME))
        );
        // No id, a 4-byte id, an id in the control range.
        assert_eq!(
            parse(&reply(&[])),
            Err(ParseError::MissingAttribute(CTRL_ATTR_FAMILY_ID))
        );
        assert!(parse(&reply(&[8, 0, 1, 0, 0x2a, 0, 0, 0])).is_err());
        assert!(parse(&reply(&[6, 0, 1, 0, 2, 0, 0, 0])).is_err());
        // Every truncation and single-byte corruption: an error or a value, never a panic.
        for cut in 0..ok.len() {
            let _ = parse(&ok[..cut]);
        }
        for i in 0..ok.len() {
            for v in [0u8, 1, 4, 0x7f, 0xff] {
                let mut c = ok.clone();
                c[i] = v;
                let _ = parse(&c);
            }
        }
    }
}
