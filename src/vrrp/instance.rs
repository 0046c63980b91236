//! One VRRP instance at run time: its settings resolved against the
//! machine (interface index, MAC, source address), its state machine, its
//! sockets and fixed buffers, and the execution of the machine's actions.
//! `change_state`-style side effects all live in `exec`.

use super::advert::{self, AdvertCtx, Heard, Reject};
use super::vmac;
use super::fsm::{self, Action, Actions, AdvertInterval, Centiseconds, Fsm, FsmConfig, GarpConfig, Input, Seconds, State};
use super::net::garp::{ArpSocket, Mac, NaSocket};
use super::net::{AdvertSocket, Received};
use crate::config::model::{self, Config, VrrpInstance};
use crate::netlink::netconf;
use crate::netlink::{AddrSpec, Rtnl, RouteSpec, RuleSpec};
use std::net::IpAddr;
use std::os::fd::{AsFd as _, AsRawFd as _};

mod reconfig;
pub use reconfig::Reconfig;

/// Largest VRRP datagram we build or accept (with an IPv4 header).
pub const PACKET_MAX: usize = 1500;

/// Counters per instance: every packet we drop is counted by reason.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Counters {
    pub adverts_sent: u64,
    pub adverts_received: u64,
    pub other_vrid: u64,
    pub rejected: u64,
    pub send_errors: u64,
    pub address_list_mismatch: u64,
    /// Accepted v3 IPv4 adverts with RFC 9568's message-only checksum.
    pub rfc9568_checksum: u64,
    pub garp_sent: u64,
    pub vip_errors: u64,
    /// Heap allocations made while handling packets, timers and tracking
    /// in turns without a state change (counted with -m only).
    pub handling_allocs: u64,
    /// The same, in turns that changed state (notifications allocate).
    pub transition_allocs: u64,
    /// Adverts dropped before the state machine, by reason.
    #[serde(default)]
    pub rx_errors: RxErrors,
    /// Turns that stopped reading at `engine::RX_BUDGET` datagrams with
    /// more waiting (a flood).
    #[serde(default)]
    pub rx_budget_exhausted: u64,
    /// Datagrams the kernel dropped because the receive socket's queue was
    /// full (SO_RXQ_OVFL): a flood faster than the child reads. Adverts from
    /// the master may be among them.
    #[serde(default)]
    pub rx_queue_drops: u64,
}

/// Adverts dropped before the state machine saw them, by keepalived's
/// reasons (its `vrrp_stats`) plus the ones it folds into others.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct RxErrors {
    /// Shorter than its headers, a malformed IPv4 header, or a length that
    /// disagrees with the address count (keepalived's packet_len_err).
    pub packet_length: u64,
    /// TTL / hop limit not 255 (ip_ttl_err).
    pub ttl: u64,
    /// VRRP type not advertisement (invalid_type_rcvd).
    pub invalid_type: u64,
    /// Another VRRP version than ours.
    pub version: u64,
    pub checksum: u64,
    /// Neither VRRP nor AH.
    pub protocol: u64,
    /// An unknown v2 auth type (invalid_authtype).
    pub invalid_auth_type: u64,
    /// Another auth type than ours (authtype_mismatch).
    pub auth_type_mismatch: u64,
    /// Wrong password, AH ICV, SPI or a replayed AH sequence (auth_failure).
    pub auth_failure: u64,
}

impl RxErrors {
    /// Counts a refused advert under its reason; another VRID is not an
    /// error (counted in `Counters::other_vrid`).
    fn count(&mut self, r: &Reject) {
        use super::wire::Error as E;
        let e = match r {
            Reject::OtherVrid => return,
            Reject::Replay => &E::AhReplay { received: 0, last: 0 },
            Reject::Wire(e) => e,
        };
        let n = match e {
            E::Truncated | E::BadIpHeader | E::LengthMismatch { .. } | E::Exhausted => &mut self.packet_length,
            E::BadTtl(_) => &mut self.ttl,
            E::BadType(_) => &mut self.invalid_type,
            E::BadVersion(_) => &mut self.version,
            E::BadChecksum => &mut self.checksum,
            E::WrongProtocol(_) => &mut self.protocol,
            E::BadAuthType(_) => &mut self.invalid_auth_type,
            E::AuthTypeMismatch { .. } => &mut self.auth_type_mismatch,
            E::AuthFailure | E::BadAhHeader | E::AhReplay { .. } => &mut self.auth_failure,
        };
        *n += 1;
    }
}

