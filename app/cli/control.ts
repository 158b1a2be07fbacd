// app/cli — the commands that talk to a running service over the control socket: status, on, off,
// sessions, apps, devices, close, usage, and (from rules.ts) rules … and upstreams …. Each is one
// entry of CONTROL_COMMANDS (same shape as the other commands in main.ts); every request goes through
// the typed client derived from app/protocol.
// The socket is --socket, else control.socket of --config FILE, else the config default.
// Exit codes: 0 ok · 1 the service is not running / refused us / failed · 2 usage (bad option, or
// params or a rule the service rejected as INVALID_PARAMS / INVALID_RULE).
import { ConfigError, loadConfig, parseConfig } from '../service/config.js';
import {
  ProtocolError, SESSION_PROTOCOLS, SESSION_SORT_FIELDS, SESSION_STATES,
  type Client, type EventData, type EventName, type HelloResult, type MethodParams,
} from '../protocol/index.js';
import { formatApps, formatDevices, formatSessions, formatStatus, formatUsage } from './format.js';
import type { CliContext, Command, OptionSpec } from './main.js';
import { rulesCommands, upstreamsCommands } from './rules.js';

/** What the CLI needs of a connection; ControlClient has it, tests fake it. */
export interface ControlSession {
  readonly api: Client;
  readonly server: HelloResult | null;
  on<E extends EventName>(event: E, listener: (data: EventData<E>) => void): () => void;
  onState(listener: (state: 'connected' | 'disconnected' | 'closed', error?: ProtocolError) => void): () => void;
  close(): void;
}

const EXIT_OK = 0, EXIT_FAILURE = 1, EXIT_USAGE = 2;
const CLEAR_SCREEN = '\x1b[H\x1b[2J';

const SOCKET: OptionSpec = { type: 'string', short: 's', value: 'PATH', help: 'the control socket (default: control.socket of --config, else /run/switchyard/control.sock)' };
const CONFIG: OptionSpec = { type: 'string', short: 'c', value: 'FILE', help: 'read the socket path from this config file' };
const JSON_OUT: OptionSpec = { type: 'boolean', help: 'print the raw result as JSON (for scripts)' };
const CONNECTION = { socket: SOCKET, config: CONFIG };
const ACCESS_NOTE = 'Needs the service running (switchyard up) and root or membership in its group (control.group, default "switchyard").';

/** Default-order per sort field: biggest / newest first for numbers and times. */
const DESC_BY_DEFAULT = new Set(['bytes', 'bytesIn', 'bytesOut', 'packetsIn', 'packetsOut', 'startedAt', 'lastSeen']);

function fail(ctx: CliContext, message: string, code = EXIT_FAILURE): number {
  ctx.io.stderr.write(`switchyard: ${message}\n`);
  return code;
}

function usage(ctx: CliContext, cmd: string, message: string): number {
  ctx.io.stderr.write(`switchyard: ${cmd}: ${message}\nRun "switchyard ${cmd} --help" for usage.\n`);
  return EXIT_USAGE;
}

/** The socket path from --socket, --config or the config default; null after reporting a bad config. */
async function socketPath(ctx: CliContext): Promise<string | null> {
  const given = ctx.values.socket as string | undefined;
  if (given) return given;
  const file = ctx.values.config as string | undefined;
  if (!file) return parseConfig('control: {}').control.socket;
  try {
    return (await loadConfig(file)).control.socket;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    ctx.io.stderr.write(`switchyard: invalid config ${file}:\n${e.issues.map((i) => `  ${i}\n`).join('')}`);
    return null;
  }
}

/** Connects, runs `body`, closes; turns protocol errors into messages and exit codes. */
async function withService(ctx: CliContext, body: (c: ControlSession) => Promise<number>): Promise<number> {
  const path = await socketPath(ctx);
  if (path === null) return EXIT_USAGE;
  let client: ControlSession | null = null;
  try {
    client = await ctx.deps.connect(path);
    return await body(client);
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    return reportError(ctx, e);
  } finally {
    client?.close();
  }
}

/** A string list at `details[key]`, or []: details come from the wire, so nothing is assumed. */
function detailLines(details: unknown, key: string, line: (item: Record<string, unknown>) => string | null = () => null): string[] {
  const list = details !== null && typeof details === 'object' ? (details as Record<string, unknown>)[key] : undefined;
  if (!Array.isArray(list)) return [];
  return list.map((item) => (typeof item === 'string' ? item : item !== null && typeof item === 'object' ? line(item as Record<string, unknown>) : null))
    .filter((l): l is string => l !== null);
}

