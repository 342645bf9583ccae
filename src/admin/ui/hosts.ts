/**
 * DNS rebinding and cross-origin protection.
 *
 * A dashboard on 127.0.0.1 without a token trusts whoever can reach it. A web page on
 * `http://evil.example:4100` whose DNS name then resolves to 127.0.0.1 ("DNS rebinding") is, for
 * the browser, talking to its own origin: it could read every page and post every form. What
 * gives it away is the `Host` header, which still says `evil.example`. So the UI answers only
 * to host names it is served under (421 otherwise), and on every state-changing request checks
 * that `Origin` (or `Referer`, or `Sec-Fetch-Site`) names the dashboard's own origin (403
 * otherwise). Ports are not compared for `Host`: a loopback name on another port is an SSH
 * tunnel or a local proxy, never a rebinding page.
 */
import { InvalidOptionsError } from "../../errors.ts";

/** Names every host check accepts: they only ever reach this machine. */
export const LOOPBACK_NAMES: readonly string[] = ["localhost", "127.0.0.1", "[::1]"];

/**
 * What the UI answers to. `names` null: any `Host` (createAdminApp without `allowedHosts`: the
 * app's own server decides). `explicit`: the names the user listed, which `Origin` may name
 * on any port (a reverse proxy that rewrites `Host`).
 */
export interface HostPolicy {
  names: ReadonlySet<string> | null;
  explicit: ReadonlySet<string>;
}

/**
 * A host name as the URL parser writes it (lowercase, IPv6 in brackets), or undefined when
 * `value` is not a bare host name (a port, a path, spaces, an empty string).
 */
export function normalizeHostName(value: string): string | undefined {
  const trimmed = value.trim();
  const bracketed = trimmed.includes(":") && !trimmed.startsWith("[") ? `[${trimmed}]` : trimmed;
  if (bracketed === "" || /[\s/?#@\\]/.test(bracketed)) return undefined;
  try {
    const url = new URL(`http://${bracketed}`);
    if (url.port !== "" || url.pathname !== "/" || url.username !== "") return undefined;
    return url.hostname;
  } catch {
    return undefined;
  }
}

/** Checks the `allowedHosts` option: a list of host names (no ports). */
export function checkAllowedHosts(value: unknown, what: string): string[] | undefined {
  if (value === undefined) return undefined;
  const example = `e.g. ["jobs.example.com"]`;
  if (!Array.isArray(value)) throw new InvalidOptionsError("allowedHosts", `${what}: allowedHosts must be an array of host names, ${example}`);
  return value.map((entry: unknown) => {
    const name = typeof entry === "string" ? normalizeHostName(entry) : undefined;
    if (name === undefined) {
      throw new InvalidOptionsError(
        "allowedHosts",
        `${what}: allowedHosts entries are host names or addresses without a port or path, ${example}; got ${JSON.stringify(entry)}`,
      );
    }
    return name;
  });
}

/** The policy for a list of allowed names plus those implied by where the UI listens. */
export function hostPolicy(allowed: readonly string[] | undefined, implied: readonly string[] | null): HostPolicy {
  const explicit = new Set(allowed ?? []);
  if (implied === null && allowed === undefined) return { names: null, explicit };
  return { names: new Set([...LOOPBACK_NAMES, ...(implied ?? []), ...explicit]), explicit };
}

/** The `host` (name and port, as the URL parser writes it) of a `Host` header or origin, or undefined. */
function hostOf(value: string): { host: string; hostname: string } | undefined {
  try {
    const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
    return { host: url.host, hostname: url.hostname };
  } catch {
    return undefined;
  }
}

const HINT = "add it to allowedHosts (createAdminApp / serveAdmin) or --allowed-hosts (arrower-jobs ui)";

/**
 * Why `request` is refused for its `Host`, or undefined when it may pass. Both the `Host`
 * header and the URL's host must be allowed (they differ for an absolute request target).
 */
export function refuseHost(policy: HostPolicy, request: Request): string | undefined {
  if (policy.names === null) return undefined;
  const given = [request.headers.get("host"), new URL(request.url).host].filter((h): h is string => h !== null);
  for (const value of given) {
    const parsed = hostOf(value);
    if (parsed === undefined || !policy.names.has(parsed.hostname)) {
      const name = parsed?.hostname ?? value;
      return (
        `Refused: this dashboard is not served under the host name ${JSON.stringify(name)}, so the request was not answered ` +
        `(protection against DNS rebinding). If you reach the dashboard under that name, ${HINT}.\n`
      );
    }
  }
  return undefined;
}

/**
 * Why a state-changing `request` is refused for where it came from, or undefined when it may
 * pass. `Origin` (or else `Referer`) must be the dashboard's own origin, i.e. have the host and
 * port of the request's `Host`, or name a host the user allowed; `Origin: null` and a
 * `Sec-Fetch-Site` other than same-origin are refused. A request with none of these headers is
 * not from a browser (curl, a script): the CSRF token is what it needs.
 */
export function refuseOrigin(policy: HostPolicy, request: Request): string | undefined {
  const headers = request.headers;
  const own = hostOf(headers.get("host") ?? new URL(request.url).host)?.host;
  const fetchSite = headers.get("sec-fetch-site");
  const origin = headers.get("origin");
  const referer = headers.get("referer");
  const from = origin !== null && origin !== "null" ? origin : referer !== null && referer !== "" ? referer : null;
  if (from !== null) {
    const parsed = hostOf(from);
    if (parsed !== undefined && (parsed.host === own || policy.explicit.has(parsed.hostname))) return undefined;
    return refusal(JSON.stringify(parsed ? new URL(from).origin : from));
  }
  if (origin === "null" && fetchSite !== "same-origin") return refusal("a page that hides its origin (Origin: null)");
  if (fetchSite !== null && fetchSite !== "same-origin" && fetchSite !== "none") return refusal(`another origin (Sec-Fetch-Site: ${fetchSite})`);
  return undefined;
}

function refusal(from: string): string {
  return (
    `Refused: this request came from ${from}, not from this dashboard's own pages, so nothing was changed. ` +
    `If the dashboard is served under that name (e.g. behind a reverse proxy), ${HINT}.\n`
  );
}