impl std::fmt::Display for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sent {} received {} rejected {} other_vrid {} send_errors {} garp {} vip_errors {} handling_allocs {}",
            self.adverts_sent, self.adverts_received, self.rejected, self.other_vrid, self.send_errors, self.garp_sent, self.vip_errors, self.handling_allocs
        )
    }
}

/// What the instance reports to the parent's status.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct InstanceStatus {
    pub name: String,
    pub state: State,
    pub priority: u8,
    pub effective_priority: u8,
    pub counters: Counters,
    #[serde(default)]
    pub vrid: u8,
    #[serde(default)]
    pub version: u8,
    #[serde(default)]
    pub interface: String,
    /// The master's address: ours while master, else the sender of the
    /// last advert heard (None before any).
    #[serde(default)]
    pub master: Option<IpAddr>,
    /// The priority that master advertised.
    #[serde(default)]
    pub master_priority: u8,
    /// The VIPs (and excluded ones) as configured, and whether they are
    /// set on the machine now.
    #[serde(default)]
    pub vips: Vec<String>,
    #[serde(default)]
    pub vips_set: bool,
    /// Milliseconds since the Unix epoch of the last state change.
    #[serde(default)]
    pub last_transition_ms: u64,
    /// The state machine's own counters (priority 0 sent and received,
    /// became and released master, interval mismatches, ...).
    #[serde(default)]
    pub fsm: fsm::Stats,
    /// Demoted by the operator (`vigil ctl demote`).
    #[serde(default)]
    pub demoted: bool,
    /// Our adverts' source address and the receive and send sockets, set
    /// once at start-up (keepalived's data dump shows them).
    #[serde(default)]
    pub src_ip: Option<IpAddr>,
    #[serde(default)]
    pub fd_in: i32,
    #[serde(default)]
    pub fd_out: i32,
}

/// A sync group as status shows it.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct SyncGroupStatus {
    pub name: String,
    /// MASTER, BACKUP, FAULT or STOP; None until its members agree.
    pub state: Option<String>,
    pub members: Vec<String>,
}

/// The parts of an instance's status that change without a state change:
/// plain numbers, copied into the status after every turn without
/// allocating.
#[derive(Clone, Copy, Debug)]
pub struct LiveStatus {
    pub counters: Counters,
    pub priority: u8,
    pub effective_priority: u8,
    pub master: Option<IpAddr>,
    pub master_priority: u8,
    pub vips_set: bool,
    pub last_transition_ms: u64,
    pub fsm: fsm::Stats,
}

impl InstanceStatus {
    pub fn set_live(&mut self, l: LiveStatus) {
        self.counters = l.counters;
        self.priority = l.priority;
        self.effective_priority = l.effective_priority;
        self.master = l.master;
        self.master_priority = l.master_priority;
        self.vips_set = l.vips_set;
        self.last_transition_ms = l.last_transition_ms;
        self.fsm = l.fsm;
    }
}

#[derive(Debug)]
pub enum SetupError {
    NoInterface,
    Interface(String, crate::netlink::NetlinkError),
    NoSourceAddress(String),
    Netconf(netconf::NetconfError),
    Socket(&'static str, std::io::Error),
    Config(String),
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetupError::NoInterface => f.write_str("no interface configured"),
            SetupError::Interface(i, e) => write!(f, "interface {i}: {e}"),
            SetupError::NoSourceAddress(i) => write!(f, "no usable source address on {i}"),
            SetupError::Netconf(e) => write!(f, "{e}"),
            SetupError::Socket(what, e) => write!(f, "{what} socket: {e}"),
            SetupError::Config(m) => f.write_str(m),
        }
    }
}

