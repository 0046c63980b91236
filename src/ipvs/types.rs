//! The typed model: what a virtual service, a real server (destination), the connection
//! timeouts and a sync daemon are, independent of how netlink encodes them.

use std::net::IpAddr;

use crate::netlink::types::{AddrFamily, enum_with_unknown};

use super::consts::*;

/// A scheduler, persistence-engine or interface name as IPVS bounds it (15 bytes, no NUL).
pub type IpvsName = heapless::String<{ IP_VS_NAME_MAXLEN - 1 }>;

enum_with_unknown! {
    /// The transport protocol of an address-based service.
    pub enum Protocol(u16) {
        Tcp = IPPROTO_TCP,
        Udp = IPPROTO_UDP,
        Sctp = IPPROTO_SCTP,
    }
}

enum_with_unknown! {
    /// How packets reach a destination (`IP_VS_CONN_F_FWD_MASK` bits).
    pub enum FwdMethod(u32) {
        /// NAT (`-m`).
        Masq = IP_VS_CONN_F_MASQ,
        /// The director itself.
        Local = IP_VS_CONN_F_LOCALNODE,
        /// IP-in-IP / GUE / GRE (`-i`).
        Tunnel = IP_VS_CONN_F_TUNNEL,
        /// Direct routing (`-g`), the ipvsadm default.
        DirectRoute = IP_VS_CONN_F_DROUTE,
        Bypass = IP_VS_CONN_F_BYPASS,
    }
}

enum_with_unknown! {
    /// Encapsulation of a tunnelled destination.
    pub enum TunType(u8) {
        Ipip = IP_VS_CONN_F_TUNNEL_TYPE_IPIP,
        Gue = IP_VS_CONN_F_TUNNEL_TYPE_GUE,
        Gre = IP_VS_CONN_F_TUNNEL_TYPE_GRE,
    }
}

enum_with_unknown! {
    /// The role of a connection-sync daemon.
    pub enum DaemonState(u32) {
        Master = IP_VS_STATE_MASTER,
        Backup = IP_VS_STATE_BACKUP,
    }
}

/// `IP_VS_SVC_F_*` bits; unknown bits are kept as they came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ServiceFlags(pub u32);

impl ServiceFlags {
    pub const PERSISTENT: Self = Self(IP_VS_SVC_F_PERSISTENT);
    /// Set by the kernel on every service in its table; never part of what we ask for.
    pub const HASHED: Self = Self(IP_VS_SVC_F_HASHED);
    pub const ONEPACKET: Self = Self(IP_VS_SVC_F_ONEPACKET);
    /// Scheduler flag 1 (`sh-fallback` for sh, `mh-fallback` for mh).
    pub const SCHED1: Self = Self(IP_VS_SVC_F_SCHED1);
    /// Scheduler flag 2 (`sh-port` / `mh-port`).
    pub const SCHED2: Self = Self(IP_VS_SVC_F_SCHED2);
    pub const SCHED3: Self = Self(IP_VS_SVC_F_SCHED3);

    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub fn without(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }
}

/// A virtual service: `-t/-u/--sctp-service ADDR:PORT` or `-f FWMARK`.
///
/// The kernel identifies a service by [`Service::key`]; the other fields are its settings and
/// can be changed in place with `edit_service`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Service {
    pub af: AddrFamily,
    /// Ignored for fwmark services (the kernel files them under TCP).
    pub protocol: Protocol,
    /// `None` for a fwmark service.
    pub addr: Option<IpAddr>,
    pub port: u16,
    /// `Some` makes this a fwmark service; `addr`, `port` and `protocol` are then not sent.
    pub fwmark: Option<u32>,
    pub scheduler: IpvsName,
    pub flags: ServiceFlags,
    /// Persistence timeout in seconds (meaningful with [`ServiceFlags::PERSISTENT`]).
    pub timeout: u32,
    /// Persistence granularity. IPv4: the mask as a number (`0xffff_ff00` for /24,
    /// `0xffff_ffff` by default). IPv6: a prefix length (128 by default). This is how the
    /// kernel holds it; see [`Service::netmask_from_prefix`].
    pub netmask: u32,
    /// Persistence engine (`sip`); empty for none.
    pub pe_name: IpvsName,
}

