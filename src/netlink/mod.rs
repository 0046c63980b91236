//! rtnetlink: links, addresses, routes, rules.