pub struct Instance {
    pub name: String,
    pub fsm: Fsm,
    pub rx: async_io::Async<AdvertSocket>,
    tx: AdvertSocket,
    arp: Option<ArpSocket>,
    na: Option<NaSocket>,
    /// The interface our adverts leave by (the VMAC unless vmac_xmit_base).
    ifindex: u32,
    mac: Mac,
    vmac: Option<vmac::Vmac>,
    dsts: Vec<IpAddr>,
    ctx: AdvertCtx,
    vips: Vec<AddrSpec>,
    routes: Vec<RouteSpec>,
    rules: Vec<RuleSpec>,
    /// The thread's shared rtnetlink socket (`shared_rtnl`).
    nl: std::rc::Rc<std::cell::RefCell<Rtnl>>,
    pub counters: Counters,
    vrid: u8,
    version: u8,
    interface: String,
    /// Whether our VIPs are set on the machine (added, not yet removed).
    vips_set: bool,
    last_transition_ms: u64,
    strict: bool,
    skip_check_adv_addr: bool,
    /// IPsec-AH adverts (the receive socket is protocol 51).
    ah: bool,
    /// Where the VIPs go (the VMAC, else the interface).
    vip_dev: String,
    vip_index: u32,
    /// The interface adverts are received on, and the multicast group
    /// joined there (None: unicast).
    rx_ifindex: u32,
    group: Option<IpAddr>,
    /// Where state changes are announced (notify scripts, notify FIFO).
    pub notify: Option<(std::rc::Rc<crate::notify::Notifier>, crate::notify::NotifyScripts)>,
    /// `no_accept` (the default under `vrrp_strict`): while master, packets
    /// to the VIPs are dropped (RFC 5798 Accept_Mode false), through nftables.
    pub no_accept: Option<std::rc::Rc<std::cell::RefCell<crate::netlink::nft::NoAccept>>>,
}

/// keepalived: `accept` unless `vrrp_strict`; an address owner always accepts.
pub fn wants_no_accept(config: &Config, inst: &VrrpInstance) -> bool {
    let strict = inst.strict_mode.unwrap_or(config.global.vrrp_strict);
    !inst.accept.unwrap_or(!strict) && inst.priority != 255
}

/// keepalived's `garp_lower_prio_repeat`: the instance's, else global_defs',
/// else `garp_master_repeat` (5 by default); under strict mode none unless
/// set. This burst is what moves clients back after a partition heals: both
/// sides were master, the one that stays master hears the other's lower
/// priority advert and refreshes the clients' ARP caches.
fn lower_prio_repeat(config: &Config, inst: &VrrpInstance) -> u32 {
    let g = &config.global;
    let strict = inst.strict_mode.unwrap_or(g.vrrp_strict);
    let default = if strict { 0 } else { inst.garp_master_repeat.unwrap_or(g.vrrp_garp_master_repeat) };
    inst.garp_lower_prio_repeat.or(g.vrrp_garp_lower_prio_repeat).unwrap_or(default)
}

fn interval(inst: &VrrpInstance, version: u8) -> Result<AdvertInterval, SetupError> {
    let cs = inst.advert_int.0;
    if version == 3 {
        let c = u16::try_from(cs).ok().and_then(Centiseconds::new).filter(|c| c.get() > 0);
        c.map(AdvertInterval::V3).ok_or_else(|| SetupError::Config(format!("advert_int {cs} cs out of range for VRRPv3")))
    } else {
        // v2 carries whole seconds; keepalived rounds a fractional interval.
        let s = ((cs + 50) / 100).clamp(1, 255) as u8;
        Ok(AdvertInterval::V2(Seconds(s)))
    }
}

/// What a reload may change without a new election: everything an
/// instance has but its identity (interface, VRID, version, family, VMAC,
/// unicast or multicast, source address), resolved against the machine.
pub(super) struct Settings {
    pub(super) dsts: Vec<IpAddr>,
    /// The VIPs and the excluded ones, in that order.
    pub(super) vips: Vec<AddrSpec>,
    pub(super) routes: Vec<RouteSpec>,
    pub(super) rules: Vec<RuleSpec>,
    pub(super) fc: FsmConfig,
    pub(super) ctx: AdvertCtx,
    pub(super) strict: bool,
    pub(super) skip_check_adv_addr: bool,
    /// IPsec-AH: the receive socket takes protocol 51 instead of 112.
    pub(super) ah: bool,
}

