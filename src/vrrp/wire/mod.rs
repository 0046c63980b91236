//! VRRP v2/v3 adverts on the wire.
