//! Many devices at once: a bounded connection ramp-up and one merged, tagged event stream.

use std::sync::Arc;

use tokio::sync::{mpsc, Semaphore};

use crate::config::DeviceConfig;
use crate::device::{Device, TaggedEvent};
use crate::sink::{Lagging, Queued, Sink, Stream};

/// How a fleet opens its devices.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// Connection attempts (TCP connect + negotiation + first read) in progress at once.
    pub max_concurrent_connects: usize,
    /// Events buffered in the merged stream. A reader that falls behind never makes a device
    /// wait: past this (or past [`FleetOptions::device_backlog`]) a device's events are merged,
    /// the last value of every DP kept, and handed out with a notice once the reader catches up
    /// (one warning is logged per device).
    pub event_capacity: usize,
    /// Events one device may have in the merged stream at once, so a chatty device cannot take
    /// the whole of it from the others; past this its events are merged as above.
    pub device_backlog: usize,
    /// The capacity of each device's own event channel ([`Device::subscribe`]), which a
    /// fleet's devices do not need: they report through the merged stream. Each slot is
    /// allocated up front, so a small value is most of a connected device's memory saved.
    pub device_event_capacity: usize,
}

impl Default for FleetOptions {
    fn default() -> Self {
        Self {
            max_concurrent_connects: 64,
            event_capacity: 1024,
            device_backlog: 64,
            device_event_capacity: 1,
        }
    }
}

/// A set of devices with persistent connections and one merged event stream.
pub struct Fleet {
    devices: Vec<Device>,
    by_id: std::collections::HashMap<String, usize>,
    events: Stream,
    /// For devices opened later ([`Fleet::replace`]); weak, so the stream still ends once
    /// every connection task has.
    tx: mpsc::WeakSender<Queued>,
    lagging: Lagging,
    limiter: Arc<Semaphore>,
    device_event_capacity: usize,
    device_backlog: usize,
}

impl Fleet {
    /// Opens every device (connections are made in the background, at most
    /// `max_concurrent_connects` at a time). Must be called inside a tokio runtime.
    pub fn open(configs: Vec<DeviceConfig>, opts: FleetOptions) -> Fleet {
        let (tx, rx) = mpsc::channel(opts.event_capacity.max(1));
        let lagging = Lagging::default();
        let limiter = Arc::new(Semaphore::new(opts.max_concurrent_connects.max(1)));
        let per_device = opts.device_event_capacity.max(1);
        let backlog = opts.device_backlog.max(1);
        let devices: Vec<Device> = configs
            .into_iter()
            .map(|mut c| {
                c.event_capacity = c.event_capacity.min(per_device);
                let sink = Sink::new(tx.clone(), lagging.clone(), backlog);
                Device::spawn(c, Some(sink), Some(limiter.clone()), None)
            })
            .collect();
        let mut by_id = std::collections::HashMap::with_capacity(devices.len());
        for (i, d) in devices.iter().enumerate() {
            // The first of two configs with one id wins, as a linear search would find it.
            by_id.entry(d.id().to_string()).or_insert(i);
        }
        Fleet {
            devices,
            by_id,
            events: Stream::new(rx, lagging.clone()),
            tx: tx.downgrade(),
            lagging,
            limiter,
            device_event_capacity: per_device,
            device_backlog: backlog,
        }
    }

    /// Reconnects the device with `config`'s id using `config` (a new local key after the
    /// device was re-paired, a new address): the old connection is closed, the new one
    /// reports on the same merged stream under the same id. `false` when no device has that
    /// id or the stream has ended.
    pub fn replace(&mut self, config: DeviceConfig) -> bool {
        let Some(&i) = self.by_id.get(&config.id) else {
            return false;
        };
        let Some(tx) = self.tx.upgrade() else {
            return false;
        };
        let mut config = config;
        config.event_capacity = config.event_capacity.min(self.device_event_capacity);
        let sink = Sink::new(tx, self.lagging.clone(), self.device_backlog);
        let fresh = Device::spawn(config, Some(sink), Some(self.limiter.clone()), None);
        // Dropping the last handle of the old device ends its connection task.
        self.devices[i] = fresh;
        true
    }

    /// Every device, in the order given.
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    /// The device with this id.
    pub fn device(&self, id: &str) -> Option<&Device> {
        self.by_id.get(id).map(|&i| &self.devices[i])
    }

    /// An event already waiting, without blocking.
    pub fn try_next_event(&mut self) -> Option<TaggedEvent> {
        self.events.try_next()
    }

    /// The next event from any device; `None` once every connection task has ended.
    pub async fn next_event(&mut self) -> Option<TaggedEvent> {
        self.events.next().await
    }
}