impl Settings {
    pub(super) fn resolve(config: &Config, inst: &VrrpInstance, nl: &mut Rtnl, src: IpAddr, vip_dev: &str) -> Result<Settings, SetupError> {
        let g = &config.global;
        let version = inst.version.unwrap_or(g.vrrp_version);
        let v6 = src.is_ipv6();
        let group: IpAddr = if v6 { g.vrrp_mcast_group6.into() } else { g.vrrp_mcast_group4.into() };
        let dsts: Vec<IpAddr> = if inst.unicast_peers.is_empty() { vec![group] } else { inst.unicast_peers.iter().map(|p| p.addr).collect() };
        let ah = version == 2 && inst.authentication.as_ref().is_some_and(|a| a.auth_type == model::AuthType::Ah);
        let mut vips = Vec::new();
        for a in inst.virtual_ipaddress.iter().chain(&inst.virtual_ipaddress_excluded) {
            let mut spec = netconf::addr_spec(nl, a, Some(vip_dev)).map_err(SetupError::Netconf)?;
            if spec.addr.is_ipv6() {
                // A VIP must be usable at once, not after duplicate detection.
                spec.flags |= crate::netlink::consts::IFA_F_NODAD;
            }
            vips.push(spec);
        }
        let mut routes = Vec::new();
        for r in &inst.virtual_routes {
            routes.push(netconf::route_spec(nl, r, Some(vip_dev)).map_err(SetupError::Netconf)?);
        }
        let mut rules = Vec::new();
        for r in &inst.virtual_rules {
            rules.push(netconf::rule_spec(r).map_err(SetupError::Netconf)?);
        }
        let adv_interval = interval(inst, version)?;
        let mut fc = FsmConfig::new(inst.priority, adv_interval, src);
        fc.initial = match inst.state {
            model::InitialState::Master => fsm::InitialState::Master,
            model::InitialState::Backup => fsm::InitialState::Backup,
        };
        fc.preempt = !inst.nopreempt;
        fc.preempt_delay = fsm::Duration::from_micros(inst.preempt_delay.0);
        fc.garp = GarpConfig {
            master_delay: fsm::Duration::from_secs(inst.garp_master_delay.unwrap_or(g.vrrp_garp_master_delay) as u64),
            master_repeat: inst.garp_master_repeat.unwrap_or(g.vrrp_garp_master_repeat),
            master_refresh: match inst.garp_master_refresh.unwrap_or(g.vrrp_garp_master_refresh) {
                0 => None,
                s => Some(fsm::Duration::from_secs(s as u64)),
            },
            master_refresh_repeat: inst.garp_master_refresh_repeat.unwrap_or(g.vrrp_garp_master_refresh_repeat),
            lower_prio_repeat: lower_prio_repeat(config, inst),
        };
        fc.lower_prio_no_advert = inst.lower_prio_no_advert.unwrap_or(g.vrrp_lower_prio_no_advert);
        fc.higher_prio_send_advert = inst.higher_prio_send_advert.unwrap_or(g.vrrp_higher_prio_send_advert);
        let ctx = AdvertCtx::new(inst, version, adv_interval, src, &inst.virtual_ipaddress).map_err(SetupError::Config)?;
        Ok(Settings {
            dsts,
            vips,
            routes,
            rules,
            fc,
            ctx,
            strict: inst.strict_mode.unwrap_or(g.vrrp_strict),
            skip_check_adv_addr: inst.skip_check_adv_addr.unwrap_or(g.vrrp_skip_check_adv_addr),
            ah,
        })
    }
}

