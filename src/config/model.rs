//! The typed model of a keepalived.conf, after defaults, ranges and
//! cross-references have been applied.
//!
//! Every type round-trips through postcard: no flatten, no untagged enums,
//! no skipped fields, no `serde_json::Value`.

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The advert interval's unit, shared with the VRRP state machine and wire codec.
pub use crate::vrrp::fsm::Centiseconds;

/// A time in microseconds: keepalived's `<TIMER>` values (delay_loop,
/// connect_timeout, ...) have microsecond resolution.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Microseconds(pub u64);

impl Microseconds {
    pub const fn from_secs(secs: u64) -> Microseconds {
        Microseconds(secs * 1_000_000)
    }
    pub fn from_secs_f64(secs: f64) -> Option<Microseconds> {
        if !secs.is_finite() || !(0.0..=1.0e9).contains(&secs) {
            return None;
        }
        Some(Microseconds((secs * 1_000_000.0).round() as u64))
    }
    pub fn as_duration(self) -> std::time::Duration {
        std::time::Duration::from_micros(self.0)
    }
}

/// A keyword we accept (keepalived knows it) but do not model with a type.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct RawOption {
    pub keyword: String,
    pub args: Vec<String>,
}

/// A command to run: argv split as keepalived splits it, plus the optional
/// user/group it runs as.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Script {
    pub argv: Vec<String>,
    pub user: Option<String>,
    pub group: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct Config {
    pub global: GlobalDefs,
    pub static_ipaddress: Vec<IpAddress>,
    pub static_routes: Vec<Route>,
    pub static_rules: Vec<Rule>,
    pub vrrp_scripts: Vec<VrrpScript>,
    pub track_files: Vec<TrackFileDef>,
    pub track_processes: Vec<TrackProcessDef>,
    pub sync_groups: Vec<SyncGroup>,
    pub vrrp_instances: Vec<VrrpInstance>,
    pub virtual_server_groups: Vec<VirtualServerGroup>,
    pub virtual_servers: Vec<VirtualServer>,
    /// The `bfd_instance` blocks the BFD process runs.
    pub bfd_instances: Vec<BfdInstance>,
    /// Top-level blocks keepalived knows and we keep unmodelled
    /// (e.g. `garp_group`, `linkbeat_interfaces`).
    pub other: Vec<RawOption>,
}

/// A `bfd_instance` block as keepalived 2.2.7's BFD process reads it
/// (bfd_parser.c), its defaults resolved.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct BfdInstance {
    pub name: String,
    /// `neighbor_ip` (or `neighbour_ip`): the peer; UDP port 3784, or 4784
    /// under `multihop`.
    pub neighbor_ip: IpAddr,
    /// `source_ip`: our address, of the neighbour's family.
    pub source_ip: Option<IpAddr>,
    /// `min_rx`, `min_tx`, `idle_tx`: milliseconds with up to 3 decimals in
    /// the file (1, 1 and 1000 ms up to 4294967 ms; default 10, 10, 1000).
    /// keepalived logs values above 1000, 1000 and 10000 ms as not sensible,
    /// but takes them.
    pub min_rx: Microseconds,
    pub min_tx: Microseconds,
    pub idle_tx: Microseconds,
    /// `multiplier`: Detect Mult, 1-255 (default 5).
    pub multiplier: u8,
    /// `passive`: wait for the peer to start the session.
    pub passive: bool,
    /// `ttl` / `hoplimit` sent: 1-255, default 255 for IPv4 and 64 for IPv6.
    pub ttl: u8,
    /// `max_hops`: how far below `ttl` a received TTL may be, -1-255 in the
    /// file (default 0); -1 is 255, which turns the check off. At most `ttl`
    /// (keepalived lowers it, with a complaint, even -1 under a `ttl` below 255).
    pub max_hops: u8,
    /// `multihop` (optionally `true`/`false`): an RFC 5883 session, to and
    /// from UDP port 4784. keepalived took the keyword in 2.2.8 (issue #2267:
    /// 2.2.7's only multihop was `max_hops` on the single-hop port, which no
    /// RFC 5883 peer accepts); 2.2.7 calls it unknown and runs single hop.
    /// The TTL sent and checked are `ttl` and `max_hops`, as single hop.
    pub multihop: bool,
    /// `weight` (and `reverse`): the default weight of a `track_bfd` naming
    /// this instance, -253..253 (default 0: FAULT when down).
    pub weight: i32,
    pub weight_reverse: bool,
    /// `vrrp` / `checker`: which processes hear this instance's state
    /// (both when neither is named).
    pub vrrp: bool,
    pub checker: bool,
}

