//! What goes into and comes out of the state machine, and its configuration.

use core::net::IpAddr;

use super::time::{AdvertInterval, Duration};
use super::timers::DEFAULT_DOWN_TIMER_ADVERTS;

/// Priority of the address owner (RFC 9568 §5.2.4).
pub const PRIORITY_OWNER: u8 = 255;
/// Priority a master sends when it stops being master.
pub const PRIORITY_STOP: u8 = 0;

/// Most actions one input or one `poll` can produce. The largest real case
/// is 4 (becoming master: AddVips, SendGratuitous, Notify, SendAdvert); the
/// margin covers several timers expiring in one late poll. Overflow is
/// counted in `Stats::actions_dropped`, never a panic.
pub const MAX_ACTIONS: usize = 8;

/// The states: RFC 9568 §6.4 (Master is its Active) plus keepalived's FAULT
/// and STOP.
/// Crosses IPC as its variant index and reads in JSON (status) as
/// keepalived names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum State {
    #[default]
    #[serde(rename = "INIT")]
    Initialize,
    #[serde(rename = "BACKUP")]
    Backup,
    #[serde(rename = "MASTER")]
    Master,
    #[serde(rename = "FAULT")]
    Fault,
    #[serde(rename = "STOP")]
    Stop,
}

impl State {
    /// keepalived's name of the state, as in its logs and dumps.
    pub fn name(self) -> &'static str {
        match self {
            State::Initialize => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
            State::Stop => "STOP",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// keepalived's `state MASTER|BACKUP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum InitialState {
    Backup,
    Master,
}

/// Gratuitous ARP / unsolicited NA parameters (keepalived names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GarpConfig {
    /// `garp_master_delay`: second burst this long after becoming master
    /// (keepalived default 5 s; zero disables the second burst).
    pub master_delay: Duration,
    /// `garp_master_repeat`: messages per VIP in each burst (default 5).
    pub master_repeat: u32,
    /// `garp_master_refresh`: periodic burst while master (default none).
    pub master_refresh: Option<Duration>,
    /// `garp_master_refresh_repeat` (default 1).
    pub master_refresh_repeat: u32,
    /// `garp_lower_prio_repeat`: burst sent when a master hears a lower
    /// priority advert (0 = none; the config layer defaults it to
    /// `master_repeat` as keepalived, 0 under strict mode).
    pub lower_prio_repeat: u32,
}

impl Default for GarpConfig {
    fn default() -> Self {
        GarpConfig {
            master_delay: Duration::from_secs(5),
            master_repeat: 5,
            master_refresh: None,
            master_refresh_repeat: 1,
            lower_prio_repeat: 0,
        }
    }
}

/// Per-instance settings the state machine needs. Built by the config layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FsmConfig {
    /// Configured (base) priority, 1..=255; 0 is read as keepalived's
    /// default of 100 (255 when `initial` is Master, as keepalived does).
    pub priority: u8,
    /// Our own advert interval; its variant is the protocol version.
    pub advert_interval: AdvertInterval,
    pub initial: InitialState,
    /// `false` = keepalived's `nopreempt`.
    pub preempt: bool,
    /// keepalived's `preempt_delay`; zero = none.
    pub preempt_delay: Duration,
    /// Our primary address on the interface (or `mcast_src_ip`): the
    /// tie-break on equal priority.
    pub primary_addr: IpAddr,
    pub garp: GarpConfig,
    /// keepalived `lower_prio_no_advert` (default false outside strict mode).
    pub lower_prio_no_advert: bool,
    /// keepalived `higher_prio_send_advert` (default false).
    pub higher_prio_send_advert: bool,
    /// keepalived `down_timer_adverts` (RFC and default: 3; 0 is read as 3).
    pub down_timer_adverts: u8,
}

impl FsmConfig {
    /// keepalived's defaults around the three values every instance has.
    pub fn new(priority: u8, advert_interval: AdvertInterval, primary_addr: IpAddr) -> Self {
        FsmConfig {
            priority,
            advert_interval,
            initial: InitialState::Backup,
            preempt: true,
            preempt_delay: Duration::ZERO,
            primary_addr,
            garp: GarpConfig::default(),
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            down_timer_adverts: DEFAULT_DOWN_TIMER_ADVERTS,
        }
    }
}

/// An advert that the wire layer has already parsed and checked (TTL,
/// checksum, auth, VRID, address list). The FSM checks only what depends on
/// its own state: version and interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Advert {
    pub priority: u8,
    /// Source address of the IP header: the tie-break on equal priority.
    pub src: IpAddr,
    /// The advert's interval field; its variant is the packet's version.
    pub interval: AdvertInterval,
}

/// Inputs. Timer expiry is not an input: call `Fsm::poll(now)` at or after
/// `Fsm::poll_at()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Input {
    /// Leave Initialize.
    Startup,
    /// Leave Initialize straight into Master: the VRRP child was restarted
    /// and its predecessor was master (the parent kept that state).
    ResumeMaster,
    /// Another member of our sync group became master: all do
    /// (keepalived's vrrp_sync_master), when we are backup and not in fault.
    SyncMaster,
    /// Another member of our sync group left master for backup: all do.
    SyncBackup,
    /// Clean stop (SIGTERM, instance removed): a master sends priority 0.
    Shutdown,
    /// Our receive queue overflowed (a flood): the kernel dropped datagrams,
    /// perhaps the master's adverts among them, so its silence proves less.
    ReceiveOverflow,
    AdvertReceived(Advert),
    /// Interface down, tracked interface/script/file in fault (level: a
    /// second `Fault` without `FaultCleared` changes nothing).
    Fault,
    FaultCleared,
    /// New effective priority from track weights (keepalived clamps it to
    /// 1..=254; the address owner's never changes).
    EffectivePriorityChanged(u8),
    /// Our VIPs were removed behind our back (netlink): keepalived drops to
    /// backup and sends priority 0 so that the election reruns at once.
    VipsLost,
    /// An operator demoted the instance (`vigil ctl demote`): a master
    /// sends priority 0 and becomes backup, as for `VipsLost`.
    Relinquish,
    /// A reload changed settings that the instance takes in place (its
    /// identity, the interface, VRID, version and family, is unchanged):
    /// state and timers are kept; see `Fsm::reconfigure`.
    Reconfigure(FsmConfig),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StateChange {
    pub from: State,
    pub to: State,
}

/// What the I/O layer must do, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Action {
    SendAdvert { priority: u8 },
    /// Add the VIPs (and eVIPs, virtual routes and rules).
    AddVips,
    RemoveVips,
    /// `repeat` gratuitous ARPs / unsolicited NAs for every VIP.
    SendGratuitous { repeat: u32 },
    Notify(StateChange),
}

pub type Actions = heapless::Vec<Action, MAX_ACTIONS>;

/// Counters for inputs the FSM refused or could not act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    pub adverts_received: u64,
    pub priority_zero_received: u64,
    pub priority_zero_sent: u64,
    /// Version differs from ours.
    pub version_mismatch: u64,
    /// v2: interval differs from ours (keepalived drops these); v3: zero.
    pub interval_mismatch: u64,
    /// Backup ignored a lower priority advert (preempting).
    pub lower_priority_ignored: u64,
    /// Adverts received in Initialize, Fault or Stop.
    pub ignored_in_state: u64,
    /// Equal priority advert carrying our own address.
    pub own_address_conflict: u64,
    /// Another router also claims to be the address owner.
    pub owner_conflict: u64,
    pub become_master: u64,
    pub release_master: u64,
    /// Actions lost because `MAX_ACTIONS` was reached (a bug if ever > 0).
    pub actions_dropped: u64,
}