/// What identifies a service in the kernel's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceKey {
    Fwmark {
        af: u8,
        mark: u32,
    },
    Addr {
        af: u8,
        protocol: u16,
        addr: IpAddr,
        port: u16,
    },
}

impl Service {
    /// An address-based service with ipvsadm's defaults: not persistent, 300 s timeout kept
    /// for when persistence is switched on, host netmask.
    pub fn new(protocol: Protocol, addr: IpAddr, port: u16, scheduler: &str) -> Option<Self> {
        let af = AddrFamily::of(&addr);
        Some(Self {
            af,
            protocol,
            addr: Some(addr),
            port,
            fwmark: None,
            scheduler: IpvsName::try_from(scheduler).ok()?,
            flags: ServiceFlags::default(),
            timeout: 0,
            netmask: Self::netmask_from_prefix(af, af.max_prefix_len())?,
            pe_name: IpvsName::new(),
        })
    }

    /// A firewall-mark service.
    pub fn fwmark(af: AddrFamily, mark: u32, scheduler: &str) -> Option<Self> {
        Some(Self {
            af,
            protocol: Protocol::Tcp,
            addr: None,
            port: 0,
            fwmark: Some(mark),
            scheduler: IpvsName::try_from(scheduler).ok()?,
            flags: ServiceFlags::default(),
            timeout: 0,
            netmask: Self::netmask_from_prefix(af, af.max_prefix_len())?,
            pe_name: IpvsName::new(),
        })
    }

    /// Makes the service persistent for `timeout` seconds with `prefix` granularity.
    pub fn persistent(mut self, timeout: u32, prefix: u8) -> Option<Self> {
        self.flags = self.flags.with(ServiceFlags::PERSISTENT);
        self.timeout = timeout;
        self.netmask = Self::netmask_from_prefix(self.af, prefix)?;
        Some(self)
    }

    /// The `netmask` value for a prefix length in this family; `None` when it is too long.
    pub fn netmask_from_prefix(af: AddrFamily, prefix: u8) -> Option<u32> {
        if prefix > af.max_prefix_len() {
            return None;
        }
        Some(match af {
            AddrFamily::Inet => u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0),
            AddrFamily::Inet6 => u32::from(prefix),
        })
    }

    pub fn key(&self) -> ServiceKey {
        let af = self.af.raw();
        match (self.fwmark, self.addr) {
            (Some(mark), _) => ServiceKey::Fwmark { af, mark },
            (None, addr) => ServiceKey::Addr {
                af,
                protocol: self.protocol.into(),
                addr: addr.unwrap_or_else(|| self.af.unspecified()),
                port: self.port,
            },
        }
    }

    /// True when `other` has the same settings (scheduler, flags, persistence, engine):
    /// editing one into the other would change nothing. The kernel's HASHED bit is ignored.
    pub fn same_settings(&self, other: &Service) -> bool {
        self.scheduler == other.scheduler
            && self.flags.without(ServiceFlags::HASHED) == other.flags.without(ServiceFlags::HASHED)
            && self.timeout == other.timeout
            && self.netmask == other.netmask
            && self.pe_name == other.pe_name
    }
}

/// A real server behind a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Destination {
    /// Its family may differ from the service's only for tunnelled destinations.
    pub addr: IpAddr,
    pub port: u16,
    /// 0 quiesces the destination: existing connections stay, no new ones are scheduled.
    pub weight: u32,
    pub fwd_method: FwdMethod,
    /// Connection limits; 0 means none.
    pub u_threshold: u32,
    pub l_threshold: u32,
    pub tun_type: TunType,
    pub tun_port: u16,
    /// `IP_VS_TUNNEL_ENCAP_FLAG_*`.
    pub tun_flags: u16,
}

impl Destination {
    /// A destination with ipvsadm's defaults apart from the method: weight 1, no limits.
    pub fn new(addr: IpAddr, port: u16, fwd_method: FwdMethod) -> Self {
        Self {
            addr,
            port,
            weight: 1,
            fwd_method,
            u_threshold: 0,
            l_threshold: 0,
            tun_type: TunType::Ipip,
            tun_port: 0,
            tun_flags: 0,
        }
    }

