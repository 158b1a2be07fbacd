// The CLI (app/cli/main.ts) driven through main(argv, io, deps): help, usage errors, config commands,
// and `up`/`cleanup` against a fake service (no OS changes).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliDeps } from '../../../app/cli/main.js';
import { DEFAULT_CONFIG_TEXT, type Config } from '../../../app/service/config.js';
import type { RunningService } from '../../../app/service/service.js';

interface Run { code: number; stdout: string; stderr: string }

async function cli(argv: string[], deps?: Partial<CliDeps>): Promise<Run> {
  let stdout = '', stderr = '';
  const io = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } };
  const code = await main(argv, io, deps);
  return { code, stdout, stderr };
}

let dir = '';
let good = '', bad = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sy-cli-'));
  good = join(dir, 'good.yaml');
  bad = join(dir, 'bad.yaml');
  await writeFile(good, 'tun: { name: sy0, mtu: 1500 }\nroute: { include: ["0.0.0.0/0", "::/0"], exclude: [] }\negress: { interface: auto }\nstateDir: /var/lib/switchyard\n');
  await writeFile(bad, 'rout: {}\ntun: { mtu: 70000 }\n');
});
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

/** A fake service whose stop() resolves `done`; records calls. */
function fakeDeps(opts: { privileged?: boolean; startError?: Error; hangStop?: boolean } = {}) {
  const calls: string[] = [];
  let signal: ((s: NodeJS.Signals) => void) | null = null;
  let started: (() => void) | null = null;
  const startedP = new Promise<void>((r) => (started = r));
  let unsubscribed = false;
  const deps: CliDeps = {
    isPrivileged: () => opts.privileged ?? true,
    onSignal: (h) => { signal = h; return () => { unsubscribed = true; }; },
    async startService(config: Config): Promise<RunningService> {
      calls.push(`start ${config.tun.name}`);
      if (opts.startError) throw opts.startError;
      let finish!: () => void;
      const done = new Promise<void>((r) => (finish = r));
      started!();
      const service: Pick<RunningService, 'done' | 'stop'> = {
        done,
        async stop(reason) { calls.push(`stop ${reason}`); if (!opts.hangStop) finish(); },
      };
      return service as RunningService; // the CLI never touches the engine
    },
    async cleanupService() { calls.push('cleanup'); return []; },
  };
  return { deps, calls, startedP, signal: (s: NodeJS.Signals) => signal!(s), unsubscribed: () => unsubscribed };
}

describe('help and version', () => {
  it('prints global help with every command on --help and -h', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await cli([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: switchyard <command> \[options\]/);
      for (const c of ['up', 'cleanup', 'config check', 'config example']) expect(r.stdout).toContain(`  ${c} `);
    }
  });

  it('prints usage to stderr and exits 2 without a command', async () => {
    const r = await cli([]);
    expect([r.code, r.stdout]).toEqual([2, '']);
    expect(r.stderr).toMatch(/^Usage: switchyard/);
  });

  it('prints the package version', async () => {
    expect(await cli(['--version'])).toEqual({ code: 0, stdout: 'switchyard 0.1.0\n', stderr: '' });
  });

  it.each([
    [['up', '--help'], 'Usage: switchyard up --config FILE [--log-level LEVEL]', ['-c, --config FILE', '--log-level LEVEL', 'SIGINT or SIGTERM']],
    [['up', '-h', '--bogus'], 'Usage: switchyard up --config FILE', []],
    [['cleanup', '--help'], 'Usage: switchyard cleanup --config FILE', ['nothing to clean up']],
    [['config', 'check', '-h'], 'Usage: switchyard config check --config FILE', ['Touches nothing']],
    [['config', 'example', '--help'], 'Usage: switchyard config example\n', []],
  ])('%j prints that command\'s help', async (argv, first, contains) => {
    const r = await cli(argv);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith(first)).toBe(true);
    for (const c of contains) expect(r.stdout).toContain(c);
    expect(r.stdout).toContain('-h, --help');
  });

  it('lists a group\'s commands for "config --help"', async () => {
    const r = await cli(['config', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('config check');
    expect(r.stdout).toContain('config example');
  });
});

