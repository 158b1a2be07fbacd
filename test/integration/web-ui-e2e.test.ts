// Issue 5, end to end: the web UI in a real browser (Debian's Chromium through playwright-core)
// against the real service in a network namespace, with real traffic flowing. Chromium runs inside the
// client namespace (a wrapper `ip netns exec`s it), where the service serves the UI on loopback.
//
//   client ns: switchyard (TUN, ui.listen 127.0.0.1:5359), Chromium, curl
//   server ns: nginx (big file), dante (SOCKS5; logs every connect it carries)
//
// Proven: a running curl's session appears within a second with the right app; routing off and on
// from the Overview switch; "make a rule from a session" sends the next connection through dante
// (dante's own log); the usage graph of curl shows the bytes it moved; the WebSocket refuses a missing
// or wrong token and a foreign Origin. Screenshots of each view, light and dark, go to
// test-results/screenshots/ for review.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Lab, execIn } from '../support/netns.js';
import { standardTopology, ADDR, type StandardTopology } from '../support/topology.js';
import { PeerSet, type NginxPeer } from '../support/peers.js';
import { ServiceFiles, ServiceProcess, spawnService, runCli, REPO_ROOT } from '../support/service.js';

const CHROMIUM = '/usr/bin/chromium';
const UI_PORT = 5359;
const SHOTS = join(REPO_ROOT, 'test-results', 'screenshots');

