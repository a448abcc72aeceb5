//! The MQTT observer: every message under one topic filter (`tuya/#`, or `rustuya/#` for
//! rustuya-bridge), timestamped as it arrives.

use super::*;

/// One message as the observer received it.
pub(crate) struct Msg {
    pub(crate) at: Instant,
    pub(crate) topic: String,
    pub(crate) payload: String,
}

pub(crate) struct Observer {
    pub(crate) client: AsyncClient,
    pub(crate) rx: mpsc::UnboundedReceiver<R<Msg>>,
}

impl Observer {
    pub(crate) async fn connect(port: u16, filter: &'static str) -> R<Observer> {
        let mut o = MqttOptions::new("tuyactl-bench-observer", "127.0.0.1", port);
        o.set_keep_alive(Duration::from_secs(30));
        o.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut el) = AsyncClient::new(o, 1 << 16);
        // The instrument must not add Nagle delays of its own (the bridge's client is as built).
        let mut net = el.network_options();
        net.set_tcp_nodelay(true);
        el.set_network_options(net);
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
        let c = client.clone();
        tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        if c.subscribe(filter, QoS::AtLeastOnce).await.is_err() {
                            let _ = tx.send(Err("observer: cannot subscribe".to_string()));
                            return;
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(r) = ready.take() {
                            let _ = r.send(());
                        }
                    }
                    // Retained copies (sent on subscribing) are old news, not the bridge's work.
                    Ok(Event::Incoming(Packet::Publish(p))) if !p.retain => {
                        let m = Msg {
                            at: Instant::now(),
                            topic: p.topic,
                            payload: String::from_utf8_lossy(&p.payload).into_owned(),
                        };
                        if tx.send(Ok(m)).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        // A lost observer connection loses messages: the run is void.
                        let _ = tx.send(Err(format!("observer: broker connection lost: {e}")));
                        return;
                    }
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), ready_rx)
            .await
            .map_err(|_| format!("observer: no SUBACK for {filter} from 127.0.0.1:{port} in 10 s"))?
            .map_err(|_| "observer: its event loop ended before subscribing".to_string())?;
        Ok(Observer { client, rx })
    }

    /// The next message, or `None` once `deadline` has passed.
    pub(crate) async fn next_until(&mut self, deadline: tokio::time::Instant) -> R<Option<Msg>> {
        match tokio::time::timeout_at(deadline, self.rx.recv()).await {
            Err(_) => Ok(None),
            Ok(None) => Err("observer: its event loop ended".into()),
            Ok(Some(m)) => m.map(Some),
        }
    }

    /// Drops whatever arrives during `d`.
    pub(crate) async fn drain_for(&mut self, d: Duration) -> R<()> {
        let end = tokio::time::Instant::now() + d;
        while self.next_until(end).await?.is_some() {}
        Ok(())
    }
}
