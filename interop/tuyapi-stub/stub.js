// A @tuyapi/stub device for interop tests, bound to 127.0.0.1 ONLY and with no UDP broadcast.
//
// The stub's own startServer() listens on every interface and startUDPBroadcast() sends to
// 255.255.255.255: neither is called. We create the TCP server ourselves on loopback and hand
// connections to the stub's request handler, exactly as startServer() would.
//
// Usage: node stub.js ID KEY PORT STATE_JSON
// Control on stdin, one command per line (answers on stdout):
//   set DP JSON_VALUE   -> the stub's setProperty (a "physical" change, pushed to the client)
//   state               -> prints `state {...}`
'use strict';
const net = require('net');
const readline = require('readline');
const TuyaStub = require('@tuyapi/stub');

const [id, key, port, stateJson] = process.argv.slice(2);
const stub = new TuyaStub({id, key, ip: '127.0.0.1', state: JSON.parse(stateJson || '{}')});

stub.server = net.createServer(socket => {
  stub.socket = socket;
  socket.on('error', e => console.error(`socket error: ${e.message}`));
  socket.on('data', data => {
    // The stub throws on frames it does not understand (e.g. other protocol versions tried
    // during auto-detection): report and keep serving, as a device would.
    try {
      stub._handleRequest(data);
    } catch (e) {
      console.error(`stub rejected a frame: ${e.message}`);
    }
  });
});
stub.server.listen(Number(port), '127.0.0.1', () => console.log(`listening 127.0.0.1:${port}`));

readline.createInterface({input: process.stdin}).on('line', line => {
  const [cmd, dp, ...rest] = line.trim().split(/\s+/);
  if (cmd === 'set') {
    stub.setProperty(dp, JSON.parse(rest.join(' ')));
    console.log('ok');
  } else if (cmd === 'state') {
    console.log(`state ${JSON.stringify(stub.getState())}`);
  } else if (cmd) {
    console.log(`error unknown command ${cmd}`);
  }
}).on('close', () => {
  stub.shutdown();
  process.exit(0);
});
