//! keepalived's `no_accept` (RFC 5798 Accept_Mode false) through nf_tables netlink: a master
//! that does not own its VIPs must not accept packets addressed to them.
//!
//! No `nft` binary and no libnftnl: the messages are built here, by pure functions into fixed
//! buffers with the [`wire::MsgWriter`], and sent as one nfnetlink batch (one transaction)
//! over a NETLINK_NETFILTER socket.
//!
//! # The ruleset
//!
//! ```text
//! table inet vigil {
//!     set vips4 { type ipv4_addr; }
//!     set vips6 { type ipv6_addr; }
//!     chain input {
//!         type filter hook input priority -1; policy accept;
//!         meta nfproto ipv6 meta l4proto ipv6-icmp icmpv6 type 135-136 accept
//!         meta nfproto ipv4 ip daddr @vips4 drop
//!         meta nfproto ipv6 ip6 daddr @vips6 drop
//!     }
//! }
//! ```
//!
//! keepalived (`vrrp_nftables.c`) keeps a table `keepalived` with chains `in`/`out` at
//! priority -1 (its `nftables_priority` default), sets `vips`, the input drop above, and lets
//! neighbour solicitations/advertisements through before the IPv6 drop: a peer's unicast
//! NUD probe to a VIP must still be answered, or its neighbour entry for our VIP (its next
//! hop) fails. We mirror that. We do not mirror its `out` chain (`saddr @vips drop`), its
//! link-local sets keyed by interface, or its optional counters.
//!
//! [`wire::MsgWriter`]: super::wire::MsgWriter

use core::fmt;
use std::net::IpAddr;
use std::time::Duration;

use log::debug;
use nix::errno::Errno;
use nix::sys::socket::SockProtocol;

use super::consts::{NLM_F_ACK, NLM_F_CREATE, NLM_F_REQUEST};
use super::reply::{Reply, classify};
use super::wire::{Messages, MsgWriter, NoSpace, ParseError};

/// The table, chain and set names; fixed so a restarted vigil finds (and replaces) its own.
pub const TABLE: &str = "vigil";
pub const CHAIN: &str = "input";
pub const SET4: &str = "vips4";
pub const SET6: &str = "vips6";
/// keepalived's default `nftables_priority`: just before the usual filter chains at 0.
pub const CHAIN_PRIORITY: i32 = -1;

/// Large enough for the setup batch (about 1 KiB).
pub const BATCH_BUF_LEN: usize = 2048;
const RECV_BUF_LEN: usize = 8192;
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// nf_tables constants (linux/netfilter/nfnetlink.h, nf_tables.h, netfilter.h).
pub mod consts {
    pub const NETLINK_NETFILTER: i32 = 12;
    pub const NFNL_SUBSYS_NFTABLES: u16 = 10;
    pub const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
    pub const NFNL_MSG_BATCH_END: u16 = 0x11;
    pub const NFNETLINK_V0: u8 = 0;

    pub const NFT_MSG_NEWTABLE: u16 = 0;
    pub const NFT_MSG_GETTABLE: u16 = 1;
    pub const NFT_MSG_DELTABLE: u16 = 2;
    pub const NFT_MSG_NEWCHAIN: u16 = 3;
    pub const NFT_MSG_NEWRULE: u16 = 6;
    pub const NFT_MSG_NEWSET: u16 = 9;
    pub const NFT_MSG_NEWSETELEM: u16 = 12;
    pub const NFT_MSG_DELSETELEM: u16 = 14;

    pub const NFPROTO_UNSPEC: u8 = 0;
    pub const NFPROTO_INET: u8 = 1;
    pub const NFPROTO_IPV4: u8 = 2;
    pub const NFPROTO_IPV6: u8 = 10;

    pub const NLM_F_APPEND: u16 = 0x800;

    pub const NFTA_TABLE_NAME: u16 = 1;
    pub const NFTA_CHAIN_TABLE: u16 = 1;
    pub const NFTA_CHAIN_NAME: u16 = 3;
    pub const NFTA_CHAIN_HOOK: u16 = 4;
    pub const NFTA_CHAIN_POLICY: u16 = 5;
    pub const NFTA_CHAIN_TYPE: u16 = 7;
    pub const NFTA_HOOK_HOOKNUM: u16 = 1;
    pub const NFTA_HOOK_PRIORITY: u16 = 2;
    pub const NF_INET_LOCAL_IN: u32 = 1;
    pub const NF_DROP: u32 = 0;
    pub const NF_ACCEPT: u32 = 1;

    pub const NFTA_SET_TABLE: u16 = 1;
    pub const NFTA_SET_NAME: u16 = 2;
    pub const NFTA_SET_KEY_TYPE: u16 = 4;
    pub const NFTA_SET_KEY_LEN: u16 = 5;
    pub const NFTA_SET_ID: u16 = 10;
    /// nft's datatype numbers (nftables include/datatype.h), so `nft list` prints addresses.
    pub const TYPE_IPADDR: u32 = 7;
    pub const TYPE_IP6ADDR: u32 = 8;

    pub const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
    pub const NFTA_SET_ELEM_LIST_SET: u16 = 2;
    pub const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
    pub const NFTA_SET_ELEM_KEY: u16 = 1;
    pub const NFTA_DATA_VALUE: u16 = 1;
    pub const NFTA_DATA_VERDICT: u16 = 2;
    pub const NFTA_VERDICT_CODE: u16 = 1;

    pub const NFTA_RULE_TABLE: u16 = 1;
    pub const NFTA_RULE_CHAIN: u16 = 2;
    pub const NFTA_RULE_EXPRESSIONS: u16 = 4;
    pub const NFTA_LIST_ELEM: u16 = 1;
    pub const NFTA_EXPR_NAME: u16 = 1;
    pub const NFTA_EXPR_DATA: u16 = 2;

