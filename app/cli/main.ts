// The `switchyard` command line. One table (COMMANDS) declares every command: its words, options,
// help text and handler; parsing, help and errors are derived from it. Adding a command is one entry.
// Exit codes: 0 success, 1 runtime failure, 2 usage or config error (nothing was touched).
import { version } from '../version.js';
import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createLogger, type LogLevel } from '../log.js';
import { ConfigError, DEFAULT_CONFIG_TEXT, loadConfig, type Config } from '../service/config.js';
import type { RunningService } from '../service/service.js';
import type { Logger } from '../log.js';
import { CONTROL_COMMANDS, connectControl, type ControlSession } from './control.js';

/** Where the CLI writes; tests pass string collectors. */
export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** What the CLI needs from the outside world; replaced in tests. */
export interface CliDeps {
  startService(config: Config, log: Logger, options?: { configPath?: string }): Promise<RunningService>;
  cleanupService(config: Config, log: Logger): Promise<string[]>;
  /** True when the process may create TUN devices and change routing (root or CAP_NET_ADMIN). */
  isPrivileged(): boolean;
  /** Calls `handler` on SIGINT/SIGTERM until the returned function is called. */
  onSignal(handler: (signal: NodeJS.Signals) => void): () => void;
  /** Connects to the service's control socket (rejects with a ProtocolError); default: the real client. */
  connect?(socketPath: string): Promise<ControlSession>;
  /** The clock, for ages and `--since`; default Date.now. */
  now?(): number;
}

const EXIT_OK = 0, EXIT_FAILURE = 1, EXIT_USAGE = 2;
const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** One option of a command. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Placeholder shown in help, e.g. FILE. */
  value?: string;
  required?: boolean;
  help: string;
}

type Values = Record<string, string | boolean | undefined>;

/** What a command's run() gets. */
export interface CliContext { io: CliIo; deps: Required<CliDeps>; values: Values; positionals: string[] }
type Context = CliContext;

/** One entry of the command table. */
export interface Command {
  /** The words that select it: ['up'], ['config', 'check']. */
  words: string[];
  summary: string;
  /** Paragraphs shown under the usage line of `<command> --help`. */
  description: string;
  options: Record<string, OptionSpec>;
  /** Required positional arguments, e.g. [{ name: 'ID' }] for `close ID`. */
  positionals?: { name: string; help: string }[];
  /** True when run() uses the service (startService, cleanupService, privilege, signals). */
  service?: boolean;
  run(ctx: Context): Promise<number>;
}

const CONFIG_OPTION: OptionSpec = { type: 'string', short: 'c', value: 'FILE', required: true, help: 'the YAML config file' };

const COMMANDS: Command[] = [
  {
    words: ['up'],
    summary: 'run the routing service in the foreground (needs root)',
    description:
      'Validates the config, creates the TUN device, routes the configured destinations through it and\n' +
      'forwards every flow until SIGINT or SIGTERM (Ctrl-C), then restores routing and removes the TUN.\n' +
      'A second signal while stopping exits at once (status 1); `switchyard cleanup` undoes what is left.\n' +
      'Needs root or CAP_NET_ADMIN. Logs go to stderr.',
    options: {
      config: CONFIG_OPTION,
      'log-level': { type: 'string', value: 'LEVEL', help: 'debug, info, warn or error (overrides log.level in the config)' },
    },
    service: true,
    run: runUp,
  },
  {
    words: ['cleanup'],
    summary: 'undo routes, rules and devices left by a crashed or killed run',
    description:
      'Reads the journal in the config\'s stateDir and undoes every OS change it records, printing one\n' +
      'line per change. Safe to run at any time; prints "nothing to clean up" when there is nothing.\n' +
      'Needs root or CAP_NET_ADMIN.',
    options: { config: CONFIG_OPTION },
    service: true,
    run: runCleanup,
  },
  {
    words: ['config', 'check'],
    summary: 'validate a config file',
    description: 'Prints "OK" when the file is valid, otherwise one line per problem (status 2). Touches nothing.',
    options: { config: CONFIG_OPTION },
    run: async ({ io, values }) => {
      const config = await loadConfigOrReport(values.config as string, io);
      if (!config) return EXIT_USAGE;
      io.stdout.write(`OK: ${values.config as string} is a valid config\n`);
      return EXIT_OK;
    },
  },
  {
    words: ['config', 'example'],
    summary: 'print a commented example config with every default',
    description: 'Prints a config file that sets every key to its default, with a comment on each.\n' +
      'Start from it: switchyard config example > /etc/switchyard/config.yaml',
    options: {},
    run: async ({ io }) => { io.stdout.write(DEFAULT_CONFIG_TEXT); return EXIT_OK; },
  },
  ...CONTROL_COMMANDS,
];

