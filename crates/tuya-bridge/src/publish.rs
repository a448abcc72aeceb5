//! What the bridge publishes for a device: availability, info, state, discovery.

use serde::Serialize;
use serde_json::Value;
use tuya_local::Fleet;
use tuya_proto::Dps;

use crate::config::BridgeConfig;
use crate::ha;
use crate::mqtt::Publisher;
use crate::nodes::{Listing, Node, Nodes};
use crate::topics::{state_text, Topics};

/// What publishing needs besides the device.
pub(crate) struct Ctx<'a> {
    pub cfg: &'a BridgeConfig,
    pub topics: &'a Topics,
    pub bridge_status: &'a str,
}

/// A node's last known DPs.
pub(crate) fn state_of(n: &Node, fleet: &Fleet) -> Dps {
    let Some(dev) = fleet.device(&n.conn) else {
        return Dps::new();
    };
    match &n.cid {
        Some(c) => dev.child(&**c).state(),
        None => dev.state(),
    }
}

/// A short, stable name for the kind of a failure (for automations reading `result`).
pub(crate) fn error_kind(e: &tuya_local::Error) -> &'static str {
    use tuya_local::Error as E;
    match e {
        E::WrongKey(_) => "wrong_key",
        E::WrongVersion { .. } | E::UnknownVersion(_) | E::Negotiation(_) => "wrong_version",
        E::Corrupt(_) => "corrupt",
        E::Busy(_) => "busy",
        E::Refused(_) | E::Offline(_) => "offline",
        E::Timeout(_) => "timeout",
        E::ConnectionLost(_) => "connection_lost",
        E::Device(_) => "device_error",
        E::Config(_) => "bad_command",
        _ => "other",
    }
}

/// The DPs that changed: the JSON on `dps/state` and each on `dps/<dp>/state`.
pub(crate) async fn changes(out: &mut Publisher, n: &Node, changed: &Dps) {
    if changed.is_empty() {
        return;
    }
    let obj = tuya_proto::dp::dps_to_json(changed);
    out.state(&n.topic("dps/state"), obj.to_string(), false)
        .await;
    for (dp, v) in changed {
        out.state(&format!("{}/dps/{dp}/state", n.base), state_text(v), true)
            .await;
    }
}

/// The whole current state (`get-states`, reconnects).
pub(crate) async fn full_state(out: &mut Publisher, n: &Node, fleet: &Fleet) {
    let dps = state_of(n, fleet);
    changes(out, n, &dps).await;
}

/// The body of the `info` topic, in the order of its fields.
#[derive(Serialize)]
struct Info<'a> {
    id: &'a str,
    name: Option<&'a str>,
    ip: Option<String>,
    cid: Option<&'a str>,
    version: Option<&'static str>,
    version_in_devices_json: Option<&'static str>,
    product_key: Option<&'a Value>,
    category: Option<&'a Value>,
    announced_version: Option<&'static str>,
    announced_ip: Option<String>,
    online: bool,
    problem: Option<&'a str>,
    bridge: &'a str,
}

/// The retained `info` topic.
pub(crate) async fn info(ctx: &Ctx<'_>, out: &mut Publisher, n: &Node, fleet: &Fleet) {
    let e = &n.entry;
    let body = Info {
        id: &e.id,
        name: e.name.as_deref(),
        ip: fleet
            .device(&n.conn)
            .map(|d| d.config().addr.ip().to_string()),
        cid: n.cid.as_deref(),
        version: n.version.or(e.version).map(|v| v.as_str()),
        version_in_devices_json: e.version.map(|v| v.as_str()),
        product_key: e.product_key.as_ref(),
        category: e.category.as_ref(),
        announced_version: n.announced.and_then(|a| a.0).map(|v| v.as_str()),
        announced_ip: n.announced.map(|a| a.1.to_string()),
        online: n.online,
        problem: n.problem.as_deref(),
        bridge: &ctx.cfg.instance,
    };
    // Serialising a struct cannot fail.
    let body = serde_json::to_string(&body).unwrap_or_default();
    out.state(&n.topic("info"), body, true).await;
}