    pub const NFTA_META_DREG: u16 = 1;
    pub const NFTA_META_KEY: u16 = 2;
    pub const NFT_META_NFPROTO: u32 = 15;
    pub const NFT_META_L4PROTO: u32 = 16;

    pub const NFTA_CMP_SREG: u16 = 1;
    pub const NFTA_CMP_OP: u16 = 2;
    pub const NFTA_CMP_DATA: u16 = 3;
    pub const NFT_CMP_EQ: u32 = 0;
    pub const NFT_CMP_LTE: u32 = 3;
    pub const NFT_CMP_GTE: u32 = 5;

    pub const NFTA_PAYLOAD_DREG: u16 = 1;
    pub const NFTA_PAYLOAD_BASE: u16 = 2;
    pub const NFTA_PAYLOAD_OFFSET: u16 = 3;
    pub const NFTA_PAYLOAD_LEN: u16 = 4;
    pub const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
    pub const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;

    pub const NFTA_LOOKUP_SET: u16 = 1;
    pub const NFTA_LOOKUP_SREG: u16 = 2;

    pub const NFTA_IMMEDIATE_DREG: u16 = 1;
    pub const NFTA_IMMEDIATE_DATA: u16 = 2;

    pub const NFT_REG_VERDICT: u32 = 0;
    pub const NFT_REG_1: u32 = 1;

    pub const IPPROTO_ICMPV6: u8 = 58;
    pub const ND_NEIGHBOR_SOLICIT: u8 = 135;
    pub const ND_NEIGHBOR_ADVERT: u8 = 136;
}

use consts::*;

/// Which message of a batch the kernel refused: names the object, as `nft` errors do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NftMsg {
    Batch,
    NewTable,
    DelTable,
    GetTable,
    NewChain,
    NewSet,
    NewRule,
    NewSetElem,
    DelSetElem,
    Other(u16),
}

impl NftMsg {
    fn of(ty: u16) -> Self {
        match ty & 0xff {
            NFT_MSG_NEWTABLE => Self::NewTable,
            NFT_MSG_DELTABLE => Self::DelTable,
            NFT_MSG_GETTABLE => Self::GetTable,
            NFT_MSG_NEWCHAIN => Self::NewChain,
            NFT_MSG_NEWSET => Self::NewSet,
            NFT_MSG_NEWRULE => Self::NewRule,
            NFT_MSG_NEWSETELEM => Self::NewSetElem,
            NFT_MSG_DELSETELEM => Self::DelSetElem,
            t => Self::Other(t),
        }
    }
}

#[derive(Debug)]
pub enum NftError {
    /// A socket call failed (socket, bind, send, recv).
    Io(Errno),
    /// No reply within the receive timeout.
    Timeout,
    /// The kernel refused `msg` with `errno` (and its extended-ack text when it had one); the
    /// whole batch was rolled back.
    Kernel {
        msg: NftMsg,
        errno: Errno,
        message: Option<String>,
    },
    /// A reply that did not parse.
    Malformed(ParseError),
    /// A datagram larger than the receive buffer.
    ReplyTruncated { len: usize },
    /// A batch too large for its buffer.
    RequestTooLarge,
}

impl NftError {
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Self::Io(e) | Self::Kernel { errno: e, .. } => Some(*e),
            _ => None,
        }
    }
}

impl fmt::Display for NftError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "nftables socket: {e}"),
            Self::Timeout => write!(f, "nftables: no reply from the kernel"),
            Self::Kernel {
                msg,
                errno,
                message: Some(m),
            } => write!(f, "nftables {msg:?}: {errno}: {m}"),
            Self::Kernel { msg, errno, .. } => write!(f, "nftables {msg:?}: {errno}"),
            Self::Malformed(e) => write!(f, "nftables reply: {e}"),
            Self::ReplyTruncated { len } => write!(f, "nftables reply of {len} bytes truncated"),
            Self::RequestTooLarge => write!(f, "nftables batch too large"),
        }
    }
}

impl std::error::Error for NftError {}

impl From<ParseError> for NftError {
    fn from(e: ParseError) -> Self {
        Self::Malformed(e)
    }
}

impl From<NoSpace> for NftError {
    fn from(_: NoSpace) -> Self {
        Self::RequestTooLarge
    }
}

pub type Result<T, E = NftError> = core::result::Result<T, E>;

// ---------------------------------------------------------------------------------------
// Batch framing
// ---------------------------------------------------------------------------------------

/// `struct nfgenmsg`: family, version, and the resource id in network order.
fn nfgenmsg(family: u8, res_id: u16) -> [u8; 4] {
    let r = res_id.to_be_bytes();
    [family, NFNETLINK_V0, r[0], r[1]]
}

/// An nfnetlink batch being written into a fixed buffer: BATCH_BEGIN at `seq`, then one
/// message per following sequence number, each asking for an ACK, then BATCH_END.
pub struct Batch<'a> {
    buf: &'a mut [u8],
    len: usize,
    seq: u32,
    first: u32,
}

/// The sequence numbers of a finished batch's messages (`first..first + count`): the
/// replies to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSeqs {
    pub begin: u32,
    pub first: u32,
    pub count: u32,
}

impl<'a> Batch<'a> {
    pub fn new(buf: &'a mut [u8], seq: u32) -> Result<Self, NoSpace> {
        let mut b = Self {
            buf,
            len: 0,
            seq,
            first: seq.wrapping_add(1),
        };
        b.control(NFNL_MSG_BATCH_BEGIN)?;
        Ok(b)
    }