describe('the web UI in Chromium against the running service', () => {
  const lab = new Lab('syui');
  let topo: StandardTopology;
  let peers: PeerSet;
  let nginx: NginxPeer;
  let files: ServiceFiles;
  let svc: ServiceProcess | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let url: string;
  let danteLog: string;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)`);
    topo = await standardTopology(lab);
    peers = await PeerSet.create(lab, topo.server);
    nginx = await peers.nginx({ bigBytes: 16 * 1024 * 1024, smallCount: 1 });
    danteLog = join(peers.dir, 'dante.log');
    await peers.dante(ADDR.server4, 1080, { logFile: danteLog });
    files = await ServiceFiles.create(lab.id, {
      ui: { listen: `127.0.0.1:${UI_PORT}` },
      upstreams: [{ name: 'dante', type: 'socks5', address: ADDR.server4, port: 1080 }],
    });
    svc = spawnService(lab, topo.client, files);
    await svc.waitReady(30_000);
    const r = await runCli(topo.client, ['ui', '--config', files.configPath]);
    expect(r.code, r.stdout + r.stderr + svc.tail()).toBe(0);
    url = r.stdout.trim();
    expect(url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${UI_PORT}/#token=[A-Za-z0-9_-]{20,}$`));
    // Chromium inside the client namespace, where the UI listens.
    const wrapper = join(files.dir, 'chromium-in-ns.sh');
    await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec ${topo.client} ${CHROMIUM} "$@"\n`);
    await chmod(wrapper, 0o755);
    browser = await chromium.launch({
      executablePath: wrapper,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await mkdir(SHOTS, { recursive: true });
  }, 120_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    if (svc?.running) await svc.stop('SIGTERM', 10_000).catch(() => undefined);
    await lab.destroy();
    await peers?.dispose();
    await files?.remove();
  });

  const why = (extra?: unknown): string => `${extra === undefined ? '' : `${String(extra)}\n`}--- switchyard log ---\n${svc?.tail(30) ?? '(none)'}`;
  const nav = async (name: string) => { await page.getByRole('navigation', { name: 'Views' }).getByRole('button', { name }).click(); };
  const shot = async (name: string) => {
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.waitForTimeout(150);
      await page.screenshot({ path: join(SHOTS, `${name}-${scheme}.png`) });
    }
    await page.emulateMedia({ colorScheme: 'light' });
  };
  const danteConnects = async () => (await readFile(danteLog, 'utf8').catch(() => '')).split('\n').filter((l) => /tcp\/connect/.test(l) && l.includes(`${ADDR.offlink4}.80`)).length;

  it('loads over the token URL and connects (the token leaves the address bar)', async () => {
    await page.goto(url);
    await expect.poll(async () => page.getByText('Connected', { exact: true }).count(), { timeout: 10_000 }).toBeGreaterThan(0);
    expect(page.url()).not.toContain('token=');
    await shot('overview');
  });

  it('a running curl appears in Sessions within a second, with its app', async () => {
    await nav('Sessions');
    const curl = lab.spawn(topo.client, 'curl', ['-s', '--limit-rate', '300k', '-o', '/dev/null', `http://${ADDR.offlink4}${nginx.big.path}`]);
    try {
      const t0 = Date.now();
      const row = page.getByRole('grid', { name: 'Live sessions' }).getByRole('row').filter({ hasText: 'curl' }).filter({ hasText: `${ADDR.offlink4}` });
      await row.first().waitFor({ timeout: 5000 });
      // The tick is once a second; the row is there within about a second of the connection.
      expect(Date.now() - t0, why()).toBeLessThan(2500);
      await shot('sessions');
    } finally {
      curl.kill('SIGKILL');
    }
  });

  it('turns routing off and on from the Overview switch', async () => {
    await nav('Overview');
    const sw = page.getByRole('switch', { name: 'Route traffic through Switchyard' });
    await expect.poll(async () => sw.getAttribute('aria-checked')).toBe('true');
    await sw.click();
    await expect.poll(async () => sw.getAttribute('aria-checked'), { timeout: 5000 }).toBe('false');
    const off = await runCli(topo.client, ['status', '--json', '--config', files.configPath]);
    expect(JSON.parse(off.stdout).routing, why(off.stdout)).toBe(false);
    expect((await execIn(topo.client, 'ip', ['route', 'get', ADDR.offlink4])).stdout).not.toMatch(/ dev sy0 /);
    await sw.click();
    await expect.poll(async () => sw.getAttribute('aria-checked'), { timeout: 5000 }).toBe('true');
    expect((await execIn(topo.client, 'ip', ['route', 'get', ADDR.offlink4])).stdout).toMatch(/ dev sy0 /);
  });

  it('making a rule from a session sends the next connection through the upstream (dante\'s log)', async () => {
    await nav('Sessions');
    const curl = lab.spawn(topo.client, 'curl', ['-s', '--limit-rate', '200k', '-o', '/dev/null', `http://${ADDR.offlink4}${nginx.big.path}`]);
    try {
      const grid = page.getByRole('grid', { name: 'Live sessions' });
      const row = grid.getByRole('row').filter({ hasText: 'curl' }).first();
      await row.waitFor({ timeout: 5000 });
      await row.getByRole('button', { name: /^Make a rule from session/ }).click({ force: true });
      const dialog = page.getByRole('dialog');
      await dialog.getByRole('radio').first().check(); // the app (curl)
      await dialog.locator('input[name="action"][value="upstream"]').check();
      await dialog.getByRole('combobox', { name: 'Upstream' }).selectOption('dante');
      await shot('make-rule');
      await dialog.getByRole('button', { name: 'Preview' }).click();
      await dialog.getByRole('button', { name: 'Add rule' }).click();
      await dialog.waitFor({ state: 'detached', timeout: 5000 });
    } finally {
      curl.kill('SIGKILL');
    }
    const list = await runCli(topo.client, ['rules', 'list', '--json', '--config', files.configPath]);
    expect(list.stdout, why(list.stdout)).toMatch(/"upstream": "dante"/);
    const before = await danteConnects();
    const r = await execIn(topo.client, 'curl', ['-sS', '-m', '10', '-o', '/dev/null', '-w', '%{http_code}', `http://${ADDR.offlink4}/small/0.bin`], { allowFail: true });
    expect(r.stdout, why(r.stderr)).toBe('200');
    await expect.poll(danteConnects, { timeout: 3000 }).toBeGreaterThan(before);
    await nav('Rules');
    await page.getByText('dante').first().waitFor({ timeout: 5000 });
    await shot('rules');
  });

  it('the usage graph of curl shows the bytes it moved', async () => {
    // 2 MiB through curl, then the history (minute buckets) has them.
    const r = await execIn(topo.client, 'curl', ['-sS', '-m', '20', '-o', '/dev/null', '-r', '0-2097151', `http://${ADDR.offlink4}${nginx.big.path}`], { allowFail: true, timeoutMs: 30_000 });
    expect(r.code, why(r.stderr)).toBe(0);
    await new Promise((res) => setTimeout(res, 2500));
    await nav('Apps and devices');
    await page.getByRole('button', { name: /^Show details of curl/ }).first().click();
    const total = page.getByText(/^In total: /).first();
    await total.waitFor({ timeout: 5000 });
    await expect.poll(async () => parseMiB((await total.textContent()) ?? ''), { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    await shot('apps');
    await nav('Settings');
    await shot('settings');
  });

  it('the WebSocket refuses a missing or wrong token and a foreign Origin', async () => {
    const probe = async (headers: Record<string, string>) => {
      const args = ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-m', '5', `http://127.0.0.1:${UI_PORT}/api`,
        '-H', 'Connection: Upgrade', '-H', 'Upgrade: websocket', '-H', 'Sec-WebSocket-Version: 13', '-H', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='];
      for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
      return (await execIn(topo.client, 'curl', args, { allowFail: true })).stdout;
    };
    const token = url.split('#token=')[1]!;
    const origin = `http://127.0.0.1:${UI_PORT}`;
    expect(await probe({ Origin: origin, 'Sec-WebSocket-Protocol': 'switchyard.v1' })).toMatch(/^40[13]$/);
    expect(await probe({ Origin: origin, 'Sec-WebSocket-Protocol': 'switchyard.v1, switchyard.token.wrongwrongwrongwrongwrong' })).toMatch(/^40[13]$/);
    expect(await probe({ Origin: 'http://evil.example', 'Sec-WebSocket-Protocol': `switchyard.v1, switchyard.token.${token}` })).toMatch(/^40[13]$/);
    expect(await probe({ Origin: origin, 'Sec-WebSocket-Protocol': `switchyard.v1, switchyard.token.${token}` })).toBe('101');
  });
});

/** "In total: 2.1 MiB down, …" → 2.1 (in MiB). */
function parseMiB(text: string): number {
  const m = /In total: ([\d.]+) (B|KiB|MiB|GiB) down/.exec(text);
  if (!m) return 0;
  const n = Number(m[1]);
  return m[2] === 'GiB' ? n * 1024 : m[2] === 'MiB' ? n : m[2] === 'KiB' ? n / 1024 : n / 1048576;
}