function commandName(cmd: Command): string { return cmd.words.join(' '); }

function usageLine(cmd: Command): string {
  const opts = Object.entries(cmd.options).map(([name, o]) => {
    const flag = `--${name}${o.value ? ` ${o.value}` : ''}`;
    return o.required ? flag : `[${flag}]`;
  });
  const pos = (cmd.positionals ?? []).map((p) => p.name);
  return `switchyard ${[commandName(cmd), ...pos, ...opts].join(' ')}`;
}

function commandHelp(cmd: Command): string {
  const rows: [string, string][] = Object.entries(cmd.options).map(([name, o]) =>
    [`${o.short ? `-${o.short}, ` : '    '}--${name}${o.value ? ` ${o.value}` : ''}`, o.help + (o.required ? ' (required)' : '')]);
  rows.push(['-h, --help', 'show this help']);
  const args = cmd.positionals?.length ? `Arguments:\n${table(cmd.positionals.map((p) => [p.name, p.help]))}\n` : '';
  return `Usage: ${usageLine(cmd)}\n\n${cmd.summary[0]!.toUpperCase()}${cmd.summary.slice(1)}.\n\n${cmd.description}\n\n${args}Options:\n${table(rows)}`;
}

function globalHelp(): string {
  return 'Usage: switchyard <command> [options]\n\n' +
    'Switchyard routes this machine\'s traffic through a TUN device and forwards every flow.\n\n' +
    `Commands:\n${table(COMMANDS.map((c) => [commandName(c), c.summary]))}\n` +
    `Options:\n${table([['-h, --help', 'show this help; `switchyard <command> --help` for a command'], ['--version', 'print the version']])}\n` +
    'Exit status: 0 success, 1 failure, 2 usage or config error.\n';
}

function table(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([a]) => a.length));
  return rows.map(([a, b]) => `  ${a.padEnd(width)}  ${b}\n`).join('');
}

function usageError(io: CliIo, message: string, helpHint: string): number {
  io.stderr.write(`switchyard: ${message}\nRun "${helpHint}" for usage.\n`);
  return EXIT_USAGE;
}

/** Explains a node:util parseArgs error in one line. */
function describeParseError(e: unknown): string {
  const err = e as { code?: string; message?: string };
  const msg = err.message ?? String(e);
  const quoted = /'([^']+)'/.exec(msg)?.[1];
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': return `unknown option "${quoted ?? msg}"`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': return `unexpected argument "${quoted ?? msg}"`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const long = /--[\w-]+/.exec(quoted ?? '')?.[0];
      return /argument missing/.test(msg) && long ? `option "${long}" needs a value` : msg.replace(/\.$/, '');
    }
    default: return msg;
  }
}

async function loadConfigOrReport(path: string, io: CliIo): Promise<Config | null> {
  try {
    return await loadConfig(path);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    io.stderr.write(`switchyard: invalid config ${path}:\n${e.issues.map((i) => `  ${i}\n`).join('')}`);
    return null;
  }
}

function stderrLogger(level: LogLevel, io: CliIo): Logger {
  return createLogger(level, (line) => io.stderr.write(line + '\n'));
}

function notPrivileged(io: CliIo, what: string): number {
  io.stderr.write(`switchyard: ${what} needs root (or CAP_NET_ADMIN) to change network devices and routing.\n` +
    'Run it with sudo, or as the installed system service.\n');
  return EXIT_FAILURE;
}

function isPermissionError(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === 'EPERM' || code === 'EACCES' || /\bEPERM\b|operation not permitted/i.test(String((e as Error).message ?? e));
}