/// keepalived's BFD defaults and limits (bfd.h).
pub mod bfd_limits {
    pub const NAME_MAX: usize = 31;
    /// (min, max, default) in ms; the maximum is what fits a u32 of µs.
    pub const MIN_RX_MS: (u64, u64, u64) = (1, 4_294_967, 10);
    pub const MIN_TX_MS: (u64, u64, u64) = (1, 4_294_967, 10);
    pub const IDLE_TX_MS: (u64, u64, u64) = (1000, 4_294_967, 1000);
    pub const MULTIPLIER: (u8, u8, u8) = (1, 255, 5);
    pub const TTL_V4: u8 = 255;
    pub const HOPLIMIT_V6: u8 = 64;
    pub const WEIGHT: (i32, i32) = (-253, 253);
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
}

impl SmtpServer {
    /// The server's address as keepalived reads it (IPv6, or IPv4 in any
    /// form inet_aton takes); None for a host it would refuse.
    pub fn addr(&self) -> Option<IpAddr> {
        super::addr::parse_ipv4_aton(&self.host)
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct LvsSyncDaemon {
    pub interface: String,
    pub vrrp_instance: String,
    pub id: Option<u8>,
    pub maxlen: Option<u16>,
    pub port: Option<u16>,
    pub ttl: Option<u8>,
    pub group: Option<IpAddr>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct LvsTimeouts {
    pub tcp: Option<u32>,
    pub tcpfin: Option<u32>,
    pub udp: Option<u32>,
}

/// `vrrp_iptables [IN_CHAIN [OUT_CHAIN]]`, or `no iptables` when absent.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct IptablesChains {
    pub in_chain: Option<String>,
    pub out_chain: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct GlobalDefs {
    pub router_id: Option<String>,
    pub notification_email: Vec<String>,
    pub notification_email_from: Option<String>,
    pub smtp_server: Option<SmtpServer>,
    /// Seconds; keepalived's default is 30.
    pub smtp_connect_timeout: u32,
    pub smtp_helo_name: Option<String>,
    pub smtp_alert: Option<bool>,
    pub smtp_alert_vrrp: Option<bool>,
    pub smtp_alert_checker: Option<bool>,
    pub enable_script_security: bool,
    pub script_user: Option<Script>,
    pub default_interface: Option<String>,
    pub dynamic_interfaces: bool,
    pub vrrp_version: u8,
    pub vrrp_strict: bool,
    pub vrrp_check_unicast_src: bool,
    pub vrrp_skip_check_adv_addr: bool,
    pub vrrp_garp_master_delay: u32,
    pub vrrp_garp_master_repeat: u32,
    pub vrrp_garp_master_refresh: u32,
    pub vrrp_garp_master_refresh_repeat: u32,
    pub vrrp_garp_lower_prio_delay: Option<u32>,
    pub vrrp_garp_lower_prio_repeat: Option<u32>,
    pub vrrp_garp_interval: Microseconds,
    pub vrrp_gna_interval: Microseconds,
    pub vrrp_lower_prio_no_advert: bool,
    pub vrrp_higher_prio_send_advert: bool,
    pub vrrp_mcast_group4: Ipv4Addr,
    pub vrrp_mcast_group6: Ipv6Addr,
    /// None = keepalived's default (no iptables/ipsets handling configured).
    pub vrrp_iptables: Option<IptablesChains>,
    pub vrrp_ipsets: Vec<String>,
    pub max_auto_priority: Option<i32>,
    pub vrrp_priority: Option<i32>,
    pub checker_priority: Option<i32>,
    pub vrrp_no_swap: bool,
    pub checker_no_swap: bool,
    pub vrrp_rt_priority: Option<u32>,
    pub checker_rt_priority: Option<u32>,
    /// `bfd_priority`, `bfd_no_swap`, `bfd_rt_priority`: the BFD child's, as
    /// the VRRP and checker children's above.
    pub bfd_priority: Option<i32>,
    pub bfd_no_swap: bool,
    pub bfd_rt_priority: Option<u32>,
    pub vrrp_notify_fifo: Option<Script>,
    pub notify_fifo: Option<Script>,
    pub lvs_sync_daemon: Option<LvsSyncDaemon>,
    pub lvs_timeouts: Option<LvsTimeouts>,
    pub lvs_flush: bool,
    pub net_namespace: Option<String>,
    pub other: Vec<RawOption>,
}

impl Default for GlobalDefs {
    fn default() -> Self {
        GlobalDefs {
            router_id: None,
            notification_email: Vec::new(),
            notification_email_from: None,
            smtp_server: None,
            smtp_connect_timeout: 30,
            smtp_helo_name: None,
            smtp_alert: None,
            smtp_alert_vrrp: None,
            smtp_alert_checker: None,
            enable_script_security: false,
            script_user: None,
            default_interface: None,
            dynamic_interfaces: false,
            vrrp_version: 2,
            vrrp_strict: false,
            vrrp_check_unicast_src: false,
            vrrp_skip_check_adv_addr: false,
            vrrp_garp_master_delay: 5,
            vrrp_garp_master_repeat: 5,
            vrrp_garp_master_refresh: 0,
            vrrp_garp_master_refresh_repeat: 1,
            vrrp_garp_lower_prio_delay: None,
            vrrp_garp_lower_prio_repeat: None,
            vrrp_garp_interval: Microseconds(0),
            vrrp_gna_interval: Microseconds(0),
            vrrp_lower_prio_no_advert: false,
            vrrp_higher_prio_send_advert: false,
            vrrp_mcast_group4: Ipv4Addr::new(224, 0, 0, 18),
            vrrp_mcast_group6: Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12),
            vrrp_iptables: None,
            vrrp_ipsets: Vec::new(),
            max_auto_priority: None,
            vrrp_priority: None,
            checker_priority: None,
            vrrp_no_swap: false,
            checker_no_swap: false,
            vrrp_rt_priority: None,
            checker_rt_priority: None,
            bfd_priority: None,
            bfd_no_swap: false,
            bfd_rt_priority: None,
            vrrp_notify_fifo: None,
            notify_fifo: None,
            lvs_sync_daemon: None,
            lvs_timeouts: None,
            lvs_flush: false,
            net_namespace: None,
            other: Vec::new(),
        }
    }
}

/// An address prefix: `addr/prefix_len`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpPrefix {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

impl Default for IpPrefix {
    fn default() -> Self {
        IpPrefix { addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED), prefix_len: 0 }
    }
}

/// rtnetlink scopes (`ip ... scope S`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Scope {
    #[default]
    Global,
    Site,
    Link,
    Host,
    Nowhere,
    Other(u8),
}