    fn control(&mut self, ty: u16) -> Result<(), NoSpace> {
        let dst = self.buf.get_mut(self.len..).ok_or(NoSpace)?;
        let mut w = MsgWriter::new(dst, ty, NLM_F_REQUEST, self.seq)?;
        w.put(&nfgenmsg(NFPROTO_UNSPEC, NFNL_SUBSYS_NFTABLES))?;
        self.len += w.finish()?.len();
        self.seq = self.seq.wrapping_add(1);
        Ok(())
    }

    /// Appends one nf_tables message of type `NFT_MSG_*` whose attributes `body` writes.
    pub fn msg(
        &mut self,
        nft_msg: u16,
        flags: u16,
        family: u8,
        body: impl FnOnce(&mut MsgWriter<'_>) -> Result<(), NoSpace>,
    ) -> Result<(), NoSpace> {
        let dst = self.buf.get_mut(self.len..).ok_or(NoSpace)?;
        let ty = (NFNL_SUBSYS_NFTABLES << 8) | nft_msg;
        let mut w = MsgWriter::new(dst, ty, NLM_F_REQUEST | NLM_F_ACK | flags, self.seq)?;
        w.put(&nfgenmsg(family, 0))?;
        body(&mut w)?;
        self.len += w.finish()?.len();
        self.seq = self.seq.wrapping_add(1);
        Ok(())
    }

    /// Appends BATCH_END and returns the whole datagram.
    pub fn finish(mut self) -> Result<(&'a [u8], BatchSeqs), NoSpace> {
        let seqs = BatchSeqs {
            begin: self.first.wrapping_sub(1),
            first: self.first,
            count: self.seq.wrapping_sub(self.first),
        };
        self.control(NFNL_MSG_BATCH_END)?;
        let len = self.len;
        Ok((&self.buf[..len], seqs))
    }
}

fn attr_be32(w: &mut MsgWriter<'_>, kind: u16, v: u32) -> Result<(), NoSpace> {
    w.attr(kind, &v.to_be_bytes())
}

// ---------------------------------------------------------------------------------------
// Messages: pure builders
// ---------------------------------------------------------------------------------------

fn table_msg(b: &mut Batch<'_>, nft_msg: u16, flags: u16) -> Result<(), NoSpace> {
    b.msg(nft_msg, flags, NFPROTO_INET, |w| {
        w.attr_str(NFTA_TABLE_NAME, TABLE)
    })
}

fn chain_msg(b: &mut Batch<'_>) -> Result<(), NoSpace> {
    b.msg(NFT_MSG_NEWCHAIN, NLM_F_CREATE, NFPROTO_INET, |w| {
        w.attr_str(NFTA_CHAIN_TABLE, TABLE)?;
        w.attr_str(NFTA_CHAIN_NAME, CHAIN)?;
        let hook = w.begin_nested(NFTA_CHAIN_HOOK)?;
        attr_be32(w, NFTA_HOOK_HOOKNUM, NF_INET_LOCAL_IN)?;
        attr_be32(w, NFTA_HOOK_PRIORITY, CHAIN_PRIORITY as u32)?;
        w.end_nested(hook)?;
        attr_be32(w, NFTA_CHAIN_POLICY, NF_ACCEPT)?;
        w.attr_str(NFTA_CHAIN_TYPE, "filter")
    })
}

fn set_msg(
    b: &mut Batch<'_>,
    name: &str,
    key_type: u32,
    key_len: u32,
    id: u32,
) -> Result<(), NoSpace> {
    b.msg(NFT_MSG_NEWSET, NLM_F_CREATE, NFPROTO_INET, |w| {
        w.attr_str(NFTA_SET_TABLE, TABLE)?;
        w.attr_str(NFTA_SET_NAME, name)?;
        attr_be32(w, NFTA_SET_KEY_TYPE, key_type)?;
        attr_be32(w, NFTA_SET_KEY_LEN, key_len)?;
        attr_be32(w, NFTA_SET_ID, id)
    })
}

/// One expression of a rule: `NFTA_LIST_ELEM { NAME, DATA { body } }`.
fn expr(
    w: &mut MsgWriter<'_>,
    name: &str,
    body: impl FnOnce(&mut MsgWriter<'_>) -> Result<(), NoSpace>,
) -> Result<(), NoSpace> {
    let elem = w.begin_nested(NFTA_LIST_ELEM)?;
    w.attr_str(NFTA_EXPR_NAME, name)?;
    let data = w.begin_nested(NFTA_EXPR_DATA)?;
    body(w)?;
    w.end_nested(data)?;
    w.end_nested(elem)
}

fn meta_load(w: &mut MsgWriter<'_>, key: u32) -> Result<(), NoSpace> {
    expr(w, "meta", |w| {
        attr_be32(w, NFTA_META_KEY, key)?;
        attr_be32(w, NFTA_META_DREG, NFT_REG_1)
    })
}

fn cmp(w: &mut MsgWriter<'_>, op: u32, value: &[u8]) -> Result<(), NoSpace> {
    expr(w, "cmp", |w| {
        attr_be32(w, NFTA_CMP_SREG, NFT_REG_1)?;
        attr_be32(w, NFTA_CMP_OP, op)?;
        let data = w.begin_nested(NFTA_CMP_DATA)?;
        w.attr(NFTA_DATA_VALUE, value)?;
        w.end_nested(data)
    })
}

fn payload_load(w: &mut MsgWriter<'_>, base: u32, offset: u32, len: u32) -> Result<(), NoSpace> {
    expr(w, "payload", |w| {
        attr_be32(w, NFTA_PAYLOAD_DREG, NFT_REG_1)?;
        attr_be32(w, NFTA_PAYLOAD_BASE, base)?;
        attr_be32(w, NFTA_PAYLOAD_OFFSET, offset)?;
        attr_be32(w, NFTA_PAYLOAD_LEN, len)
    })
}

fn lookup(w: &mut MsgWriter<'_>, set: &str) -> Result<(), NoSpace> {
    expr(w, "lookup", |w| {
        attr_be32(w, NFTA_LOOKUP_SREG, NFT_REG_1)?;
        w.attr_str(NFTA_LOOKUP_SET, set)
    })
}

fn verdict(w: &mut MsgWriter<'_>, code: u32) -> Result<(), NoSpace> {
    expr(w, "immediate", |w| {
        attr_be32(w, NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT)?;
        let data = w.begin_nested(NFTA_IMMEDIATE_DATA)?;
        let v = w.begin_nested(NFTA_DATA_VERDICT)?;
        attr_be32(w, NFTA_VERDICT_CODE, code)?;
        w.end_nested(v)?;
        w.end_nested(data)
    })
}

fn rule_msg(
    b: &mut Batch<'_>,
    exprs: impl FnOnce(&mut MsgWriter<'_>) -> Result<(), NoSpace>,
) -> Result<(), NoSpace> {
    b.msg(
        NFT_MSG_NEWRULE,
        NLM_F_CREATE | NLM_F_APPEND,
        NFPROTO_INET,
        |w| {
            w.attr_str(NFTA_RULE_TABLE, TABLE)?;
            w.attr_str(NFTA_RULE_CHAIN, CHAIN)?;
            let list = w.begin_nested(NFTA_RULE_EXPRESSIONS)?;
            exprs(w)?;
            w.end_nested(list)
        },
    )
}

/// `meta nfproto ipv6 meta l4proto ipv6-icmp icmpv6 type 135-136 accept`
fn rule_nd_accept(b: &mut Batch<'_>) -> Result<(), NoSpace> {
    rule_msg(b, |w| {
        meta_load(w, NFT_META_NFPROTO)?;
        cmp(w, NFT_CMP_EQ, &[NFPROTO_IPV6])?;
        meta_load(w, NFT_META_L4PROTO)?;
        cmp(w, NFT_CMP_EQ, &[IPPROTO_ICMPV6])?;
        payload_load(w, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1)?;
        cmp(w, NFT_CMP_GTE, &[ND_NEIGHBOR_SOLICIT])?;
        cmp(w, NFT_CMP_LTE, &[ND_NEIGHBOR_ADVERT])?;
        verdict(w, NF_ACCEPT)
    })
}

/// `meta nfproto ipv4 ip daddr @vips4 drop` (or the IPv6 twin).
fn rule_daddr_drop(b: &mut Batch<'_>, v6: bool) -> Result<(), NoSpace> {
    let (proto, offset, len, set) = if v6 {
        (NFPROTO_IPV6, 24, 16, SET6)
    } else {
        (NFPROTO_IPV4, 16, 4, SET4)
    };
    rule_msg(b, |w| {
        meta_load(w, NFT_META_NFPROTO)?;
        cmp(w, NFT_CMP_EQ, &[proto])?;
        payload_load(w, NFT_PAYLOAD_NETWORK_HEADER, offset, len)?;
        lookup(w, set)?;
        verdict(w, NF_DROP)
    })
}

/// The whole ruleset as one transaction. "add table; delete table; add table ..." makes it
/// idempotent and atomic: a stale table from a crashed run is replaced, never merged, and
/// there is no moment without the table once it existed.
pub fn build_setup(buf: &mut [u8], seq: u32) -> Result<(&[u8], BatchSeqs), NoSpace> {
    let mut b = Batch::new(buf, seq)?;
    table_msg(&mut b, NFT_MSG_NEWTABLE, NLM_F_CREATE)?;
    table_msg(&mut b, NFT_MSG_DELTABLE, 0)?;
    table_msg(&mut b, NFT_MSG_NEWTABLE, NLM_F_CREATE)?;
    chain_msg(&mut b)?;
    set_msg(&mut b, SET4, TYPE_IPADDR, 4, 1)?;
    set_msg(&mut b, SET6, TYPE_IP6ADDR, 16, 2)?;
    rule_nd_accept(&mut b)?;
    rule_daddr_drop(&mut b, false)?;
    rule_daddr_drop(&mut b, true)?;
    b.finish()
}

/// `nft delete table inet vigil`, made idempotent the same way: add (a no-op if present),
/// then delete.
pub fn build_teardown(buf: &mut [u8], seq: u32) -> Result<(&[u8], BatchSeqs), NoSpace> {
    let mut b = Batch::new(buf, seq)?;
    table_msg(&mut b, NFT_MSG_NEWTABLE, NLM_F_CREATE)?;
    table_msg(&mut b, NFT_MSG_DELTABLE, 0)?;
    b.finish()
}

/// `nft add element inet vigil vips4 { ip }` (NEWSETELEM without EXCL: re-adding is no
/// error) or `nft delete element ...` for `add == false`.
pub fn build_element(
    buf: &mut [u8],
    seq: u32,
    ip: IpAddr,
    add: bool,
) -> Result<(&[u8], BatchSeqs), NoSpace> {
    let (set, key): (&str, &[u8]) = match &ip {
        IpAddr::V4(a) => (SET4, &a.octets()[..]),
        IpAddr::V6(a) => (SET6, &a.octets()[..]),
    };
    let (ty, flags) = if add {
        (NFT_MSG_NEWSETELEM, NLM_F_CREATE)
    } else {
        (NFT_MSG_DELSETELEM, 0)
    };
    let mut b = Batch::new(buf, seq)?;
    b.msg(ty, flags, NFPROTO_INET, |w| {
        w.attr_str(NFTA_SET_ELEM_LIST_TABLE, TABLE)?;
        w.attr_str(NFTA_SET_ELEM_LIST_SET, set)?;
        let list = w.begin_nested(NFTA_SET_ELEM_LIST_ELEMENTS)?;
        let elem = w.begin_nested(NFTA_LIST_ELEM)?;
        let k = w.begin_nested(NFTA_SET_ELEM_KEY)?;
        w.attr(NFTA_DATA_VALUE, key)?;
        w.end_nested(k)?;
        w.end_nested(elem)?;
        w.end_nested(list)
    })?;
    b.finish()
}

/// `NFT_MSG_GETTABLE inet vigil`: answered with the table or ENOENT. Not a batch: nfnetlink
/// takes get requests on their own.
pub fn build_get_table(buf: &mut [u8], seq: u32) -> Result<&[u8], NoSpace> {
    let ty = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE;
    let mut w = MsgWriter::new(buf, ty, NLM_F_REQUEST | NLM_F_ACK, seq)?;
    w.put(&nfgenmsg(NFPROTO_INET, 0))?;
    w.attr_str(NFTA_TABLE_NAME, TABLE)?;
    w.finish()
}

// ---------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------

/// What one received datagram means for the batch waiting on `seqs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchProgress {
    /// This many more of our messages were acknowledged.
    Acked(u32),
    /// The kernel refused a message; the batch was rolled back.
    Failed {
        msg: NftMsg,
        errno: Errno,
        message: Option<String>,
    },
}

/// Reads one reply datagram for a batch. `sent` is the batch itself, to name the message an
/// error refers to. Replies for other sequence numbers or ports (left over from a batch that
/// timed out) are ignored.
pub fn parse_batch_reply(
    datagram: &[u8],
    port: u32,
    seqs: BatchSeqs,
    sent: &[u8],
) -> Result<BatchProgress> {
    let ours = |seq: u32| seq == seqs.begin || seq.wrapping_sub(seqs.first) < seqs.count;
    let mut acked = 0;
    for msg in Messages::new(datagram) {
        let msg = msg?;
        if msg.pid != port || !ours(msg.seq) {
            debug!("nftables: skipped stale reply seq {}", msg.seq);
            continue;
        }
        match classify(msg)? {
            Reply::Ack => acked += 1,
            Reply::Error { errno, message } => {
                return Ok(BatchProgress::Failed {
                    msg: sent_type(sent, msg.seq),
                    errno,
                    message: message.map(|m| m.chars().take(200).collect()),
                });
            }
            Reply::Done | Reply::Noop | Reply::Data(_) => {}
        }
    }
    Ok(BatchProgress::Acked(acked))
}

/// The kind of message sent with `seq` in `batch`.
fn sent_type(batch: &[u8], seq: u32) -> NftMsg {
    Messages::new(batch)
        .flatten()
        .find(|m| m.seq == seq)
        .map(|m| match m.ty {
            NFNL_MSG_BATCH_BEGIN | NFNL_MSG_BATCH_END => NftMsg::Batch,
            t => NftMsg::of(t),
        })
        .unwrap_or(NftMsg::Batch)
}

// ---------------------------------------------------------------------------------------
// Socket
// ---------------------------------------------------------------------------------------

/// A NETLINK_NETFILTER socket in the calling thread's network namespace: the shared
/// `NlSocket`, with a reply timeout and errors in nftables terms.
struct NfSocket {
    inner: super::socket::NlSocket,
    port: u32,
}

fn nft_err(e: super::NetlinkError) -> NftError {
    match e {
        super::NetlinkError::ReplyTruncated { len } => NftError::ReplyTruncated { len },
        super::NetlinkError::Io(Errno::EAGAIN) => NftError::Timeout,
        other => NftError::Io(other.errno().unwrap_or(Errno::EIO)),
    }
}

impl NfSocket {
    fn open() -> Result<Self> {
        let inner = super::socket::NlSocket::open(SockProtocol::NetlinkNetFilter, 0).map_err(nft_err)?;
        inner.set_recv_timeout(REPLY_TIMEOUT).map_err(nft_err)?;
        let port = inner.port_id();
        Ok(Self { inner, port })
    }

    fn send(&self, msg: &[u8]) -> Result<()> {
        self.inner.send(msg).map_err(nft_err)
    }

    /// One datagram from the kernel (others are dropped); `Timeout` after REPLY_TIMEOUT.
    fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        self.inner.recv(buf).map_err(nft_err)
    }
}

// ---------------------------------------------------------------------------------------
// NoAccept
// ---------------------------------------------------------------------------------------

/// The `inet vigil` table in the calling thread's network namespace. One per VRRP child
/// when any instance has `no_accept`; the instances add and remove their VIPs.
pub struct NoAccept {
    sock: NfSocket,
    seq: u32,
    rbuf: Box<[u8]>,
}

impl NoAccept {
    /// Opens the socket and (re)creates the table, chain, sets and rules, empty. Later
    /// requests never wait for the kernel's reply: nfnetlink handles a batch inside our
    /// sendmsg and queues the acks before it returns (see `Rtnl::never_wait`).
    pub fn setup() -> Result<Self> {
        let mut me = Self::open()?;
        me.batch(build_setup)?;
        me.sock.inner.set_nonblocking(true).map_err(nft_err)?;
        Ok(me)
    }

