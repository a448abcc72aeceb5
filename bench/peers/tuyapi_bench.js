#!/usr/bin/env node
// TuyAPI's figures for bench/compare, as JSON lines on stdout (one object per figure).
//
//   tuyapi_bench.js readall FIGURE DEVICES.json [--limit K]
//       One device after another: new TuyAPI({id, key, ip, version, issueGetOnConnect: false}),
//       find() (returns at once: id and ip are given, so nothing is broadcast), connect(),
//       get({schema: true}), disconnect(); wall time for all. With --limit K only the first K
//       devices are read and the time is extrapolated to all of them (said so in "detail").
//   tuyapi_bench.js rtt DEVICES.json [--commands N]
//       Per device (one per version): one connection, N sequential set({dps: 1, set: v})
//       awaited, v alternating, each checked against the returned DPs; rtt_p50_<v>, rtt_p99_<v>.
//
// Every address comes from DEVICES.json (the simulator's, 127.0.0.0/8). Progress and errors go
// to stderr.
'use strict';

const fs = require('fs');
const TuyAPI = require('tuyapi');
const TUYAPI_VERSION = require('tuyapi/package.json').version;
const { withTimeout } = require('../../interop/lib/common.js');

function emit(figure, value, unit, n, detail) {
  const o = {figure, tool: 'tuyapi', value, unit};
  if (n !== undefined) o.n = n;
  if (detail) o.detail = detail;
  process.stdout.write(JSON.stringify(o) + '\n');
}


function open(d) {
  const dev = new TuyAPI({
    id: d.id, key: d.key, ip: d.ip, version: String(d.version || '3.3'), issueGetOnConnect: false,
  });
  dev.on('error', e => { dev.lastError = e; });
  return dev;
}

function args() {
  const a = process.argv.slice(2);
  const opt = (name, dflt) => {
    const i = a.indexOf(name);
    if (i < 0) return dflt;
    const v = Number(a[i + 1]);
    a.splice(i, 2);
    return v;
  };
  const limit = opt('--limit', 0);
  const commands = opt('--commands', 500);
  return {cmd: a[0], rest: a.slice(1), limit, commands};
}

const now = () => Number(process.hrtime.bigint()) / 1e6; // ms

async function readall(figure, file, limit) {
  const devices = JSON.parse(fs.readFileSync(file, 'utf8'));
  const todo = limit ? devices.slice(0, limit) : devices;
  const failed = [];
  const t0 = now();
  for (let i = 0; i < todo.length; i++) {
    const d = todo[i];
    const dev = open(d);
    try {
      await withTimeout(dev.find(), 5000, 'find');
      await withTimeout(dev.connect(), 5000, 'connect');
      const r = await withTimeout(dev.get({schema: true}), 5000, 'get');
      if (!r || !r.dps) throw new Error(`get answered ${JSON.stringify(r)}`);
    } catch (e) {
      failed.push([d.id, String((e && e.message) || e)]);
    } finally {
      dev.disconnect();
    }
    if ((i + 1) % 250 === 0) {
      process.stderr.write(`tuyapi: ${i + 1}/${todo.length} read, ${((now() - t0) / 1000).toFixed(1)} s\n`);
    }
  }
  const wall = (now() - t0) / 1000;
  const detail = [`TuyAPI ${TUYAPI_VERSION}, one device after another`];
  if (failed.length) {
    detail.push(`${failed.length} of ${todo.length} reads failed (first: ${failed[0][0]}: ${failed[0][1]})`);
  }
  let value = wall;
  if (todo.length < devices.length) {
    value = wall * devices.length / todo.length;
    detail.push(`measured the first ${todo.length} of ${devices.length} devices (${wall.toFixed(2)} s), extrapolated linearly`);
  }
  emit(figure, Number(value.toFixed(3)), 's', devices.length, detail.join('; '));
  return failed.length ? 1 : 0;
}

const pct = (sorted, p) => sorted[Math.round((sorted.length - 1) * p)];

async function rtt(file, commands) {
  const devices = JSON.parse(fs.readFileSync(file, 'utf8'));
  let rc = 0;
  for (const d of devices) {
    const ver = String(d.version);
    const dev = open(d);
    try {
      await withTimeout(dev.find(), 5000, 'find');
      await withTimeout(dev.connect(), 5000, 'connect');
      const times = [];
      let bad = 0;
      for (let i = 0; i < commands; i++) {
        const want = i % 2 === 0;
        const t = now();
        const r = await withTimeout(dev.set({dps: 1, set: want}), 5000, `set ${i}`);
        times.push(now() - t);
        if (!r || !r.dps || r.dps['1'] !== want) {
          if (bad++ === 0) process.stderr.write(`tuyapi ${ver}: set ${i} answered ${JSON.stringify(r)}\n`);
        }
      }
      times.sort((x, y) => x - y);
      let detail = `TuyAPI ${TUYAPI_VERSION}, one connection, set({dps: 1, set: v}) awaited`;
      if (bad) {
        detail += `; ${bad} of ${commands} replies without the new value`;
        rc = 1;
      }
      for (const [p, q] of [['p50', 0.5], ['p99', 0.99]]) {
        emit(`rtt_${p}_${ver}`, Number(pct(times, q).toFixed(3)), 'ms', commands, detail);
      }
    } catch (e) {
      process.stderr.write(`tuyapi ${ver}: ${(e && e.message) || e}\n`);
      rc = 1;
    } finally {
      dev.disconnect();
    }
  }
  return rc;
}

async function main() {
  const a = args();
  if (a.cmd === 'readall' && a.rest.length === 2) return readall(a.rest[0], a.rest[1], a.limit);
  if (a.cmd === 'rtt' && a.rest.length === 1) return rtt(a.rest[0], a.commands);
  process.stderr.write('usage: tuyapi_bench.js readall FIGURE DEVICES.json [--limit K] | rtt DEVICES.json [--commands N]\n');
  return 2;
}

main().then(rc => process.exit(rc), e => {
  process.stderr.write(`${(e && e.stack) || e}\n`);
  process.exit(1);
});
