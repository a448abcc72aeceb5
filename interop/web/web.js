#!/usr/bin/env node
// The bridge's web page in headless Chromium, against `tuyactl bridge --http` and `tuyactl sim`
// (interop/web/home.json). Run by interop/run-web-browser.sh, which starts the simulator and
// sets: TUYACTL, CHROMIUM, PORT, SIM_DEVICES (its devices.json), SIM_CTL (FIFO of its control
// channel), SIM_OUT (its answers), ARTIFACTS, BRIDGE_PID_FILE, BRIDGE_LOG, and SCREENSHOT_COPY
// (where to copy the desktop screenshot, if set).
// This script starts the bridge (and restarts it: stream reconnection, the token form).
// Prints PASS/FAIL per check, then "N passed, M failed".
'use strict';

const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const { chromium } = require('playwright-core');
const { sleep, withTimeout, simCommand } = require('../lib/common.js');

const env = (k) => {
  if (!process.env[k]) throw new Error(`${k} is not set: run interop/run-web-browser.sh`);
  return process.env[k];
};
const PORT = Number(env('PORT'));
const BASE = `http://127.0.0.1:${PORT}`;
const DEVICES = JSON.parse(fs.readFileSync(env('SIM_DEVICES'), 'utf8'));
const ARTIFACTS = env('ARTIFACTS');
const TOKEN = 'web-test-token-5f2c';

const byName = Object.fromEntries(DEVICES.map((d) => [d.name, d]));
const PLUG = byName['Kettle plug'];
const LAMP = byName['Desk lamp'];
const THERMO = byName['Thermostat'];
const GW = byName['Zigbee gateway'];
const HALL = byName['Hall sensor'];
const DOOR = byName['Door & window <contact>'];

// What the page must show for the Integer DPs of the home (scale and unit applied).
const SCALED = {
  [`${PLUG.id}/9`]: (v) => `${v} s`,
  [`${PLUG.id}/19`]: (v) => `${(v / 10).toFixed(1)} W`,
  [`${LAMP.id}/22`]: (v) => `${(v / 10).toFixed(1)}%`,
  [`${THERMO.id}/2`]: (v) => `${(v / 10).toFixed(1)}°C`,
  [`${THERMO.id}/3`]: (v) => `${(v / 10).toFixed(1)}°C`,
};

const stats = { passed: 0, failed: 0 };

async function runCase(name, fn) {
  try {
    await withTimeout(fn(), 60000, name);
    console.log(`PASS ${name}`);
    stats.passed++;
  } catch (e) {
    console.log(`FAIL ${name}: ${String((e && e.message) || e).split('\n').slice(0, 6).join(' | ')}`);
    stats.failed++;
  }
}

function assert(cond, what) {
  if (!cond) throw new Error(what);
}
function assertEq(got, want, what) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  if (g !== w) throw new Error(`${what}: got ${g}, want ${w}`);
}

// Polls `fn` (async, returning a truthy value when done) for up to `ms`; the last error or
// value explains a timeout.
async function eventually(fn, ms, what) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = 'not yet';
    } catch (e) {
      last = e.message;
    }
    if (Date.now() > deadline) throw new Error(`${what} (within ${ms} ms): ${last}`);
    await sleep(100);
  }
}

// ---- the simulator's control channel ---------------------------------------------------

const sim = (cmd) => simCommand(env('SIM_CTL'), env('SIM_OUT'), cmd);
const simStatus = async (d) => JSON.parse(await sim(d.sub ? `status ${d.parent} ${d.node_id}` : `status ${d.id}`));

// ---- the bridge ------------------------------------------------------------------------

let bridge = null;