    /// Opens the socket without touching the ruleset (for queries and teardown).
    pub fn open() -> Result<Self> {
        Ok(Self {
            sock: NfSocket::open()?,
            seq: initial_seq(),
            rbuf: vec![0u8; RECV_BUF_LEN].into_boxed_slice(),
        })
    }

    /// Drops packets addressed to `ip` from now on. Adding an address already there is fine.
    pub fn add(&mut self, ip: IpAddr) -> Result<()> {
        self.batch(|b, s| build_element(b, s, ip, true))
    }

    /// Accepts packets addressed to `ip` again. Removing an address not there is fine.
    pub fn del(&mut self, ip: IpAddr) -> Result<()> {
        match self.batch(|b, s| build_element(b, s, ip, false)) {
            Err(NftError::Kernel {
                errno: Errno::ENOENT,
                ..
            }) => Ok(()),
            r => r,
        }
    }

    /// Deletes the table (and with it every rule and set); no error when it is gone already.
    pub fn teardown(&mut self) -> Result<()> {
        self.batch(build_teardown)
    }

    /// Whether the `inet vigil` table exists.
    pub fn table_present(&mut self) -> Result<bool> {
        let seq = self.next_seq(1);
        let mut req = [0u8; 128];
        let n = build_get_table(&mut req, seq)?.len();
        self.sock
            .send(req.get(..n).ok_or(NftError::RequestTooLarge)?)?;
        let mut found = false;
        loop {
            let len = self.sock.recv(&mut self.rbuf)?;
            let dgram = self.rbuf.get(..len).ok_or(ParseError::Truncated)?;
            for msg in Messages::new(dgram) {
                let msg = msg?;
                if msg.seq != seq || msg.pid != self.sock.port {
                    continue;
                }
                match classify(msg)? {
                    Reply::Data(_) => found = true,
                    Reply::Ack | Reply::Done => return Ok(found),
                    Reply::Error {
                        errno: Errno::ENOENT,
                        ..
                    } => return Ok(false),
                    Reply::Error { errno, message } => {
                        return Err(NftError::Kernel {
                            msg: NftMsg::GetTable,
                            errno,
                            message: message.map(String::from),
                        });
                    }
                    Reply::Noop => {}
                }
            }
        }
    }

