// A real OpenID provider for the identity tests: npm `oidc-provider` on a loopback port.
//
//   node oidc_idp.mjs PORT REDIRECT_URI
//
// Client secrets come from the environment (OIDC_IDP_SECRET_MAIN, OIDC_IDP_SECRET_OTHER) so
// they never appear in a process listing. Signing keys are generated at start and live only in
// this process. Prints one JSON line {"event":"ready","issuer":...} when it serves requests.
//
// Clients (all use REDIRECT_URI, all must send PKCE S256):
//   skyloom         confidential, client_secret_basic   (the panel)
//   other-app       confidential, client_secret_basic   (another relying party: wrong audience)
//   skyloom-public  public, token_endpoint_auth_method none
//
// Login without a browser, through the provider's own interaction machinery (not a shortcut):
//   GET  /interaction/:uid           -> {"uid","prompt"}  (prompt is "login" or "consent")
//   POST /interaction/:uid/login     form login, password[, otp] -> 303 back into the provider,
//                                    or 401 {"error":"invalid_credentials"}
//   POST /interaction/:uid/confirm   grants the requested scopes and claims -> 303 back
//   POST /interaction/:uid/abort     the user cancels -> 303 back; the client gets access_denied
// A correct `otp` adds "otp" to `amr` and sets `acr` to "mfa" (multi-factor), otherwise `amr`
// is ["pwd"] and `acr` is "pwd".
import { createServer } from "node:http";
import { generateKeyPairSync } from "node:crypto";
import Provider from "oidc-provider";

const [portArg, redirectUri] = process.argv.slice(2);
const port = Number(portArg);
const issuer = `http://127.0.0.1:${port}`;

const ACCOUNTS = {
  alice: { password: "alice-pw", otp: "123456", email: "alice@example.test", name: "Alice Admin", groups: ["tenant-admins", "engineering"] },
  bob: { password: "bob-pw", otp: "654321", email: "bob@example.test", name: "Bob Builder", groups: ["engineering"] },
  carol: { password: "carol-pw", otp: "111111", email: "carol@example.test", name: "Carol Nogroups", groups: [] },
};

function signingKeys() {
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });
  const ec = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "jwk" });
  return [
    { ...rsa, kid: `rsa-${Date.now()}`, use: "sig", alg: "RS256" },
    { ...ec, kid: `ec-${Date.now()}`, use: "sig", alg: "ES256" },
  ];
}

function secret(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set`);
  }
  return value;
}

const base = { redirect_uris: [redirectUri], grant_types: ["authorization_code"], response_types: ["code"] };
const provider = new Provider(issuer, {
  clients: [
    { ...base, client_id: "skyloom", client_secret: secret("OIDC_IDP_SECRET_MAIN"), token_endpoint_auth_method: "client_secret_basic" },
    { ...base, client_id: "other-app", client_secret: secret("OIDC_IDP_SECRET_OTHER"), token_endpoint_auth_method: "client_secret_basic" },
    { ...base, client_id: "skyloom-public", token_endpoint_auth_method: "none" },
  ],
  jwks: { keys: signingKeys() },
  pkce: { required: () => true },
  claims: { sid: null, openid: ["sub", "acr", "amr", "auth_time"], email: ["email", "email_verified"], profile: ["name"], groups: ["groups"] },
  acrValues: ["pwd", "mfa"],
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const account = ACCOUNTS[id];
    if (!account) {
      return undefined;
    }
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: account.email, email_verified: true, name: account.name, groups: account.groups };
      },
    };
  },
});
provider.on("server_error", (ctx, err) => process.stderr.write(`server_error ${err.stack}\n`));

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) {
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

function json(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    return json(res, 400, { error: "interaction_mismatch" });
  }
  if (req.method === "GET" && !action) {
    return json(res, 200, { uid, prompt: details.prompt.name });
  }
  if (req.method === "POST" && action === "login" && details.prompt.name === "login") {
    const form = await readForm(req);
    const login = form.get("login") ?? "";
    const account = Object.hasOwn(ACCOUNTS, login) ? ACCOUNTS[login] : undefined;
    if (!account || form.get("password") !== account.password) {
      return json(res, 401, { error: "invalid_credentials" });
    }
    const mfa = form.get("otp") === account.otp;
    return provider.interactionFinished(req, res, {
      login: { accountId: login, amr: mfa ? ["pwd", "otp"] : ["pwd"], acr: mfa ? "mfa" : "pwd" },
    }, { mergeWithLastSubmission: false });
  }
  if (req.method === "POST" && action === "confirm" && details.prompt.name === "consent") {
    const { prompt: { details: missing }, params, session, grantId } = details;
    const grant = grantId ? await provider.Grant.find(grantId) : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (missing.missingOIDCScope) {
      grant.addOIDCScope(missing.missingOIDCScope.join(" "));
    }
    if (missing.missingOIDCClaims) {
      grant.addOIDCClaims(missing.missingOIDCClaims);
    }
    return provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
  }
  if (req.method === "POST" && action === "abort") {
    return provider.interactionFinished(req, res, {
      error: "access_denied", error_description: "the user cancelled",
    }, { mergeWithLastSubmission: false });
  }
  return json(res, 400, { error: "unexpected_interaction", prompt: details.prompt.name });
}

const handle = provider.callback();
const server = createServer((req, res) => {
  const match = /^\/interaction\/([^/?]+)(?:\/(login|confirm|abort))?(?:\?.*)?$/.exec(req.url);
  if (!match) {
    return handle(req, res);
  }
  interaction(req, res, match[1], match[2]).catch((err) => {
    process.stderr.write(`interaction failed: ${err.stack}\n`);
    if (!res.headersSent) {
      json(res, 400, { error: err.name ?? "interaction_failed" });
    }
  });
});
server.listen(port, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ event: "ready", issuer }) + "\n");
});
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