// Starts the bridge (with the API token `token`, given in its environment, if set) and waits
// until it answers.
async function startBridge(token = null) {
  const log = fs.openSync(env('BRIDGE_LOG'), 'a');
  fs.writeSync(log, `\n=== tuyactl bridge${token ? ' (with a token)' : ''} ${new Date().toISOString()}\n`);
  const args = ['bridge', '--devices', env('SIM_DEVICES'), '--http', `127.0.0.1:${PORT}`, '--no-announcements'];
  const childEnv = { ...process.env };
  delete childEnv.TUYACTL_HTTP_TOKEN;
  if (token) childEnv.TUYACTL_HTTP_TOKEN = token;
  const child = spawn(env('TUYACTL'), args, { stdio: ['ignore', log, log], env: childEnv });
  fs.closeSync(log);
  const exited = new Promise((r) => child.once('exit', (code, sig) => r({ code, sig })));
  bridge = { child, exited };
  fs.writeFileSync(env('BRIDGE_PID_FILE'), String(child.pid));
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  await eventually(async () => {
    const r = await Promise.race([exited.then((e) => ({ exited: e })), fetch(`${BASE}/api/devices`, { headers })]);
    if (r.exited) throw new Error(`the bridge exited (${JSON.stringify(r.exited)}); see ${env('BRIDGE_LOG')}`);
    return r.ok;
  }, 20000, 'the bridge answers /api/devices');
}

// Stops the bridge with SIGTERM; returns how long it took, or throws after SIGKILL at 8 s.
async function stopBridge() {
  if (!bridge) return 0;
  const { child, exited } = bridge;
  bridge = null;
  const t0 = Date.now();
  child.kill('SIGTERM');
  const r = await Promise.race([exited, sleep(8000).then(() => null)]);
  fs.rmSync(env('BRIDGE_PID_FILE'), { force: true });
  if (!r) {
    child.kill('SIGKILL');
    await exited;
    throw new Error('the bridge did not stop within 8 s of SIGTERM (killed)');
  }
  return Date.now() - t0;
}

// ---- the page --------------------------------------------------------------------------

const card = (d) => (d.sub
  ? `section.card[data-device-id="${d.id}"][data-cid="${d.node_id}"]`
  : `article.card[data-device-id="${d.id}"]`);
const row = (d, dp) => `${card(d)} > .dps > li[data-dp="${dp}"]`;

// Everything a card shows, read from the DOM.
async function readCard(page, d) {
  return page.evaluate((sel) => {
    const c = document.querySelector(sel);
    if (!c) return null;
    const pick = (s) => c.querySelector(`:scope > ${s}`);
    const rows = {};
    for (const li of c.querySelectorAll(':scope > .dps > li[data-dp]')) {
      const ctl = li.querySelector('.control');
      let value;
      if (ctl.type === 'checkbox') value = ctl.checked;
      else if (ctl.tagName === 'OUTPUT') value = ctl.textContent;
      else value = ctl.value;
      rows[li.dataset.dp] = {
        name: li.querySelector('.dp-name').textContent,
        kind: [...li.classList].find((k) => k.startsWith('dp-')).slice(3),
        value,
        shown: li.querySelector('output.dp-value') ? li.querySelector('output.dp-value').textContent : null,
        state: li.dataset.state || '',
        status: li.querySelector('.dp-status').textContent,
        label: ctl.getAttribute('aria-label'),
        disabled: !!ctl.disabled,
      };
    }
    return {
      name: pick('.card-head .name').textContent,
      nameHasElements: pick('.card-head .name').children.length > 0,
      online: c.dataset.online,
      badge: pick('.card-head .badge').textContent,
      version: pick('.meta .version') ? pick('.meta .version').textContent : null,
      ip: pick('.meta .ip') ? pick('.meta .ip').textContent : null,
      seen: pick('.meta .last-seen').textContent,
      problem: pick('.problem').hidden ? null : pick('.problem').textContent,
      rows,
    };
  }, card(d));
}

// Does the card show these DP values (from the simulator) the way the page should?
function checkShown(d, shown, want) {
  const mapping = d.mapping || {};
  for (const [dp, v] of Object.entries(want)) {
    const r = shown.rows[dp];
    assert(r, `${d.name}: no row for DP ${dp}`);
    const m = mapping[dp];
    assertEq(r.name, m ? m.code : `DP ${dp}`, `${d.name} DP ${dp} name`);
    assert(r.label && r.label.includes(d.name), `${d.name} DP ${dp}: its control's label ${JSON.stringify(r.label)} names the device`);
    if (typeof v === 'boolean') {
      assertEq(r.kind, 'bool', `${d.name} DP ${dp} control`);
      assertEq(r.value, v, `${d.name} DP ${dp}`);
    } else if (typeof v === 'number') {
      assertEq(r.kind, m ? 'range' : 'number', `${d.name} DP ${dp} control`);
      assertEq(Number(r.value), v, `${d.name} DP ${dp}`);
      const fmt = SCALED[`${d.id}/${dp}`];
      if (fmt) assertEq(r.shown, fmt(v), `${d.name} DP ${dp} shown scaled with its unit`);
    } else {
      assertEq(r.kind, m && m.type === 'Enum' ? 'enum' : 'text', `${d.name} DP ${dp} control`);
      assertEq(r.value, v, `${d.name} DP ${dp}`);
    }
  }
  return true;
}

