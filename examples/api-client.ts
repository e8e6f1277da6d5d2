/**
 * A typed client for `styleclip serve` with Hono's `hc`: request bodies and JSON responses are checked against the
 * server's routes (`AppType`) at compile time.
 *
 *   styleclip serve --generator G --clip C --vocab V &
 *   npx tsx examples/api-client.ts [http://127.0.0.1:8787] ["a person with purple hair"]
 *
 * It lists the models, submits an edit from seed 1 (JSON), follows its Server-Sent Events, and saves the result
 * and the before/after comparison next to the working directory.
 */
import { writeFile } from 'node:fs/promises';
import { hc } from 'hono/client';
import type { AppType } from '../src/server/app.js';

const base = process.argv[2] ?? 'http://127.0.0.1:8787';
const prompt = process.argv[3] ?? 'a person with purple hair';
const client = hc<AppType>(base);

/** Reads an SSE stream and calls `on` for each event until it returns true (the edit finished). */
async function follow(url: string, on: (event: string, data: unknown) => boolean): Promise<void> {
  const res = await fetch(url);
  if (!res.ok || !res.body) throw new Error(`events: HTTP ${res.status}`);
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
      const data = block
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6))
        .join('\n');
      if (data && on(event, JSON.parse(data))) return;
    }
  }
}

const models = await (await client.v1.models.$get()).json();
console.log(`generator ${models.generator.name} (${models.generator.resolution} px), clip ${models.clip.name}`);

const submitted = await client.v1.edits.$post({ json: { prompt, seed: 1, steps: 40, l2: 0.008, preview_every: 10 } });
if (submitted.status !== 202) throw new Error(`submit: HTTP ${submitted.status}: ${await submitted.text()}`);
const { id } = await submitted.json();
console.log(`edit ${id} queued`);

await follow(`${base}/v1/edits/${id}/events`, (event, data) => {
  const d = data as { step?: number; steps?: number; loss?: number; error?: { message: string } };
  if (event === 'progress') process.stdout.write(`\rstep ${d.step}/${d.steps} loss ${d.loss?.toFixed(4)}`);
  if (event === 'failed') throw new Error(`edit failed: ${d.error?.message}`);
  return event === 'done' || event === 'failed' || event === 'cancelled';
});

const status = await (await client.v1.edits[':id'].$get({ param: { id } })).json();
console.log(`\n${status.status} after ${status.history_points} steps (final loss ${status.last?.loss.toFixed(4)})`);
for (const file of ['result.png', 'compare.png'] as const) {
  const res = await fetch(`${base}/v1/edits/${id}/${file}`);
  await writeFile(`${id}-${file}`, new Uint8Array(await res.arrayBuffer()));
  console.log(`wrote ${id}-${file}`);
}
