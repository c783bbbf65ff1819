// Calls to the service's /v1 API with the signed-in token. The token lives in sessionStorage only:
// it is gone when the tab closes and is never written to localStorage or a cookie.

const KEY = "triage.token";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
    this.detail = detail;
  }
}

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

let onUnauthorised = () => {};
export function whenUnauthorised(handler) {
  onUnauthorised = handler;
}

function describe(status, body) {
  if (body && typeof body.detail === "string") return body.detail;
  if (body && Array.isArray(body.detail)) {
    return body.detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("；");
  }
  return `HTTP ${status}`;
}

export async function api(path, { method = "GET", body, headers = {}, signal, query } = {}) {
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value === undefined || value === null || value === "") continue;
      for (const v of Array.isArray(value) ? value : [value]) params.append(name, String(v));
    }
    const text = params.toString();
    if (text) url += `?${text}`;
  }
  const init = { method, signal, headers: { Accept: "application/json", ...headers } };
  const current = token.get();
  if (current) init.headers.Authorization = `Bearer ${current}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "无法连接服务，请检查网络后重试");
  }
  let data = null;
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("json")) data = await response.json().catch(() => null);
  if (!response.ok) {
    if (response.status === 401 && path !== "/v1/me") onUnauthorised();
    throw new ApiError(response.status, describe(response.status, data));
  }
  return data;
}

// A key per order form: crypto.randomUUID needs a secure context, which an intranet http:// page is not.
export function newIdempotencyKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return "console-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