async function runUp({ io, deps, values }: Context): Promise<number> {
  const level = values['log-level'] as string | undefined;
  if (level !== undefined && !LOG_LEVELS.includes(level as LogLevel)) {
    return usageError(io, `--log-level: "${level}" is not one of ${LOG_LEVELS.join(', ')}`, 'switchyard up --help');
  }
  const config = await loadConfigOrReport(values.config as string, io);
  if (!config) return EXIT_USAGE;
  if (!deps.isPrivileged()) return notPrivileged(io, 'switchyard up');
  const log = stderrLogger((level as LogLevel | undefined) ?? config.log.level, io);

  let stopping: NodeJS.Signals | null = null;
  let forceExit!: (code: number) => void;
  const forced = new Promise<number>((resolve) => { forceExit = resolve; });
  let service: RunningService | null = null;
  const unsubscribe = deps.onSignal((signal) => {
    if (stopping) {
      log.error('second signal while stopping: exiting now; run `switchyard cleanup` if anything is left', { signal });
      forceExit(EXIT_FAILURE);
      return;
    }
    stopping = signal;
    log.info('stopping', { signal });
    service?.stop(`signal ${signal}`).catch((e: unknown) => log.error('stop failed', { error: String((e as Error).message ?? e) }));
  });
  try {
    try {
      service = await Promise.race([deps.startService(config, log, { configPath: values.config as string }), forced.then(() => null)]);
    } catch (e) {
      if (isPermissionError(e)) return notPrivileged(io, 'switchyard up');
      log.error('failed to start', { error: String((e as Error).message ?? e) });
      return EXIT_FAILURE;
    }
    if (!service) return EXIT_FAILURE; // forced during start
    if (stopping) service.stop(`signal ${stopping}`).catch(() => undefined); // signal arrived while starting
    const outcome = await Promise.race([
      service.done.then(() => (stopping ? EXIT_OK : 'unexpected' as const), (e: unknown) => e instanceof Error ? e : new Error(String(e))),
      forced,
    ]);
    if (outcome === 'unexpected') { log.error('service stopped unexpectedly'); return EXIT_FAILURE; }
    if (outcome instanceof Error) { log.error('service failed', { error: outcome.message }); return EXIT_FAILURE; }
    if (outcome === EXIT_OK) log.info('stopped');
    return outcome;
  } finally {
    unsubscribe();
  }
}

async function runCleanup({ io, deps, values }: Context): Promise<number> {
  const config = await loadConfigOrReport(values.config as string, io);
  if (!config) return EXIT_USAGE;
  if (!deps.isPrivileged()) return notPrivileged(io, 'switchyard cleanup');
  let undone: string[];
  try {
    undone = await deps.cleanupService(config, stderrLogger(config.log.level, io));
  } catch (e) {
    if (isPermissionError(e)) return notPrivileged(io, 'switchyard cleanup');
    io.stderr.write(`switchyard: cleanup failed: ${String((e as Error).message ?? e)}\n`);
    return EXIT_FAILURE;
  }
  io.stdout.write(undone.length ? undone.map((l) => `undone: ${l}\n`).join('') : 'nothing to clean up\n');
  return EXIT_OK;
}

/** Root, or CAP_NET_ADMIN (bit 12) in the effective set on Linux. */
function isPrivileged(): boolean {
  if (process.getuid?.() === 0) return true;
  if (process.platform !== 'linux') return false;
  try {
    const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    return capEff !== undefined && (BigInt(`0x${capEff}`) & (1n << 12n)) !== 0n;
  } catch { return false; }
}

/** Dependencies that load nothing heavy: signals, the clock, the control client (imported on use). */
function baseDeps(): Omit<CliDeps, 'startService' | 'cleanupService'> {
  return {
    isPrivileged,
    onSignal(handler) {
      const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
      for (const s of signals) process.on(s, handler);
      return () => { for (const s of signals) process.off(s, handler); };
    },
    connect: (socketPath) => connectControl(socketPath, `switchyard-cli ${version()}`),
    now: Date.now,
  };
}

async function defaultDeps(): Promise<Pick<CliDeps, 'startService' | 'cleanupService'>> {
  // Loaded lazily so `--help` and `config` commands never load the service (and koffi).
  const service = await import('../service/service.js');
  return { startService: service.startService, cleanupService: service.cleanupService };
}