    pub fn with_weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Address and port: what identifies a destination within its service.
    pub fn key(&self) -> (IpAddr, u16) {
        (self.addr, self.port)
    }
}

/// Connection counters the kernel reports alongside a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DestCounters {
    pub active_conns: u32,
    pub inact_conns: u32,
    pub persist_conns: u32,
}

/// Connection timeouts in seconds (`ipvsadm --set`). On a set, 0 leaves that one unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timeouts {
    pub tcp: u32,
    pub tcp_fin: u32,
    pub udp: u32,
}

/// A connection-synchronisation daemon (`ipvsadm --start-daemon`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncDaemon {
    pub state: DaemonState,
    pub mcast_ifn: IpvsName,
    /// 0..=255 in the kernel; carried as the attribute's u32.
    pub syncid: u32,
    /// UDP payload size; `None` leaves the kernel's choice.
    pub sync_maxlen: Option<u16>,
    /// Multicast group (IPv4 or IPv6); `None` means 224.0.0.81.
    pub mcast_group: Option<IpAddr>,
    pub mcast_port: Option<u16>,
    pub mcast_ttl: Option<u8>,
}

impl SyncDaemon {
    pub fn new(state: DaemonState, mcast_ifn: &str, syncid: u32) -> Option<Self> {
        Some(Self {
            state,
            mcast_ifn: IpvsName::try_from(mcast_ifn).ok()?,
            syncid,
            sync_maxlen: None,
            mcast_group: None,
            mcast_port: None,
            mcast_ttl: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn netmask_from_prefix_per_family() {
        assert_eq!(
            Service::netmask_from_prefix(AddrFamily::Inet, 32),
            Some(u32::MAX)
        );
        assert_eq!(
            Service::netmask_from_prefix(AddrFamily::Inet, 24),
            Some(0xffff_ff00)
        );
        assert_eq!(Service::netmask_from_prefix(AddrFamily::Inet, 0), Some(0));
        assert_eq!(Service::netmask_from_prefix(AddrFamily::Inet, 33), None);
        assert_eq!(
            Service::netmask_from_prefix(AddrFamily::Inet6, 64),
            Some(64)
        );
        assert_eq!(Service::netmask_from_prefix(AddrFamily::Inet6, 129), None);
    }

    #[test]
    fn keys_ignore_settings_and_fwmark_ignores_address() {
        let a = Service::new(Protocol::Tcp, Ipv4Addr::new(192, 0, 2, 1).into(), 80, "rr").unwrap();
        let mut b = a.clone();
        b.scheduler = IpvsName::try_from("wlc").unwrap();
        assert_eq!(a.key(), b.key());
        assert!(!a.same_settings(&b));
        let mut c = a.clone();
        c.flags = c.flags.with(ServiceFlags::HASHED);
        assert!(
            a.same_settings(&c),
            "the kernel's HASHED bit is not a setting"
        );
        let f1 = Service::fwmark(AddrFamily::Inet, 7, "rr").unwrap();
        let mut f2 = f1.clone();
        f2.protocol = Protocol::Udp;
        f2.port = 9;
        assert_eq!(f1.key(), f2.key());
        assert_ne!(
            f1.key(),
            Service::fwmark(AddrFamily::Inet6, 7, "rr").unwrap().key()
        );
        assert!(
            Service::new(
                Protocol::Tcp,
                Ipv4Addr::LOCALHOST.into(),
                1,
                "a-scheduler-name-too-long"
            )
            .is_none()
        );
    }

    #[test]
    fn unknown_wire_values_survive() {
        assert_eq!(FwdMethod::from(7), FwdMethod::Unknown(7));
        assert_eq!(u32::from(FwdMethod::Unknown(7)), 7);
        assert_eq!(Protocol::from(132), Protocol::Sctp);
        assert_eq!(TunType::from(9), TunType::Unknown(9));
        assert_eq!(DaemonState::from(2), DaemonState::Backup);
    }
}
