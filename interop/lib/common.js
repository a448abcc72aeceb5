// Helpers shared by the Node suites (interop/tuyapi, interop/web) and bench/peers: a bounded
// wait, and one command on `tuyactl sim`'s control channel (its stdin fed from a file, its
// stdout written to another) answered with `ok …`. Plain Node, no dependencies.
'use strict';
const fs = require('fs');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `p`, or an error naming `what` after `ms` milliseconds. */
function withTimeout(p, ms, what) {
  let t;
  return Promise.race([
    p,
    new Promise((_, rej) => {
      t = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/** Sends `cmd` to the simulator (appended to `ctl`) and returns its answer after `ok `. */
async function simCommand(ctl, out, cmd) {
  const before = fs.readFileSync(out, 'utf8').split('\n').filter(Boolean).length;
  fs.appendFileSync(ctl, cmd + '\n');
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const lines = fs.readFileSync(out, 'utf8').split('\n').filter(Boolean);
    if (lines.length > before) {
      const answer = lines[before];
      if (!answer.startsWith('ok')) throw new Error(`simulator answered ${answer} to ${cmd}`);
      return answer.slice(3);
    }
    await sleep(20);
  }
  throw new Error(`no answer from the simulator to ${cmd}`);
}

module.exports = { sleep, withTimeout, simCommand };
