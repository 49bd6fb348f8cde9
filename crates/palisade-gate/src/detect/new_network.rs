//! Rule: an established principal calling from a network it never used.
//!
//! A key copied off a build server and used from elsewhere. Networks are /24 for IPv4 and
//! /48 for IPv6: a client moving between addresses of its own subnet is not news.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use super::{Alert, AlertKind, Observation, Settings, MAX_SUBJECTS};

/// Networks remembered per principal; past it the principal is treated as roaming.
const MAX_NETWORKS: usize = 64;

#[derive(Default)]
pub struct NewNetwork {
    principals: HashMap<String, Seen>,
}

#[derive(Default)]
struct Seen {
    calls: u64,
    networks: HashSet<Network>,
}

/// A /24 or /48 as a number: compared on every call, so no string is built for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Network {
    V4(u32),
    V6(u64),
}

fn network_of(ip: IpAddr) -> Network {
    match ip {
        IpAddr::V4(v4) => Network::V4(u32::from(v4) >> 8),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => Network::V4(u32::from(v4) >> 8),
            None => Network::V6((u128::from(v6) >> 80) as u64),
        },
    }
}

/// The network of `ip` as text, for alerts.
pub fn network(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => network(IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
            }
        },
    }
}

impl NewNetwork {
    pub fn observe(&mut self, o: &Observation, s: &Settings, alerts: &mut Vec<Alert>) {
        if s.new_network_after_calls == 0 || !o.allowed {
            return;
        }
        let Some(principal) = &o.principal else {
            return;
        };
        if !self.principals.contains_key(principal) {
            if self.principals.len() >= MAX_SUBJECTS {
                return;
            }
            self.principals.insert(principal.clone(), Seen::default());
        }
        let Some(seen) = self.principals.get_mut(principal) else {
            return;
        };
        seen.calls += 1;
        let net = network_of(o.source);
        if seen.networks.contains(&net) || seen.networks.len() >= MAX_NETWORKS {
            return;
        }
        if seen.calls > s.new_network_after_calls {
            alerts.push(Alert::new(
                AlertKind::NewNetwork,
                principal,
                o.at_ms,
                format!(
                    "first call from {} after {} calls from {} other network(s)",
                    network(o.source),
                    seen.calls - 1,
                    seen.networks.len()
                ),
            ));
        }
        seen.networks.insert(net);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_slash_24_and_slash_48() {
        assert_eq!(network("10.1.2.3".parse().unwrap()), "10.1.2.0/24");
        assert_eq!(network("::ffff:10.1.2.3".parse().unwrap()), "10.1.2.0/24");
        assert_eq!(
            network("2001:db8:1:2::1".parse().unwrap()),
            "2001:db8:1::/48"
        );
    }
}
