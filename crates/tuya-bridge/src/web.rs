//! The web page over the bridge's own connections: the hub's views built from the bridged
//! devices, the server started on the bridge's runtime, and the page's commands applied like
//! MQTT ones.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tuya_local::Fleet;
use tuya_web::{Command, CommandError, Hub, View, WebConfig};

use crate::bridge::BridgeError;
use crate::config::BridgeConfig;
use crate::nodes::Nodes;

/// The running server and its side of the hub.
pub(crate) struct Web {
    /// The views the page shows.
    pub hub: Hub,
    /// Commands from the page.
    pub commands: mpsc::Receiver<Command>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// One view per bridged device, in the order of `nodes` (the hub's indices are theirs). Nodes
/// sharing a mapping share its parsed form too.
fn views(nodes: &Nodes, fleet: &Fleet) -> Vec<View> {
    let mut parsed: HashMap<*const str, Arc<Value>> = HashMap::new();
    nodes
        .nodes
        .iter()
        .map(|n| {
            let mut v = View::new(n.entry.id.to_string(), n.entry.label().to_string());
            v.cid = n.cid.as_deref().map(str::to_string);
            if n.cid.is_some() {
                v.gateway = Some(n.conn.to_string());
            }
            v.ip = fleet
                .device(&n.conn)
                .map(|d| d.config().addr.ip().to_string());
            if let Some(text) = &n.entry.mapping {
                let m = parsed.entry(Arc::as_ptr(text)).or_insert_with(|| {
                    let m = serde_json::from_str(text).unwrap_or(Value::Null);
                    Arc::new(m)
                });
                if m.is_object() {
                    v.mapping = m.clone();
                }
            }
            v
        })
        .collect()
}

impl Web {
    /// Binds the configured address and starts serving; `None` without `--http`.
    pub async fn start(
        cfg: &BridgeConfig,
        nodes: &Nodes,
        fleet: &Fleet,
    ) -> Result<Option<Web>, BridgeError> {
        let Some(http) = &cfg.http else {
            return Ok(None);
        };
        let listener = tokio::net::TcpListener::bind(http.addr)
            .await
            .map_err(|e| BridgeError::Http(format!("cannot listen on {}: {e}", http.addr)))?;
        let (hub, commands) = Hub::new(views(nodes, fleet));
        let (stop, stopped) = oneshot::channel::<()>();
        let web_cfg = WebConfig {
            token: http.token.clone(),
            command_timeout: cfg.command_timeout,
        };
        let task = tokio::spawn(tuya_web::serve(listener, hub.clone(), web_cfg, async {
            let _ = stopped.await;
        }));
        tracing::info!("web page on http://{}/", http.addr);
        Ok(Some(Web {
            hub,
            commands,
            stop: Some(stop),
            task,
        }))
    }

    /// Stops the server (open event streams are closed).
    pub async fn stop(mut self) {
        self.hub.close();
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        // An event stream holds its connection open; the graceful end is bounded.
        if tokio::time::timeout(std::time::Duration::from_secs(2), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

/// Applies a command from the page: at once refused for an offline device, else sent on the
/// device's connection; the views take the acknowledged values, then the page is answered.
pub(crate) fn apply(c: Command, hub: &Hub, nodes: &Nodes, fleet: &Fleet) {
    let Some(n) = nodes.nodes.get(c.node) else {
        let _ = c
            .reply
            .send(Err(CommandError::Failed("no such device".into())));
        return;
    };
    let label = n.entry.label().to_string();
    let Some(dev) = fleet.device(&n.conn).filter(|_| n.online).cloned() else {
        let _ = c.reply.send(Err(CommandError::Offline(label)));
        return;
    };
    let (cid, hub, node) = (n.cid.as_deref().map(str::to_string), hub.clone(), c.node);
    tokio::spawn(async move {
        let result = match cid {
            Some(cid) => dev.child(cid).set(c.dps).await,
            None => dev.set(c.dps).await,
        };
        let outcome = match result {
            Ok(acked) => {
                hub.update(node, &acked);
                Ok(())
            }
            Err(e @ tuya_local::Error::Timeout(_)) => {
                Err(CommandError::Timeout(format!("{label}: {e}")))
            }
            Err(e) if e.is_unreachable() => Err(CommandError::Offline(label)),
            Err(e) => Err(CommandError::Failed(format!("{label}: {e}"))),
        };
        let _ = c.reply.send(outcome);
    });
}
