// tuyactl bridge: the live device page. Plain JS, no build step, no external resources.
// Every text from the API goes into the page through textContent, value or setAttribute.
'use strict';

const TOKEN_KEY = 'tuyactl-token';
const $ = (id) => document.getElementById(id);

// id -> device object from the API (children too, with `parent` set to the gateway's id).
const devices = new Map();
// id -> { card, rows: Map(dp -> row view) }
const views = new Map();
// `${id}|${dp}` of commands waiting for their answer.
const pending = new Set();

let source = null;       // the EventSource
let listLoaded = false;  // events before the first list are queued, then applied in order
let queued = [];
let reconnectTimer = null;
let refetchTimer = null;
let controlSeq = 0;
let listGen = 0;         // only the latest list request is rendered

// ---- the API ---------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function token() {
  try { return localStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

async function api(path, options = {}) {
  const headers = Object.assign({ Accept: 'application/json' }, options.headers || {});
  const t = token();
  if (t) headers.Authorization = 'Bearer ' + t;
  let res;
  try {
    res = await fetch(path, Object.assign({}, options, { headers, cache: 'no-store' }));
  } catch (e) {
    throw new ApiError(0, 'the bridge cannot be reached');
  }
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  if (res.status === 401) {
    askToken(t ? 'That token was refused.' : '');
    throw new ApiError(401, (body && body.error) || 'a token is needed');
  }
  if (!res.ok) {
    const msg = body && typeof body.error === 'string' ? body.error : `HTTP ${res.status}`;
    throw new ApiError(res.status, msg);
  }
  return body;
}

const devicePath = (id) => '/api/devices/' + encodeURIComponent(id);

// ---- the token form --------------------------------------------------------------------

function askToken(why) {
  const form = $('token-form');
  $('token-error').textContent = why || '';
  if (form.hidden) {
    form.hidden = false;
    $('token').focus();
  }
  setLive('auth', 'token needed');
  stopStream();
}

$('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const t = $('token').value.trim();
  try { localStorage.setItem(TOKEN_KEY, t); } catch { /* private mode: kept for this page only */ }
  $('token-form').hidden = true;
  $('token').value = '';
  start();
});

// ---- the event stream ------------------------------------------------------------------

function setLive(state, text) {
  const el = $('live');
  el.dataset.state = state;
  el.textContent = text;
}

function showMessage(text) {
  const el = $('message');
  el.textContent = text || '';
  el.hidden = !text;
}

function stopStream() {
  if (source) source.close();
  source = null;
  clearTimeout(reconnectTimer);
}

// Opens the stream first, then fetches the list, so that no change falls between the two.
function start() {
  stopStream();
  queued = [];
  const t = token();
  const url = '/api/events' + (t ? '?token=' + encodeURIComponent(t) : '');
  setLive('connecting', 'connecting…');
  source = new EventSource(url);
  source.onmessage = (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch { return; }
    if (listLoaded) applyEvent(msg); else queued.push(msg);
  };
  let opens = 0;
  source.onopen = () => {
    setLive('live', 'live');
    // EventSource reconnected by itself after a drop: changes may have been missed meanwhile.
    if (opens++ > 0) loadList();
  };
  source.onerror = () => {
    if (!source) return;
    if (source.readyState === EventSource.CLOSED) {
      // The browser gave up (an HTTP error such as 401): find out why, then try again.
      setLive('down', 'reconnecting…');
      source = null;
      api('/api/devices').then(() => scheduleReconnect(2000), (e) => {
        if (e.status !== 401) scheduleReconnect(5000);
      });
    } else {
      setLive('down', 'reconnecting…'); // EventSource retries by itself
    }
  };
  loadList();
}

function scheduleReconnect(ms) {
  clearTimeout(reconnectTimer);
  reconnectTimer = setTimeout(start, ms);
}