impl Instance {
    /// Resolves the instance against the machine and opens its sockets.
    pub fn setup(config: &Config, inst: &VrrpInstance) -> Result<Instance, SetupError> {
        let g = &config.global;
        let version = inst.version.unwrap_or(g.vrrp_version);
        let ifname = inst.interface.clone().ok_or(SetupError::NoInterface)?;
        // The thread's shared packet buffers are made here, at setup, not by the
        // first packet a steady-state turn handles (which must allocate nothing).
        with_rx_buf(|_| ());
        with_tx_buf(|_| ());
        let shared = shared_rtnl().map_err(|e| SetupError::Interface(ifname.clone(), e))?;
        let mut guard = shared.borrow_mut();
        let nl = &mut *guard;
        let ifindex = nl.link_index(&ifname).map_err(|e| SetupError::Interface(ifname.clone(), e))?;
        let link = nl.link(&crate::netlink::LinkRef::Index(ifindex)).map_err(|e| SetupError::Interface(ifname.clone(), e))?;
        let mut mac: Mac = link.mac.as_ref().and_then(|m| <[u8; 6]>::try_from(m.as_slice()).ok()).unwrap_or([0; 6]);
        let v6 = inst.virtual_ipaddress.first().map(|a| a.addr.is_ipv6()).unwrap_or(false);
        // use_vmac: a macvlan with the virtual MAC carries the VIPs (and,
        // unless vmac_xmit_base, our adverts), so clients' ARP caches never
        // need to change on failover.
        let vmac = match &inst.use_vmac {
            Some(name) => Some(vmac::create(nl, name, ifindex, inst.virtual_router_id, v6).map_err(|e| SetupError::Interface(name.clone(), e))?),
            None => None,
        };
        if let Some(v) = &vmac {
            mac = v.mac;
        }
        let (vip_dev, vip_index) = match &vmac {
            Some(v) => (v.name.to_string(), v.index),
            None => (ifname.clone(), ifindex),
        };
        let (tx_dev, tx_index) = if inst.vmac_xmit_base { (ifname.clone(), ifindex) } else { (vip_dev.clone(), vip_index) };
        // Source: unicast_src_ip / mcast_src_ip, else the interface's first
        // address of the family (IPv6: its link-local address).
        let src = match inst.unicast_src_ip.or(inst.mcast_src_ip) {
            Some(a) => a,
            None => {
                let addrs = nl.addrs().map_err(|e| SetupError::Interface(ifname.clone(), e))?;
                addrs
                    .iter()
                    .filter(|a| a.ifindex == ifindex && a.addr.is_ipv6() == v6)
                    .filter(|a| !v6 || matches!(a.addr, IpAddr::V6(x) if super::net::sock::is_link_local(&x)))
                    .map(|a| a.addr)
                    .find(|a| !inst.virtual_ipaddress.iter().any(|v| v.addr == *a))
                    .ok_or_else(|| SetupError::NoSourceAddress(ifname.clone()))?
            }
        };
        let unicast = !inst.unicast_peers.is_empty();
        let group: IpAddr = if v6 { g.vrrp_mcast_group6.into() } else { g.vrrp_mcast_group4.into() };
        let set = Settings::resolve(config, inst, nl, src, &vip_dev)?;
        let rx = AdvertSocket::receiver(&ifname, ifindex, v6, if unicast { &[] } else { std::slice::from_ref(&group) }, set.ah)
            .and_then(async_io::Async::new)
            .map_err(|e| SetupError::Socket("receive", e))?;
        // Its sibling instances' adverts are dropped by the kernel, not read here.
        if let Err(e) = rx.get_ref().filter_vrids(&super::net::filter::siblings(config, inst)) {
            log::warn!("({}) the sibling VRID filter: {e}; every advert on the link is read", inst.name);
        }
        let tx = AdvertSocket::sender(&tx_dev, tx_index, src).map_err(|e| SetupError::Socket("send", e))?;
        let arp = if set.vips.iter().any(|a| a.addr.is_ipv4()) {
            Some(ArpSocket::new(vip_index).map_err(|e| SetupError::Socket("arp", e))?)
        } else {
            None
        };
        let na = if set.vips.iter().any(|a| a.addr.is_ipv6()) {
            Some(NaSocket::new(&vip_dev, vip_index).map_err(|e| SetupError::Socket("neighbour advertisement", e))?)
        } else {
            None
        };
        let Settings { dsts, vips, routes, rules, fc, ctx, strict, skip_check_adv_addr, ah } = set;
        drop(guard);
        Ok(Instance {
            name: inst.name.clone(),
            fsm: Fsm::new(fc),
            rx,
            tx,
            arp,
            na,
            ifindex: tx_index,
            mac,
            vmac,
            dsts,
            ctx,
            vips,
            routes,
            rules,
            nl: shared,
            counters: Counters::default(),
            vrid: inst.virtual_router_id,
            version,
            interface: ifname,
            vips_set: false,
            last_transition_ms: unix_ms(),
            strict,
            skip_check_adv_addr,
            ah,
            vip_dev,
            vip_index,
            rx_ifindex: ifindex,
            group: if unicast { None } else { Some(group) },
            notify: None,
            no_accept: None,
        })
    }

    pub fn status(&self) -> InstanceStatus {
        let mut s = InstanceStatus {
            name: self.name.clone(),
            state: self.fsm.state(),
            vrid: self.vrid,
            version: self.version,
            interface: self.interface.clone(),
            vips: self.vips.iter().map(|v| format!("{}/{}", v.addr, v.prefix_len)).collect(),
            src_ip: Some(self.ctx.src),
            fd_in: self.rx.get_ref().as_fd().as_raw_fd(),
            fd_out: self.tx.as_fd().as_raw_fd(),
            ..Default::default()
        };
        s.set_live(self.live());
        s
    }

