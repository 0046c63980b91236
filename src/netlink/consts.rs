//! rtnetlink numbers from the Linux uapi headers (`linux/netlink.h`, `linux/rtnetlink.h`,
//! `linux/if_addr.h`, `linux/if_link.h`, `linux/fib_rules.h`).
//!
//! Written out here rather than taken from `libc` so the wire layer reads as one table; the
//! unit test at the bottom cross-checks the ones `libc` also exports.

// netlink.h
pub const NLMSG_HDRLEN: usize = 16;
pub const NLA_HDRLEN: usize = 4;
pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLMSG_OVERRUN: u16 = 4;
/// First message type that carries data; the ones below are control messages.
pub const NLMSG_MIN_TYPE: u16 = 0x10;

pub const NLM_F_REQUEST: u16 = 0x01;
pub const NLM_F_MULTI: u16 = 0x02;
pub const NLM_F_ACK: u16 = 0x04;
pub const NLM_F_DUMP_INTR: u16 = 0x10;
pub const NLM_F_ROOT: u16 = 0x100;
pub const NLM_F_MATCH: u16 = 0x200;
pub const NLM_F_DUMP: u16 = NLM_F_ROOT | NLM_F_MATCH;
pub const NLM_F_REPLACE: u16 = 0x100;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;
/// On NLMSG_ERROR: the echoed request was cut to its header (NETLINK_CAP_ACK).
pub const NLM_F_CAPPED: u16 = 0x100;
/// On NLMSG_ERROR: extended-ack TLVs follow the echoed request.
pub const NLM_F_ACK_TLVS: u16 = 0x200;

pub const NLA_F_NESTED: u16 = 1 << 15;
pub const NLA_F_NET_BYTEORDER: u16 = 1 << 14;
pub const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);

pub const NLMSGERR_ATTR_MSG: u16 = 1;

pub const SOL_NETLINK: i32 = 270;
pub const NETLINK_CAP_ACK: i32 = 10;
pub const NETLINK_EXT_ACK: i32 = 11;

// Multicast groups (legacy bit masks, for bind()) that the reflector listens to.
pub const RTMGRP_LINK: u32 = 0x1;
pub const RTMGRP_IPV4_IFADDR: u32 = 0x10;
pub const RTMGRP_IPV4_ROUTE: u32 = 0x40;
pub const RTMGRP_IPV6_IFADDR: u32 = 0x100;
pub const RTMGRP_IPV6_ROUTE: u32 = 0x400;

// rtnetlink.h message types
pub const RTM_NEWLINK: u16 = 16;
pub const RTM_DELLINK: u16 = 17;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_DELADDR: u16 = 21;
pub const RTM_GETADDR: u16 = 22;
pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_DELROUTE: u16 = 25;
pub const RTM_GETROUTE: u16 = 26;
pub const RTM_NEWRULE: u16 = 32;
pub const RTM_DELRULE: u16 = 33;
pub const RTM_GETRULE: u16 = 34;

pub const AF_UNSPEC: u8 = 0;
pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;

// Route scopes (rtm_scope, ifa_scope).
pub const RT_SCOPE_UNIVERSE: u8 = 0;
pub const RT_SCOPE_SITE: u8 = 200;
pub const RT_SCOPE_LINK: u8 = 253;
pub const RT_SCOPE_HOST: u8 = 254;
pub const RT_SCOPE_NOWHERE: u8 = 255;

// Route protocols (rtm_protocol).
pub const RTPROT_UNSPEC: u8 = 0;
pub const RTPROT_KERNEL: u8 = 2;
pub const RTPROT_BOOT: u8 = 3;
pub const RTPROT_STATIC: u8 = 4;
/// What keepalived tags its own routes and rules with (iproute2's rt_protos "keepalived").
pub const RTPROT_KEEPALIVED: u8 = 18;

// Routing tables.
pub const RT_TABLE_UNSPEC: u32 = 0;
pub const RT_TABLE_DEFAULT: u32 = 253;
pub const RT_TABLE_MAIN: u32 = 254;
pub const RT_TABLE_LOCAL: u32 = 255;

// Route types (rtm_type).
pub const RTN_UNSPEC: u8 = 0;
pub const RTN_UNICAST: u8 = 1;
pub const RTN_LOCAL: u8 = 2;
pub const RTN_BROADCAST: u8 = 3;
pub const RTN_ANYCAST: u8 = 4;
pub const RTN_MULTICAST: u8 = 5;
pub const RTN_BLACKHOLE: u8 = 6;
pub const RTN_UNREACHABLE: u8 = 7;
pub const RTN_PROHIBIT: u8 = 8;
pub const RTN_THROW: u8 = 9;

// Route attributes.
pub const RTA_DST: u16 = 1;
pub const RTA_SRC: u16 = 2;
pub const RTA_IIF: u16 = 3;
pub const RTA_OIF: u16 = 4;
pub const RTA_GATEWAY: u16 = 5;
pub const RTA_PRIORITY: u16 = 6;
pub const RTA_PREFSRC: u16 = 7;
pub const RTA_MULTIPATH: u16 = 9;
pub const RTA_TABLE: u16 = 15;

// Address attributes and flags.
pub const IFA_ADDRESS: u16 = 1;
pub const IFA_LOCAL: u16 = 2;
pub const IFA_LABEL: u16 = 3;
pub const IFA_BROADCAST: u16 = 4;
pub const IFA_FLAGS: u16 = 8;

