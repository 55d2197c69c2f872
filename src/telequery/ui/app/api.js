// The explorer's only way to the server: the public APIs a client would call (the
// Workers Observability API and telequery's trace extension), so whatever the page
// shows, a client can get. Every call takes an AbortSignal: a view that is left or
// re-queried cancels what it no longer needs.

const TOKEN_KEY = "telequery.token";

export class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

export const auth = {
  token: localStorage.getItem(TOKEN_KEY) || "",
  org: null,
  scopes: [],
  set(token) { this.token = token; this.org = null; localStorage.setItem(TOKEN_KEY, token); },
};

function headers() {
  return { "Authorization": "Bearer " + auth.token, "Content-Type": "application/json" };
}

/** The API's own words for a failed call: message plus the detail naming the field. */
function errorText(body, status) {
  const errs = body?.errors || [];
  if (errs.length) {
    return errs.map((e) => e.detail ? `${e.message}: ${e.detail}` : e.message).join("; ");
  }
  return body?.detail || body?.message || `HTTP ${status}`;
}

async function call(method, url, body, signal) {
  const r = await fetch(url, { method, headers: headers(), signal,
                               body: body === undefined ? undefined : JSON.stringify(body) });
  let j = null;
  try { j = await r.json(); } catch { /* a body that is not JSON: fall through */ }
  if (!r.ok || (j && j.success === false)) throw new ApiError(errorText(j, r.status), r.status);
  return { body: j, lag: Number(r.headers.get("X-Telequery-Freshness-Lag-Ms") || 0) };
}

/** Who the token is: its org and scopes (403 when it lacks the query scope). */
export async function whoami(signal) {
  try {
    const { body } = await call("GET", "/api/v1/whoami", undefined, signal);
    auth.org = body.org; auth.scopes = body.scopes;
    return body;
  } catch (e) {
    if (e.status === 401) throw new ApiError("This token was not accepted (401): " + e.message, 401);
    if (e.status === 403) {
      throw new ApiError("This token has no query scope, so it cannot read telemetry. " +
                         "Create one with the query scope (telequery token create --org ORG --scopes ingest,query). " +
                         "The server said: " + e.message, 403);
    }
    throw e;
  }
}

const base = () => "/client/v4/accounts/" + encodeURIComponent(auth.org) + "/workers/observability";

/** POST telemetry/query; `extra` holds the top-level fields (view, limit, compare, ...). */
export async function telemetry(timeframe, parameters, extra, signal) {
  const body = { queryId: "explorer", timeframe, parameters, dry: true, ...extra };
  const { body: j, lag } = await call("POST", base() + "/telemetry/query", body, signal);
  return { ...j.result, lag };
}

export async function keys(timeframe, signal) {
  const { body } = await call("POST", base() + "/telemetry/keys",
                              { from: timeframe.from, to: timeframe.to, limit: 2000 }, signal);
  return body.result;
}

export async function values(timeframe, key, type, signal) {
  const { body } = await call("POST", base() + "/telemetry/values", {
    timeframe, key, type, datasets: [], limit: 50 }, signal);
  return body.result;
}

export async function traceDetail(traceId, from, to, signal) {
  const url = `${base()}/traces/${encodeURIComponent(traceId)}?from=${from}&to=${to}`;
  return (await call("GET", url, undefined, signal)).body.result;
}

export const saved = {
  async list(signal) {
    return (await call("GET", base() + "/queries?perPage=50", undefined, signal)).body.result;
  },
  async create(name, parameters) {
    return (await call("POST", base() + "/queries", { name, description: null, parameters })).body.result;
  },
  async rename(id, name) {
    return (await call("PATCH", base() + "/queries/" + encodeURIComponent(id), { name })).body.result;
  },
  async remove(id) {
    return (await call("DELETE", base() + "/queries/" + encodeURIComponent(id))).body.result;
  },
};

/** Open a live tail with these filters; returns a socket the caller reads and closes. */
export async function liveTail(parameters, signal) {
  const { body } = await call("POST", base() + "/telemetry/live-tail", {
    filters: parameters.filters || [], filterCombination: parameters.filterCombination || "and",
    needle: parameters.needle }, signal);
  return body.result.wsUrl;
}

export async function heartbeat() {
  await call("POST", base() + "/telemetry/live-tail/heartbeat", {});
}
