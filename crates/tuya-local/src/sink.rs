//! A fleet's merged event stream, fed without ever making a connection task wait.
//!
//! Each device may have a bounded number of events in the merged channel
//! ([`crate::FleetOptions::device_backlog`]). Past that, or when the channel is full because the
//! reader stopped, the device's events are coalesced in its own outbox instead: DP changes
//! merged per child (bounded like the state), the last connect or disconnect kept, notices and
//! errors counted. The reader collects an outbox once it has read that device's queued events,
//! with a notice saying what was merged; one warning is logged the first time a device's events
//! are held back. So a reader that falls behind costs events their granularity, never their
//! last values, and never stalls another device's heartbeats, commands or reconnects.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;
use tuya_proto::Dps;

use crate::device::TaggedEvent;
use crate::event::Event;

/// What could not be queued yet, merged.
#[derive(Default)]
struct Coalesced {
    /// DP changes per child (`None`: the device), and whether any was pushed.
    updates: BTreeMap<Option<String>, (Dps, bool)>,
    /// The last connect or disconnect.
    link: Option<Event>,
    /// Notices and errors left out.
    dropped: usize,
    /// Events folded in, in all.
    absorbed: usize,
}

impl Coalesced {
    fn is_empty(&self) -> bool {
        self.absorbed == 0
    }

    fn absorb(&mut self, e: Event) {
        self.absorbed += 1;
        match e {
            Event::Update {
                cid,
                changed,
                pushed,
            } => {
                let slot = self.updates.entry(cid).or_default();
                slot.0.extend(changed);
                slot.1 |= pushed;
            }
            e @ (Event::Connected { .. } | Event::Disconnected { .. }) => self.link = Some(e),
            Event::Notice(_) | Event::Error(_) => self.dropped += 1,
        }
    }

    /// The merged events, in an order a reader can apply: changes, then the last connect or
    /// disconnect, then a notice of what happened.
    fn into_events(self) -> Vec<Event> {
        let mut out: Vec<Event> = self
            .updates
            .into_iter()
            .map(|(cid, (changed, pushed))| Event::Update {
                cid,
                changed,
                pushed,
            })
            .collect();
        out.extend(self.link);
        out.push(Event::Notice(format!(
            "the event reader fell behind: {} events of this device were merged into {} (the last value of every DP kept; {} notices and errors left out)",
            self.absorbed,
            out.len(),
            self.dropped
        )));
        out
    }
}

#[derive(Default)]
struct OutboxState {
    /// This device's events now in the merged channel.
    queued: usize,
    pending: Coalesced,
    /// In the fleet's list of outboxes to look at.
    listed: bool,
    /// The warning was logged (once per device).
    warned: bool,
}

/// One device's side of the merged stream.
#[derive(Default)]
pub(crate) struct Outbox(Mutex<OutboxState>);

impl Outbox {
    fn lock(&self) -> MutexGuard<'_, OutboxState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Its pending events, if none of its events is still queued ahead of them.
    fn take_if_drained(&self) -> Option<Coalesced> {
        let mut st = self.lock();
        st.listed = false;
        (st.queued == 0 && !st.pending.is_empty()).then(|| std::mem::take(&mut st.pending))
    }
}

/// An event in the merged channel, with the outbox it counts against.
pub(crate) struct Queued {
    event: TaggedEvent,
    outbox: Arc<Outbox>,
}

/// Outboxes holding events the channel could not take.
pub(crate) type Lagging = Arc<Mutex<VecDeque<(Arc<str>, Arc<Outbox>)>>>;

/// A device's sender into its fleet's stream.
pub(crate) struct Sink {
    tx: mpsc::Sender<Queued>,
    outbox: Arc<Outbox>,
    lagging: Lagging,
    quota: usize,
}

impl Sink {
    pub fn new(tx: mpsc::Sender<Queued>, lagging: Lagging, quota: usize) -> Self {
        Self {
            tx,
            outbox: Arc::default(),
            lagging,
            quota: quota.max(1),
        }
    }

    /// Queues `e`, or coalesces it when this device's share or the channel is full. Never
    /// waits.
    pub fn send(&self, id: &Arc<str>, e: Event) {
        let mut st = self.outbox.lock();
        let mut e = e;
        if st.pending.is_empty() && st.queued < self.quota {
            let q = Queued {
                event: TaggedEvent {
                    id: id.clone(),
                    event: e,
                },
                outbox: self.outbox.clone(),
            };
            match self.tx.try_send(q) {
                Ok(()) => {
                    st.queued += 1;
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return,
                Err(mpsc::error::TrySendError::Full(q)) => e = q.event.event,
            }
        }
        if !st.warned {
            st.warned = true;
            tracing::warn!(
                device = %id,
                "the fleet's event reader is not keeping up: this device's events are merged until it catches up (its state stays current)"
            );
        }
        st.pending.absorb(e);
        if !st.listed {
            st.listed = true;
            let mut l = self.lagging.lock().unwrap_or_else(|p| p.into_inner());
            l.push_back((id.clone(), self.outbox.clone()));
        }
    }
}

/// The reader's side: the channel, the lagging outboxes, and merged events ready to hand out.
pub(crate) struct Stream {
    rx: mpsc::Receiver<Queued>,
    lagging: Lagging,
    ready: VecDeque<TaggedEvent>,
}

impl Stream {
    pub fn new(rx: mpsc::Receiver<Queued>, lagging: Lagging) -> Self {
        Self {
            rx,
            lagging,
            ready: VecDeque::new(),
        }
    }

    fn ready_from(&mut self, id: &Arc<str>, c: Coalesced) {
        self.ready
            .extend(c.into_events().into_iter().map(|event| TaggedEvent {
                id: id.clone(),
                event,
            }));
    }

    /// Takes a queued event off the channel: counts it out of its outbox, whose pending
    /// events follow it once it was the device's last one queued.
    fn received(&mut self, q: Queued) -> TaggedEvent {
        let drained = {
            let mut st = q.outbox.lock();
            st.queued = st.queued.saturating_sub(1);
            (st.queued == 0 && !st.pending.is_empty()).then(|| std::mem::take(&mut st.pending))
        };
        if let Some(c) = drained {
            self.ready_from(&q.event.id, c);
        }
        q.event
    }

    /// Merged events of one lagging outbox whose queued events were all read.
    fn collect_one(&mut self) -> bool {
        loop {
            let next = self
                .lagging
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop_front();
            let Some((id, outbox)) = next else {
                return false;
            };
            // An outbox with events still queued is collected when the last one is read.
            if let Some(c) = outbox.take_if_drained() {
                self.ready_from(&id, c);
                return true;
            }
        }
    }

    /// An event already waiting, without blocking.
    pub fn try_next(&mut self) -> Option<TaggedEvent> {
        if let Some(e) = self.ready.pop_front() {
            return Some(e);
        }
        // Lagging outboxes first: a busy channel must not starve a device held back by it.
        if self.collect_one() {
            return self.ready.pop_front();
        }
        self.rx.try_recv().ok().map(|q| self.received(q))
    }

    /// The next event; `None` once every sender is gone and nothing is left.
    pub async fn next(&mut self) -> Option<TaggedEvent> {
        if let Some(e) = self.try_next() {
            return Some(e);
        }
        // Nothing queued and nothing lagging: whatever comes next comes through the channel
        // (an outbox only fills while the channel or the device's share of it is full).
        match self.rx.recv().await {
            Some(q) => Some(self.received(q)),
            None => {
                self.collect_one();
                self.ready.pop_front()
            }
        }
    }
}
