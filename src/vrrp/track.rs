//! What each instance follows besides adverts, as keepalived does:
//! its own interface (unless `dont_track_primary`), `track_interface`
//! (with or without weight), `track_script` (through the script trackers),
//! its VIPs (one deleted by hand while master: `VipsLost`), and its sync
//! group (a member in fault pulls every member into fault).
//!
//! The coordinator turns those into state-machine inputs pushed into each
//! instance's inbox; instance tasks own their machines and drain their
//! inbox when its eventfd wakes them. Nothing here blocks.
//!
//! keepalived's rules, as its source has them (see netlink/reflector.rs):
//! an interface counts as up when it is up, running and has carrier; a
//! tracked interface without weight, or the instance's own, down means
//! FAULT; with a weight, a positive weight is added while up and a
//! negative one while down (`reverse` swaps); a script's weight works the
//! same way and weight 0 means FAULT while the script is down.

use super::fsm::Input;
use crate::config::model::{Config, VrrpInstance};
use crate::netlink::mirror::Mirror;
use crate::script::track::{ScriptState, TrackEffect, TrackWeight, effective_priority};
use crate::notify::{Notifier, NotifyScripts, NotifyState};
use std::cell::RefCell;
use std::net::IpAddr;
use nix::sys::eventfd::{EfdFlags, EventFd};
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;

/// Inputs queued for one instance. Full: the oldest is dropped and counted
/// (the coordinator re-sends the current state on its next change anyway).
pub const INBOX_CAP: usize = 16;

pub struct Inbox {
    queue: RefCell<heapless::Deque<Input, INBOX_CAP>>,
    fd: async_io::Async<OwnedFd>,
    pub dropped: std::cell::Cell<u64>,
}

impl Inbox {
    pub fn new() -> std::io::Result<Rc<Inbox>> {
        let fd: OwnedFd = EventFd::from_value_and_flags(0, EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)?.into();
        Ok(Rc::new(Inbox { queue: RefCell::new(heapless::Deque::new()), fd: async_io::Async::new(fd)?, dropped: Default::default() }))
    }

    pub fn push(&self, input: Input) {
        let mut q = self.queue.borrow_mut();
        if q.is_full() {
            q.pop_front();
            self.dropped.set(self.dropped.get() + 1);
            crate::os::capacity::hit(crate::os::capacity::Cap::TrackInbox, format_args!("the oldest tracking input dropped"));
        }
        let _ = q.push_back(input);
        let _ = nix::unistd::write(self.fd.get_ref(), &1u64.to_ne_bytes());
    }

    /// Resolves when something was pushed (readiness of the eventfd).
    pub async fn wait(&self) {
        let _ = self.fd.readable().await;
    }

    /// Wakes the task without an input (it has something else to pick up).
    pub fn wake(&self) {
        let _ = nix::unistd::write(self.fd.get_ref(), &1u64.to_ne_bytes());
    }

    pub fn pop(&self) -> Option<Input> {
        let mut v = [0u8; 8];
        let _ = nix::unistd::read(self.fd.get_ref().as_raw_fd(), &mut v);
        self.queue.borrow_mut().pop_front()
    }
}

struct TrackedIf {
    name: String,
    weight: Option<i32>,
    reverse: bool,
    up: bool,
}

struct TrackedScript {
    script: usize,
    weight: TrackWeight,
}

/// A tracked file or process: its definition's index and signed weight
/// (reverse applied; 0 = FAULT semantics).
struct TrackedItem {
    def: usize,
    weight: i32,
}

/// A `track_bfd` or `track_process` line: the configured weight and
/// `reverse`, kept apart because keepalived's reverse flips the sign but not
/// when the weight applies (its `weight_multiplier`).
struct TrackedWeight {
    def: usize,
    weight: i32,
    reverse: bool,
}

impl TrackedWeight {
    /// keepalived 2.2.7: a positive weight applies while up, a negative one
    /// while down, negated under `reverse`; weight 0 is FAULT while down, or
    /// while up under `reverse`. `Err(())` is FAULT.
    fn effect(&self, up: bool) -> Result<i32, ()> {
        let sign = if self.reverse { -1 } else { 1 };
        match self.weight {
            0 if up == self.reverse => Err(()),
            0 => Ok(0),
            w if (w > 0) == up => Ok(w.abs() * sign * if up { 1 } else { -1 }),
            _ => Ok(0),
        }
    }
}

