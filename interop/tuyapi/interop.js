#!/usr/bin/env node
// Drives `tuyactl sim` with TuyAPI (an implementation we did not write).
//
// For every device in $SIM_DEVICES (tinytuya devices.json written by the simulator): read
// status, set a DP and see it applied in the simulator, receive a change pushed through the
// simulator's control channel, and keep the connection alive across heartbeats for longer than
// the device's silence timeout ($SIM_HEARTBEAT_TIMEOUT seconds).
//
// ip, id, key and version are always passed, so TuyAPI never calls find() (which listens for
// UDP broadcasts); all traffic stays on 127.0.0.0/8. The control channel: lines written to the
// FIFO $SIM_CTL, answers appended to $SIM_OUT. Prints PASS/FAIL per case, then
// "N passed, M failed".
'use strict';

const fs = require('fs');
const TuyAPI = require('tuyapi');
const { sleep, withTimeout, simCommand } = require('../lib/common.js');

const DEVICES = JSON.parse(fs.readFileSync(process.env.SIM_DEVICES, 'utf8'));
const CTL = process.env.SIM_CTL;
const OUT = process.env.SIM_OUT;
const HB_TIMEOUT = Number(process.env.SIM_HEARTBEAT_TIMEOUT || '3');

const stats = {passed: 0, failed: 0};


const sim = cmd => simCommand(CTL, OUT, cmd);

const simStatus = async id => JSON.parse(await sim(`status ${id}`));
const simInfo = async id => JSON.parse(await sim(`info ${id}`));

async function runCase(name, fn) {
  try {
    await fn();
    console.log(`PASS ${name}`);
    stats.passed++;
  } catch (e) {
    console.log(`FAIL ${name}: ${String((e && e.message) || e).replace(/\n/g, ' ')}`);
    stats.failed++;
  }
}

function pickDps(dev) {
  const kinds = Object.entries(dev.mapping || {}).map(([dp, m]) => [dp, m.type]);
  const setDp = (kinds.find(([, t]) => t === 'Boolean') || kinds.find(([, t]) => t === 'Integer'))[0];
  const push = kinds.find(([dp]) => dp !== setDp);
  return {setDp, setKind: kinds.find(([dp]) => dp === setDp)[1], pushDp: push[0], pushKind: push[1]};
}

function nextValue(kind, current, salt) {
  if (kind === 'Boolean') return !current;
  if (kind === 'Integer') return ((current || 0) + 37 + salt) % 1000;
  return current === 'open' ? 'close' : 'open';
}

function assertEq(got, want, what) {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
}

async function runDevice(dev) {
  const ver = dev.version;
  const {setDp, setKind, pushDp, pushKind} = pickDps(dev);
  const device = new TuyAPI({id: dev.id, key: dev.key, ip: dev.ip, version: ver, issueGetOnConnect: false});
  // Ping more often than the device's silence timeout (TuyAPI's default period is 10 s).
  device._pingPongPeriod = HB_TIMEOUT / 3;
  const errors = [];
  const events = [];
  let beats = 0;
  let disconnects = 0;
  device.on('error', e => errors.push(String((e && e.message) || e)));
  device.on('data', d => events.push(d));
  device.on('dp-refresh', d => events.push(d));
  device.on('heartbeat', () => beats++);
  device.on('disconnected', () => disconnects++);

  let connected = false;
  await runCase(`status-${ver}`, async () => {
    await withTimeout(device.connect(), 5000, 'connect');
    connected = true;
    const st = await withTimeout(device.get({schema: true}), 5000, 'get');
    if (!st || typeof st !== 'object' || !st.dps) throw new Error(`no dps in ${JSON.stringify(st)}`);
    assertEq(st.dps, await simStatus(dev.id), 'dps read by TuyAPI vs simulator');
  });

  await runCase(`set-${ver}`, async () => {
    if (!connected) throw new Error('not connected');
    const want = nextValue(setKind, (await simStatus(dev.id))[setDp], 0);
    const reply = await withTimeout(device.set({dps: Number(setDp), set: want}), 5000, 'set');
    assertEq(reply && reply.dps && reply.dps[setDp], want, 'pushed reply to set');
    assertEq((await simStatus(dev.id))[setDp], want, `simulator DP ${setDp}`);
  });

  if ('18' in (dev.mapping || {})) {
    await runCase(`refresh-${ver}`, async () => {
      if (!connected) throw new Error('not connected');
      const st = await simStatus(dev.id);
      const want = {18: st['18'], 19: st['19'], 20: st['20']};
      const seen = events.length;
      // The device acknowledges UPDATEDPS, then pushes the DPs (TuyAPI's 'dp-refresh').
      await withTimeout(device.refresh({requestedDPS: [18, 19, 20]}), 5000, 'refresh');
      const deadline = Date.now() + 5000;
      let got;
      while (Date.now() < deadline && got === undefined) {
        for (const e of events.slice(seen)) {
          if (e && e.dps && '18' in e.dps) got = e.dps;
        }
        await sleep(20);
      }
      assertEq(got, want, 'refreshed DPs');
    });
  }

  await runCase(`push-${ver}`, async () => {
    if (!connected) throw new Error('not connected');
    const want = nextValue(pushKind, (await simStatus(dev.id))[pushDp], 1);
    const seen = events.length;
    await sim(`set ${dev.id} ${pushDp}=${JSON.stringify(want)}`);
    const deadline = Date.now() + 5000;
    let got;
    while (Date.now() < deadline && got === undefined) {
      for (const e of events.slice(seen)) {
        if (e && e.dps && pushDp in e.dps) got = e.dps[pushDp];
      }
      await sleep(20);
    }
    assertEq(got, want, `pushed DP ${pushDp}`);
  });

  await runCase(`heartbeat-${ver}`, async () => {
    if (!connected) throw new Error('not connected');
    const accepted = (await simInfo(dev.id)).accepted;
    const beatsBefore = beats;
    const dropsBefore = disconnects;
    await sleep((HB_TIMEOUT * 2 + 1) * 1000);
    const info = await simInfo(dev.id);
    if (beats - beatsBefore < 3) throw new Error(`only ${beats - beatsBefore} heartbeat replies`);
    if (disconnects !== dropsBefore || !info.connected) throw new Error('the connection dropped despite heartbeats');
    assertEq(info.accepted, accepted, 'connections accepted (a reconnect happened)');
    const st = await withTimeout(device.get({schema: true}), 5000, 'get after heartbeats');
    if (!st || !st.dps) throw new Error('status after heartbeats failed');
  });

  await device.disconnect();
  if (errors.length) console.log(`  (${ver} TuyAPI errors: ${errors.join('; ')})`);
  await sleep(300);
}

async function main() {
  for (const dev of DEVICES.filter(d => !d.sub)) {
    if (!dev.ip.startsWith('127.')) throw new Error('interop traffic must stay on loopback');
    await runDevice(dev);
  }
  finish();
}

function finish() {
  console.log(`${stats.passed} passed, ${stats.failed} failed`);
  process.exit(stats.failed === 0 && stats.passed > 0 ? 0 : 1);
}

function crashed(e) {
  console.log(`FAIL tuyapi-suite: ${e && e.stack ? e.stack : e}`);
  console.log(`${stats.passed} passed, ${stats.failed + 1} failed`);
  process.exit(1);
}

module.exports = {DEVICES, sim, simStatus, simInfo, runCase, withTimeout, assertEq, sleep, finish, crashed};

if (require.main === module) {
  main().catch(crashed);
}