    /// What changes turn by turn, without allocating.
    pub fn live(&self) -> LiveStatus {
        let master = match self.fsm.state() {
            State::Master => Some((self.fsm.config().primary_addr, self.fsm.effective_priority())),
            State::Backup => self.fsm.last_master(),
            _ => None,
        };
        LiveStatus {
            counters: self.counters,
            priority: self.fsm.base_priority(),
            effective_priority: self.fsm.effective_priority(),
            master: master.map(|m| m.0),
            master_priority: master.map_or(0, |m| m.1),
            vips_set: self.vips_set,
            last_transition_ms: self.last_transition_ms,
            fsm: *self.fsm.stats(),
        }
    }

    /// Receives one datagram into the thread's receive buffer (`with_rx_buf`).
    pub fn recv(&self) -> std::io::Result<Received> {
        with_rx_buf(|buf| self.rx.get_ref().recv(buf))
    }

    /// Handles the datagram `recv` just took (in the thread's receive buffer).
    pub fn on_packet(&mut self, meta: Received, now: fsm::Instant) -> bool {
        let len = meta.len.min(PACKET_MAX);
        let heard = with_rx_buf(|buf| advert::decode(&buf[..len], &meta, &mut self.ctx));
        match heard {
            Ok(Heard { vrid, .. }) if vrid != self.ctx.vrid => {
                self.counters.other_vrid += 1;
                false
            }
            Ok(h) => {
                self.counters.adverts_received += 1;
                if h.message_only_checksum {
                    self.counters.rfc9568_checksum += 1;
                    if self.counters.rfc9568_checksum == 1 {
                        log::info!("({}) {} sends RFC 9568 message-only checksums; accepted (we send RFC 5798's, as keepalived)", self.name, h.src);
                    }
                }
                if !h.addresses_match && !self.skip_check_adv_addr {
                    self.counters.address_list_mismatch += 1;
                    if self.counters.address_list_mismatch == 1 {
                        log::warn!("({}) advert from {} lists other addresses than ours", self.name, h.src);
                    }
                    if self.strict {
                        return false;
                    }
                }
                let actions = self.fsm.handle(now, Input::AdvertReceived(fsm::Advert { priority: h.priority, src: h.src, interval: h.interval }));
                self.exec(actions)
            }
            Err(Reject::OtherVrid) => {
                self.counters.other_vrid += 1;
                false
            }
            Err(r) => {
                self.counters.rejected += 1;
                self.counters.rx_errors.count(&r);
                if self.counters.rejected.is_power_of_two() {
                    log::warn!("({}) advert from {} dropped: {r} ({} so far)", self.name, meta.src, self.counters.rejected);
                }
                false
            }
        }
    }

    /// Carries out the machine's actions, in order. Returns true when the
    /// state changed (the engine then reports status).
    pub fn exec(&mut self, actions: Actions) -> bool {
        let mut changed = false;
        for a in actions {
            match a {
                Action::SendAdvert { priority } => self.send_advert(priority),
                Action::AddVips => self.add_vips(),
                Action::RemoveVips => self.remove_vips(),
                Action::SendGratuitous { repeat } => self.send_gratuitous(repeat),
                Action::Notify(change) => {
                    changed = true;
                    self.last_transition_ms = unix_ms();
                    log::info!("({}) Entering {} STATE", self.name, change.to.name());
                    let state = match change.to {
                        State::Master => Some(crate::notify::NotifyState::Master),
                        State::Backup => Some(crate::notify::NotifyState::Backup),
                        State::Fault => Some(crate::notify::NotifyState::Fault),
                        State::Stop => Some(crate::notify::NotifyState::Stop),
                        State::Initialize => None,
                    };
                    // keepalived reports the configured priority, even for FAULT and STOP.
                    if let (Some(state), Some((notifier, scripts))) = (state, &self.notify) {
                        notifier.instance_state(&self.name, scripts, state, self.fsm.base_priority());
                    }
                }
            }
        }
        changed
    }