describe('usage errors exit 2 with a hint', () => {
  it.each([
    [['frob'], 'switchyard: unknown command "frob"\nRun "switchyard --help" for usage.\n'],
    [['--frob'], 'switchyard: unknown option "--frob"\nRun "switchyard --help" for usage.\n'],
    [['up'], 'switchyard: up: --config FILE is required\nRun "switchyard up --help" for usage.\n'],
    [['up', '--config'], 'switchyard: up: option "--config" needs a value\nRun "switchyard up --help" for usage.\n'],
    [['up', '--config', 'x', '--bogus'], 'switchyard: up: unknown option "--bogus"\nRun "switchyard up --help" for usage.\n'],
    [['up', '--config', 'x', 'extra'], 'switchyard: up: unexpected argument "extra"\nRun "switchyard up --help" for usage.\n'],
    [['config', 'example', '--config', 'x'], 'switchyard: config example: unknown option "--config"\nRun "switchyard config example --help" for usage.\n'],
  ])('%j', async (argv, stderr) => {
    expect(await cli(argv)).toEqual({ code: 2, stdout: '', stderr });
  });

  it.each([[['config']], [['config', 'nope']]])('%j lists the config commands', async (argv) => {
    const r = await cli(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('config check');
  });

  it('rejects a bad --log-level before loading anything', async () => {
    const f = fakeDeps();
    const r = await cli(['up', '--config', good, '--log-level', 'loud'], f.deps);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--log-level: "loud" is not one of debug, info, warn, error');
    expect(f.calls).toEqual([]);
  });
});

describe('config commands', () => {
  it('config check prints OK for a valid file', async () => {
    expect(await cli(['config', 'check', '--config', good])).toEqual({ code: 0, stdout: `OK: ${good} is a valid config\n`, stderr: '' });
  });

  it('config check prints every issue and exits 2', async () => {
    const r = await cli(['config', 'check', '-c', bad]);
    expect(r).toEqual({
      code: 2, stdout: '',
      stderr: `switchyard: invalid config ${bad}:\n  tun.mtu: 70000 is out of range 1280..65521\n  rout: unknown key "rout" (did you mean "route"?)\n`,
    });
  });

  it('config check reports a missing file', async () => {
    const r = await cli(['config', 'check', '--config', join(dir, 'nope.yaml')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cannot read the config file (no such file)');
  });

  it('config example prints the default config text', async () => {
    expect(await cli(['config', 'example'])).toEqual({ code: 0, stdout: DEFAULT_CONFIG_TEXT, stderr: '' });
  });
});

describe('up', () => {
  it('refuses a bad config with exit 2 and starts nothing', async () => {
    const f = fakeDeps();
    const r = await cli(['up', '--config', bad], f.deps);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('tun.mtu: 70000 is out of range 1280..65521');
    expect(f.calls).toEqual([]);
  });

  it('refuses to run without privilege', async () => {
    const f = fakeDeps({ privileged: false });
    const r = await cli(['up', '--config', good], f.deps);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('needs root (or CAP_NET_ADMIN)');
    expect(f.calls).toEqual([]);
  });

  it('runs until a signal, stops with one log line, exits 0', async () => {
    const f = fakeDeps();
    const run = cli(['up', '--config', good], f.deps);
    await f.startedP;
    f.signal('SIGTERM');
    const r = await run;
    expect(r.code).toBe(0);
    expect(f.calls).toEqual(['start sy0', 'stop signal SIGTERM']);
    expect(r.stderr).toMatch(/info  stopping signal="SIGTERM"/);
    expect(f.unsubscribed()).toBe(true);
  });

  it('exits 1 at once on a second signal while stopping', async () => {
    const f = fakeDeps({ hangStop: true });
    const run = cli(['up', '--config', good, '--log-level', 'debug'], f.deps);
    await f.startedP;
    f.signal('SIGINT');
    await new Promise((r) => setTimeout(r, 10));
    f.signal('SIGINT');
    const r = await run;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('second signal while stopping');
  });

  it('reports a start failure with exit 1', async () => {
    const f = fakeDeps({ startError: new Error('TUN device busy') });
    const r = await cli(['up', '--config', good], f.deps);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error failed to start error="TUN device busy"/);
  });

  it('explains EPERM from the OS as missing privilege', async () => {
    const f = fakeDeps({ startError: Object.assign(new Error('ioctl TUNSETIFF: EPERM'), { code: 'EPERM' }) });
    const r = await cli(['up', '--config', good], f.deps);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('needs root (or CAP_NET_ADMIN)');
  });
});

describe('cleanup', () => {
  it('prints "nothing to clean up" when nothing was left', async () => {
    const f = fakeDeps();
    expect(await cli(['cleanup', '--config', good], f.deps)).toEqual({ code: 0, stdout: 'nothing to clean up\n', stderr: '' });
  });

  it('prints each undone change', async () => {
    const f = fakeDeps();
    f.deps.cleanupService = async () => ['ip rule del prio 9000', 'ip link del sy0'];
    const r = await cli(['cleanup', '--config', good], f.deps);
    expect(r).toEqual({ code: 0, stdout: 'undone: ip rule del prio 9000\nundone: ip link del sy0\n', stderr: '' });
  });
});
