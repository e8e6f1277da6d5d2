/**
 * The web form in real headless Chromium (Debian's /usr/bin/chromium driven by playwright-core) against a real
 * server with the fixture models: submit an edit from a seed, watch live progress, see before/after, download the
 * result; a screenshot is saved to tmp/web-form.png. Also: the form's own error messages.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Listening } from '../../src/server/http.js';
import { PROJECT_ROOT, fixture, sharedPath } from '../helpers/shared.js';
import { fixtureApp, listenLocal, type TestServer } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
/** Flags for a quiet, isolated headless run (no GPU, no network side traffic, no first-run UI). */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SCREENSHOT = join(PROJECT_ROOT, 'tmp', 'web-form.png');

let t: TestServer;
let server: Listening;
let profile: string;
let browser: BrowserContext;
let page: Page;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (.ci/run does)`);
  t = await fixtureApp();
  server = await listenLocal(t.app);
  profile = await mkdtemp(join(tmpdir(), 'styleclip-chromium-'));
  // A fresh --user-data-dir: playwright takes it as the persistent context's directory.
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    acceptDownloads: true,
    viewport: { width: 1200, height: 900 },
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  await page.addInitScript(() => {
    // Records every status line the form shows, so the test sees progress however fast the edit is.
    const w = window as unknown as { statusLog: string[]; statusObserver: MutationObserver };
    w.statusLog = [];
    document.addEventListener('DOMContentLoaded', () => {
      const el = document.getElementById('status')!;
      w.statusObserver = new MutationObserver(() => w.statusLog.push(el.textContent ?? ''));
      w.statusObserver.observe(el, { childList: true, characterData: true, subtree: true });
    });
  });
});

afterAll(async () => {
  await browser?.close();
  server?.stopAccepting();
  server?.closeAll();
  await t?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
});

/**
 * Chooses Optimise once the form knows the server's models: Optimise is checked (and disabled) until /v1/models
 * answers, and check() of a checked radio returns at once, so without the wait the answer could switch the form to
 * fast mode after the choice.
 */
async function chooseOptimise(): Promise<void> {
  await expect.poll(() => page.getByLabel('Optimise (slower, any prompt)').isEnabled()).toBe(true);
  await page.getByLabel('Optimise (slower, any prompt)').check();
}

describe('web form in headless Chromium', () => {
  it('submits an edit, shows live progress and before/after, and downloads the result', async () => {
    await page.goto(server.url);
    expect(await page.title()).toMatch(/styleclip/);
    await chooseOptimise();
    await page.getByLabel('Prompt', { exact: true }).fill('a person with purple hair');
    await page.getByRole('spinbutton', { name: 'Seed' }).fill('4');
    await page.locator('#steps').fill('40');
    await page.locator('#l2').fill('0.01');
    await expect.poll(() => page.locator('#steps-out').textContent()).toBe('40');
    await page.getByRole('button', { name: 'Edit' }).click();

    await page.locator('#downloads').waitFor({ state: 'visible', timeout: 60_000 });
    const log = await page.evaluate(() => (window as unknown as { statusLog: string[] }).statusLog);
    expect(log.some((s) => /^Step \d+ of 40 — loss \d/.test(s))).toBe(true);
    expect(await page.locator('#status').textContent()).toMatch(/^Done: 40 steps, final loss \d/);
    expect(await page.locator('#progress').getAttribute('value')).toBe('1');
    for (const img of ['#before', '#current']) {
      expect(await page.locator(img).evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth)).toBe(64);
    }
    expect(await page.locator('#current-caption').textContent()).toBe('After');

    await page.setViewportSize({ width: 1200, height: 760 });
    await mkdir(join(PROJECT_ROOT, 'tmp'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#dl-result').click()]);
    const saved = join(profile, 'result.png');
    await download.saveAs(saved);
    expect(download.suggestedFilename()).toMatch(/^edit-[0-9a-f-]{36}-result\.png$/);
    const meta = await sharp(await readFile(saved)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 64, 64]);
  });

  it('fast mode: a prompt renders a global-direction edit; moving a slider shows a new image and the channels kept', async () => {
    await page.goto(server.url);
    await expect.poll(() => page.getByLabel('Fast (global direction): live sliders').isChecked()).toBe(true);
    await page.getByRole('spinbutton', { name: 'Seed' }).fill('3');
    await page.getByLabel('Neutral text').fill('face with hair');
    await page.getByLabel('Prompt', { exact: true }).fill('face with purple hair');
    await page.locator('#current').waitFor({ state: 'visible', timeout: 30_000 });
    await expect.poll(() => page.locator('#channels').textContent(), { timeout: 30_000 }).toMatch(/^beta 0\.15 keeps \d+ channels\.$/);
    const first = await page.locator('#current').getAttribute('src');
    const pixels = (): Promise<string> =>
      page.locator('#current').evaluate((img: HTMLImageElement) => {
        const c = document.createElement('canvas');
        c.width = img.naturalWidth;
        c.height = img.naturalHeight;
        const ctx = c.getContext('2d')!;
        ctx.drawImage(img, 0, 0);
        return Array.from(ctx.getImageData(0, 0, c.width, c.height).data.slice(0, 4096)).join(',');
      });
    const before = await pixels();
    await page.locator('#alpha').fill('-8');
    await page.locator('#beta').fill('0.1');
    await expect.poll(() => page.locator('#current').getAttribute('src'), { timeout: 30_000 }).not.toBe(first);
    await expect.poll(() => page.locator('#channels').textContent(), { timeout: 30_000 }).toMatch(/^beta 0\.1 keeps \d+ channels\.$/);
    await expect.poll(() => page.locator('#current-caption').textContent()).toBe('alpha -8, beta 0.1');
    expect(await pixels()).not.toBe(before);
    expect(await page.locator('#before').evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth)).toBe(64);
    await page.screenshot({ path: join(PROJECT_ROOT, 'tmp', 'web-form-fast.png'), fullPage: true });
    const withDirection = await page.locator('#current').getAttribute('src');
    await page.getByLabel('Latent mapper').selectOption('purple_hair_tiny');
    await expect.poll(() => page.locator('#current-caption').textContent(), { timeout: 30_000 }).toBe('purple_hair_tiny 0.1; alpha -8, beta 0.1');
    expect(await page.locator('#current').getAttribute('src')).not.toBe(withDirection);
  });

  it('until the models answer, the method choice and the submit button wait (a choice is never switched by the answer)', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    await page.route('**/v1/models', async (route) => {
      await held;
      await route.continue();
    });
    await page.goto(server.url);
    expect(await page.getByLabel('Optimise (slower, any prompt)').isDisabled()).toBe(true);
    expect(await page.locator('#submit').isDisabled()).toBe(true);
    release();
    // Optimise is the default (checked) while the models are unknown, and check() of a checked radio returns at once:
    // wait for the answer (the radios enabled, the default switched to fast mode) before choosing.
    await chooseOptimise();
    await page.unroute('**/v1/models');
    await expect.poll(() => page.locator('#submit').textContent()).toBe('Edit');
    expect(await page.getByLabel('Optimise (slower, any prompt)').isChecked()).toBe(true);
    expect(await page.locator('#submit').isDisabled()).toBe(false);
  });

  it('with both inversions on offer, a photo start shows the fast / faithful choice and the edit sends photo_inversion', async () => {
    await page.route('**/v1/models', async (route) => {
      const res = await route.fetch();
      await route.fulfill({ response: res, json: { ...(await res.json()), photo_inversion: 'encoder', photo_inversions: ['fast', 'faithful'] } });
    });
    let sent: string | undefined;
    await page.route('**/v1/edits', async (route) => {
      sent = route.request().postDataBuffer()?.toString('latin1');
      await route.fulfill({ status: 422, json: { error: { code: 'invalid_input', message: 'held by the test' } } });
    });
    try {
      await page.goto(server.url);
      await chooseOptimise();
      expect(await page.locator('#photo-inversion-field').isHidden()).toBe(true);
      await page.getByLabel('A photo').check();
      await expect.poll(() => page.locator('#photo-inversion-field').isVisible()).toBe(true);
      await page.getByLabel('Faithful (HyperStyle)').check();
      await page.locator('#image').setInputFiles(sharedPath('data', 'faces', 'ffhq_2.jpg'));
      await page.locator('#prompt').fill('a smile');
      await page.getByRole('button', { name: 'Edit' }).click();
      await expect.poll(() => sent ?? '').toMatch(/name="photo_inversion"\r\n\r\nfaithful/);
      expect(sent).not.toMatch(/name="refine_steps"/);
    } finally {
      await page.unroute('**/v1/models');
      await page.unroute('**/v1/edits');
    }
  });

  it('with StyleGAN-NADA domains loaded, the form offers them and sends domain with the edit and the slider renders', async () => {
    await page.route('**/v1/models', async (route) => {
      const res = await route.fetch();
      await route.fulfill({ response: res, json: { ...(await res.json()), domains: ['sketch'] } });
    });
    let sent: string | undefined;
    const renders: string[] = [];
    await page.route('**/v1/edits', async (route) => {
      sent = route.request().postDataBuffer()?.toString('latin1');
      await route.fulfill({ status: 422, json: { error: { code: 'invalid_input', message: 'held by the test' } } });
    });
    await page.route('**/v1/render', async (route) => {
      renders.push(route.request().postData() ?? '');
      await route.continue();
    });
    try {
      await page.goto(server.url);
      await expect.poll(() => page.locator('#domain-field').isVisible()).toBe(true);
      await page.getByLabel('Domain').selectOption('sketch');
      await chooseOptimise();
      await page.locator('#prompt').fill('a smile');
      await page.getByRole('button', { name: 'Edit' }).click();
      await expect.poll(() => sent ?? '').toMatch(/name="domain"\r\n\r\nsketch/);
      await page.getByLabel('Fast (global direction): live sliders').check();
      await page.locator('#prompt').fill('red hair');
      await expect.poll(() => renders.some((b) => JSON.parse(b).domain === 'sketch')).toBe(true);
    } finally {
      await page.unroute('**/v1/models');
      await page.unroute('**/v1/edits');
      await page.unroute('**/v1/render');
    }
  });

  it('explains what is missing instead of submitting, and shows server errors', async () => {
    await page.goto(server.url);
    await chooseOptimise();
    await page.getByRole('button', { name: 'Edit' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/Type a prompt/);
    await page.getByLabel('Prompt', { exact: true }).fill('x '.repeat(200));
    await page.getByRole('button', { name: 'Edit' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/context length 77/);
    await page.getByLabel('A photo').check();
    await page.getByLabel('Prompt', { exact: true }).fill('a smile');
    await page.getByRole('button', { name: 'Edit' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/Choose a photo/);
    await page.locator('#image').setInputFiles(sharedPath('data', 'faces', 'ffhq_0.jpg'));
    expect(await page.locator('#before').evaluate((el: HTMLImageElement) => el.src.startsWith('blob:'))).toBe(true);
  });

  for (const width of [1280, 390]) {
    for (const mode of ['seed', 'photo'] as const) {
      it(`layout at ${width} px, ${mode} start: no horizontal overflow, every control labelled; screenshot saved`, async () => {
        await page.setViewportSize({ width, height: 900 });
        await page.goto(server.url);
        await chooseOptimise();
        if (mode === 'photo') {
          await page.getByLabel('A photo').check();
          await page.locator('#image').setInputFiles(sharedPath('data', 'faces', 'ffhq_0.jpg'));
        }
        const overflow = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
        expect(overflow.scroll, JSON.stringify(overflow)).toBeLessThanOrEqual(overflow.width);
        const unlabelled = await page.evaluate(() =>
          [...document.querySelectorAll('input, select, button, textarea')]
            .filter((el) => !(el as HTMLElement).closest('[hidden]'))
            .filter((el) => {
              const e = el as HTMLInputElement;
              const labelled = (e.labels && e.labels.length > 0) || e.getAttribute('aria-label') || e.getAttribute('aria-labelledby');
              return !labelled && !(e.tagName === 'BUTTON' && e.textContent?.trim());
            })
            .map((el) => el.id || el.outerHTML.slice(0, 60)),
        );
        expect(unlabelled).toEqual([]);
        await page.screenshot({ path: join(PROJECT_ROOT, 'tmp', `web-form-${width}-${mode}.png`), fullPage: true });
      });
    }
  }

  it('keyboard only: Tab to the prompt, type, Enter submits an optimise edit; the Before image appears with the first step', async () => {
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(server.url);
    await chooseOptimise();
    await page.locator('#steps').fill('500');
    await page.getByLabel('Prompt', { exact: true }).focus();
    await page.keyboard.type('a person with purple hair');
    await page.keyboard.press('Enter');
    await page.locator('#before').waitFor({ state: 'visible', timeout: 30_000 });
    const shownAt = await page.locator('#status').textContent();
    expect(shownAt).not.toMatch(/^Done/);
    await page.locator('#downloads').waitFor({ state: 'visible', timeout: 120_000 });
    expect(await page.locator('#dl-photo').isHidden()).toBe(true);
    expect((await page.request.get(`${server.url}/favicon.ico`)).status()).toBe(200);
  });
});

describe('web form with a photo encoder (serve --encoder), fast mode', () => {
  it('Before is the reconstruction, not the upload; a bad upload clears the old result; switching to Optimise leaves no fast-mode text', async () => {
    const e = await fixtureApp({ paths: { encoder: fixture('e4e_tiny.pt') } });
    const s = await listenLocal(e.app);
    const uploads: number[] = [];
    await page.route('**/v1/photos', async (route) => {
      uploads.push(route.request().postData()?.length ?? 0);
      await route.continue();
    });
    const renders: string[] = [];
    await page.route('**/v1/render', async (route) => {
      renders.push(route.request().postData() ?? '');
      await route.continue();
    });
    try {
      await page.goto(s.url);
      await expect.poll(() => page.getByLabel('Fast (global direction): live sliders').isChecked()).toBe(true);
      await page.getByLabel('A photo').check();
      await page.locator('#prompt').fill('face with purple hair');
      await page.locator('#image').setInputFiles(sharedPath('data', 'faces', 'ffhq_2.jpg'));
      // Before is the server's reconstruction (a render without edits, pasted back like the result), not the upload.
      await expect.poll(() => renders.some((b) => JSON.parse(b).edits.length === 0), { timeout: 60_000 }).toBe(true);
      await expect.poll(() => page.locator('#current').isVisible(), { timeout: 60_000 }).toBe(true);
      expect(await page.locator('#before').evaluate((el: HTMLImageElement) => !el.hidden && el.complete && el.naturalWidth)).toBe(1024);
      await page.locator('#alpha').fill('-6');
      await expect.poll(() => renders.length, { timeout: 30_000 }).toBeGreaterThanOrEqual(3);
      expect(uploads).toHaveLength(1);
      expect(renders.every((b) => !JSON.parse(b).image && /^[0-9a-f]{16}$/.test(JSON.parse(b).photo_id))).toBe(true);
      // Released, the slider's render is the whole photo as JPEG (while dragging it would be the face alone).
      await expect.poll(() => renders.map((b) => JSON.parse(b)).some((b) => b.edits.length === 1 && b.edits[0].alpha === -6 && b.paste_back === true && b.format === 'jpeg'), { timeout: 30_000 }).toBe(true);

      const bad = join(t.dir, 'not-a-photo.png');
      await writeFile(bad, 'this is text, not a PNG');
      await page.locator('#image').setInputFiles(bad);
      await expect.poll(() => page.getByRole('alert').textContent(), { timeout: 30_000 }).toMatch(/it is not an image/);
      expect(await page.locator('#current').isHidden()).toBe(true);
      expect(await page.locator('#current-caption').textContent()).toBe('');
      expect(await page.locator('#before').isHidden()).toBe(true);

      await chooseOptimise();
      expect(await page.locator('#status').textContent()).toBe('');
      expect(await page.locator('#method-help').textContent()).toMatch(/^Optimise runs StyleCLIP latent optimisation/);
      expect(await page.getByRole('alert').isHidden()).toBe(true);
    } finally {
      await page.unroute('**/v1/photos');
      await page.unroute('**/v1/render');
      s.stopAccepting();
      s.closeAll();
      await e.close();
    }
  }, 120_000);
});
