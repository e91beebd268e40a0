// A graphql-transport-ws subscriber for the tests, built on the protocol's reference client.
//
//   node subscribe.mjs URL QUERY [VARIABLES_JSON] [COUNT] [TIMEOUT_MS]
//
// Prints {"event":"connected"} once the socket is acknowledged, then one line per result
// ({"event":"next","payload":...}), and exits 0 after COUNT results; on a protocol or
// GraphQL error prints {"event":"error",...} and exits 1; exits 2 on timeout.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, query, variablesJson = "{}", countArg = "1", timeoutArg = "20000"] = process.argv.slice(2);
const wanted = Number(countArg);
const out = (obj) => process.stdout.write(JSON.stringify({ ...obj, t: Date.now() }) + "\n");

// The bearer token (if any) goes in connection_init, as Skyloom expects from API clients.
const token = process.env.SKYLOOM_TOKEN;
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: token ? { authorization: `Bearer ${token}` } : {},
  lazy: false,
  retryAttempts: 0,
  on: { connected: () => out({ event: "connected" }) },
});

const timer = setTimeout(() => {
  out({ event: "timeout" });
  process.exit(2);
}, Number(timeoutArg));

let seen = 0;
client.subscribe(
  { query, variables: JSON.parse(variablesJson) },
  {
    next: (payload) => {
      out({ event: "next", payload });
      if (payload.errors) {
        process.exit(1);
      }
      seen += 1;
      if (seen >= wanted) {
        clearTimeout(timer);
        client.dispose();
        process.exit(0);
      }
    },
    error: (err) => {
      const detail = Array.isArray(err) ? err : { message: String(err?.reason ?? err?.message ?? err), code: err?.code };
      out({ event: "error", error: detail });
      process.exit(1);
    },
    complete: () => {
      out({ event: "complete" });
      process.exit(seen >= wanted ? 0 : 1);
    },
  },
);
