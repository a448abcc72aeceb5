//! What the bridge publishes for a device: availability, info, state, discovery.

use serde_json::json;
use tuya_local::Fleet;
use tuya_proto::Dps;

use crate::config::BridgeConfig;
use crate::ha;
use crate::mqtt::Publisher;
use crate::nodes::{Node, Nodes};
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
        Some(c) => dev.child(c.clone()).state(),
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
    out.state(&format!("{}/dps/state", n.base), obj.to_string(), false)
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

/// The retained `info` topic.
pub(crate) async fn info(ctx: &Ctx<'_>, out: &mut Publisher, n: &Node, fleet: &Fleet) {
    let e = &n.entry;
    let ip = fleet
        .device(&n.conn)
        .map(|d| d.config().addr.ip().to_string());
    let body = json!({
        "id": e.id,
        "name": e.name,
        "ip": ip,
        "cid": n.cid,
        "version": n.version.or(e.version()).map(|v| v.as_str()),
        "version_in_devices_json": e.version().map(|v| v.as_str()),
        "product_key": e.extra.get("product_key"),
        "category": e.extra.get("category"),
        "announced_version": n.announced.and_then(|a| a.0).map(|v| v.as_str()),
        "announced_ip": n.announced.map(|a| a.1.to_string()),
        "online": n.online,
        "problem": n.problem,
        "bridge": ctx.cfg.instance,
    });
    out.state(&format!("{}/info", n.base), body.to_string(), true)
        .await;
}

/// The device's discovery config, if discovery is on.
pub(crate) async fn discovery(ctx: &Ctx<'_>, out: &mut Publisher, n: &Node, fleet: &Fleet) {
    let Some(prefix) = &ctx.cfg.discovery_prefix else {
        return;
    };
    let overrides = ctx
        .cfg
        .overrides
        .get(&n.entry.id)
        .or_else(|| {
            n.entry
                .name
                .as_ref()
                .and_then(|nm| ctx.cfg.overrides.get(nm))
        })
        .map(|o| o.dps.clone())
        .unwrap_or_default();
    let str_field = |k: &str| {
        n.entry
            .extra
            .get(k)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let info = ha::DeviceInfo {
        object_id: n.object_id.clone(),
        name: n.entry.label().to_string(),
        base: n.base.clone(),
        extra_availability: vec![ctx.bridge_status.to_string()],
        category: str_field("category"),
        product_key: str_field("product_key"),
        model: str_field("model").or_else(|| str_field("product_name")),
        mapping: n.entry.mapping.clone(),
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

/// Availability, info, discovery and state of one device.
pub(crate) async fn node(ctx: &Ctx<'_>, out: &mut Publisher, n: &Node, fleet: &Fleet) {
    let status = if n.online { "online" } else { "offline" };
    out.state(&format!("{}/status", n.base), status, true).await;
    info(ctx, out, n, fleet).await;
    discovery(ctx, out, n, fleet).await;
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