// Events arriving while the list is on its way are queued and applied on top of it.
async function loadList() {
  const gen = ++listGen;
  listLoaded = false;
  let list = null;
  try {
    list = await api('/api/devices');
  } catch (e) {
    if (gen !== listGen) return;
    if (e.status !== 401) showMessage('Could not load the devices: ' + e.message);
  }
  if (gen !== listGen) return;
  if (list) {
    showMessage('');
    renderAll(Array.isArray(list) ? list : []);
  }
  listLoaded = true;
  const q = queued;
  queued = [];
  q.forEach(applyEvent);
}

function refetchSoon() {
  clearTimeout(refetchTimer);
  refetchTimer = setTimeout(loadList, 300);
}

function findDevice(id, cid) {
  if (devices.has(id)) return devices.get(id);
  if (cid) {
    for (const d of devices.values()) if (d.parent && d.cid === cid) return d;
  }
  return null;
}

function applyEvent(msg) {
  if (!msg || typeof msg.id !== 'string') return;
  const dev = findDevice(msg.id, msg.cid);
  if (!dev) { refetchSoon(); return; } // a device we do not know yet
  if (msg.type === 'dps' && msg.dps && typeof msg.dps === 'object') {
    Object.assign(dev.dps, msg.dps);
    dev.last_seen = new Date().toISOString();
    Object.keys(msg.dps).forEach((dp) => updateRow(dev, dp));
    updateMeta(dev);
  } else if (msg.type === 'online') {
    dev.online = !!msg.online;
    if ('version' in msg) dev.version = msg.version;
    if (dev.online) dev.last_seen = new Date().toISOString();
    updateMeta(dev);
    // The problem line and address may have changed with it: ask for those (not the DPs,
    // which the stream keeps current).
    api(devicePath(dev.id)).then((d) => {
      if (!d) return;
      for (const k of META) if (k in d) dev[k] = d[k];
      updateMeta(dev);
    }, () => {});
  }
}

// ---- DP kinds and values ---------------------------------------------------------------

// What control a DP gets: {kind: 'bool'|'range'|'number'|'enum'|'text'|'readonly', ...}.
function dpKind(dev, dp) {
  const m = (dev.mapping && dev.mapping[dp]) || null;
  const value = dev.dps ? dev.dps[dp] : undefined;
  const v = (m && m.values && typeof m.values === 'object') ? m.values : {};
  const type = m && typeof m.type === 'string' ? m.type.toLowerCase() : '';
  const name = m && typeof m.code === 'string' && m.code ? m.code : 'DP ' + dp;
  if (type === 'boolean' || type === 'bool') return { kind: 'bool', name };
  if (type === 'integer' || type === 'value') {
    const scale = Number.isInteger(v.scale) && v.scale > 0 && v.scale < 10 ? v.scale : 0;
    const unit = typeof v.unit === 'string' ? v.unit : '';
    const step = typeof v.step === 'number' && v.step > 0 ? v.step : 1;
    if (typeof v.min === 'number' && typeof v.max === 'number' && v.max > v.min) {
      return { kind: 'range', name, min: v.min, max: v.max, step, scale, unit };
    }
    return { kind: 'number', name, step, scale, unit };
  }
  if (type === 'enum') {
    const range = Array.isArray(v.range) ? v.range.map(String) : [];
    return { kind: 'enum', name, range };
  }
  if (type) return { kind: 'readonly', name };
  // No mapping: the value's JSON type decides.
  if (typeof value === 'boolean') return { kind: 'bool', name };
  if (typeof value === 'number') return { kind: 'number', name, step: 'any', scale: 0, unit: '' };
  if (typeof value === 'string') return { kind: 'text', name };
  return { kind: 'readonly', name };
}

function scaled(raw, k) {
  if (typeof raw !== 'number') return raw === undefined || raw === null ? '—' : String(raw);
  const n = k.scale ? (raw / 10 ** k.scale).toFixed(k.scale) : String(raw);
  if (!k.unit) return n;
  return n + (/^[%°]/.test(k.unit) ? '' : ' ') + k.unit;
}

