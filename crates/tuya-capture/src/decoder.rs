//! The capture decoder: packets in, [`Record`]s out, with a bounded table of open connections.

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;

use tuya_proto::discovery::{self, DatagramKind, PORT_DEVINFO, PORT_ENCRYPTED, PORT_PLAIN};
use tuya_proto::Version;

use crate::flow::{Flow, Out, DEVICE_PORT};
use crate::keys::KeyStore;
use crate::link::{self, Transport, UdpDatagram};
use crate::reader::{Packet, PacketReader, Timestamp};
use crate::record::{DeviceRef, Direction, Event, Problem, Record};
use crate::summary::Summary;
use crate::CaptureError;

/// Connections tracked at once; beyond it the least recently active one is closed.
pub const MAX_FLOWS: usize = 1024;

type FlowKey = (SocketAddr, SocketAddr);

fn flow_key(a: SocketAddr, b: SocketAddr) -> FlowKey {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// Turns captured packets into records. Feed packets with [`CaptureDecoder::packet`], then call
/// [`CaptureDecoder::finish`].
pub struct CaptureDecoder {
    keys: KeyStore,
    flows: HashMap<FlowKey, Flow>,
    summary: Summary,
    clock: u64,
    last_time: Timestamp,
    ports: Vec<u16>,
}

impl std::fmt::Debug for CaptureDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureDecoder")
            .field("flows", &self.flows.len())
            .finish()
    }
}

impl CaptureDecoder {
    /// A decoder that uses `keys` for the devices it meets.
    pub fn new(keys: KeyStore) -> Self {
        Self {
            keys,
            flows: HashMap::new(),
            summary: Summary::default(),
            clock: 0,
            last_time: Timestamp::default(),
            ports: vec![DEVICE_PORT],
        }
    }

    /// TCP ports that mark the device side (default: 6668). Connections on other ports are
    /// skipped, so a capture of a whole LAN costs little; an empty list follows every TCP
    /// connection, taking the sender of the first SYN as the app.
    pub fn with_device_ports(mut self, ports: Vec<u16>) -> Self {
        self.ports = ports;
        self
    }

    /// Connections currently open.
    pub fn open_flows(&self) -> usize {
        self.flows.len()
    }

    /// Decodes one packet.
    pub fn packet(&mut self, p: &Packet, emit: &mut dyn FnMut(Record)) {
        self.summary.packets += 1;
        self.clock += 1;
        self.last_time = p.time;
        match link::parse(p.link, &p.data) {
            Some(Transport::Tcp(t)) => {
                let key = flow_key(t.src, t.dst);
                let wanted = self.ports.is_empty()
                    || self.ports.contains(&t.src.port())
                    || self.ports.contains(&t.dst.port());
                if !wanted {
                    self.summary.skipped_packets += 1;
                    return;
                }
                if t.syn && !t.ack && self.flows.contains_key(&key) {
                    // A new connection on the same addresses and ports: the old one ended
                    // without a FIN in the capture.
                    self.close_flow(key, emit);
                }
                if !self.flows.contains_key(&key) {
                    if t.rst || (t.payload.is_empty() && !t.syn) {
                        // Nothing to decode from a bare ACK/FIN/RST of an unknown connection.
                        return;
                    }
                    self.make_room(emit);
                    self.summary.tcp_flows += 1;
                    let flow = Flow::new(t.src, t.dst, t.syn && !t.ack, &self.ports);
                    self.flows.insert(key, flow);
                }
                let mut out = Vec::new();
                let flow = self.flows.get_mut(&key).expect("inserted above");
                flow.last_active = self.clock;
                flow.segment(
                    &self.keys,
                    t.src,
                    t.seq,
                    t.syn,
                    t.fin,
                    t.payload,
                    t.truncated,
                    &mut out,
                );
                if t.rst {
                    flow.close(&self.keys, &mut out);
                }
                let (client, device) = (flow.client, flow.device_addr);
                let done = flow.closed();
                self.emit_all(p.time, client, device, out, emit);
                if done {
                    if let Some(f) = self.flows.remove(&key) {
                        self.summary.retransmitted_segments += f.retransmitted();
                    }
                }
            }
            Some(Transport::Udp(u)) => {
                if is_discovery(&u) {
                    self.datagram(p.time, &u, emit);
                } else {
                    self.summary.skipped_packets += 1;
                }
            }
            None => self.summary.skipped_packets += 1,
        }
    }