fn item_weight(def_weight: i32, def_reverse: bool, tref: &crate::config::model::TrackRef) -> i32 {
    let w = tref.weight.unwrap_or(def_weight);
    if def_reverse ^ tref.reverse { -w } else { w }
}

/// One instance's tracked things and what they currently say.
pub struct Tracked {
    pub name: String,
    base: u8,
    ifaces: Vec<TrackedIf>,
    scripts: Vec<TrackedScript>,
    files: Vec<TrackedItem>,
    procs: Vec<TrackedWeight>,
    /// `track_bfd`: indexes into `Config::bfd_instances`.
    bfds: Vec<TrackedWeight>,
    pub vips: Vec<IpAddr>,
    notify_priority_changes: bool,
    state: Option<super::fsm::State>,
    group: Option<usize>,
    pub inbox: Rc<Inbox>,
    own_fault: bool,
    sent_fault: bool,
    sent_prio: u8,
    pub is_master: bool,
    /// `vigil ctl demote`: the effective priority is held at 1 (never
    /// preempts; still takes over when no other router answers).
    demoted: bool,
}

pub struct Coordinator {
    pub instances: Vec<Tracked>,
    /// Script states, indexed like `Config::vrrp_scripts`.
    pub scripts: Vec<ScriptState>,
    /// Values of `Config::track_files`, and whether each of
    /// `Config::track_processes` is up.
    pub files: Vec<i64>,
    pub procs: Vec<bool>,
    /// Whether each of `Config::bfd_instances` is Up, as the BFD child last
    /// said (down until it says: keepalived starts a tracked BFD down).
    pub bfds: Vec<bool>,
    bfd_names: Vec<String>,
    groups: Vec<Group>,
    notifier: Option<Rc<Notifier>>,
}

struct Group {
    name: String,
    scripts: NotifyScripts,
    state: Option<NotifyState>,
}

impl Coordinator {
    pub fn new(config: &Config, inboxes: &[Rc<Inbox>]) -> Coordinator {
        let mut instances = Vec::new();
        for (inst, inbox) in config.vrrp_instances.iter().zip(inboxes) {
            instances.push(Self::tracked(config, inst, inbox.clone()));
        }
        let groups = config
            .sync_groups
            .iter()
            .map(|g| Group { name: g.name.clone(), scripts: NotifyScripts::for_group(g, &config.global), state: None })
            .collect();
        Coordinator {
            instances,
            scripts: vec![ScriptState::Init; config.vrrp_scripts.len()],
            files: vec![0; config.track_files.len()],
            // A process counts as up until it was looked for.
            procs: vec![true; config.track_processes.len()],
            bfds: vec![false; config.bfd_instances.len()],
            bfd_names: config.bfd_instances.iter().map(|b| b.name.clone()).collect(),
            groups,
            notifier: None,
        }
    }

    /// At a reload, from the coordinator of the old config: what kept
    /// instances last reported and were last sent, script, file and
    /// process results by name, and sync groups' states where the group
    /// kept its name and members. Nothing is pushed: `refresh` then sends
    /// each instance only what differs from what it already has.
    pub fn carry_from(&mut self, old: &Coordinator, old_cfg: &Config, new_cfg: &Config, kept: &[(usize, usize)]) {
        for &(j, i) in kept {
            let (Some(t), Some(o)) = (self.instances.get_mut(j), old.instances.get(i)) else { continue };
            t.state = o.state;
            t.is_master = o.is_master;
            t.sent_fault = o.sent_fault;
            t.sent_prio = o.sent_prio;
            t.demoted = o.demoted;
        }
        for (si, def) in new_cfg.vrrp_scripts.iter().enumerate() {
            if let Some(oi) = old_cfg.vrrp_scripts.iter().position(|d| d.name == def.name) {
                self.scripts[si] = old.scripts[oi];
            }
        }
        for (fi, def) in new_cfg.track_files.iter().enumerate() {
            if let Some(oi) = old_cfg.track_files.iter().position(|d| d.name == def.name) {
                self.files[fi] = old.files[oi];
            }
        }
        for (pi, def) in new_cfg.track_processes.iter().enumerate() {
            if let Some(oi) = old_cfg.track_processes.iter().position(|d| d.name == def.name) {
                self.procs[pi] = old.procs[oi];
            }
        }
        for (bi, def) in new_cfg.bfd_instances.iter().enumerate() {
            if let Some(oi) = old_cfg.bfd_instances.iter().position(|d| d.name == def.name) {
                self.bfds[bi] = old.bfds[oi];
            }
        }
        for (gi, g) in new_cfg.sync_groups.iter().enumerate() {
            let Some(og) = old_cfg.sync_groups.iter().position(|o| o.name == g.name) else { continue };
            let (mut a, mut b) = (g.group.clone(), old_cfg.sync_groups[og].group.clone());
            a.sort();
            b.sort();
            if a == b {
                self.groups[gi].state = old.groups[og].state;
            }
        }
    }

