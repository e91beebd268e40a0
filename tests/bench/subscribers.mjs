// Many graphql-transport-ws subscribers in one node process, for the delivery-latency benchmark.
//
//   node subscribers.mjs URL COUNT QUERY [SETTLE_MS]
//
// Opens COUNT clients of the protocol's reference implementation (npm graphql-ws over ws), one
// socket and one subscription each, and prints JSON lines on stdout:
//   {"event":"ready","connected":N}                   once every socket is acknowledged;
//   {"event":"delivered","eventId":...,"id":...,"version":...,"received":[ms,...]}
//       once every subscriber has received that event, or SETTLE_MS after the first one did;
//       `received` are wall-clock receive times in ms (fractional), comparable with Python's time.time();
//   {"event":"error",...} on a protocol or GraphQL error.
// It runs until stdin closes. Receipts are only stamped on arrival; all bookkeeping is cheap so that
// the node loop itself adds as little as possible to what is measured.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, countArg, query, settleArg = "5000"] = process.argv.slice(2);
// The bearer token (SKYLOOM_TOKEN) goes in connection_init, as Skyloom expects from API clients.
const token = process.env.SKYLOOM_TOKEN;
const count = Number(countArg);
const settleMs = Number(settleArg);
const now = () => performance.timeOrigin + performance.now();
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const pending = new Map(); // eventId -> {id, version, received: [], timer}
const clients = [];
let connected = 0;

function flush(eventId) {
  const entry = pending.get(eventId);
  if (!entry) return;
  clearTimeout(entry.timer);
  pending.delete(eventId);
  out({ event: "delivered", eventId, id: entry.id, version: entry.version, received: entry.received });
}

function onNext(payload) {
  const t = now();
  if (payload.errors) {
    out({ event: "error", error: payload.errors });
    return;
  }
  const change = payload.data.ciChanges;
  let entry = pending.get(change.eventId);
  if (!entry) {
    entry = { id: change.id, version: change.version, received: [] };
    entry.timer = setTimeout(() => flush(change.eventId), settleMs);
    pending.set(change.eventId, entry);
  }
  entry.received.push(t);
  if (entry.received.length === count) flush(change.eventId);
}

async function open(i) {
  await new Promise((resolve, reject) => {
    const client = createClient({
      url,
      webSocketImpl: WebSocket,
      connectionParams: token ? { authorization: `Bearer ${token}` } : {},
      lazy: false,
      retryAttempts: 0,
      keepAlive: 0,
      on: {
        connected: () => {
          connected += 1;
          resolve();
        },
        closed: (event) => reject(new Error(`socket ${i} closed: ${event?.code} ${event?.reason ?? ""}`)),
      },
    });
    clients.push(client);
    client.subscribe(
      { query },
      {
        next: onNext,
        error: (err) => out({ event: "error", error: String(err?.message ?? err?.reason ?? JSON.stringify(err)) }),
        complete: () => {},
      },
    );
  });
}

const BATCH = 100;
try {
  for (let i = 0; i < count; i += BATCH) {
    await Promise.all(Array.from({ length: Math.min(BATCH, count - i) }, (_, k) => open(i + k)));
  }
  out({ event: "ready", connected });
} catch (err) {
  out({ event: "error", error: String(err?.message ?? err) });
  process.exit(1);
}

process.stdin.resume();
process.stdin.on("end", () => {
  for (const client of clients) client.dispose();
  process.exit(0);
});