function display(value) {
  if (value === undefined || value === null) return '—';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

// ---- rendering -------------------------------------------------------------------------

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  if (attrs) for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function renderAll(list) {
  devices.clear();
  views.clear();
  const root = $('devices');
  const cards = [];
  let n = 0;
  for (const d of list) {
    if (!d || typeof d.id !== 'string') continue;
    n += 1 + (Array.isArray(d.children) ? d.children.length : 0);
    cards.push(renderCard(d, null));
  }
  root.replaceChildren(...cards);
  $('count').textContent = n === 1 ? '1 device' : n + ' devices';
  if (!cards.length) root.append(el('p', { class: 'message' }, 'No devices in devices.json.'));
}

function renderCard(d, parent) {
  d.dps = d.dps && typeof d.dps === 'object' ? d.dps : {};
  d.mapping = d.mapping && typeof d.mapping === 'object' ? d.mapping : {};
  d.parent = parent ? parent.id : null;
  d.hasChildren = Array.isArray(d.children) && d.children.length > 0;
  devices.set(d.id, d);

  const card = el(parent ? 'section' : 'article', {
    class: parent ? 'card child' : 'card',
    'data-device-id': d.id,
    'data-cid': parent ? (d.cid || '') : null,
  });
  const head = el('header', { class: 'card-head' });
  const title = el(parent ? 'h3' : 'h2', { class: 'name' }, d.name || d.id);
  const badge = el('span', { class: 'badge' });
  head.append(title, badge);

  const meta = el('dl', { class: 'meta' });
  const item = (label, cls) => {
    const dd = el('dd', { class: cls });
    const pair = el('div');
    pair.append(el('dt', null, label), dd);
    meta.append(pair);
    return dd;
  };
  const view = { card, badge, rows: new Map() };
  if (!parent) {
    view.version = item('Protocol', 'version');
    view.ip = item('Address', 'ip');
  } else {
    view.cidText = item('Node', 'cid');
    view.cidText.textContent = d.cid || '—';
  }
  view.seen = item('Last seen', 'last-seen');
  view.problem = el('p', { class: 'problem', role: 'status' });
  view.list = el('ul', { class: 'dps' });
  card.append(head, meta, view.problem, view.list);
  views.set(d.id, view);

  renderRows(d);
  updateMeta(d);

  if (Array.isArray(d.children) && d.children.length) {
    const kids = el('div', { class: 'children', role: 'group', 'aria-label': 'Sub-devices of ' + (d.name || d.id) });
    for (const c of d.children) {
      if (c && typeof c.id === 'string') kids.append(renderCard(c, d));
    }
    card.append(kids);
  }
  delete d.children; // kept as their own entries in `devices`
  return card;
}

function dpOrder(d) {
  const keys = new Set([...Object.keys(d.mapping), ...Object.keys(d.dps)]);
  return [...keys].sort((a, b) => (Number(a) - Number(b)) || a.localeCompare(b));
}

function renderRows(d) {
  const view = views.get(d.id);
  view.rows.clear();
  const rows = dpOrder(d).map((dp) => renderRow(d, dp));
  view.list.replaceChildren(...rows);
  // A gateway often has no data points of its own: its sub-devices are the point.
  if (!rows.length && !d.hasChildren) view.list.append(el('li', { class: 'dp empty' }, 'No data points reported yet.'));
}

function renderRow(d, dp) {
  const view = views.get(d.id);
  const k = dpKind(d, dp);
  const ctlId = 'dp-' + (++controlSeq); // ids from the API may hold any character
  const who = (d.name || d.id) + ' ' + k.name;
  const row = el('li', { class: 'dp dp-' + k.kind, 'data-dp': dp });
  const label = el('label', { for: ctlId, class: 'dp-name' }, k.name);
  const status = el('span', { class: 'dp-status', 'aria-live': 'polite' });
  let control;
  let out = null;
  switch (k.kind) {
    case 'bool':
      control = el('input', { type: 'checkbox', role: 'switch', class: 'switch' });
      control.addEventListener('change', () => send(d, dp, control.checked));
      break;
    case 'range':
      control = el('input', { type: 'range', min: k.min, max: k.max, step: k.step });
      out = el('output', { for: ctlId, class: 'dp-value' });
      control.addEventListener('input', () => { out.textContent = scaled(Number(control.value), k); });
      control.addEventListener('change', () => send(d, dp, Number(control.value)));
      break;
    case 'number':
      // In display units (scale applied); sent as the raw integer.
      control = el('input', { type: 'number', step: k.scale ? 10 ** -k.scale : k.step, inputmode: 'decimal' });
      if (k.unit) out = el('span', { class: 'dp-unit' }, k.unit);
      control.addEventListener('change', () => {
        const n = Number(control.value);
        if (control.value.trim() === '' || !Number.isFinite(n)) { snapBack(d, dp); return; }
        send(d, dp, k.scale ? Math.round(n * 10 ** k.scale) : n);
      });
      break;
    case 'enum':
      control = el('select');
      control.addEventListener('change', () => send(d, dp, control.value));
      break;
    case 'text':
      control = el('input', { type: 'text', enterkeyhint: 'send' });
      control.addEventListener('change', () => send(d, dp, control.value));
      break;
    default:
      control = el('output', { class: 'dp-value readonly' });
  }
  control.id = ctlId;
  control.classList.add('control');
  control.setAttribute('aria-label', who);
  if (out && k.kind === 'range') out.setAttribute('aria-label', who + ' value');
  row.append(label);
  if (out && k.kind === 'range') row.append(out);
  if (out && k.kind === 'number') {
    const box = el('span', { class: 'dp-input' });
    box.append(control, out);
    row.append(box, status);
  } else {
    row.append(control, status);
  }
  view.rows.set(dp, { row, control, out, status, k });
  setRowValue(d, dp);
  if (pending.has(d.id + '|' + dp)) setRowState(d, dp, 'pending', 'pending…');
  return row;
}

// Shows the DP's known value on its control (not while a command on it is pending).
function setRowValue(d, dp, force = false) {
  const r = views.get(d.id)?.rows.get(dp);
  if (!r) return;
  const value = d.dps[dp];
  const { control, out, k } = r;
  switch (k.kind) {
    case 'bool':
      control.checked = value === true;
      control.indeterminate = typeof value !== 'boolean';
      break;
    case 'range':
      if (typeof value === 'number') control.value = String(value);
      out.textContent = scaled(value, k);
      break;
    case 'number':
      if (!force && document.activeElement === control) break; // being typed into
      control.value = typeof value === 'number' ? (k.scale ? (value / 10 ** k.scale).toFixed(k.scale) : String(value)) : '';
      break;
    case 'enum': {
      const opts = k.range.slice();
      const cur = value === undefined || value === null ? '' : String(value);
      if (cur && !opts.includes(cur)) opts.push(cur);
      if (control.options.length !== opts.length || [...control.options].some((o, i) => o.value !== opts[i])) {
        control.replaceChildren(...opts.map((o) => el('option', { value: o }, o)));
      }
      control.value = cur;
      break;
    }
    case 'text':
      if (force || document.activeElement !== control) control.value = value === undefined || value === null ? '' : String(value);
      break;
    default:
      control.textContent = display(value);
  }
}

function setRowState(d, dp, state, text) {
  const r = views.get(d.id)?.rows.get(dp);
  if (!r) return;
  r.row.dataset.state = state || '';
  r.status.textContent = text || '';
  r.control.setAttribute('aria-busy', state === 'pending' ? 'true' : 'false');
  if ('disabled' in r.control && r.k.kind !== 'readonly') r.control.disabled = state === 'pending';
}

function updateRow(d, dp) {
  const view = views.get(d.id);
  if (!view) return;
  const r = view.rows.get(dp);
  // A new DP, or one whose control no longer fits the value: build the rows again.
  if (!r || (!d.mapping[dp] && dpKind(d, dp).kind !== r.k.kind)) { renderRows(d); return; }
  if (!pending.has(d.id + '|' + dp)) setRowValue(d, dp);
}

function snapBack(d, dp) {
  setRowValue(d, dp, true);
}

function updateMeta(d) {
  const v = views.get(d.id);
  if (!v) return;
  v.card.dataset.online = d.online ? 'true' : 'false';
  v.badge.textContent = d.online ? 'online' : 'offline';
  v.badge.className = 'badge ' + (d.online ? 'on' : 'off');
  if (v.version) v.version.textContent = d.version ? d.version : '—';
  if (v.ip) v.ip.textContent = d.ip ? d.ip : '—';
  v.problem.textContent = d.problem ? String(d.problem) : '';
  v.problem.hidden = !d.problem;
  updateSeen(d);
}

function updateSeen(d) {
  const v = views.get(d.id);
  if (!v) return;
  const t = d.last_seen ? Date.parse(d.last_seen) : NaN;
  if (Number.isNaN(t)) {
    v.seen.textContent = 'never';
    v.seen.removeAttribute('title');
    return;
  }
  v.seen.textContent = relative(Date.now() - t);
  v.seen.title = new Date(t).toLocaleString();
}

function relative(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 5) return 'just now';
  if (s < 60) return s + ' s ago';
  const m = Math.floor(s / 60);
  if (m < 60) return m + ' min ago';
  const h = Math.floor(m / 60);
  if (h < 48) return h + ' h ago';
  return Math.floor(h / 24) + ' days ago';
}