/// The device's discovery config, if discovery is on.
pub(crate) async fn discovery(ctx: &Ctx<'_>, out: &mut Publisher, n: &Node, fleet: &Fleet) {
    let Some(prefix) = &ctx.cfg.discovery_prefix else {
        return;
    };
    let overrides = ctx
        .cfg
        .overrides
        .get(&*n.entry.id)
        .or_else(|| {
            n.entry
                .name
                .as_deref()
                .and_then(|nm| ctx.cfg.overrides.get(nm))
        })
        .map(|o| o.dps.clone())
        .unwrap_or_default();
    let info = ha::DeviceInfo {
        object_id: n.object_id.to_string(),
        name: n.entry.label().to_string(),
        base: n.base.to_string(),
        extra_availability: vec![ctx.bridge_status.to_string()],
        category: Listing::text(&n.entry.category),
        product_key: Listing::text(&n.entry.product_key),
        model: n.entry.model.as_deref().map(str::to_string),
        mapping: n.entry.mapping(),
        dps: state_of(n, fleet),
        via_device: n.cid.as_ref().map(|_| ha::sanitize_id(&n.conn)),
        overrides,
    };
    let origin = ha::Origin {
        name: "tuyactl".into(),
        sw: env!("CARGO_PKG_VERSION").into(),
        url: "https://github.com/tuyactl/tuyactl".into(),
    };
    let payload = ha::config_payload(&info, &origin);
    out.state(
        &ha::config_topic(prefix, &n.object_id),
        payload.to_string(),
        true,
    )
    .await;
}

/// The retained details of a device: its info and discovery config.
pub(crate) async fn details(ctx: &Ctx<'_>, out: &mut Publisher, n: &Node, fleet: &Fleet) {
    info(ctx, out, n, fleet).await;
    discovery(ctx, out, n, fleet).await;
}

/// Info, discovery, availability and state of one device. A device whose first connection
/// attempt is still under way gets its availability only: the attempt publishes the rest
/// within moments (see [`Node::settled`]), so a start-up does not publish them twice. The info
/// comes before the availability, so that a device seen online always has its info out.
pub(crate) async fn node(ctx: &Ctx<'_>, out: &mut Publisher, n: &Node, fleet: &Fleet) {
    if n.settled {
        details(ctx, out, n, fleet).await;
    }
    let status = if n.online { "online" } else { "offline" };
    out.state(&n.topic("status"), status, true).await;
    if n.online {
        full_state(out, n, fleet).await;
    }
}

/// Everything, after a (re)connection to the broker.
pub(crate) async fn everything(ctx: &Ctx<'_>, out: &mut Publisher, nodes: &Nodes, fleet: &Fleet) {
    for n in &nodes.nodes {
        node(ctx, out, n, fleet).await;
    }
}

/// Discovery configs again (Home Assistant restarted).
pub(crate) async fn discovery_all(
    ctx: &Ctx<'_>,
    out: &mut Publisher,
    nodes: &Nodes,
    fleet: &Fleet,
) {
    for n in &nodes.nodes {
        discovery(ctx, out, n, fleet).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_keeps_its_fields_their_order_and_their_json() {
        let (pk, cat) = (Value::from("pk1"), Value::from(7));
        let body = Info {
            id: "bf01",
            name: Some("Lamp"),
            ip: Some("10.0.0.2".into()),
            cid: None,
            version: Some("3.4"),
            version_in_devices_json: None,
            product_key: Some(&pk),
            category: Some(&cat),
            announced_version: None,
            announced_ip: Some("10.0.0.3".into()),
            online: true,
            problem: Some("wrong key"),
            bridge: "home",
        };
        // What `info` always said, key for key.
        let was = serde_json::json!({
            "id": "bf01", "name": "Lamp", "ip": "10.0.0.2", "cid": null, "version": "3.4",
            "version_in_devices_json": null, "product_key": "pk1", "category": 7,
            "announced_version": null, "announced_ip": "10.0.0.3", "online": true,
            "problem": "wrong key", "bridge": "home",
        });
        assert_eq!(serde_json::to_string(&body).unwrap(), was.to_string());
    }
}