/** One coded error as stderr lines and an exit code: rejected input is 2, everything else 1. */
function reportError(ctx: CliContext, e: ProtocolError): number {
  switch (e.code) {
    case 'INVALID_RULE': {
      // One line per problem, each naming the field: rules[0].match.port: "99999" is not a port (1..65535)
      const errors = detailLines(e.details, 'errors');
      if (errors.length === 0) return fail(ctx, `invalid rule: ${e.message}`, EXIT_USAGE);
      ctx.io.stderr.write(`switchyard: the service refused the rule (nothing was changed):\n${errors.map((l) => `  ${l}\n`).join('')}`);
      return EXIT_USAGE;
    }
    case 'INVALID_PARAMS': {
      const issues = detailLines(e.details, 'issues', (i) => (typeof i.path === 'string' && typeof i.message === 'string' ? `${i.path}: ${i.message}` : null));
      if (issues.length <= 1) return fail(ctx, e.message, EXIT_USAGE);
      ctx.io.stderr.write(`switchyard: ${e.message}\n${issues.slice(1).map((l) => `  ${l}\n`).join('')}`);
      return EXIT_USAGE;
    }
    case 'PERSIST_FAILED':
      return fail(ctx, `${e.message}\nNothing was changed: the running rules and the config file are as they were.`);
    case 'RULE_NOT_FOUND':
      return fail(ctx, `${e.message} (\`switchyard rules\` lists them)`);
    case 'UPSTREAM_NOT_FOUND': {
      const known = detailLines(e.details, 'known');
      return fail(ctx, known.length ? `${e.message} (configured: ${known.join(', ')})` : e.message);
    }
    default:
      return fail(ctx, e.message);
  }
}

function printJson(ctx: CliContext, value: unknown): number {
  ctx.io.stdout.write(JSON.stringify(value, null, 2) + '\n');
  return EXIT_OK;
}

/** "1h", "30m", "24h", "7d", "90s" or an ISO date/time -> epoch ms; a message when it is neither. */
export function parseSince(text: string, now: number): number | string {
  const rel = /^(\d+)\s*(s|m|h|d|w)$/.exec(text.trim());
  if (rel) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[rel[2] as 's' | 'm' | 'h' | 'd' | 'w'];
    return now - Number(rel[1]) * unit;
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const t = Date.parse(text);
    if (!Number.isNaN(t)) return t;
  }
  return `"${text}" is not a duration (30m, 1h, 24h, 7d) or an ISO date (2026-11-25, 2026-11-25T08:00)`;
}

/** `--sort F[:asc|:desc]` -> a sessions.list sort; a message for an unknown field. */
export function parseSort(text: string): NonNullable<MethodParams<'sessions.list'>['sort']> | string {
  const [field, order] = text.split(':') as [string, string | undefined];
  if (!(SESSION_SORT_FIELDS as readonly string[]).includes(field)) return `"${field}" is not one of ${SESSION_SORT_FIELDS.join(', ')}`;
  if (order !== undefined && order !== 'asc' && order !== 'desc') return `"${order}" is not asc or desc`;
  return { field: field as (typeof SESSION_SORT_FIELDS)[number], order: order ?? (DESC_BY_DEFAULT.has(field) ? 'desc' : 'asc') };
}

function sessionsParams(ctx: CliContext): MethodParams<'sessions.list'> | number {
  const v = ctx.values;
  const filter: NonNullable<MethodParams<'sessions.list'>['filter']> = {};
  if (v.app) filter.app = v.app as string;
  if (v.device) filter.device = v.device as string;
  if (v.text) filter.text = v.text as string;
  if (v.protocol) {
    if (!(SESSION_PROTOCOLS as readonly string[]).includes(v.protocol as string)) return usage(ctx, 'sessions', `--protocol: "${v.protocol as string}" is not one of ${SESSION_PROTOCOLS.join(', ')}`);
    filter.protocol = v.protocol as (typeof SESSION_PROTOCOLS)[number];
  }
  if (v.state) {
    if (!(SESSION_STATES as readonly string[]).includes(v.state as string)) return usage(ctx, 'sessions', `--state: "${v.state as string}" is not one of ${SESSION_STATES.join(', ')}`);
    filter.state = v.state as (typeof SESSION_STATES)[number];
  }
  const params: MethodParams<'sessions.list'> = {};
  if (Object.keys(filter).length) params.filter = filter;
  if (v.sort) {
    const sort = parseSort(v.sort as string);
    if (typeof sort === 'string') return usage(ctx, 'sessions', `--sort: ${sort}`);
    params.sort = sort;
  }
  if (v.limit !== undefined) {
    const n = Number(v.limit);
    if (!/^\d+$/.test(v.limit as string) || n < 1 || n > 5000) return usage(ctx, 'sessions', `--limit: "${v.limit as string}" is not a number from 1 to 5000`);
    params.limit = n;
  }
  return params;
}