// Waits until the card shows the simulator's state (and `extra` holds).
async function waitShown(page, d, ms = 10000, extra = () => true) {
  let want;
  return eventually(async () => {
    want = await simStatus(d);
    const shown = await readCard(page, d);
    assert(shown, `no card for ${d.name}`);
    return checkShown(d, shown, want) && extra(shown);
  }, ms, `${d.name} shows the simulator's state`);
}

// Records every data-state a DP row goes through (to see "pending" however short it is).
async function watchStates(page, d, dp) {
  await page.evaluate((sel) => {
    window.__states = [];
    const li = document.querySelector(sel);
    new MutationObserver(() => window.__states.push(li.dataset.state || ''))
      .observe(li, { attributes: true, attributeFilter: ['data-state'] });
  }, row(d, dp));
}
const statesSeen = (page) => page.evaluate(() => window.__states);

async function posted(page, d, fn) {
  const bodies = [];
  const on = (req) => {
    if (req.method() === 'POST' && req.url() === `${BASE}/api/devices/${encodeURIComponent(d.id)}/dps`) bodies.push(req.postDataJSON());
  };
  page.on('request', on);
  try {
    await fn();
  } finally {
    page.off('request', on);
  }
  return bodies;
}

// ---- the checks ------------------------------------------------------------------------