    fn send_advert(&mut self, priority: u8) {
        for i in 0..self.dsts.len() {
            let dst = self.dsts[i];
            let (ctx, tx, ifindex) = (&mut self.ctx, &self.tx, self.ifindex);
            let sent = with_tx_buf(|buf| {
                let n = advert::encode(ctx, priority, dst, buf).map_err(Err)?;
                tx.send_to(&buf[..n], dst, ifindex).map_err(Ok)
            });
            let sent = match sent {
                Err(Err(e)) => {
                    self.counters.send_errors += 1;
                    log::error!("({}) cannot build advert: {e}", self.name);
                    continue;
                }
                Err(Ok(e)) => Err(e),
                Ok(n) => Ok(n),
            };
            match sent {
                Ok(_) => self.counters.adverts_sent += 1,
                Err(e) => {
                    self.counters.send_errors += 1;
                    if self.counters.send_errors.is_power_of_two() {
                        log::warn!("({}) sending advert to {dst}: {e}", self.name);
                    }
                }
            }
        }
    }

    fn add_vips(&mut self) {
        self.vips_set = true;
        for spec in &self.vips {
            if let Some(na) = &self.no_accept {
                if let Err(e) = na.borrow_mut().add(spec.addr) {
                    log::error!("({}) no_accept filter for {}: {e}", self.name, spec.addr);
                }
            }
            if let Err(e) = netconf::exists_ok(self.nl.borrow_mut().addr_add(spec)) {
                self.counters.vip_errors += 1;
                log::error!("({}) adding {}/{}: {e}", self.name, spec.addr, spec.prefix_len);
            }
        }
        for spec in &self.routes {
            if let Err(e) = netconf::exists_ok(self.nl.borrow_mut().route_add(spec)) {
                self.counters.vip_errors += 1;
                log::error!("({}) adding virtual route: {e}", self.name);
            }
        }
        for spec in &self.rules {
            if let Err(e) = netconf::exists_ok(self.nl.borrow_mut().rule_add(spec)) {
                self.counters.vip_errors += 1;
                log::error!("({}) adding virtual rule: {e}", self.name);
            }
        }
    }

    pub fn remove_vips(&mut self) {
        self.vips_set = false;
        for spec in &self.rules {
            let _ = self.nl.borrow_mut().rule_del(spec);
        }
        for spec in &self.routes {
            let _ = self.nl.borrow_mut().route_del(spec);
        }
        for spec in &self.vips {
            delete_vip(&mut self.nl.borrow_mut(), &mut self.counters, self.no_accept.as_deref(), &self.name, spec);
        }
    }

    /// What a clean stop of a master does, done by the parent for a VRRP
    /// child that is down (supervisor::handover): one advert with priority 0,
    /// then the VIPs, routes and rules removed. No notification: the child
    /// announces its state when it comes back.
    pub fn hand_over(&mut self) {
        self.send_advert(0);
        self.vips_set = true;
        self.remove_vips();
    }

    /// Removes what the instance created on the machine (its VMAC).
    pub fn teardown(&mut self) {
        if let Some(v) = self.vmac.take() {
            if let Err(e) = self.nl.borrow_mut().link_del(crate::netlink::LinkRef::Index(v.index)) {
                log::warn!("({}) removing VMAC {}: {e}", self.name, v.name.as_str());
            }
        }
    }

    fn send_gratuitous(&mut self, repeat: u32) {
        for _ in 0..repeat {
            for spec in &self.vips {
                let r = match spec.addr {
                    IpAddr::V4(a) => self.arp.as_ref().map(|s| s.send_garp(&self.mac, a)),
                    IpAddr::V6(a) => self.na.as_ref().map(|s| s.send_na(&self.mac, a, true)),
                };
                match r {
                    Some(Ok(())) => self.counters.garp_sent += 1,
                    Some(Err(e)) => log::warn!("({}) gratuitous ARP/NA for {}: {e}", self.name, spec.addr),
                    None => {}
                }
            }
        }
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

thread_local! {
    /// The packet buffers every instance on this thread shares (one turn
    /// uses them at a time): 3 KiB per instance otherwise.
    static RX_BUF: std::cell::RefCell<Box<[u8; PACKET_MAX]>> = std::cell::RefCell::new(Box::new([0u8; PACKET_MAX]));
    static TX_BUF: std::cell::RefCell<Box<[u8; PACKET_MAX]>> = std::cell::RefCell::new(Box::new([0u8; PACKET_MAX]));
}

fn with_rx_buf<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    RX_BUF.with(|b| f(&mut b.borrow_mut()[..]))
}

fn with_tx_buf<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    TX_BUF.with(|b| f(&mut b.borrow_mut()[..]))
}