// ---- commands --------------------------------------------------------------------------

async function send(d, dp, value) {
  const key = d.id + '|' + dp;
  pending.add(key);
  setRowState(d, dp, 'pending', 'pending…');
  try {
    const answer = await api(devicePath(d.id) + '/dps', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ [dp]: value }),
    });
    pending.delete(key);
    const cur = devices.get(d.id) || d;
    if (answer && typeof answer === 'object') {
      if (answer.dps && typeof answer.dps === 'object') Object.assign(cur.dps, answer.dps);
      for (const k of ['online', 'version', 'ip', 'last_seen', 'problem']) if (k in answer) cur[k] = answer[k];
    }
    setRowState(cur, dp, '', '');
    updateRow(cur, dp);
    setRowValue(cur, dp, true); // the acknowledged value, even in a focused input
    updateMeta(cur);
  } catch (e) {
    pending.delete(key);
    const cur = devices.get(d.id) || d;
    setRowState(cur, dp, 'error', e.message);
    snapBack(cur, dp);
  }
}

// The stream carries DPs and online changes; a device's problem line and address change
// without an event, so they are read again now and then (the DPs are left to the stream).
const META = ['problem', 'ip', 'last_seen', 'version'];
async function refreshMeta() {
  if (!listLoaded || !source || source.readyState !== EventSource.OPEN) return;
  let list;
  try { list = await api('/api/devices'); } catch { return; }
  if (!Array.isArray(list)) return;
  const seen = new Set();
  for (const d of list.flatMap((x) => [x, ...(Array.isArray(x && x.children) ? x.children : [])])) {
    const cur = d && devices.get(d.id);
    if (!cur) { refetchSoon(); return; }
    seen.add(d.id);
    for (const k of META) if (k in d) cur[k] = d[k];
    updateMeta(cur);
  }
  if (seen.size !== devices.size) refetchSoon();
}

// ---- start -----------------------------------------------------------------------------

setInterval(() => devices.forEach(updateSeen), 5000);
setInterval(refreshMeta, 20000);
start();
