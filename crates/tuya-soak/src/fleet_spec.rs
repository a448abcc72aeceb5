//! The simulated fleet: plain devices of every version, gateways of 3.3/3.4/3.5 with children,
//! and the targets commands address (a plain device, or one gateway child).

use std::net::Ipv4Addr;

use rand::rngs::StdRng;
use rand::Rng;
use tuya_proto::{DpId, DpValue, Dps, Version};
use tuya_sim::{ChildSpec, DeviceSpec, Firmware};

/// The DP the client fleet commands (an integer: each command sets a fresh per-target number).
pub const FLEET_DP: DpId = DpId(2);
/// The DP commanded through MQTT and the bridge.
pub const MQTT_DP: DpId = DpId(3);
/// Physical changes use values from here up, so they never collide with command values.
pub const PHYSICAL_BASE: i64 = 1_000_000_000;

/// Plain devices cycle through every version the simulator speaks.
const PLAIN_VERSIONS: [Version; 5] = [
    Version::V31,
    Version::V32,
    Version::V33,
    Version::V34,
    Version::V35,
];
/// Gateways exist on 3.3 and later.
const GATEWAY_VERSIONS: [Version; 3] = [Version::V34, Version::V33, Version::V35];
/// Children per gateway.
const CHILDREN: usize = 2;

/// One simulated device and how the soak uses it.
#[derive(Debug, Clone)]
pub struct SoakDevice {
    /// What the simulator serves.
    pub spec: DeviceSpec,
    /// Served by the bridge too (two LAN clients). Devices that are not get re-keyed: the
    /// bridge learns new keys from a cloud login, which is not part of this soak.
    pub bridged: bool,
}

impl SoakDevice {
    /// Whether it is a gateway.
    pub fn is_gateway(&self) -> bool {
        !self.spec.children.is_empty()
    }

    /// Whether key changes (re-pairing) may be injected: only on devices the bridge does not
    /// serve.
    pub fn rekeyable(&self) -> bool {
        !self.bridged
    }
}

/// What one command addresses: a plain device or a gateway child.
#[derive(Debug, Clone)]
pub struct Target {
    /// Index into the devices.
    pub device: usize,
    /// Device id at the simulator.
    pub device_id: String,
    /// The child's node id, for a gateway child.
    pub cid: Option<String>,
    /// Its topic level on MQTT.
    pub slug: String,
    /// Reachable through the bridge.
    pub bridged: bool,
    /// Protocol version of its connection.
    pub version: Version,
}

impl Target {
    /// A short label for reports: `3.4 gateway child soak_gw_3_child_1`.
    pub fn label(&self) -> String {
        format!("{} {}", self.version, self.slug)
    }
}

/// The baseline firmware of every device: three LAN clients (the bridge and the client fleet
/// both connect), otherwise lenient; faults switch the stricter rules on for a while.
pub fn baseline_firmware() -> Firmware {
    Firmware {
        max_clients: 3,
        ..Firmware::default()
    }
}

/// A random local key: 16 printable characters, symbols included as real keys have them.
pub fn random_key(rng: &mut StdRng) -> String {
    const CHARS: &[u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&()*+,-./:;<=>?@[]^_{|}~";
    (0..16)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

fn initial_dps() -> Dps {
    [
        (DpId(1), DpValue::Bool(false)),
        (FLEET_DP, DpValue::Integer(0)),
        (MQTT_DP, DpValue::Integer(0)),
    ]
    .into_iter()
    .collect()
}

/// The address of device `i`: 127.60.0.0/16 is this soak's loopback range, from 127.60.`block`.1
/// on (250 devices per block).
fn ip_of(block: u8, i: usize) -> Ipv4Addr {
    Ipv4Addr::new(
        127,
        60,
        block.wrapping_add((i / 250) as u8),
        (i % 250 + 1) as u8,
    )
}

/// `n` devices: every fourth a gateway (3.4, 3.3, 3.5 in turn) with two children, the others
/// plain devices cycling 3.1–3.5; one plain device in three is served by the client fleet only
/// (and may be re-keyed), every other device by the bridge as well. Addresses start at
/// 127.60.`block`.1.
pub fn build(n: usize, block: u8, rng: &mut StdRng) -> Vec<SoakDevice> {
    let (mut plain, mut gateways) = (0usize, 0usize);
    (0..n)
        .map(|i| {
            let gateway = i % 4 == 3;
            let version = if gateway {
                GATEWAY_VERSIONS[gateways % GATEWAY_VERSIONS.len()]
            } else {
                PLAIN_VERSIONS[plain % PLAIN_VERSIONS.len()]
            };
            let id = format!("bfsoak{i:014}");
            let key = random_key(rng);
            let mut spec = DeviceSpec::new(&id, &key, version, ip_of(block, i));
            spec.dps = initial_dps();
            spec.firmware = baseline_firmware();
            let bridged = if gateway {
                spec.name = format!("soak gw {i}");
                spec.children = (0..CHILDREN)
                    .map(|c| ChildSpec {
                        cid: format!("a4c1{i:06}{c:06}"),
                        name: format!("soak gw {i} child {c}"),
                        dps: initial_dps(),
                    })
                    .collect();
                gateways += 1;
                true
            } else {
                spec.name = format!("soak dev {i}");
                plain += 1;
                plain % 3 != 0
            };
            SoakDevice { spec, bridged }
        })
        .collect()
}

/// Every target of `devices`: plain devices themselves, and each gateway child (a gateway's
/// own DPs are not commanded, as real gateways have none worth setting).
pub fn targets(devices: &[SoakDevice]) -> Vec<Target> {
    let slug = |name: &str, id: &str| tuya_bridge::topics::slug(Some(name), id);
    let mut out = Vec::new();
    for (i, d) in devices.iter().enumerate() {
        let s = &d.spec;
        if d.is_gateway() {
            for c in &s.children {
                out.push(Target {
                    device: i,
                    device_id: s.id.clone(),
                    cid: Some(c.cid.clone()),
                    slug: slug(&c.name, &c.cid),
                    bridged: d.bridged,
                    version: s.version,
                });
            }
        } else {
            out.push(Target {
                device: i,
                device_id: s.id.clone(),
                cid: None,
                slug: slug(&s.name, &s.id),
                bridged: d.bridged,
                version: s.version,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_dozen_devices_cover_every_version_gateways_and_both_kinds_of_client() {
        let d = build(12, 0, &mut StdRng::seed_from_u64(1));
        let versions: std::collections::BTreeSet<_> =
            d.iter().map(|x| x.spec.version.as_str()).collect();
        assert_eq!(versions.len(), 5, "{versions:?}");
        let gws: Vec<_> = d.iter().filter(|x| x.is_gateway()).collect();
        assert_eq!(gws.len(), 3);
        assert!(d.iter().any(|x| x.rekeyable()) && d.iter().any(|x| x.bridged));
        let t = targets(&d);
        assert_eq!(t.len(), 9 + 3 * CHILDREN);
        let slugs: std::collections::BTreeSet<_> = t.iter().map(|x| x.slug.clone()).collect();
        assert_eq!(slugs.len(), t.len(), "slugs are unique");
        assert!(d.iter().all(|x| x.spec.key.len() == 16));
    }
}