    /// Sends every instance what its tracking says now, where that differs
    /// from what it was last sent.
    pub fn refresh(&mut self) {
        self.recompute();
    }

    /// The state an instance last reported (None before its first).
    pub fn state_of(&self, index: usize) -> Option<super::fsm::State> {
        self.instances.get(index).and_then(|t| t.state)
    }

    pub fn set_notifier(&mut self, n: Rc<Notifier>) {
        self.notifier = Some(n);
    }

    pub fn file_changed(&mut self, def: usize, value: i64) {
        if let Some(v) = self.files.get_mut(def) {
            *v = value;
        }
        self.recompute();
    }

    pub fn process_changed(&mut self, def: usize, up: bool) {
        if let Some(v) = self.procs.get_mut(def) {
            *v = up;
        }
        self.recompute();
    }

    /// The BFD child says session `name` is Up (or no longer).
    pub fn bfd_changed(&mut self, name: &str, up: bool) {
        let Some(i) = self.bfd_names.iter().position(|n| n == name) else {
            log::debug!("bfd {name}: no such bfd_instance here; ignored");
            return;
        };
        if self.bfds[i] != up {
            log::info!("VRRP: tracked bfd {name} is {}", if up { "up" } else { "down" });
            self.bfds[i] = up;
            self.recompute();
        }
    }

    /// Every sync group: its name, its state (None until its members
    /// agree on one) and its members' names.
    pub fn group_status(&self) -> Vec<crate::vrrp::instance::SyncGroupStatus> {
        self.groups
            .iter()
            .enumerate()
            .map(|(gi, g)| crate::vrrp::instance::SyncGroupStatus {
                name: g.name.clone(),
                state: g.state.map(|s| s.as_str().to_string()),
                members: self.instances.iter().filter(|t| t.group == Some(gi)).map(|t| t.name.clone()).collect(),
            })
            .collect()
    }

    /// An instance entered `state`: its sync group follows it (keepalived's
    /// vrrp_sync_master / vrrp_sync_backup), and the group's notifications
    /// run when the group's own state changes.
    pub fn state_changed(&mut self, index: usize, state: super::fsm::State) {
        use super::fsm::State;
        let Some(t) = self.instances.get_mut(index) else { return };
        let before = t.state.replace(state);
        t.is_master = state == State::Master;
        let Some(g) = t.group else { return };
        for (i, o) in self.instances.iter().enumerate() {
            if i == index || o.group != Some(g) {
                continue;
            }
            match (state, o.state) {
                (State::Master, Some(State::Backup)) => o.inbox.push(Input::SyncMaster),
                (State::Backup, Some(State::Master)) if before == Some(State::Master) => o.inbox.push(Input::SyncBackup),
                _ => {}
            }
        }
        // The group is MASTER when all are, FAULT when any is, else BACKUP.
        let members: Vec<Option<State>> = self.instances.iter().filter(|o| o.group == Some(g)).map(|o| o.state).collect();
        let gs = if members.iter().any(|s| *s == Some(State::Fault)) {
            Some(NotifyState::Fault)
        } else if members.iter().all(|s| *s == Some(State::Master)) {
            Some(NotifyState::Master)
        } else if members.iter().all(|s| *s == Some(State::Stop)) {
            Some(NotifyState::Stop)
        } else if members.iter().all(|s| matches!(s, Some(State::Backup | State::Master))) {
            Some(NotifyState::Backup)
        } else {
            None
        };
        let group = &mut self.groups[g];
        if gs.is_some() && gs != group.state {
            group.state = gs;
            if let (Some(n), Some(s)) = (&self.notifier, gs) {
                log::info!("VRRP_Group({}) Syncing instances to {}", group.name, s.as_str());
                n.group_state(&group.name, &group.scripts, s);
            }
        }
    }