async function runSessions(ctx: CliContext): Promise<number> {
  const params = sessionsParams(ctx);
  if (typeof params === 'number') return params;
  if (ctx.values.watch && ctx.values.json) return usage(ctx, 'sessions', '--watch and --json cannot be combined');
  return withService(ctx, async (c) => {
    if (!ctx.values.watch) {
      const page = await c.api.sessionsList(params);
      if (ctx.values.json) return printJson(ctx, page);
      ctx.io.stdout.write(formatSessions(page, ctx.deps.now()));
      return EXIT_OK;
    }
    return watchSessions(ctx, c, params);
  });
}

/** Redraws the sessions page on every tick until a signal (exit 0) or a lost connection (exit 1). */
async function watchSessions(ctx: CliContext, c: ControlSession, params: MethodParams<'sessions.list'>): Promise<number> {
  let finish!: (outcome: number | Error) => void;
  const finished = new Promise<number | Error>((resolve) => { finish = resolve; });
  const offSignal = ctx.deps.onSignal(() => finish(EXIT_OK));
  const offState = c.onState((state, error) => { if (state === 'disconnected') finish(error ?? new ProtocolError('UNAVAILABLE', 'the connection was lost')); });
  let drawing = false, again = false;
  const draw = async (): Promise<void> => {
    if (drawing) { again = true; return; }
    drawing = true;
    try {
      do {
        again = false;
        const page = await c.api.sessionsList(params);
        ctx.io.stdout.write(`${CLEAR_SCREEN}switchyard sessions — every tick, Ctrl-C to quit\n\n${formatSessions(page, ctx.deps.now())}`);
      } while (again);
    } finally { drawing = false; }
  };
  const offTick = c.on('tick', () => { draw().catch((e: Error) => finish(e)); });
  try {
    await draw();
    await c.api.subscribe({ topics: ['tick'] });
    const outcome = await finished;
    if (outcome instanceof Error) throw outcome;
    return outcome;
  } finally {
    offTick(); offState(); offSignal();
  }
}

async function runUsage(ctx: CliContext): Promise<number> {
  const now = ctx.deps.now();
  const since = parseSince((ctx.values.since as string | undefined) ?? '24h', now);
  if (typeof since === 'string') return usage(ctx, 'usage', `--since: ${since}`);
  const resolution = ctx.values.resolution as string | undefined;
  if (resolution !== undefined && resolution !== 'minute' && resolution !== 'hour') return usage(ctx, 'usage', `--resolution: "${resolution}" is not minute or hour`);
  const params: MethodParams<'usage.query'> = { since, resolution: (resolution as 'minute' | 'hour' | undefined) ?? (now - since <= 3 * 3_600_000 ? 'minute' : 'hour') };
  if (ctx.values.app) params.app = ctx.values.app as string;
  if (ctx.values.device) params.device = ctx.values.device as string;
  return withService(ctx, async (c) => {
    const result = await c.api.usageQuery(params);
    if (ctx.values.json) return printJson(ctx, result);
    ctx.io.stdout.write(formatUsage(result));
    return EXIT_OK;
  });
}

/**
 * What the rule and upstream commands (rules.ts) share with these. Handed to them rather than
 * imported there, so the two files do not import each other (a cycle would leave these constants
 * uninitialized while rules.ts builds its table).
 */
export interface ControlKit {
  withService: typeof withService;
  usage: typeof usage;
  printJson: typeof printJson;
  connection: Record<string, OptionSpec>;
  json: OptionSpec;
  accessNote: string;
}

const KIT: ControlKit = { withService, usage, printJson, connection: CONNECTION, json: JSON_OUT, accessNote: ACCESS_NOTE };

function routing(enabled: boolean): Command['run'] {
  return (ctx) => withService(ctx, async (c) => {
    const r = await c.api.routingSet({ enabled });
    ctx.io.stdout.write(r.routing ? 'routing is on: traffic goes through Switchyard\n' : 'routing is off: traffic takes the normal routes (the service keeps running)\n');
    return EXIT_OK;
  });
}

