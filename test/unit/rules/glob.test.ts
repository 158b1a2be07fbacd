// The safe glob used by app matchers (app/rules/glob.ts), against a table and a naive reference.
import { describe, expect, it } from 'vitest';
import { compileGlob } from '../../../app/rules/glob.js';

describe('compileGlob', () => {
  it.each([
    // pattern, path mode, ignoreCase, text, matches
    ['curl', false, false, 'curl', true],
    ['curl', false, false, 'Curl', false],
    ['curl', false, true, 'CURL', true],
    ['cur*', false, false, 'curl', true],
    ['cur*', false, false, 'cur', true],
    ['*url', false, false, 'curl', true],
    ['c?rl', false, false, 'curl', true],
    ['c?rl', false, false, 'crl', false],
    ['*', false, false, '', true],
    ['?', false, false, '', false],
    ['a*b*c', false, false, 'aXXbYYc', true],
    ['a*b*c', false, false, 'aXXcYYb', false],
    ['a**b', false, false, 'a/x/b', true],
    // regex metacharacters are literals: no injection
    ['a.c', false, false, 'abc', false],
    ['a.c', false, false, 'a.c', true],
    ['(x+)+$', false, false, '(x+)+$', true],
    ['[ab]', false, false, 'a', false],
    ['[ab]', false, false, '[ab]', true],
    // path mode: * and ? stay in a segment, ** crosses
    ['/usr/bin/*', true, false, '/usr/bin/curl', true],
    ['/usr/bin/*', true, false, '/usr/bin/x/curl', false],
    ['/usr/**', true, false, '/usr/bin/x/curl', true],
    ['/usr/**/curl', true, false, '/usr/local/bin/curl', true],
    ['/usr/?in/curl', true, false, '/usr/bin/curl', true],
    ['/usr?bin/curl', true, false, '/usr/bin/curl', false],
    ['*/curl', true, false, '/curl', true],
    ['C:\\Program Files\\*\\app.exe', true, true, 'c:\\program files\\Vendor\\APP.EXE', true],
    ['C:\\Program Files\\*\\app.exe', true, true, 'c:\\program files\\a\\b\\app.exe', false],
    // ignoreCase folds ASCII only
    ['straße', false, true, 'STRAßE', true],
    ['é*', false, true, 'É', false],
  ])('%s (path %s, ignoreCase %s) on %s → %s', (pattern, path, ignoreCase, text, expected) => {
    expect(compileGlob(pattern, { path, ignoreCase }).test(text)).toBe(expected);
  });

  it('answers in linear time on patterns that make backtracking regexes explode', () => {
    const g = compileGlob('*a*a*a*a*a*a*a*a*a*a*b', { path: false, ignoreCase: false });
    const start = performance.now();
    expect(g.test('a'.repeat(5000))).toBe(false);
    expect(performance.now() - start).toBeLessThan(2000); // exponential would never finish
  });

  it('agrees with a naive recursive matcher on random patterns and paths', () => {
    const ref = (p: string, t: string): boolean => {
      if (p === '') return t === '';
      if (p.startsWith('**')) { for (let k = 0; k <= t.length; k++) if (ref(p.slice(2), t.slice(k))) return true; return false; }
      if (p[0] === '*') { for (let k = 0; k <= t.length && (k === 0 || t[k - 1] !== '/'); k++) if (ref(p.slice(1), t.slice(k))) return true; return false; }
      if (t === '') return false;
      if (p[0] === '?') return t[0] !== '/' && ref(p.slice(1), t.slice(1));
      return p[0] === t[0] && ref(p.slice(1), t.slice(1));
    };
    let seed = 7;
    const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
    const pick = (chars: string, len: number) => Array.from({ length: len }, () => chars[rnd(chars.length)]).join('');
    for (let i = 0; i < 3000; i++) {
      const p = pick('ab/*?', rnd(7)).replace(/\*{3,}/g, '**');
      const t = pick('ab/', rnd(9));
      expect(compileGlob(p, { path: true, ignoreCase: false }).test(t), `${p} on ${t}`).toBe(ref(p, t));
    }
  });
});