    fn tracked(config: &Config, inst: &VrrpInstance, inbox: Rc<Inbox>) -> Tracked {
        let mut ifaces = Vec::new();
        if let Some(own) = &inst.interface {
            if !inst.dont_track_primary {
                ifaces.push(TrackedIf { name: own.clone(), weight: None, reverse: false, up: true });
            }
        }
        let group = config.sync_groups.iter().position(|g| g.group.iter().any(|m| m == &inst.name));
        // Sync-group level track_interface / track_script apply to every member.
        let group_cfg = group.map(|g| &config.sync_groups[g]);
        for t in inst.track_interfaces.iter().chain(group_cfg.into_iter().flat_map(|g| g.track_interfaces.iter())) {
            ifaces.push(TrackedIf { name: t.name.clone(), weight: t.weight.filter(|w| *w != 0), reverse: t.reverse, up: true });
        }
        let mut files = Vec::new();
        for t in inst.track_files.iter().chain(group_cfg.into_iter().flat_map(|g| g.track_files.iter())) {
            match config.track_files.iter().position(|f| f.name == t.name) {
                Some(i) => files.push(TrackedItem { def: i, weight: item_weight(config.track_files[i].weight, config.track_files[i].weight_reverse, t) }),
                None => log::warn!("({}) track_file {} names no vrrp_track_file; ignored", inst.name, t.name),
            }
        }
        let mut procs = Vec::new();
        for t in inst.track_processes.iter().chain(group_cfg.into_iter().flat_map(|g| g.track_processes.iter())) {
            match config.track_processes.iter().position(|f| f.name == t.name) {
                Some(i) => procs.push(TrackedWeight {
                    def: i,
                    weight: t.weight.unwrap_or(config.track_processes[i].weight),
                    reverse: config.track_processes[i].weight_reverse ^ t.reverse,
                }),
                None => log::warn!("({}) track_process {} names no vrrp_track_process; ignored", inst.name, t.name),
            }
        }
        let mut bfds = Vec::new();
        for t in inst.track_bfds.iter().chain(group_cfg.into_iter().flat_map(|g| g.track_bfds.iter())) {
            match config.bfd_instances.iter().position(|b| b.name == t.name) {
                Some(i) => {
                    // The config resolved the line against the instance's
                    // defaults: weight and reverse are the effective ones.
                    let w = t.weight.unwrap_or(config.bfd_instances[i].weight);
                    bfds.push(TrackedWeight { def: i, weight: w, reverse: t.reverse });
                }
                None => log::warn!("({}) track_bfd {} names no bfd_instance; ignored", inst.name, t.name),
            }
        }
        let mut scripts = Vec::new();
        for t in inst.track_scripts.iter().chain(group_cfg.into_iter().flat_map(|g| g.track_scripts.iter())) {
            match config.vrrp_scripts.iter().position(|s| s.name == t.name) {
                Some(i) => scripts.push(TrackedScript { script: i, weight: TrackWeight::for_ref(&config.vrrp_scripts[i], t) }),
                None => log::warn!("({}) track_script {} names no vrrp_script; ignored", inst.name, t.name),
            }
        }
        Tracked {
            name: inst.name.clone(),
            base: inst.priority,
            ifaces,
            scripts,
            files,
            procs,
            bfds,
            notify_priority_changes: inst.other.iter().any(|o| o.keyword == "notify_priority_changes")
                || config.global.other.iter().any(|o| o.keyword == "vrrp_notify_priority_changes"),
            state: None,
            vips: inst.virtual_ipaddress.iter().chain(&inst.virtual_ipaddress_excluded).map(|a| a.addr).collect(),
            group,
            inbox,
            own_fault: false,
            sent_fault: false,
            sent_prio: inst.priority,
            is_master: false,
            demoted: false,
        }
    }

    /// Re-reads every tracked interface from the mirror.
    pub fn links_changed(&mut self, mirror: &Mirror) {
        for t in &mut self.instances {
            for i in &mut t.ifaces {
                i.up = mirror.link_by_name(&i.name).is_some_and(|l| l.usable());
            }
        }
        self.recompute();
    }

    pub fn script_changed(&mut self, script: usize, state: ScriptState) {
        if let Some(s) = self.scripts.get_mut(script) {
            *s = state;
        }
        self.recompute();
    }