/** The control commands, in the order `switchyard --help` lists them. */
export const CONTROL_COMMANDS: Command[] = [
  {
    words: ['status'],
    summary: 'show whether the service runs and routes, its TUN, egress and counters',
    description: `Asks the running service for its status.\n${ACCESS_NOTE}`,
    options: { ...CONNECTION, json: JSON_OUT },
    run: (ctx) => withService(ctx, async (c) => {
      const status = await c.api.status();
      if (ctx.values.json) return printJson(ctx, status);
      ctx.io.stdout.write(formatStatus(status, c.server?.protocolVersion ?? null));
      return EXIT_OK;
    }),
  },
  {
    words: ['on'],
    summary: 'route traffic through Switchyard again',
    description: `Re-applies the routes that send traffic into the TUN. The service must be running.\n${ACCESS_NOTE}`,
    options: CONNECTION,
    run: routing(true),
  },
  {
    words: ['off'],
    summary: 'stop routing traffic through Switchyard; the service keeps running',
    description: `Withdraws the routes; traffic takes the normal routes until \`switchyard on\`. Sessions already\nopen through the TUN keep going until they end.\n${ACCESS_NOTE}`,
    options: CONNECTION,
    run: routing(false),
  },
  {
    words: ['sessions'],
    summary: 'list live sessions: which app, on which device, talks to whom, and how much',
    description:
      'Filters match case-insensitive substrings: --app the app\'s name or executable ("unknown" for\n' +
      'unattributed flows), --device its address, MAC or hostname ("local" for this host), --text any\n' +
      'address, port, app or user. --sort FIELD[:asc|:desc] (numbers and times sort biggest first):\n' +
      `${SESSION_SORT_FIELDS.join(', ')}.\n` +
      'Sizes are in B/KiB/MiB/GiB; IN is received by the app, OUT sent by it.\n' +
      `--watch redraws the page on every tick of the service (once a second) until Ctrl-C.\n${ACCESS_NOTE}`,
    options: {
      app: { type: 'string', value: 'TEXT', help: 'only sessions of apps matching TEXT' },
      device: { type: 'string', value: 'TEXT', help: 'only sessions from devices matching TEXT' },
      protocol: { type: 'string', value: 'PROTO', help: `only ${SESSION_PROTOCOLS.join(', ')}` },
      state: { type: 'string', value: 'STATE', help: `only ${SESSION_STATES.join(', ')}` },
      text: { type: 'string', value: 'TEXT', help: 'only sessions whose addresses, ports, app or user contain TEXT' },
      sort: { type: 'string', value: 'FIELD', help: 'sort by FIELD (default id), e.g. bytes or app:asc' },
      limit: { type: 'string', value: 'N', help: 'show at most N sessions (default 100, at most 5000)' },
      json: JSON_OUT,
      watch: { type: 'boolean', short: 'w', help: 'redraw on every tick until Ctrl-C' },
      ...CONNECTION,
    },
    run: runSessions,
  },
  {
    words: ['apps'],
    summary: 'list apps with their traffic, current rates and sessions',
    description: `SESSIONS is live/total since the service started; rates are over the last few seconds (B/s units).\n${ACCESS_NOTE}`,
    options: { json: JSON_OUT, ...CONNECTION },
    run: (ctx) => withService(ctx, async (c) => {
      const { apps } = await c.api.appsList();
      if (ctx.values.json) return printJson(ctx, apps);
      ctx.io.stdout.write(formatApps(apps, ctx.deps.now()));
      return EXIT_OK;
    }),
  },
  {
    words: ['devices'],
    summary: 'list devices (this host and others routed through it) with their traffic',
    description: `SESSIONS is live/total since the service started; rates are over the last few seconds (B/s units).\n${ACCESS_NOTE}`,
    options: { json: JSON_OUT, ...CONNECTION },
    run: (ctx) => withService(ctx, async (c) => {
      const { devices } = await c.api.devicesList();
      if (ctx.values.json) return printJson(ctx, devices);
      ctx.io.stdout.write(formatDevices(devices, ctx.deps.now()));
      return EXIT_OK;
    }),
  },
  {
    words: ['devices', 'rename'],
    summary: 'name a device (by MAC, so the name follows it; or by address); "" removes the name',
    description: `The name shows in \`switchyard devices\` and in sessions, and is saved to the config file (devices).\nExample: switchyard devices rename aa:bb:cc:dd:ee:ff "Living-room TV"\n${ACCESS_NOTE}`,
    options: CONNECTION,
    positionals: [{ name: 'DEVICE', help: 'a MAC address or an IP address' }, { name: 'NAME', help: 'the name ("" to remove it)' }],
    run: (ctx) => withService(ctx, async (c) => {
      const r = await c.api.devicesRename({ device: ctx.positionals[0]!, name: ctx.positionals[1]! });
      ctx.io.stdout.write(r.name ? `${r.mac ?? r.address} is now "${r.name}"\n` : `${r.mac ?? r.address} has no name now\n`);
      return EXIT_OK;
    }),
  },
  {
    words: ['gateway', 'on'],
    summary: 'route the other devices on the LAN (gateway.interfaces) through Switchyard',
    description: `Turns on forwarding and policy routing for traffic from gateway.interfaces; saved to the config file.\nDevices must use this machine as their gateway (DHCP option or by hand).\n${ACCESS_NOTE}`,
    options: CONNECTION,
    run: (ctx) => withService(ctx, async (c) => {
      const g = await c.api.gatewaySet({ enabled: true });
      ctx.io.stdout.write(`gateway is on: devices behind ${g.interfaces.join(', ')} are routed by the rules (IPv6: ${g.ipv6})\n`);
      return EXIT_OK;
    }),
  },
  {
    words: ['gateway', 'off'],
    summary: 'stop routing the other devices on the LAN (this machine\'s own traffic is unaffected)',
    description: `Restores forwarding and the DNS redirect as they were; saved to the config file.\n${ACCESS_NOTE}`,
    options: CONNECTION,
    run: (ctx) => withService(ctx, async (c) => {
      await c.api.gatewaySet({ enabled: false });
      ctx.io.stdout.write('gateway is off: LAN devices are no longer routed through this machine\n');
      return EXIT_OK;
    }),
  },
  {
    words: ['ui'],
    summary: 'print the web UI\'s address with its access token (ui.listen in the config)',
    description: `Open the printed URL in a browser on this machine. The token in it (after #) is the key: keep it\nprivate. The service serves the UI when ui.listen is set, e.g. "127.0.0.1:5359".\n${ACCESS_NOTE}`,
    options: { json: JSON_OUT, ...CONNECTION },
    run: (ctx) => withService(ctx, async (c) => {
      const r = await c.api.uiInfo();
      if (ctx.values.json) return printJson(ctx, r);
      if (!r.enabled) return fail(ctx, 'the web UI is off: set ui.listen in the config (e.g. "127.0.0.1:5359") and restart the service');
      ctx.io.stdout.write(`${r.url}\n`);
      return EXIT_OK;
    }),
  },
  {
    words: ['close'],
    summary: 'close one live session by its ID (from `switchyard sessions`)',
    description: `TCP sessions are reset on both sides; UDP and ICMP sessions are forgotten.\n${ACCESS_NOTE}`,
    options: CONNECTION,
    positionals: [{ name: 'ID', help: 'the session id' }],
    run: (ctx) => {
      const text = ctx.positionals[0]!;
      if (!/^\d+$/.test(text)) return Promise.resolve(usage(ctx, 'close', `"${text}" is not a session id (a number)`));
      return withService(ctx, async (c) => {
        await c.api.sessionsClose({ id: Number(text) });
        ctx.io.stdout.write(`closed session ${text}\n`);
        return EXIT_OK;
      });
    },
  },
  {
    words: ['usage'],
    summary: 'show traffic history per minute or hour, for one app, one device or everything',
    description:
      '--since takes a duration back from now (30m, 1h, 24h, 7d) or an ISO date (2026-11-25T08:00).\n' +
      `The resolution defaults to minutes for up to 3 hours, hours beyond.\n${ACCESS_NOTE}`,
    options: {
      app: { type: 'string', value: 'TEXT', help: 'only apps matching TEXT' },
      device: { type: 'string', value: 'TEXT', help: 'only devices matching TEXT' },
      since: { type: 'string', value: 'WHEN', help: 'start of the history (default 24h)' },
      resolution: { type: 'string', value: 'R', help: 'minute or hour' },
      json: JSON_OUT,
      ...CONNECTION,
    },
    run: runUsage,
  },
  ...rulesCommands(KIT),
  ...upstreamsCommands(KIT),
];

/** Connects with the real client (loaded lazily, so other commands never load it). */
export async function connectControl(socketPath: string, clientName: string): Promise<ControlSession> {
  const { ControlClient } = await import('../control/client.js');
  return ControlClient.connect({ socketPath, clientName });
}