pub const IFA_F_SECONDARY: u32 = 0x01;
pub const IFA_F_NODAD: u32 = 0x02;
pub const IFA_F_OPTIMISTIC: u32 = 0x04;
pub const IFA_F_DADFAILED: u32 = 0x08;
pub const IFA_F_HOMEADDRESS: u32 = 0x10;
pub const IFA_F_DEPRECATED: u32 = 0x20;
pub const IFA_F_TENTATIVE: u32 = 0x40;
pub const IFA_F_PERMANENT: u32 = 0x80;
pub const IFA_F_MANAGETEMPADDR: u32 = 0x100;
pub const IFA_F_NOPREFIXROUTE: u32 = 0x200;

// Link attributes and flags.
pub const IFLA_ADDRESS: u16 = 1;
pub const IFLA_LINK: u16 = 5;
/// Inside IFLA_INFO_DATA of a macvlan.
pub const IFLA_MACVLAN_MODE: u16 = 1;
pub const MACVLAN_MODE_PRIVATE: u32 = 1;
pub const MACVLAN_MODE_BRIDGE: u32 = 4;
pub const IFLA_IFNAME: u16 = 3;
pub const IFLA_MTU: u16 = 4;
pub const IFLA_OPERSTATE: u16 = 16;
pub const IFLA_LINKINFO: u16 = 18;
pub const IFLA_EXT_MASK: u16 = 29;
pub const IFLA_CARRIER: u16 = 33;
pub const IFLA_INFO_KIND: u16 = 1;
pub const IFLA_INFO_DATA: u16 = 2;
pub const VETH_INFO_PEER: u16 = 1;
/// IFLA_EXT_MASK value asking the kernel to leave the (large) statistics out of link replies.
pub const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;

pub const IFF_UP: u32 = 0x1;
pub const IFF_BROADCAST: u32 = 0x2;
pub const IFF_LOOPBACK: u32 = 0x8;
pub const IFF_POINTOPOINT: u32 = 0x10;
pub const IFF_RUNNING: u32 = 0x40;
pub const IFF_NOARP: u32 = 0x80;
pub const IFF_MULTICAST: u32 = 0x1000;
pub const IFF_LOWER_UP: u32 = 0x10000;

// fib_rules.h
pub const FRA_DST: u16 = 1;
pub const FRA_SRC: u16 = 2;
pub const FRA_IIFNAME: u16 = 3;
pub const FRA_GOTO: u16 = 4;
pub const FRA_PRIORITY: u16 = 6;
pub const FRA_FWMARK: u16 = 10;
pub const FRA_TABLE: u16 = 15;
pub const FRA_FWMASK: u16 = 16;
pub const FRA_OIFNAME: u16 = 17;
pub const FRA_PROTOCOL: u16 = 21;

pub const FR_ACT_UNSPEC: u8 = 0;
pub const FR_ACT_TO_TBL: u8 = 1;
pub const FR_ACT_GOTO: u8 = 2;
pub const FR_ACT_NOP: u8 = 3;
pub const FR_ACT_BLACKHOLE: u8 = 6;
pub const FR_ACT_UNREACHABLE: u8 = 7;
pub const FR_ACT_PROHIBIT: u8 = 8;

/// IFNAMSIZ, including the terminating NUL.
pub const IFNAMSIZ: usize = 16;
/// MAX_ADDR_LEN: the longest hardware address a link can report.
pub const MAX_ADDR_LEN: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_libc() {
        assert_eq!(NLMSG_ERROR as i32, libc::NLMSG_ERROR);
        assert_eq!(NLMSG_DONE as i32, libc::NLMSG_DONE);
        assert_eq!(NLM_F_CREATE as i32, libc::NLM_F_CREATE);
        assert_eq!(NLM_F_EXCL as i32, libc::NLM_F_EXCL);
        assert_eq!(NLM_F_DUMP as i32, libc::NLM_F_DUMP);
        assert_eq!(NLM_F_DUMP_INTR as i32, libc::NLM_F_DUMP_INTR);
        assert_eq!(NLM_F_ACK_TLVS as i32, libc::NLM_F_ACK_TLVS);
        assert_eq!(SOL_NETLINK, libc::SOL_NETLINK);
        assert_eq!(NETLINK_EXT_ACK, libc::NETLINK_EXT_ACK);
        assert_eq!(NETLINK_CAP_ACK, libc::NETLINK_CAP_ACK);
        assert_eq!(RTM_NEWADDR, libc::RTM_NEWADDR);
        assert_eq!(RTM_GETRULE, libc::RTM_GETRULE);
        assert_eq!(RTM_DELROUTE, libc::RTM_DELROUTE);
        assert_eq!(AF_INET6 as i32, libc::AF_INET6);
        assert_eq!(RT_SCOPE_LINK, libc::RT_SCOPE_LINK);
        assert_eq!(RTN_PROHIBIT, libc::RTN_PROHIBIT);
        assert_eq!(RTA_PREFSRC, libc::RTA_PREFSRC);
        assert_eq!(RTA_TABLE, libc::RTA_TABLE);
        assert_eq!(IFA_FLAGS, libc::IFA_FLAGS);
        assert_eq!(IFA_F_NODAD, libc::IFA_F_NODAD);
        assert_eq!(IFLA_CARRIER, libc::IFLA_CARRIER);
        assert_eq!(IFLA_OPERSTATE, libc::IFLA_OPERSTATE);
        assert_eq!(IFLA_EXT_MASK, libc::IFLA_EXT_MASK);
        assert_eq!(
            RTEXT_FILTER_SKIP_STATS as i32,
            libc::RTEXT_FILTER_SKIP_STATS
        );
        assert_eq!(IFF_LOWER_UP as i32, libc::IFF_LOWER_UP);
        assert_eq!(RTMGRP_IPV6_IFADDR as i32, libc::RTMGRP_IPV6_IFADDR);
        assert_eq!(RT_TABLE_MAIN as u8, libc::RT_TABLE_MAIN);
    }
}