    /// Closes every open connection (reporting partial frames) and returns the totals.
    pub fn finish(&mut self, emit: &mut dyn FnMut(Record)) -> Summary {
        let mut keys: Vec<FlowKey> = self.flows.keys().copied().collect();
        keys.sort_by_key(|k| self.flows[k].last_active);
        for k in keys {
            self.close_flow(k, emit);
        }
        std::mem::take(&mut self.summary)
    }

    /// Marks the capture as cut short in the summary.
    pub fn note_file_truncated(&mut self) {
        self.summary.file_truncated = true;
    }

    fn make_room(&mut self, emit: &mut dyn FnMut(Record)) {
        if self.flows.len() < MAX_FLOWS {
            return;
        }
        if let Some(k) = self
            .flows
            .iter()
            .min_by_key(|(_, f)| f.last_active)
            .map(|(k, _)| *k)
        {
            self.summary.evicted_flows += 1;
            self.close_flow(k, emit);
        }
    }

    fn close_flow(&mut self, k: FlowKey, emit: &mut dyn FnMut(Record)) {
        if let Some(mut f) = self.flows.remove(&k) {
            let mut out = Vec::new();
            f.close(&self.keys, &mut out);
            self.summary.retransmitted_segments += f.retransmitted();
            self.emit_all(self.last_time, f.client, f.device_addr, out, emit);
        }
    }

    fn emit_all(
        &mut self,
        time: Timestamp,
        client: SocketAddr,
        device: SocketAddr,
        out: Vec<Out>,
        emit: &mut dyn FnMut(Record),
    ) {
        for o in out {
            let (src, dst) = match o.direction {
                Direction::ClientToDevice => (client, device),
                _ => (device, client),
            };
            let r = Record {
                time,
                src,
                dst,
                direction: o.direction,
                device: o.device.map(|i| self.device_ref(i)),
                version: o.version,
                bytes: o.bytes,
                event: o.event,
            };
            self.summary.add(&r);
            emit(r);
        }
    }

    fn device_ref(&self, i: usize) -> DeviceRef {
        let d = &self.keys.devices()[i];
        DeviceRef {
            name: d.name.clone(),
            id: d.id.clone(),
        }
    }

    fn datagram(&mut self, time: Timestamp, u: &UdpDatagram<'_>, emit: &mut dyn FnMut(Record)) {
        let (device, version, event) = match discovery::decode(u.payload) {
            Ok(d) => {
                let ann = d.announcement();
                let by_id = ann.as_ref().and_then(|a| self.keys.by_id(&a.gw_id));
                let device =
                    by_id.or_else(|| ann.is_some().then(|| self.keys.by_ip(u.src.ip())).flatten());
                let version = ann
                    .as_ref()
                    .and_then(|a| a.protocol_version())
                    .or((d.kind == DatagramKind::Gcm).then_some(Version::V35));
                let device = device.map(|i| self.device_ref(i)).or_else(|| {
                    ann.map(|a| DeviceRef {
                        name: String::new(),
                        id: a.gw_id,
                    })
                });
                (device, version, Event::Discovery(d))
            }
            Err(e) => (None, None, Event::Failed(Problem::Proto(e))),
        };
        let r = Record {
            time,
            src: u.src,
            dst: u.dst,
            direction: Direction::Udp,
            device,
            version,
            bytes: u.payload.to_vec(),
            event,
        };
        self.summary.add(&r);
        emit(r);
    }
}

fn is_discovery(u: &UdpDatagram<'_>) -> bool {
    [PORT_PLAIN, PORT_ENCRYPTED, PORT_DEVINFO]
        .iter()
        .any(|p| u.src.port() == *p || u.dst.port() == *p)
}

/// Reads a whole capture from `input` and decodes it, calling `emit` for each record in order.
/// Memory is bounded by the open connections, not the file size.
pub fn decode_capture<R: Read + Send>(
    input: R,
    keys: KeyStore,
    emit: impl FnMut(Record),
) -> Result<Summary, CaptureError> {
    decode_with(input, CaptureDecoder::new(keys), emit)
}

/// [`decode_capture`] with a configured decoder (e.g. other device ports).
pub fn decode_with<R: Read + Send>(
    input: R,
    mut dec: CaptureDecoder,
    mut emit: impl FnMut(Record),
) -> Result<Summary, CaptureError> {
    let mut reader = PacketReader::new(input)?;
    loop {
        match reader.next_packet() {
            Ok(Some(p)) => dec.packet(&p, &mut emit),
            Ok(None) => break,
            Err(e) => {
                dec.summary.read_error = Some(e.to_string());
                break;
            }
        }
    }
    if reader.ended_mid_block() {
        dec.note_file_truncated();
    }
    Ok(dec.finish(&mut emit))
}
