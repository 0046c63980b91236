//! Value types shared by the link, address, route and rule messages.

use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::consts::{AF_INET, AF_INET6, IFNAMSIZ, MAX_ADDR_LEN};

/// An interface name as the kernel bounds it (IFNAMSIZ - 1 bytes, no NUL).
pub type IfName = heapless::String<{ IFNAMSIZ - 1 }>;

/// A link-layer address (6 bytes for Ethernet; up to MAX_ADDR_LEN for other link types).
pub type HwAddr = heapless::Vec<u8, MAX_ADDR_LEN>;

/// Makes an [`IfName`], or `None` when `s` is empty or longer than the kernel allows.
pub fn if_name(s: &str) -> Option<IfName> {
    if s.is_empty() {
        return None;
    }
    IfName::try_from(s).ok()
}

/// A wire enum that keeps values it does not know as `Unknown(n)` (smoltcp's
/// `enum_with_unknown!`), so parsing a kernel reply never fails on a new constant.
macro_rules! enum_with_unknown {
    ($(#[$m:meta])* pub enum $name:ident($ty:ty) { $($(#[$vm:meta])* $var:ident = $val:expr),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $var,)+
            Unknown($ty),
        }

        impl From<$ty> for $name {
            fn from(v: $ty) -> Self {
                // An if-chain rather than a match: the values may be named constants.
                $(if v == $val {
                    return Self::$var;
                })+
                Self::Unknown(v)
            }
        }

        impl From<$name> for $ty {
            fn from(v: $name) -> $ty {
                match v {
                    $($name::$var => $val,)+
                    $name::Unknown(other) => other,
                }
            }
        }
    };
}
pub(crate) use enum_with_unknown;

/// The two address families rtnetlink requests here are made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrFamily {
    Inet,
    Inet6,
}

impl AddrFamily {
    pub fn of(ip: &IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Self::Inet,
            IpAddr::V6(_) => Self::Inet6,
        }
    }

    pub fn raw(self) -> u8 {
        match self {
            Self::Inet => AF_INET,
            Self::Inet6 => AF_INET6,
        }
    }

    pub fn from_raw(af: u8) -> Option<Self> {
        match af {
            AF_INET => Some(Self::Inet),
            AF_INET6 => Some(Self::Inet6),
            _ => None,
        }
    }

    pub fn max_prefix_len(self) -> u8 {
        match self {
            Self::Inet => 32,
            Self::Inet6 => 128,
        }
    }

    pub fn unspecified(self) -> IpAddr {
        match self {
            Self::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Self::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    }
}

/// An address and a prefix length that fits its family (checked by [`IpPrefix::new`]).
/// Host bits are kept as given: the kernel rejects a route whose destination has them set
/// (EINVAL), and that is the caller's error to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpPrefix {
    addr: IpAddr,
    len: u8,
}

impl IpPrefix {
    pub fn new(addr: IpAddr, len: u8) -> Option<Self> {
        (len <= AddrFamily::of(&addr).max_prefix_len()).then_some(Self { addr, len })
    }

    /// 0.0.0.0/0 or ::/0: the default route's destination.
    pub fn default_route(family: AddrFamily) -> Self {
        Self {
            addr: family.unspecified(),
            len: 0,
        }
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    pub fn family(&self) -> AddrFamily {
        AddrFamily::of(&self.addr)
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    enum_with_unknown! {
        pub enum Color(u8) { Red = 1, Blue = 2 }
    }

    #[test]
    fn unknown_values_round_trip() {
        assert_eq!(Color::from(1), Color::Red);
        assert_eq!(Color::from(9), Color::Unknown(9));
        assert_eq!(u8::from(Color::Unknown(9)), 9);
        assert_eq!(u8::from(Color::Blue), 2);
    }

    #[test]
    fn prefix_len_is_bounded_by_family() {
        assert!(IpPrefix::new("192.0.2.0".parse().unwrap(), 33).is_none());
        assert!(IpPrefix::new("2001:db8::".parse().unwrap(), 128).is_some());
        assert!(IpPrefix::new("2001:db8::".parse().unwrap(), 129).is_none());
        assert_eq!(
            IpPrefix::default_route(AddrFamily::Inet6).to_string(),
            "::/0"
        );
    }

    #[test]
    fn if_names_are_bounded() {
        assert!(if_name("").is_none());
        assert!(if_name("0123456789abcde").is_some());
        assert!(if_name("0123456789abcdef").is_none());
    }
}
