// main — what `app://switchyard/<path>` serves: files of the built renderer (dist/renderer) and
// nothing else. Pure: URL → file path (or a status), content types and response headers; the edge
// reads the file. Paths are decoded once, normalised, and must stay inside the renderer folder.
import path from 'node:path';
import { APP_HOST, APP_SCHEME, CONTENT_SECURITY_POLICY } from './window-policy.js';

/** A resolved request: the file to send, or the status to answer with. */
export type AppRequest = { file: string; contentType: string } | { status: 400 | 403 | 404 };

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8', // module scripts are refused without a JavaScript type
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
};

/** The Content-Type for a file name (application/octet-stream when unknown). */
export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * Maps a request URL to a file under `rendererDir`. `/` is index.html; a path without an extension
 * (a client-side route) is index.html too; anything escaping the folder is 403.
 */
export function resolveAppRequest(url: string, rendererDir: string): AppRequest {
  let u: URL;
  try { u = new URL(url); } catch { return { status: 400 }; }
  if (u.protocol !== `${APP_SCHEME}:` || u.host !== APP_HOST) return { status: 403 };
  let rel: string;
  try { rel = decodeURIComponent(u.pathname); } catch { return { status: 400 }; }
  if (rel.includes('\0') || rel.includes('\\')) return { status: 400 };
  const normal = path.posix.normalize(rel);
  if (normal.split('/').includes('..')) return { status: 403 };
  let relPath = normal.replace(/^\/+/, '');
  if (relPath === '' || path.posix.extname(relPath) === '') relPath = 'index.html';
  const root = path.resolve(rendererDir);
  const file = path.resolve(root, ...relPath.split('/'));
  if (file !== root && !file.startsWith(root + path.sep)) return { status: 403 };
  return { file, contentType: contentTypeOf(file) };
}

/** Headers of every response from app://: the CSP travels with each document. */
export function responseHeaders(contentType: string): Record<string, string> {
  return {
    'Content-Type': contentType,
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-cache',
  };
}
