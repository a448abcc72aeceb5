#!/usr/bin/env node
// TuyAPI against the harder simulated devices of interop/tinytuya/home.json: a 3.2 plug (TuyAPI
// reads 3.2 with a CONTROL carrying null DPs), a 3.3 device22 plug (TuyAPI falls back to that
// read when DP_QUERY is refused), and 3.3 / 3.4 gateways whose child is addressed by cid.
// Same control channel and output as interop.js.
'use strict';

const TuyAPI = require('tuyapi');
const c = require('./interop.js');

const byName = Object.fromEntries(c.DEVICES.map(d => [d.name, d]));

async function withDevice(d, fn) {
  const device = new TuyAPI({id: d.id, key: d.key, ip: d.ip, version: d.version, issueGetOnConnect: false});
  device.on('error', () => {});
  try {
    await c.withTimeout(device.connect(), 5000, 'connect');
    return await fn(device);
  } finally {
    await device.disconnect();
    await c.sleep(300);
  }
}

async function plainCases(name) {
  const d = byName[name];
  await c.runCase(`${name}-status-${d.version}`, () => withDevice(d, async device => {
    const want = await c.simStatus(d.id);
    // TuyAPI names the DPs it wants read this way; ask for DP 2.
    const v = await c.withTimeout(device.get({dps: 2}), 8000, 'get');
    c.assertEq(v, want['2'], 'DP 2 read by TuyAPI');
  }));
  await c.runCase(`${name}-set-${d.version}`, () => withDevice(d, async device => {
    const want = ((await c.simStatus(d.id))['2'] + 7) % 100;
    const reply = await c.withTimeout(device.set({dps: 2, set: want}), 5000, 'set');
    c.assertEq(reply && reply.dps && reply.dps['2'], want, 'pushed reply to set');
    c.assertEq((await c.simStatus(d.id))['2'], want, 'simulator DP 2');
  }));
}

async function gatewayCases(gwName, childName) {
  const gw = byName[gwName];
  const child = byName[childName];
  const cid = child.node_id;
  const childState = async () => c.simStatus(`${gw.id} ${cid}`);
  await c.runCase(`${gwName}-child-status-${gw.version}`, () => withDevice(gw, async device => {
    const st = await c.withTimeout(device.get({cid, schema: true}), 5000, 'get child');
    c.assertEq(st && st.dps, await childState(), 'child DPs read by TuyAPI');
  }));
  await c.runCase(`${gwName}-child-set-${gw.version}`, () => withDevice(gw, async device => {
    const want = !(await childState())['2'];
    const reply = await c.withTimeout(device.set({cid, dps: 2, set: want}), 5000, 'set child');
    c.assertEq(reply && reply.dps && reply.dps['2'], want, 'pushed reply to the child set');
    c.assertEq((await childState())['2'], want, 'simulator child DP 2');
  }));
  await c.runCase(`${gwName}-child-push-${gw.version}`, () => withDevice(gw, async device => {
    const want = (await childState())['1'] + 3;
    let got;
    const seen = data => {
      const cidOf = data && (data.cid || (data.data && data.data.cid));
      const dps = data && (data.dps || (data.data && data.data.dps));
      if (cidOf === cid && dps && '1' in dps) got = dps['1'];
    };
    device.on('data', seen);
    device.on('dp-refresh', seen);
    await c.sim(`child ${gw.id} ${cid} 1=${want}`);
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && got === undefined) await c.sleep(20);
    c.assertEq(got, want, 'child DP 1 pushed with its cid');
  }));
}

async function main() {
  for (const d of c.DEVICES) {
    if (d.ip && !d.ip.startsWith('127.')) throw new Error('interop traffic must stay on loopback');
  }
  await plainCases('plug32');
  await plainCases('device22');
  await gatewayCases('gateway34', 'sensor34');
  await gatewayCases('gateway33', 'sensor33');
  c.finish();
}

main().catch(c.crashed);