async function main() {
  for (const d of DEVICES) {
    if (d.ip && !d.ip.startsWith('127.')) throw new Error('the test home must stay on loopback');
  }
  assert(PLUG && LAMP && THERMO && GW && HALL && DOOR, 'interop/web/home.json: a device is missing');
  fs.rmSync(env('BRIDGE_LOG'), { force: true });

  const browser = await chromium.launch({
    executablePath: env('CHROMIUM'),
    headless: true,
    timeout: 30000,
    // Nothing but the bridge on loopback: every other name fails to resolve.
    args: ['--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1', '--no-proxy-server',
      '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  const outside = [];
  const problems = [];
  const newPage = async (viewport) => {
    const ctx = await browser.newContext({ viewport, deviceScaleFactor: 1 });
    await ctx.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith(`${BASE}/`) || url.startsWith('data:')) return route.continue();
      outside.push(url);
      return route.abort();
    });
    const page = await ctx.newPage();
    page.setDefaultTimeout(10000);
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      // Failed requests while the bridge is down or refusing a token are expected.
      if (m.type() === 'error' && !/Failed to load resource|ERR_CONNECTION_REFUSED|EventSource/.test(m.text())) {
        problems.push(`console: ${m.text()}`);
      }
    });
    return page;
  };

  try {
    await runCase('bridge-starts', () => startBridge());

    await runCase('assets-served', async () => {
      for (const [p, ty] of [['/', 'text/html'], ['/app.js', 'text/javascript'], ['/style.css', 'text/css']]) {
        const r = await fetch(BASE + p);
        assertEq(r.status, 200, `GET ${p}`);
        assert((r.headers.get('content-type') || '').startsWith(ty), `GET ${p}: content type ${r.headers.get('content-type')}`);
      }
      const list = await (await fetch(`${BASE}/api/devices`)).json();
      assert(!JSON.stringify(list).includes(PLUG.key), 'a local key in /api/devices');
    });

    const page = await newPage({ width: 1280, height: 900 });
    await page.goto(BASE + '/');
    await page.evaluate(() => { window.__sameDocument = true; });

    await runCase('every-device-shown', async () => {
      for (const d of DEVICES) {
        await waitShown(page, d, 20000, (s) => s.online === 'true' && s.badge === 'online');
        const s = await readCard(page, d);
        assertEq(s.name, d.name, 'name');
        if (!d.sub) {
          assertEq(s.version, d.version, `${d.name} protocol version`);
          assertEq(s.ip, d.ip, `${d.name} address`);
        }
        assert(s.seen && s.seen !== 'never', `${d.name} last seen: ${s.seen}`);
        assertEq(s.problem, null, `${d.name} problem line`);
      }
      // Sub-devices sit inside their gateway's card; no other card is shown.
      const nested = await page.locator(`${card(GW)} > .children > section.card`).count();
      assertEq(nested, 2, 'sub-device cards inside the gateway card');
      assertEq(await page.locator('.card').count(), DEVICES.length, 'cards in all');
      assertEq(await page.textContent('#count'), `${DEVICES.length} devices`, 'device count');
    });

    await runCase('names-escaped', async () => {
      const s = await readCard(page, DOOR);
      assertEq(s.name, DOOR.name, 'name shown as text');
      assert(!s.nameHasElements, 'markup in a name became elements');
    });

    await runCase('toggle-switches-device', async () => {
      const before = (await simStatus(LAMP))['20'];
      // Off and on again (or the other way round).
      for (const want of [!before, before]) {
        await watchStates(page, LAMP, 20);
        const bodies = await posted(page, LAMP, async () => {
          await page.click(`${row(LAMP, 20)} input[role="switch"]`);
          await waitShown(page, LAMP, 10000, (s) => s.rows['20'].value === want && s.rows['20'].state === '');
        });
        assertEq(bodies, [{ 20: want }], 'POST bodies');
        assertEq((await simStatus(LAMP))['20'], want, 'simulator DP 20');
        const states = await statesSeen(page);
        assert(states.includes('pending'), `the control never showed pending: ${JSON.stringify(states)}`);
      }
    });

    await runCase('toggle-sub-device', async () => {
      const before = (await simStatus(HALL))['2'];
      const bodies = await posted(page, HALL, async () => {
        await page.click(`${row(HALL, 2)} input[role="switch"]`);
        await waitShown(page, HALL, 10000, (s) => s.rows['2'].value === !before && s.rows['2'].state === '');
      });
      assertEq(bodies, [{ 2: !before }], 'POST bodies');
      assertEq((await simStatus(HALL))['2'], !before, 'simulator child DP 2');
    });

    await runCase('slider-sends-raw-value', async () => {
      const slider = page.locator(`${row(THERMO, 2)} input[type="range"]`);
      assertEq([await slider.getAttribute('min'), await slider.getAttribute('max'), await slider.getAttribute('step')],
        ['50', '350', '5'], 'slider min/max/step from the mapping');
      const want = (await simStatus(THERMO))['2'] === 240 ? 245 : 240;
      const bodies = await posted(page, THERMO, async () => {
        await slider.fill(String(want)); // input, then change: as a released drag
        await waitShown(page, THERMO, 10000, (s) => s.rows['2'].state === '' && Number(s.rows['2'].value) === want);
      });
      assertEq(bodies, [{ 2: want }], 'POST bodies (raw units)');
      assertEq((await readCard(page, THERMO)).rows['2'].shown, SCALED[`${THERMO.id}/2`](want), 'scaled value shown');
      assertEq((await simStatus(THERMO))['2'], want, 'simulator DP 2');
    });

    await runCase('enum-select', async () => {
      const want = (await simStatus(LAMP))['21'] === 'scene' ? 'colour' : 'scene';
      await page.selectOption(`${row(LAMP, 21)} select`, want);
      await waitShown(page, LAMP, 10000, (s) => s.rows['21'].value === want && s.rows['21'].state === '');
      assertEq((await simStatus(LAMP))['21'], want, 'simulator DP 21');
    });

    await runCase('number-and-text-inputs', async () => {
      // Sub-devices without a mapping: the control follows the value's JSON type.
      await page.fill(`${row(HALL, 1)} input[type="number"]`, '241');
      await page.press(`${row(HALL, 1)} input[type="number"]`, 'Enter');
      await page.fill(`${row(DOOR, 3)} input[type="text"]`, 'tamper');
      await page.press(`${row(DOOR, 3)} input[type="text"]`, 'Enter');
      await eventually(async () => (await simStatus(HALL))['1'] === 241, 10000, 'simulator child DP 1 = 241');
      await eventually(async () => (await simStatus(DOOR))['3'] === 'tamper', 10000, 'simulator child DP 3 = "tamper"');
      await waitShown(page, HALL, 10000, (s) => s.rows['1'].state === '');
      await waitShown(page, DOOR, 10000, (s) => s.rows['3'].state === '');
    });

    await runCase('physical-change-appears-live', async () => {
      await sim(`set ${LAMP.id} 22=730`);
      await sim(`child ${GW.id} ${HALL.node_id} 1=230`);
      await sim(`child ${GW.id} ${DOOR.node_id} 3=normal`);
      await waitShown(page, LAMP, 10000, (s) => s.rows['22'].value === '730');
      await waitShown(page, HALL, 10000, (s) => s.rows['1'].value === '230');
      await waitShown(page, DOOR, 10000, (s) => s.rows['3'].value === 'normal');
      assert(await page.evaluate(() => window.__sameDocument === true), 'the page was reloaded');
    });

    await page.evaluate(() => { document.activeElement.blur(); window.scrollTo(0, 0); });
    await page.screenshot({ path: path.join(ARTIFACTS, 'page.png'), fullPage: true });

    await runCase('device-goes-offline', async () => {
      await sim(`offline ${THERMO.id}`);
      await eventually(async () => {
        const s = await readCard(page, THERMO);
        return s.online === 'false' && s.badge === 'offline';
      }, 30000, 'Thermostat shown offline');
      // Other devices stay online.
      assertEq((await readCard(page, LAMP)).online, 'true', 'Desk lamp online');
    });

    await runCase('command-error-snaps-back', async () => {
      const sel = `${row(THERMO, 1)} input[role="switch"]`;
      const before = await page.isChecked(sel);
      await page.click(sel);
      const s = await eventually(async () => {
        const c = await readCard(page, THERMO);
        return c.rows['1'].state === 'error' && c;
      }, 30000, 'the command for an offline device fails on the page');
      assert(s.rows['1'].status.length > 0, 'no error text');
      assertEq(s.rows['1'].value, before, 'the toggle snapped back');
      console.log(`  (the error shown: ${JSON.stringify(s.rows['1'].status)})`);
    });

    await runCase('device-back-online', async () => {
      await sim(`set ${THERMO.id} 3=205`); // changed while away
      await sim(`online ${THERMO.id}`);
      await waitShown(page, THERMO, 45000, (s) => s.online === 'true' && s.rows['3'].value === '205');
      assert(await page.evaluate(() => window.__sameDocument === true), 'the page was reloaded');
    });

    await runCase('problem-line', async () => {
      // Re-paired: the device now has another local key, so it refuses the bridge's.
      await sim(`rekey ${THERMO.id} Zq4Rw8Ty2Ux6Iv0P`);
      const s = await eventually(async () => {
        const c = await readCard(page, THERMO);
        return c.online === 'false' && c.problem && c;
      }, 45000, 'Thermostat shows offline with a problem line');
      console.log(`  (the problem shown: ${JSON.stringify(s.problem)})`);
      assert(!s.problem.includes(THERMO.key) && !s.problem.includes('Zq4Rw8Ty2Ux6Iv0P'), 'a key in the problem line');
      await sim(`rekey ${THERMO.id} ${THERMO.key}`); // paired back with the key devices.json has
      await waitShown(page, THERMO, 45000, (c) => c.online === 'true' && c.problem === null);
    });

    await runCase('stream-reconnects-and-refetches', async () => {
      const ms = await stopBridge();
      console.log(`  (the bridge stopped ${ms} ms after SIGTERM)`);
      await eventually(async () => (await page.getAttribute('#live', 'data-state')) !== 'live', 10000, 'the page notices the bridge is gone');
      const want = !(await simStatus(PLUG))['1'];
      await sim(`set ${PLUG.id} 1=${want}`); // while nobody listens
      await startBridge();
      await eventually(async () => (await page.getAttribute('#live', 'data-state')) === 'live', 20000, 'the stream is live again');
      await waitShown(page, PLUG, 20000, (s) => s.rows['1'].value === want && s.online === 'true');
      assert(await page.evaluate(() => window.__sameDocument === true), 'the page was reloaded');
    });

    await runCase('token-form', async () => {
      await stopBridge();
      await startBridge(TOKEN);
      assertEq((await fetch(`${BASE}/api/devices`)).status, 401, 'GET /api/devices without the token');
      await page.locator('#token-form').waitFor({ state: 'visible', timeout: 20000 });
      await page.fill('#token', 'not-the-token');
      await page.click('#token-form button[type="submit"]');
      await eventually(async () => (await page.isVisible('#token-form')) && (await page.textContent('#token-error')).length > 0,
        10000, 'a wrong token is refused');
      await page.fill('#token', TOKEN);
      await page.click('#token-form button[type="submit"]');
      await eventually(async () => (await page.getAttribute('#live', 'data-state')) === 'live', 20000, 'live with the token');
      assert(!(await page.isVisible('#token-form')), 'the form is still shown');
      await sim(`set ${LAMP.id} 22=420`);
      await waitShown(page, LAMP, 20000, (s) => s.rows['22'].value === '420' && s.online === 'true');
      // Kept in localStorage: a reload does not ask again.
      await page.reload();
      await page.locator(card(LAMP)).waitFor();
      await eventually(async () => (await page.getAttribute('#live', 'data-state')) === 'live', 10000, 'live after a reload');
      assert(!(await page.isVisible('#token-form')), 'the form is shown again after a reload');
      await waitShown(page, LAMP, 10000);
    });

    await runCase('phone-layout', async () => {
      const phone = await newPage({ width: 390, height: 844 });
      await phone.addInitScript((t) => localStorage.setItem('tuyactl-token', t), TOKEN);
      await phone.goto(BASE + '/');
      await waitShown(phone, GW, 20000, (s) => s.online === 'true');
      const m = await phone.evaluate(() => {
        const cards = [...document.querySelectorAll('article.card')].map((c) => c.getBoundingClientRect());
        const targets = [...document.querySelectorAll('.control:not(output)')].map((c) => c.getBoundingClientRect());
        return {
          scrollWidth: document.documentElement.scrollWidth,
          width: window.innerWidth,
          lefts: [...new Set(cards.map((r) => Math.round(r.left)))],
          widest: Math.max(...cards.map((r) => r.right)),
          smallest: Math.min(...targets.map((r) => r.height)),
        };
      });
      assert(m.scrollWidth <= m.width, `horizontal scroll: ${m.scrollWidth} > ${m.width}`);
      assertEq(m.lefts.length, 1, `one column of cards (lefts ${JSON.stringify(m.lefts)})`);
      assert(m.widest <= m.width, `a card reaches ${m.widest} px`);
      assert(m.smallest >= 32, `a control is ${m.smallest} px high`);
      await phone.evaluate(() => window.scrollTo(0, 0));
      await phone.screenshot({ path: path.join(ARTIFACTS, 'page-phone.png'), fullPage: true });
      await phone.context().close();
    });

    await runCase('no-script-errors', async () => {
      assertEq(problems, [], 'errors in the page');
    });
    await runCase('nothing-loaded-from-outside', async () => {
      assertEq(outside, [], 'requests outside the bridge');
    });

    await runCase('bridge-stops-cleanly', async () => {
      const ms = await stopBridge(); // with the page's stream still open
      console.log(`  (stopped ${ms} ms after SIGTERM)`);
    });
  } finally {
    await browser.close().catch(() => {});
    if (bridge) await stopBridge().catch(() => {});
  }

  if (process.env.SCREENSHOT_COPY && fs.existsSync(path.join(ARTIFACTS, 'page.png'))) {
    fs.mkdirSync(path.dirname(process.env.SCREENSHOT_COPY), { recursive: true });
    fs.copyFileSync(path.join(ARTIFACTS, 'page.png'), process.env.SCREENSHOT_COPY);
  }
}

main()
  .catch((e) => {
    console.log(`FAIL web-suite: ${e && e.stack ? e.stack.split('\n').slice(0, 4).join(' | ') : e}`);
    stats.failed++;
  })
  .finally(() => {
    if (bridge) bridge.child.kill('SIGKILL');
    console.log(`${stats.passed} passed, ${stats.failed} failed`);
    process.exitCode = stats.failed ? 1 : 0;
  });