    fn next_seq(&mut self, n: u32) -> u32 {
        let s = self.seq;
        self.seq = self.seq.wrapping_add(n);
        s
    }

    /// Sends one batch and waits until every message in it is acknowledged, or one failed.
    fn batch(
        &mut self,
        build: impl FnOnce(&mut [u8], u32) -> Result<(&[u8], BatchSeqs), NoSpace>,
    ) -> Result<()> {
        let mut buf = [0u8; BATCH_BUF_LEN];
        let seq = self.seq;
        let (req, seqs) = build(&mut buf, seq)?;
        // BEGIN + messages + END.
        self.seq = seq.wrapping_add(seqs.count).wrapping_add(2);
        self.sock.send(req)?;
        let mut pending = seqs.count;
        while pending > 0 {
            let len = self.sock.recv(&mut self.rbuf)?;
            let dgram = self.rbuf.get(..len).ok_or(ParseError::Truncated)?;
            match parse_batch_reply(dgram, self.sock.port, seqs, req)? {
                BatchProgress::Acked(n) => pending = pending.saturating_sub(n),
                BatchProgress::Failed {
                    msg,
                    errno,
                    message,
                } => {
                    return Err(NftError::Kernel {
                        msg,
                        errno,
                        message,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Starts sequence numbers from the clock, as nft and keepalived do, so replies to a previous
/// process's socket on a reused port id are not mistaken for ours.
fn initial_seq() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::consts::{NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_EXCL, NLMSG_ERROR};
    use crate::netlink::wire::Attrs;

    const BEGIN_100: [u8; 20] = [
        20, 0, 0, 0, 0x10, 0, 1, 0, 100, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10,
    ];

    /// `nft add element inet vigil vips4 { 192.0.2.100 }` as `nft --debug=mnl` shows it, less
    /// the NFTA_SET_ELEM_LIST_SET_ID that nft adds for sets of its own batch, and with ACK.
    #[test]
    fn golden_element_batch() {
        let mut buf = [0xa5u8; 256];
        let (out, seqs) =
            build_element(&mut buf, 100, "192.0.2.100".parse().unwrap(), true).unwrap();
        #[rustfmt::skip]
        let want: &[u8] = &[
            // BATCH_BEGIN, res_id NFNL_SUBSYS_NFTABLES in network order
            20, 0, 0, 0,  0x10, 0,  1, 0,  100, 0, 0, 0,  0, 0, 0, 0,  0, 0, 0, 10,
            // NEWSETELEM (0x0a0c), REQUEST|ACK|CREATE, seq 101, nfgenmsg inet
            64, 0, 0, 0,  0x0c, 0x0a,  0x05, 0x04,  101, 0, 0, 0,  0, 0, 0, 0,  1, 0, 0, 0,
            10, 0, 1, 0,  b'v', b'i', b'g', b'i', b'l', 0, 0, 0,
            10, 0, 2, 0,  b'v', b'i', b'p', b's', b'4', 0, 0, 0,
            20, 0, 3, 0x80,  16, 0, 1, 0x80,  12, 0, 1, 0x80,  8, 0, 1, 0,  192, 0, 2, 100,
            // BATCH_END
            20, 0, 0, 0,  0x11, 0,  1, 0,  102, 0, 0, 0,  0, 0, 0, 0,  0, 0, 0, 10,
        ];
        if cfg!(target_endian = "little") {
            assert_eq!(out, want);
        }
        assert_eq!(
            seqs,
            BatchSeqs {
                begin: 100,
                first: 101,
                count: 1
            }
        );
    }

    #[test]
    fn element_delete_and_ipv6() {
        let mut buf = [0xa5u8; 256];
        let (out, _) = build_element(&mut buf, 7, "2001:db8::100".parse().unwrap(), false).unwrap();
        let msgs: Vec<_> = Messages::new(out).map(|m| m.unwrap()).collect();
        assert_eq!(msgs.len(), 3);
        let m = msgs[1];
        assert_eq!(m.ty, 0x0a00 | NFT_MSG_DELSETELEM);
        assert_eq!(m.flags, NLM_F_REQUEST | NLM_F_ACK, "no CREATE on delete");
        let attrs: Vec<_> = Attrs::new(&m.payload[4..]).map(|a| a.unwrap()).collect();
        assert_eq!(attrs[1].str::<16>().unwrap().as_str(), SET6);
        let key = attrs[2]
            .nested()
            .next()
            .unwrap()
            .unwrap()
            .nested()
            .next()
            .unwrap()
            .unwrap();
        let value = key.nested().next().unwrap().unwrap();
        assert_eq!(
            value.payload,
            &"2001:db8::100"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets()
        );
    }

    /// `ip daddr @vips4 drop` in an inet chain: byte for byte what `nft --debug=mnl add rule
    /// inet vigil input ip daddr @vips4 drop` sends, less the lookup's NFTA_LOOKUP_SET_ID.
    #[test]
    fn golden_ipv4_drop_rule() {
        let mut buf = [0xa5u8; 512];
        let mut b = Batch::new(&mut buf, 100).unwrap();
        rule_daddr_drop(&mut b, false).unwrap();
        let (out, _) = b.finish().unwrap();
        #[rustfmt::skip]
        let want: &[u8] = &[
            // NEWRULE (0x0a06), REQUEST|ACK|CREATE|APPEND, seq 101, nfgenmsg inet
            12, 1, 0, 0,  0x06, 0x0a,  0x05, 0x0c,  101, 0, 0, 0,  0, 0, 0, 0,  1, 0, 0, 0,
            10, 0, 1, 0,  b'v', b'i', b'g', b'i', b'l', 0, 0, 0,
            10, 0, 2, 0,  b'i', b'n', b'p', b'u', b't', 0, 0, 0,
            224, 0, 4, 0x80,
            // meta load nfproto => reg 1
            36, 0, 1, 0x80,  9, 0, 1, 0,  b'm', b'e', b't', b'a', 0, 0, 0, 0,
              20, 0, 2, 0x80,  8, 0, 2, 0,  0, 0, 0, 15,  8, 0, 1, 0,  0, 0, 0, 1,
            // cmp eq reg 1 0x02
            44, 0, 1, 0x80,  8, 0, 1, 0,  b'c', b'm', b'p', 0,
              32, 0, 2, 0x80,  8, 0, 1, 0,  0, 0, 0, 1,  8, 0, 2, 0,  0, 0, 0, 0,
              12, 0, 3, 0x80,  5, 0, 1, 0,  2, 0, 0, 0,
            // payload load 4b @ network header + 16 => reg 1
            52, 0, 1, 0x80,  12, 0, 1, 0,  b'p', b'a', b'y', b'l', b'o', b'a', b'd', 0,
              36, 0, 2, 0x80,  8, 0, 1, 0,  0, 0, 0, 1,  8, 0, 2, 0,  0, 0, 0, 1,
              8, 0, 3, 0,  0, 0, 0, 16,  8, 0, 4, 0,  0, 0, 0, 4,
            // lookup reg 1 set vips4
            40, 0, 1, 0x80,  11, 0, 1, 0,  b'l', b'o', b'o', b'k', b'u', b'p', 0, 0,
              24, 0, 2, 0x80,  8, 0, 2, 0,  0, 0, 0, 1,  10, 0, 1, 0,  b'v', b'i', b'p', b's', b'4', 0, 0, 0,
            // immediate reg 0 drop
            48, 0, 1, 0x80,  14, 0, 1, 0,  b'i', b'm', b'm', b'e', b'd', b'i', b'a', b't', b'e', 0, 0, 0,
              28, 0, 2, 0x80,  8, 0, 1, 0,  0, 0, 0, 0,
              16, 0, 2, 0x80,  12, 0, 2, 0x80,  8, 0, 1, 0,  0, 0, 0, 0,
        ];
        if cfg!(target_endian = "little") {
            assert_eq!(&out[..20], &BEGIN_100);
            assert_eq!(&out[20..20 + want.len()], want);
            assert_eq!(out.len(), 20 + want.len() + 20);
        }
    }

    /// The chain: hook and priority in network order, policy accept, type filter.
    #[test]
    fn chain_attributes() {
        let mut buf = [0u8; 256];
        let mut b = Batch::new(&mut buf, 1).unwrap();
        chain_msg(&mut b).unwrap();
        let (out, _) = b.finish().unwrap();
        let m = Messages::new(out).nth(1).unwrap().unwrap();
        assert_eq!(m.ty, 0x0a00 | NFT_MSG_NEWCHAIN);
        let attrs: Vec<_> = Attrs::new(&m.payload[4..]).map(|a| a.unwrap()).collect();
        let kinds: Vec<_> = attrs.iter().map(|a| a.kind).collect();
        assert_eq!(
            kinds,
            [
                NFTA_CHAIN_TABLE,
                NFTA_CHAIN_NAME,
                NFTA_CHAIN_HOOK,
                NFTA_CHAIN_POLICY,
                NFTA_CHAIN_TYPE
            ]
        );
        let hook: Vec<_> = attrs[2]
            .nested()
            .map(|a| a.unwrap().payload.to_vec())
            .collect();
        assert_eq!(hook, [vec![0, 0, 0, 1], vec![0xff, 0xff, 0xff, 0xff]]);
        assert_eq!(attrs[3].payload, &[0, 0, 0, 1]);
        assert_eq!(attrs[4].str::<16>().unwrap().as_str(), "filter");
    }

    #[test]
    fn setup_batch_order_and_flags() {
        let mut buf = [0u8; BATCH_BUF_LEN];
        let (out, seqs) = build_setup(&mut buf, 1000).unwrap();
        let msgs: Vec<_> = Messages::new(out).map(|m| m.unwrap()).collect();
        let types: Vec<_> = msgs.iter().map(|m| m.ty).collect();
        let t = |x: u16| 0x0a00 | x;
        assert_eq!(
            types,
            [
                NFNL_MSG_BATCH_BEGIN,
                t(NFT_MSG_NEWTABLE),
                t(NFT_MSG_DELTABLE),
                t(NFT_MSG_NEWTABLE),
                t(NFT_MSG_NEWCHAIN),
                t(NFT_MSG_NEWSET),
                t(NFT_MSG_NEWSET),
                t(NFT_MSG_NEWRULE),
                t(NFT_MSG_NEWRULE),
                t(NFT_MSG_NEWRULE),
                NFNL_MSG_BATCH_END,
            ]
        );
        assert_eq!(
            seqs,
            BatchSeqs {
                begin: 1000,
                first: 1001,
                count: 9
            }
        );
        for (i, m) in msgs.iter().enumerate() {
            assert_eq!(m.seq, 1000 + i as u32);
            let inner = i > 0 && i < msgs.len() - 1;
            assert_eq!(
                m.flags & NLM_F_ACK != 0,
                inner,
                "ACK on every object message only"
            );
            assert_eq!(
                m.flags & NLM_F_EXCL,
                0,
                "never EXCL: setup must be repeatable"
            );
        }
        // Every shorter buffer fails cleanly.
        for n in 0..out.len() {
            let mut small = vec![0u8; n];
            assert!(build_setup(&mut small, 1).is_err(), "{n}");
        }
    }

    fn nlmsgerr(seq: u32, port: u32, errno: i32, text: Option<&str>) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&(-errno).to_ne_bytes());
        // The capped echo of the request header.
        p.extend_from_slice(&[0u8; 16]);
        let mut flags = NLM_F_CAPPED;
        if let Some(t) = text {
            flags |= NLM_F_ACK_TLVS;
            let len = 4 + t.len() + 1;
            p.extend_from_slice(&(len as u16).to_ne_bytes());
            p.extend_from_slice(&1u16.to_ne_bytes()); // NLMSGERR_ATTR_MSG
            p.extend_from_slice(t.as_bytes());
            p.push(0);
            while p.len() % 4 != 0 {
                p.push(0);
            }
        }
        let mut m = Vec::new();
        m.extend_from_slice(&((16 + p.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&port.to_ne_bytes());
        m.extend_from_slice(&p);
        m
    }

    #[test]
    fn replies_count_acks_and_name_the_failed_message() {
        let mut buf = [0u8; BATCH_BUF_LEN];
        let (sent, seqs) = build_setup(&mut buf, 50).unwrap();
        let mut acks = nlmsgerr(51, 9, 0, None);
        acks.extend(nlmsgerr(52, 9, 0, None));
        acks.extend(nlmsgerr(52, 8, 0, None)); // another port: not ours
        acks.extend(nlmsgerr(7, 9, 0, None)); // stale sequence number
        assert_eq!(
            parse_batch_reply(&acks, 9, seqs, sent).unwrap(),
            BatchProgress::Acked(2)
        );

        // The kernel refuses the first rule (seq 57).
        let err = nlmsgerr(57, 9, libc::ENOENT, Some("Could not process rule"));
        assert_eq!(
            parse_batch_reply(&err, 9, seqs, sent).unwrap(),
            BatchProgress::Failed {
                msg: NftMsg::NewRule,
                errno: Errno::ENOENT,
                message: Some("Could not process rule".into()),
            }
        );
        // A batch-level refusal (e.g. EPERM) comes on BATCH_BEGIN's sequence number.
        let err = nlmsgerr(50, 9, libc::EPERM, None);
        assert!(matches!(
            parse_batch_reply(&err, 9, seqs, sent).unwrap(),
            BatchProgress::Failed {
                msg: NftMsg::Batch,
                errno: Errno::EPERM,
                ..
            }
        ));
    }

    /// Garbled replies: every truncation and single-byte corruption is an error or a
    /// harmless result, never a panic.
    #[test]
    fn garbled_replies_do_not_panic() {
        let mut buf = [0u8; BATCH_BUF_LEN];
        let (sent, seqs) = build_setup(&mut buf, 50).unwrap();
        let mut good = nlmsgerr(51, 9, 0, None);
        good.extend(nlmsgerr(57, 9, libc::EINVAL, Some("bad")));
        for cut in 0..good.len() {
            let _ = parse_batch_reply(&good[..cut], 9, seqs, sent);
        }
        for i in 0..good.len() {
            for v in [0u8, 1, 3, 0x7f, 0x80, 0xff] {
                let mut c = good.clone();
                c[i] = v;
                let _ = parse_batch_reply(&c, 9, seqs, sent);
            }
        }
        assert!(matches!(
            parse_batch_reply(&[1, 2, 3], 9, seqs, sent),
            Err(NftError::Malformed(_))
        ));
        let mut bad_len = good.clone();
        bad_len[0..4].copy_from_slice(&4u32.to_ne_bytes());
        assert!(parse_batch_reply(&bad_len, 9, seqs, sent).is_err());
        // The sent batch is ours, but naming the message must not trust it either.
        assert_eq!(sent_type(&[0xff; 7], 1), NftMsg::Batch);
    }

    #[test]
    fn constants_match_libc() {
        assert_eq!(NETLINK_NETFILTER, libc::NETLINK_NETFILTER);
        assert_eq!(NFPROTO_INET as i32, libc::NFPROTO_INET);
        assert_eq!(NFPROTO_IPV4 as i32, libc::NFPROTO_IPV4);
        assert_eq!(NFPROTO_IPV6 as i32, libc::NFPROTO_IPV6);
        assert_eq!(NF_INET_LOCAL_IN as i32, libc::NF_INET_LOCAL_IN);
        assert_eq!(NF_DROP as i32, libc::NF_DROP);
        assert_eq!(NF_ACCEPT as i32, libc::NF_ACCEPT);
        assert_eq!(NLM_F_APPEND as i32, libc::NLM_F_APPEND);
    }
}