thread_local! {
    /// The rtnetlink socket every instance on this thread shares, as keepalived's one netlink
    /// command channel: with a socket and a 32 KiB reply buffer each, 1,000 instances cost
    /// 32 MiB of RSS. Non-blocking (`Rtnl::never_wait`): requests run on the scheduler.
    static SHARED_RTNL: std::cell::RefCell<Option<std::rc::Rc<std::cell::RefCell<Rtnl>>>> = const { std::cell::RefCell::new(None) };
}

/// This thread's shared rtnetlink socket, opened on first use.
fn shared_rtnl() -> crate::netlink::Result<std::rc::Rc<std::cell::RefCell<Rtnl>>> {
    SHARED_RTNL.with(|cell| {
        if let Some(nl) = cell.borrow().as_ref() {
            return Ok(nl.clone());
        }
        let mut nl = Rtnl::new()?;
        nl.never_wait()?;
        let nl = std::rc::Rc::new(std::cell::RefCell::new(nl));
        *cell.borrow_mut() = Some(nl.clone());
        Ok(nl)
    })
}

/// Deletes one VIP of instance `name` (one already gone is fine; another
/// failure is logged and counted) and lifts its no_accept filter.
fn delete_vip(
    nl: &mut Rtnl,
    counters: &mut Counters,
    no_accept: Option<&std::cell::RefCell<crate::netlink::nft::NoAccept>>,
    name: &str,
    spec: &AddrSpec,
) {
    match nl.addr_del(spec) {
        Ok(()) => {}
        Err(e) if e.is_absent() => {}
        Err(e) => {
            counters.vip_errors += 1;
            log::error!("({name}) removing {}/{}: {e}", spec.addr, spec.prefix_len);
        }
    }
    if let Some(na) = no_accept {
        if let Err(e) = na.borrow_mut().del(spec.addr) {
            log::warn!("({name}) no_accept filter for {}: {e}", spec.addr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrrp::wire::Error as E;

    /// Every refusal lands under exactly one reason; a replayed AH sequence
    /// (refused by the instance, not the codec) under auth_failure, as the
    /// field says; another VRID under none.
    #[test]
    fn each_refusal_is_counted_under_one_reason() {
        let cases = [
            (Reject::Wire(E::Truncated), "packet_length"),
            (Reject::Wire(E::LengthMismatch { expected: 20, actual: 24 }), "packet_length"),
            (Reject::Wire(E::BadTtl(64)), "ttl"),
            (Reject::Wire(E::BadType(2)), "invalid_type"),
            (Reject::Wire(E::BadVersion(7)), "version"),
            (Reject::Wire(E::BadChecksum), "checksum"),
            (Reject::Wire(E::AuthFailure), "auth_failure"),
            (Reject::Replay, "auth_failure"),
        ];
        for (r, reason) in cases {
            let mut e = RxErrors::default();
            e.count(&r);
            let v = serde_json::to_value(e).expect("json");
            let grown: Vec<&String> = v.as_object().expect("object").iter().filter(|(_, n)| n.as_u64() != Some(0)).map(|(k, _)| k).collect();
            assert_eq!(grown, [reason], "{r:?}");
        }
        let mut e = RxErrors::default();
        e.count(&Reject::OtherVrid);
        assert_eq!(e, RxErrors::default());
    }

    /// keepalived 2.2.7 (vrrp_complete_instance / vrrp_complete_init): the
    /// lower-priority GARP burst defaults to garp_master_repeat, none under
    /// strict mode; an explicit value wins either way.
    #[test]
    fn lower_prio_garp_defaults_as_keepalived() {
        let mut c = Config::default();
        let mut i = VrrpInstance::default();
        assert_eq!(lower_prio_repeat(&c, &i), c.global.vrrp_garp_master_repeat);
        assert_eq!(c.global.vrrp_garp_master_repeat, 5);
        i.garp_master_repeat = Some(3);
        assert_eq!(lower_prio_repeat(&c, &i), 3);
        c.global.vrrp_garp_lower_prio_repeat = Some(2);
        assert_eq!(lower_prio_repeat(&c, &i), 2);
        i.garp_lower_prio_repeat = Some(1);
        assert_eq!(lower_prio_repeat(&c, &i), 1);
        let mut strict = VrrpInstance { strict_mode: Some(true), ..VrrpInstance::default() };
        assert_eq!(lower_prio_repeat(&Config::default(), &strict), 0);
        strict.garp_lower_prio_repeat = Some(4);
        assert_eq!(lower_prio_repeat(&Config::default(), &strict), 4);
    }
}