    /// Demotes instance `name` (or undoes it): while demoted its effective
    /// priority is 1, and a master gives up mastership at once (a priority 0
    /// advert, then backup). Ok(false): it already was in that state.
    pub fn set_demoted(&mut self, name: &str, on: bool) -> Result<bool, String> {
        let Some(i) = self.instances.iter().position(|t| t.name == name) else {
            return Err(format!("no VRRP instance {name:?}"));
        };
        let t = &mut self.instances[i];
        if t.base == 255 {
            return Err(format!("{name} is the address owner (priority 255): it cannot be demoted"));
        }
        if t.demoted == on {
            return Ok(false);
        }
        t.demoted = on;
        let master = t.is_master;
        log::info!("({name}) {} by the operator", if on { "demoted" } else { "no longer demoted" });
        self.recompute();
        if on && master {
            self.instances[i].inbox.push(Input::Relinquish);
        }
        Ok(true)
    }

    pub fn is_demoted(&self, name: &str) -> bool {
        self.instances.iter().any(|t| t.name == name && t.demoted)
    }

    /// An address went away: a master whose VIP it was lost it behind its back.
    pub fn addr_removed(&mut self, addr: IpAddr) {
        for t in &self.instances {
            if t.is_master && t.vips.contains(&addr) {
                log::warn!("({}) VIP {addr} was removed by someone else", t.name);
                t.inbox.push(Input::VipsLost);
            }
        }
    }