impl Scope {
    pub fn rt_value(self) -> u8 {
        match self {
            Scope::Global => 0,
            Scope::Site => 200,
            Scope::Link => 253,
            Scope::Host => 254,
            Scope::Nowhere => 255,
            Scope::Other(n) => n,
        }
    }
}

/// One line of `static_ipaddress`, `virtual_ipaddress` or
/// `virtual_ipaddress_excluded` (an address range `a.b.c.d-e` is expanded
/// into one entry per address).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct IpAddress {
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub dev: Option<String>,
    pub scope: Option<Scope>,
    pub label: Option<String>,
    pub broadcast: Option<IpAddr>,
    pub peer: Option<IpPrefix>,
    pub home: bool,
    pub nodad: bool,
    pub noprefixroute: bool,
    pub autojoin: bool,
    pub no_track: bool,
    pub track_group: Option<String>,
    pub preferred_lft: Option<u32>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RouteType {
    #[default]
    Unicast,
    Blackhole,
    Unreachable,
    Prohibit,
    Throw,
    Local,
    Broadcast,
    Anycast,
    Multicast,
    Nat,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Nexthop {
    pub via: Option<IpAddr>,
    pub dev: Option<String>,
    pub weight: Option<u32>,
    pub onlink: bool,
}

/// One line of `static_routes` or `virtual_routes`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Route {
    pub route_type: RouteType,
    pub dst: IpPrefix,
    pub src: Option<IpAddr>,
    /// Gateway (`via` or the deprecated `gw`).
    pub gateway: Option<IpAddr>,
    pub dev: Option<String>,
    pub metric: Option<u32>,
    pub table: Option<u32>,
    pub scope: Option<Scope>,
    pub protocol: Option<u8>,
    pub mtu: Option<u32>,
    pub onlink: bool,
    pub nexthops: Vec<Nexthop>,
    pub no_track: bool,
    pub track_group: Option<String>,
    /// Options we pass through unmodelled (`realms`, `advmss`, ...).
    pub other: Vec<RawOption>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RuleAction {
    #[default]
    Table,
    Goto,
    Nop,
    Blackhole,
    Unreachable,
    Prohibit,
}

/// One line of `static_rules` or `virtual_rules`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Rule {
    pub invert: bool,
    pub from: Option<IpPrefix>,
    pub to: Option<IpPrefix>,
    pub action: RuleAction,
    pub table: Option<u32>,
    pub goto_target: Option<u32>,
    /// `priority` / `preference` / `pref`; keepalived assigns one (with a
    /// complaint) when it is missing.
    pub priority: Option<u32>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub fwmark: Option<u32>,
    pub fwmask: Option<u32>,
    pub tos: Option<u8>,
    pub realms: Option<u32>,
    pub suppress_prefixlength: Option<i32>,
    pub suppress_ifgroup: Option<i32>,
    pub uidrange: Option<(u32, u32)>,
    pub l3mdev: bool,
    pub protocol: Option<u8>,
    pub ipproto: Option<u8>,
    pub sport: Option<(u16, u16)>,
    pub dport: Option<(u16, u16)>,
    pub no_track: bool,
    pub track_group: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct VrrpScript {
    pub name: String,
    pub script: Script,
    /// Seconds between runs (default 1).
    pub interval: u32,
    /// Seconds before a run counts as failed (default: interval).
    pub timeout: Option<u32>,
    pub weight: i32,
    pub weight_reverse: bool,
    pub rise: u32,
    pub fall: u32,
    pub init_fail: bool,
}

impl Default for VrrpScript {
    fn default() -> Self {
        VrrpScript {
            name: String::new(),
            script: Script::default(),
            interval: 1,
            timeout: None,
            weight: 0,
            weight_reverse: false,
            rise: 1,
            fall: 1,
            init_fail: false,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct TrackFileDef {
    pub name: String,
    pub file: String,
    pub weight: i32,
    pub weight_reverse: bool,
    pub init_file: Option<(i32, bool)>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct TrackProcessDef {
    pub name: String,
    pub process: Vec<String>,
    pub param_match: Option<String>,
    pub weight: i32,
    pub weight_reverse: bool,
    pub quorum: u32,
    pub quorum_max: Option<u32>,
    pub delay: Option<Microseconds>,
    pub terminate_delay: Option<Microseconds>,
    pub fork_delay: Option<Microseconds>,
    pub full_command: bool,
}

/// A reference from an instance or sync group to something tracked, with an
/// optional weight that overrides the tracked object's own.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct TrackRef {
    pub name: String,
    pub weight: Option<i32>,
    pub reverse: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct SyncGroup {
    pub name: String,
    pub group: Vec<String>,
    pub notify: Option<Script>,
    pub notify_master: Option<Script>,
    pub notify_backup: Option<Script>,
    pub notify_fault: Option<Script>,
    pub notify_stop: Option<Script>,
    pub smtp_alert: Option<bool>,
    pub global_tracking: bool,
    pub sync_group_tracking_weight: bool,
    pub track_interfaces: Vec<TrackRef>,
    pub track_scripts: Vec<TrackRef>,
    pub track_files: Vec<TrackRef>,
    pub track_processes: Vec<TrackRef>,
    /// `track_bfd`: a weight of 0 (the default) puts the members in FAULT
    /// while the BFD session is down.
    pub track_bfds: Vec<TrackRef>,
    pub other: Vec<RawOption>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum InitialState {
    #[default]
    Backup,
    Master,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AuthType {
    #[default]
    Pass,
    Ah,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Authentication {
    pub auth_type: AuthType,
    /// At most 8 bytes, as keepalived truncates it.
    pub auth_pass: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct UnicastPeer {
    pub addr: IpAddr,
    pub min_ttl: Option<u8>,
    pub max_ttl: Option<u8>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct VrrpInstance {
    pub name: String,
    pub state: InitialState,
    pub interface: Option<String>,
    pub virtual_router_id: u8,
    pub priority: u8,
    pub advert_int: Centiseconds,
    /// The VRRP version; after loading always Some (the instance's own, or
    /// 3 for IPv6, or the global `vrrp_version`).
    pub version: Option<u8>,
    pub nopreempt: bool,
    /// Seconds, as keepalived (0..=1000).
    pub preempt_delay: Microseconds,
    /// None: keepalived's default (accept unless vrrp_strict).
    pub accept: Option<bool>,
    pub authentication: Option<Authentication>,
    pub unicast_src_ip: Option<IpAddr>,
    pub unicast_peers: Vec<UnicastPeer>,
    pub mcast_src_ip: Option<IpAddr>,
    pub track_interfaces: Vec<TrackRef>,
    pub track_scripts: Vec<TrackRef>,
    pub track_files: Vec<TrackRef>,
    pub track_processes: Vec<TrackRef>,
    /// `track_bfd`: weight 0 (the default) means FAULT while the session is down.
    pub track_bfds: Vec<TrackRef>,
    pub virtual_ipaddress: Vec<IpAddress>,
    pub virtual_ipaddress_excluded: Vec<IpAddress>,
    pub virtual_routes: Vec<Route>,
    pub virtual_rules: Vec<Rule>,
    /// `use_vmac [NAME]`: Some(name); after loading the default name
    /// `vrrp.VRID` is filled in.
    pub use_vmac: Option<String>,
    pub vmac_xmit_base: bool,
    pub garp_master_delay: Option<u32>,
    pub garp_master_repeat: Option<u32>,
    pub garp_master_refresh: Option<u32>,
    pub garp_master_refresh_repeat: Option<u32>,
    pub garp_lower_prio_delay: Option<u32>,
    pub garp_lower_prio_repeat: Option<u32>,
    pub lower_prio_no_advert: Option<bool>,
    pub higher_prio_send_advert: Option<bool>,
    pub notify: Option<Script>,
    pub notify_master: Option<Script>,
    pub notify_backup: Option<Script>,
    pub notify_fault: Option<Script>,
    pub notify_stop: Option<Script>,
    pub notify_master_rx_lower_pri: Option<Script>,
    pub smtp_alert: Option<bool>,
    pub dont_track_primary: bool,
    pub skip_check_adv_addr: Option<bool>,
    pub strict_mode: Option<bool>,
    pub check_unicast_src: bool,
    pub lvs_sync_daemon_interface: Option<String>,
    pub other: Vec<RawOption>,
}

impl Default for VrrpInstance {
    fn default() -> Self {
        VrrpInstance {
            name: String::new(),
            state: InitialState::Backup,
            interface: None,
            virtual_router_id: 0,
            priority: 100,
            advert_int: Centiseconds(100),
            version: None,
            nopreempt: false,
            preempt_delay: Microseconds(0),
            accept: None,
            authentication: None,
            unicast_src_ip: None,
            unicast_peers: Vec::new(),
            mcast_src_ip: None,
            track_interfaces: Vec::new(),
            track_scripts: Vec::new(),
            track_files: Vec::new(),
            track_processes: Vec::new(),
            track_bfds: Vec::new(),
            virtual_ipaddress: Vec::new(),
            virtual_ipaddress_excluded: Vec::new(),
            virtual_routes: Vec::new(),
            virtual_rules: Vec::new(),
            use_vmac: None,
            vmac_xmit_base: false,
            garp_master_delay: None,
            garp_master_repeat: None,
            garp_master_refresh: None,
            garp_master_refresh_repeat: None,
            garp_lower_prio_delay: None,
            garp_lower_prio_repeat: None,
            lower_prio_no_advert: None,
            higher_prio_send_advert: None,
            notify: None,
            notify_master: None,
            notify_backup: None,
            notify_fault: None,
            notify_stop: None,
            notify_master_rx_lower_pri: None,
            smtp_alert: None,
            dont_track_primary: false,
            skip_check_adv_addr: None,
            strict_mode: None,
            check_unicast_src: false,
            lvs_sync_daemon_interface: None,
            other: Vec::new(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub enum VsgEntry {
    /// `ADDR[-LAST_OCTET] PORT`
    #[default]
    Empty,
    Range { first: IpAddr, last: IpAddr, port: u16 },
    Fwmark(u32),
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct VirtualServerGroup {
    pub name: String,
    pub entries: Vec<VsgEntry>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub enum VirtualServerKey {
    #[default]
    Unset,
    Addr { addr: IpAddr, port: u16 },
    Fwmark(u32),
    Group(String),
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LbKind {
    #[default]
    Nat,
    Dr,
    Tun,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
    Sctp,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct SorryServer {
    pub addr: IpAddr,
    pub port: Option<u16>,
    /// `sorry_server_lvs_method`; None: the virtual server's `lb_kind`.
    pub lb_kind: Option<LbKind>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct VirtualServer {
    pub key: VirtualServerKey,
    pub lb_algo: String,
    pub lb_kind: LbKind,
    pub protocol: Protocol,
    pub persistence_timeout: Option<u32>,
    pub persistence_granularity: Option<IpAddr>,
    pub sorry_server: Option<SorryServer>,
    pub sorry_server_inhibit: bool,
    pub quorum: u32,
    pub quorum_up: Option<Script>,
    pub quorum_down: Option<Script>,
    pub hysteresis: u32,
    pub inhibit_on_failure: bool,
    pub alpha: bool,
    pub omega: bool,
    pub delay_loop: Microseconds,
    pub ha_suspend: bool,
    pub virtualhost: Option<String>,
    pub smtp_alert: Option<bool>,
    pub real_servers: Vec<RealServer>,
    pub other: Vec<RawOption>,
}

impl Default for VirtualServer {
    fn default() -> Self {
        VirtualServer {
            key: VirtualServerKey::Unset,
            lb_algo: "wlc".to_string(),
            lb_kind: LbKind::Nat,
            protocol: Protocol::Tcp,
            persistence_timeout: None,
            persistence_granularity: None,
            sorry_server: None,
            sorry_server_inhibit: false,
            quorum: 1,
            quorum_up: None,
            quorum_down: None,
            hysteresis: 0,
            inhibit_on_failure: false,
            alpha: false,
            omega: false,
            delay_loop: Microseconds::from_secs(60),
            ha_suspend: false,
            virtualhost: None,
            smtp_alert: None,
            real_servers: Vec::new(),
            other: Vec::new(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RealServer {
    pub addr: IpAddr,
    pub port: Option<u16>,
    pub weight: i32,
    /// Boxed: rarely set, and a `Script` inline is 72 bytes in each of
    /// tens of thousands of real servers.
    pub notify_up: Option<Box<Script>>,
    pub notify_down: Option<Box<Script>>,
    /// None: inherits the virtual server's setting.
    pub inhibit_on_failure: Option<bool>,
    /// The real server's own `lvs_method`; None: the virtual server's.
    pub lb_kind: Option<LbKind>,
    pub smtp_alert: Option<bool>,
    pub checkers: Vec<Checker>,
    /// `BFD_CHECK { name NAME }`: the bfd_instances whose session state is
    /// a checker result of this real server.
    pub bfd_checks: Vec<BfdCheck>,
    pub other: Vec<RawOption>,
}

/// One `BFD_CHECK` of a real server (keepalived's check_bfd.c): a checker
/// whose result is the named bfd_instance's session state, Up or not.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct BfdCheck {
    pub name: String,
    /// The block's `alpha`; None: the real server's (else the virtual
    /// server's) alpha applies.
    pub alpha: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct HttpUrl {
    pub path: String,
    pub digest: Option<String>,
    /// Accepted status codes as inclusive ranges; empty = 200..=299.
    pub status_code: Vec<(u16, u16)>,
    pub virtualhost: Option<String>,
    pub regex: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct HttpCheck {
    pub urls: Vec<HttpUrl>,
    pub virtualhost: Option<String>,
    pub http_protocol: Option<String>,
    pub enable_sni: bool,
    pub fast_recovery: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct SmtpCheck {
    pub helo_name: Option<String>,
    /// Legacy `host { ... }` sub-blocks, each its own connection target.
    pub hosts: Vec<CheckTarget>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct CheckTarget {
    pub connect_ip: Option<IpAddr>,
    pub connect_port: Option<u16>,
    pub bindto: Option<IpAddr>,
    pub bind_port: Option<u16>,
    pub bind_if: Option<String>,
    pub fwmark: Option<u32>,
    pub connect_timeout: Option<Microseconds>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct MiscCheck {
    pub misc_path: Script,
    pub misc_timeout: Option<Microseconds>,
    pub misc_dynamic: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct DnsCheck {
    pub query_type: String,
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct UdpCheck {
    pub payload: Option<Vec<u8>>,
    pub require_reply: Option<Vec<u8>>,
    pub min_reply_length: Option<u32>,
    pub max_reply_length: Option<u32>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct FileCheck {
    pub track_file: String,
    pub weight: i32,
    pub weight_reverse: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
/// A checker's kind and its own settings. Boxed: a TCP_CHECK, the common
/// kind at scale, then costs 16 bytes in each of tens of thousands of real
/// servers rather than the largest kind's 96.
pub enum CheckKind {
    #[default]
    Tcp,
    Http(Box<HttpCheck>),
    Ssl(Box<HttpCheck>),
    Smtp(Box<SmtpCheck>),
    Misc(Box<MiscCheck>),
    Dns(Box<DnsCheck>),
    Udp(Box<UdpCheck>),
    Ping,
    File(Box<FileCheck>),
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Checker {
    pub kind: CheckKind,
    /// Where and how to connect (connect_ip, connect_port, bindto, ...),
    /// None when none is set: a TCP_CHECK as a rule. Boxed: 96 bytes of
    /// Nones in each of tens of thousands of real servers otherwise. The
    /// checker's own connect_timeout is `connect_timeout`, never in here.
    pub target: Option<Box<CheckTarget>>,
    /// keepalived's default connect_timeout is 5 s.
    pub connect_timeout: Microseconds,
    /// connect_timeout was set in the checker's block (it then wins over
    /// one among the real server's unknown options).
    pub connect_timeout_set: bool,
    pub retry: Option<u32>,
    pub delay_before_retry: Option<Microseconds>,
    pub warmup: Option<Microseconds>,
    pub delay_loop: Option<Microseconds>,
    pub alpha: Option<bool>,
    pub log_all_failures: Option<bool>,
    pub other: Vec<RawOption>,
}

/// A checker's target with nothing set.
static NO_TARGET: CheckTarget = CheckTarget {
    connect_ip: None,
    connect_port: None,
    bindto: None,
    bind_port: None,
    bind_if: None,
    fwmark: None,
    connect_timeout: None,
};

impl Checker {
    /// Its connection settings (all None when it sets none).
    pub fn target(&self) -> &CheckTarget {
        self.target.as_deref().unwrap_or(&NO_TARGET)
    }

    /// Its connect_timeout when its block set one.
    pub fn explicit_connect_timeout(&self) -> Option<Microseconds> {
        self.connect_timeout_set.then_some(self.connect_timeout)
    }
}

impl Default for Checker {
    fn default() -> Self {
        Checker {
            kind: CheckKind::Tcp,
            target: None,
            connect_timeout: Microseconds::from_secs(5),
            connect_timeout_set: false,
            retry: None,
            delay_before_retry: None,
            warmup: None,
            delay_loop: None,
            alpha: None,
            log_all_failures: None,
            other: Vec::new(),
        }
    }
}

const UNSPEC: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

impl Default for IpAddress {
    fn default() -> Self {
        IpAddress {
            addr: UNSPEC,
            prefix_len: 32,
            dev: None,
            scope: None,
            label: None,
            broadcast: None,
            peer: None,
            home: false,
            nodad: false,
            noprefixroute: false,
            autojoin: false,
            no_track: false,
            track_group: None,
            preferred_lft: None,
        }
    }
}

impl Default for UnicastPeer {
    fn default() -> Self {
        UnicastPeer { addr: UNSPEC, min_ttl: None, max_ttl: None }
    }
}

impl Default for SorryServer {
    fn default() -> Self {
        SorryServer { addr: UNSPEC, port: None, lb_kind: None }
    }
}

impl VrrpInstance {
    /// The notify scripts with the keyword that sets each.
    pub fn notify_scripts(&self) -> [(&'static str, &Option<Script>); 6] {
        [
            ("notify", &self.notify),
            ("notify_master", &self.notify_master),
            ("notify_backup", &self.notify_backup),
            ("notify_fault", &self.notify_fault),
            ("notify_stop", &self.notify_stop),
            ("notify_master_rx_lower_pri", &self.notify_master_rx_lower_pri),
        ]
    }
}

impl SyncGroup {
    /// The notify scripts with the keyword that sets each.
    pub fn notify_scripts(&self) -> [(&'static str, &Option<Script>); 5] {
        [
            ("notify", &self.notify),
            ("notify_master", &self.notify_master),
            ("notify_backup", &self.notify_backup),
            ("notify_fault", &self.notify_fault),
            ("notify_stop", &self.notify_stop),
        ]
    }
}

impl VirtualServer {
    /// How IPVS forwards to `rs`: its own `lvs_method`, else the virtual
    /// server's `lb_kind` (keepalived fills an unset one in the same way).
    pub fn rs_lb_kind(&self, rs: &RealServer) -> LbKind {
        rs.lb_kind.unwrap_or(self.lb_kind)
    }

    /// The protocol as keepalived 2.2.7 names it in FMT_VS / FMT_RS
    /// (inet_sockaddrtotrio): a fwmark service has none.
    pub fn protocol_name(&self) -> &'static str {
        match (&self.key, self.protocol) {
            (VirtualServerKey::Fwmark(_), _) => "none",
            (_, Protocol::Tcp) => "tcp",
            (_, Protocol::Udp) => "udp",
            (_, Protocol::Sctp) => "sctp",
        }
    }

    /// keepalived 2.2.7's FMT_VS: `[ADDR]:PROTO:PORT`, `FWM N`, `[GROUP]:0`.
    pub fn fmt_vs(&self) -> String {
        match &self.key {
            VirtualServerKey::Addr { addr, port } => format!("[{addr}]:{}:{port}", self.protocol_name()),
            VirtualServerKey::Fwmark(m) => format!("FWM {m}"),
            VirtualServerKey::Group(g) => format!("[{g}]:0"),
            VirtualServerKey::Unset => "?".to_string(),
        }
    }

    /// keepalived 2.2.7's FMT_RS: `[ADDR]:PROTO:PORT`, the protocol the
    /// virtual server's; without a port of its own, a real server of a
    /// plain virtual server has that one's.
    pub fn fmt_rs(&self, rs: &RealServer) -> String {
        self.fmt_rs_port(rs, rs.port)
    }

    fn fmt_rs_port(&self, rs: &RealServer, port: Option<u16>) -> String {
        let port = port.unwrap_or(match self.key {
            VirtualServerKey::Addr { port, .. } => port,
            _ => 0,
        });
        format!("[{}]:{}:{port}", rs.addr, self.protocol_name())
    }

    /// How IPVS forwards to the sorry server.
    pub fn sorry_lb_kind(&self, s: &SorryServer) -> LbKind {
        s.lb_kind.unwrap_or(self.lb_kind)
    }
}

impl Default for RealServer {
    fn default() -> Self {
        RealServer {
            addr: UNSPEC,
            port: None,
            weight: 1,
            notify_up: None,
            notify_down: None,
            inhibit_on_failure: None,
            lb_kind: None,
            smtp_alert: None,
            checkers: Vec::new(),
            bfd_checks: Vec::new(),
            other: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centiseconds_are_not_seconds() {
        assert_eq!(Centiseconds::from_secs_f64(1.0), Some(Centiseconds(100)));
        assert_eq!(Centiseconds::from_secs_f64(0.01), Some(Centiseconds(1)));
        assert_eq!(Centiseconds::from_secs_f64(40.95), Some(Centiseconds::V3_MAX));
        assert_eq!(Centiseconds(250).as_micros(), 2_500_000);
        assert_eq!(Centiseconds(250).whole_secs(), 2);
        assert_eq!(Centiseconds::from_secs_f64(-1.0), None);
        assert_eq!(Centiseconds::from_secs_f64(f64::NAN), None);
    }

    #[test]
    fn microseconds() {
        assert_eq!(Microseconds::from_secs(3), Microseconds(3_000_000));
        assert_eq!(Microseconds::from_secs_f64(0.000_001), Some(Microseconds(1)));
        assert_eq!(Microseconds(1_500_000).as_duration(), std::time::Duration::from_millis(1500));
        assert_eq!(Microseconds::from_secs_f64(f64::INFINITY), None);
    }

    #[test]
    fn defaults_are_keepalived_defaults() {
        let i = VrrpInstance::default();
        assert_eq!((i.priority, i.advert_int, i.state), (100, Centiseconds(100), InitialState::Backup));
        let g = GlobalDefs::default();
        assert_eq!(g.vrrp_mcast_group4, Ipv4Addr::new(224, 0, 0, 18));
        assert_eq!((g.vrrp_garp_master_delay, g.vrrp_garp_master_repeat, g.vrrp_version), (5, 5, 2));
        let vs = VirtualServer::default();
        assert_eq!((vs.delay_loop, vs.quorum, vs.lb_algo.as_str()), (Microseconds::from_secs(60), 1, "wlc"));
        assert_eq!(Checker::default().connect_timeout, Microseconds::from_secs(5));
        assert_eq!(RealServer::default().weight, 1);
    }

    #[test]
    fn scope_values() {
        assert_eq!(Scope::Link.rt_value(), 253);
        assert_eq!(Scope::Other(7).rt_value(), 7);
    }
}
