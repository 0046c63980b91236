//! keepalived's `use_vmac`: a macvlan (private mode) on the VRRP interface
//! with the virtual router MAC of RFC 5798 §7.3, 00-00-5E-00-01-{VRID} for
//! IPv4 and 00-00-5E-00-02-{VRID} for IPv6. The VIPs live on it, so the MAC
//! that answers for them never changes across a failover. We create it at
//! instance start and remove it at stop; one left behind by a crashed run
//! is taken over if it has the right MAC and parent.

use crate::netlink::{IfName, LinkRef, NetlinkError, Rtnl, consts, if_name};

pub struct Vmac {
    pub name: IfName,
    pub index: u32,
    pub mac: [u8; 6],
}

pub fn virtual_mac(vrid: u8, v6: bool) -> [u8; 6] {
    [0x00, 0x00, 0x5e, 0x00, if v6 { 0x02 } else { 0x01 }, vrid]
}

pub fn create(nl: &mut Rtnl, name: &str, parent: u32, vrid: u8, v6: bool) -> Result<Vmac, NetlinkError> {
    let ifname = if_name(name).ok_or(NetlinkError::InvalidSpec("VMAC name is not a valid interface name"))?;
    let mac = virtual_mac(vrid, v6);
    match nl.link_add_macvlan(&ifname, parent, mac, consts::MACVLAN_MODE_PRIVATE) {
        Ok(()) => {}
        Err(e) if e.is_exists() => {
            // Ours from an earlier run if it has our MAC; otherwise refuse.
            let l = nl.link(&LinkRef::Name(ifname.clone()))?;
            if l.mac.as_ref().map(|m| m.as_slice()) != Some(&mac[..]) {
                return Err(e);
            }
        }
        Err(e) => return Err(e),
    }
    let index = nl.link_index(name)?;
    nl.link_set_up(LinkRef::Index(index), true)?;
    Ok(Vmac { name: ifname, index, mac })
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc_5798_virtual_macs() {
        assert_eq!(super::virtual_mac(51, false), [0, 0, 0x5e, 0, 1, 51]);
        assert_eq!(super::virtual_mac(255, true), [0, 0, 0x5e, 0, 2, 255]);
    }
}
