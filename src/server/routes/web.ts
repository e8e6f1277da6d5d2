/**
 * The web form at `/`: one HTML page, one stylesheet, one script (plain ES2022, no framework or bundler), read
 * once at start-up from `src/server/web/` and served with a strict Content-Security-Policy.
 */
import { readFileSync } from 'node:fs';
import { Hono } from 'hono';

const WEB_DIR = new URL('../web/', import.meta.url);

/** Only our own script and styles; images from our API or data/blob URLs (the photo preview). */
const CSP = "default-src 'self'; img-src 'self' data: blob:; script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'";

/** The site icon: a small SVG (browsers accept SVG at /favicon.ico with its content type). */
const FAVICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1d4ed8"/><path d="M4 11c2-6 6-6 8 0" stroke="#fff" stroke-width="2" fill="none"/></svg>';

const ASSETS = {
  html: { file: 'index.html', type: 'text/html; charset=utf-8' },
  js: { file: 'form.js', type: 'text/javascript; charset=utf-8' },
  fast: { file: 'fast.js', type: 'text/javascript; charset=utf-8' },
  css: { file: 'form.css', type: 'text/css; charset=utf-8' },
} as const;

export function webRoutes() {
  const text = Object.fromEntries(
    Object.entries(ASSETS).map(([k, a]) => [k, readFileSync(new URL(a.file, WEB_DIR), 'utf8')]),
  ) as Record<keyof typeof ASSETS, string>;
  const serve = (key: keyof typeof ASSETS) => () =>
    new Response(text[key], {
      headers: {
        'Content-Type': ASSETS[key].type,
        'Content-Security-Policy': CSP,
        'X-Content-Type-Options': 'nosniff',
        'Cache-Control': 'no-cache',
      },
    });
  return new Hono()
    .get('/favicon.ico', () => new Response(FAVICON, { headers: { 'Content-Type': 'image/svg+xml', 'Cache-Control': 'max-age=86400' } }))
    .get('/', serve('html')).get('/static/form.js', serve('js')).get('/static/fast.js', serve('fast')).get('/static/form.css', serve('css'));
}