    fn recompute(&mut self) {
        let mut group_fault = vec![false; self.groups.len()];
        for t in &mut self.instances {
            let mut fault = false;
            let mut deltas: heapless::Vec<i32, 64> = heapless::Vec::new();
            for i in &t.ifaces {
                match i.weight {
                    None => fault |= !i.up,
                    Some(w) => {
                        let w = if i.reverse { -w } else { w };
                        let d = if w > 0 && i.up { w } else if w < 0 && !i.up { w } else { 0 };
                        let _ = deltas.push(d);
                    }
                }
            }
            for f in &t.files {
                let v = self.files[f.def];
                if f.weight == 0 {
                    fault |= v != 0;
                } else {
                    // keepalived: a product at or below -254 means FAULT.
                    let d = v.saturating_mul(f.weight as i64);
                    if d <= -254 {
                        fault = true;
                    } else {
                        let _ = deltas.push(d.clamp(-254, 254) as i32);
                    }
                }
            }
            let weighted = t.bfds.iter().map(|b| b.effect(self.bfds[b.def])).chain(t.procs.iter().map(|p| p.effect(self.procs[p.def])));
            for e in weighted {
                match e {
                    Err(()) => fault = true,
                    Ok(0) => {}
                    Ok(d) => {
                        let _ = deltas.push(d);
                    }
                }
            }
            for s in &t.scripts {
                match s.weight.effect(self.scripts[s.script]) {
                    TrackEffect::Fault => fault = true,
                    TrackEffect::Priority(d) => {
                        let _ = deltas.push(d);
                    }
                    TrackEffect::Waiting => {}
                }
            }
            t.own_fault = fault;
            if let Some(g) = t.group {
                group_fault[g] |= fault;
            }
            let prio = if t.demoted { 1 } else { effective_priority(t.base, deltas.iter().copied()) };
            if prio != t.sent_prio {
                log::info!("({}) Changing effective priority from {} to {prio}", t.name, t.sent_prio);
                t.sent_prio = prio;
                t.inbox.push(Input::EffectivePriorityChanged(prio));
                if t.notify_priority_changes {
                    if let Some(n) = &self.notifier {
                        n.priority_change(&t.name, t.is_master, prio);
                    }
                }
            }
        }
        for t in &mut self.instances {
            let fault = t.own_fault || t.group.is_some_and(|g| group_fault[g]);
            if fault != t.sent_fault {
                t.sent_fault = fault;
                t.inbox.push(if fault { Input::Fault } else { Input::FaultCleared });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coordinator(text: &str) -> (Coordinator, Vec<Rc<Inbox>>) {
        let l = crate::config::load_str_with_interfaces(text, std::path::Path::new("t.conf"), &Default::default(), &["lo"]);
        assert!(l.diagnostics.is_empty(), "{:?}", l.diagnostics);
        let inboxes: Vec<Rc<Inbox>> = l.config.vrrp_instances.iter().map(|_| Inbox::new().unwrap()).collect();
        (Coordinator::new(&l.config, &inboxes), inboxes)
    }

    fn drain(inbox: &Inbox) -> Vec<Input> {
        std::iter::from_fn(|| inbox.pop()).collect()
    }

    const BFD: &str = "bfd_instance B1 {\n neighbor_ip 192.0.2.2\n}\nbfd_instance B2 {\n neighbor_ip 192.0.2.3\n weight 10\n}\n";

    fn instance(track: &str) -> String {
        format!("{BFD}vrrp_instance VI_1 {{\n interface lo\n virtual_router_id 1\n priority 100\n virtual_ipaddress {{\n  192.0.2.100/32\n }}\n track_bfd {{\n{track}\n }}\n}}\n")
    }

    #[test]
    fn a_tracked_bfd_without_weight_is_fault_until_up() {
        let (mut c, inboxes) = coordinator(&instance("  B1"));
        c.refresh();
        assert_eq!(drain(&inboxes[0]), [Input::Fault], "down until the BFD child says Up");
        c.bfd_changed("B1", true);
        assert_eq!(drain(&inboxes[0]), [Input::FaultCleared]);
        c.bfd_changed("B1", true);
        c.bfd_changed("nope", false);
        assert_eq!(drain(&inboxes[0]), []);
        c.bfd_changed("B1", false);
        assert_eq!(drain(&inboxes[0]), [Input::Fault]);
    }

    #[test]
    fn weights_as_keepalived_resolves_them() {
        // B2's own weight 10: added while up.
        let (mut c, inboxes) = coordinator(&instance("  B2"));
        c.refresh();
        assert_eq!(drain(&inboxes[0]), []);
        c.bfd_changed("B2", true);
        assert_eq!(drain(&inboxes[0]), [Input::EffectivePriorityChanged(110)]);
        // weight -20 on the line: subtracted while down.
        let (mut c, inboxes) = coordinator(&instance("  B1 weight -20"));
        c.refresh();
        assert_eq!(drain(&inboxes[0]), [Input::EffectivePriorityChanged(80)]);
        c.bfd_changed("B1", true);
        assert_eq!(drain(&inboxes[0]), [Input::EffectivePriorityChanged(100)]);
        // reverse negates the weight but keeps when it applies (as keepalived
        // 2.2.7 does, checked against it: weight 50 reverse leaves 100 while
        // down, -50 reverse makes 150): 10 reverse is -10 while up.
        let (mut c, inboxes) = coordinator(&instance("  B2 weight 10 reverse"));
        c.refresh();
        assert_eq!(drain(&inboxes[0]), []);
        c.bfd_changed("B2", true);
        assert_eq!(drain(&inboxes[0]), [Input::EffectivePriorityChanged(90)]);
        let (mut c, inboxes) = coordinator(&instance("  B1 weight -20 reverse"));
        c.refresh();
        assert_eq!(drain(&inboxes[0]), [Input::EffectivePriorityChanged(120)]);
        c.bfd_changed("B1", true);
        assert_eq!(drain(&inboxes[0]), [Input::EffectivePriorityChanged(100)]);
        // weight 0 reverse: FAULT while up instead of while down.
        let (mut c, inboxes) = coordinator(&instance("  B1 weight 0 reverse"));
        c.refresh();
        assert_eq!(drain(&inboxes[0]), []);
        c.bfd_changed("B1", true);
        assert_eq!(drain(&inboxes[0]), [Input::Fault]);
        c.bfd_changed("B1", false);
        assert_eq!(drain(&inboxes[0]), [Input::FaultCleared]);
    }

    /// track_process follows the same rule (checked against keepalived 2.2.7
    /// with a process that never runs: 50 reverse leaves 100, -50 reverse makes 150).
    #[test]
    fn track_process_reverse_as_keepalived() {
        let text = |w: &str| {
            format!("vrrp_track_process P {{\n process nonexistent\n weight {w}\n}}\nvrrp_instance VI_1 {{\n interface lo\n virtual_router_id 1\n priority 100\n virtual_ipaddress {{\n  192.0.2.100/32\n }}\n track_process {{\n  P\n }}\n}}\n")
        };
        for (w, down, up) in [("50 reverse", 100, 50), ("-50 reverse", 150, 100), ("-50", 50, 100), ("50", 100, 150)] {
            let (mut c, inboxes) = coordinator(&text(w));
            c.refresh();
            drain(&inboxes[0]);
            c.process_changed(0, false);
            c.process_changed(0, true);
            // Up (as at start) -> down -> up: each move changes the priority.
            assert_eq!(drain(&inboxes[0]), [Input::EffectivePriorityChanged(down), Input::EffectivePriorityChanged(up)], "weight {w}");
        }
    }
}