/** Runs the CLI with `argv` (without node and script) and returns the exit status. */
export async function main(argv: string[], io: CliIo = process, deps?: Partial<CliDeps>): Promise<number> {
  const words: string[] = [];
  for (const a of argv) { if (a.startsWith('-')) break; words.push(a); }
  const cmd = COMMANDS
    .filter((c) => c.words.every((w, i) => words[i] === w))
    .sort((a, b) => b.words.length - a.words.length)[0];

  if (!cmd) {
    if (words.length === 0) {
      if (argv.length === 0) { io.stderr.write(globalHelp()); return EXIT_USAGE; }
      const rest = argv.filter((a) => a !== '-h' && a !== '--help' && a !== '--version');
      if (rest.length > 0) return usageError(io, `unknown option "${rest[0]}"`, 'switchyard --help');
      if (argv.includes('-h') || argv.includes('--help')) { io.stdout.write(globalHelp()); return EXIT_OK; }
      io.stdout.write(`switchyard ${version()}\n`);
      return EXIT_OK;
    }
    // A group word alone ("config") or with an unknown sub-command: list what the group has.
    const group = COMMANDS.filter((c) => c.words.length > 1 && c.words[0] === words[0]);
    if (group.length > 0) {
      const asked = words[1] === undefined && (argv.includes('-h') || argv.includes('--help'));
      const text = `Usage: switchyard ${words[0]} <command> [options]\n\nCommands:\n${table(group.map((c) => [commandName(c), c.summary]))}`;
      if (asked) { io.stdout.write(text); return EXIT_OK; }
      io.stderr.write(words[1] === undefined ? `switchyard: "${words[0]}" needs a command\n` : `switchyard: unknown command "${words.slice(0, 2).join(' ')}"\n`);
      io.stderr.write(text);
      return EXIT_USAGE;
    }
    return usageError(io, `unknown command "${words[0]}"`, 'switchyard --help');
  }

  const args = argv.slice(cmd.words.length);
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, o] of Object.entries(cmd.options)) options[name] = o.short ? { type: o.type, short: o.short } : { type: o.type };
  let values: Values;
  let positionals: string[];
  const wanted = cmd.positionals ?? [];
  try {
    const parsed = parseArgs({ args, options, strict: true, allowPositionals: wanted.length > 0 });
    values = parsed.values as Values;
    positionals = parsed.positionals;
  } catch (e) {
    // `--help` wins over any other mistake on the same line.
    if (args.includes('-h') || args.includes('--help')) { io.stdout.write(commandHelp(cmd)); return EXIT_OK; }
    return usageError(io, `${commandName(cmd)}: ${describeParseError(e)}`, `switchyard ${commandName(cmd)} --help`);
  }
  if (values.help) { io.stdout.write(commandHelp(cmd)); return EXIT_OK; }
  const hint = `switchyard ${commandName(cmd)} --help`;
  if (positionals.length < wanted.length) return usageError(io, `${commandName(cmd)}: ${wanted[positionals.length]!.name} is required`, hint);
  if (positionals.length > wanted.length) return usageError(io, `${commandName(cmd)}: unexpected argument "${positionals[wanted.length]!}"`, hint);
  for (const [name, o] of Object.entries(cmd.options)) {
    if (o.required && values[name] === undefined) {
      return usageError(io, `${commandName(cmd)}: --${name} ${o.value ?? ''} is required`.replace(/ +is/, ' is'), `switchyard ${commandName(cmd)} --help`);
    }
  }
  try {
    const complete = deps?.startService && deps.cleanupService && deps.isPrivileged && deps.onSignal;
    const full = { ...baseDeps(), ...(cmd.service && !complete ? await defaultDeps() : {}), ...deps } as Required<CliDeps>;
    return await cmd.run({ io, deps: full, values, positionals });
  } catch (e) {
    io.stderr.write(`switchyard: ${commandName(cmd)} failed: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT_FAILURE;
  }
}

/** Runs main() on this process's arguments and exits with its status (used by bin.js). */
export async function runCli(): Promise<void> {
  const code = await main(process.argv.slice(2));
  // Let stdout/stderr drain (pipes are asynchronous on some platforms), but do not wait for handles a
  // forced stop (second signal) left open: exit after a short grace period whatever is still running.
  process.exitCode = code;
  setTimeout(() => process.exit(code), 500).unref();
}

function executedDirectly(): boolean {
  if (!process.argv[1]) return false;
  try { return pathToFileURL(realpathSync(process.argv[1])).href === import.meta.url; } catch { return false; }
}

if (executedDirectly()) void runCli();
