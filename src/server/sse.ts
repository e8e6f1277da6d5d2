/**
 * `GET /v1/edits/:id/events`: Server-Sent Events (https://html.spec.whatwg.org/multipage/server-sent-events.html)
 * built from the job's stored state, so they work the same whether the job runs in this process or on a worker on
 * another machine. A job run in this process wakes its followers in memory as soon as its progress is written
 * (JobStore.nextChange); a job on a worker elsewhere is polled every SSE_POLL_MS. Events:
 *   status    {id, status, step, steps, attempts}       whenever the status changes (first event: the current one)
 *   projection {step, steps, loss, mse}                 photo starts: projection progress (a few per second at most)
 *   progress  {step, steps, lr, loss, clipLoss, l2Loss, idLoss}   once per completed step
 *   preview   {step, url}                               a new preview frame (a URL of a PNG)
 *   done | failed | cancelled   the final status (as GET /v1/edits/:id: the history summarised), then the stream ends
 * A restarted job (after a crash or shutdown) sends a status event and its progress from step 1 again.
 */
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { EditJobs } from '../jobs/jobs.js';
import { TERMINAL } from '../jobs/store.js';

/** Longest wait between reads of the state (ms) when no write in this process wakes the stream first (remote workers). */
const SSE_POLL_MS = 200;
/** A comment line this often (ms) keeps proxies from closing an idle stream (nginx's default timeout is 60 s). */
const SSE_HEARTBEAT_MS = 15_000;

export async function editEvents(c: Context, jobs: EditJobs, id: string): Promise<Response> {
  await jobs.status(id);
  return streamSSE(c, async (stream) => {
    let offset = 0;
    let lastStatus = '';
    let lastPreview = '';
    let sentBefore = false;
    let lastProjection = 0;
    let lastBeat = Date.now();
    const send = (event: string, data: unknown): Promise<void> => stream.writeSSE({ event, data: JSON.stringify(data) });
    while (!stream.aborted) {
      const s = await jobs.status(id);
      const fresh = await jobs.historySince(id, offset);
      const restarted = fresh.offset < 0;
      if (s.status !== lastStatus || restarted) {
        lastStatus = s.status;
        await send('status', { id, status: s.status, step: s.step, steps: s.steps, attempts: s.attempts });
      }
      if (s.projection && s.projection.step !== lastProjection) {
        lastProjection = s.projection.step;
        await send('projection', s.projection);
      }
      const read = restarted ? await jobs.historySince(id, 0) : fresh;
      offset = read.offset;
      for (const h of read.points) await send('progress', { ...h, steps: s.steps });
      if (s.before && !sentBefore) {
        sentBefore = true;
        await send('before', { url: s.before });
      }
      if (s.preview && s.preview !== lastPreview) {
        lastPreview = s.preview;
        await send('preview', { step: s.previewStep, url: s.preview });
      }
      if (s.status !== 'cancelling' && TERMINAL.has(s.status)) {
        await send(s.status, await jobs.status(id));
        return;
      }
      if (Date.now() - lastBeat >= SSE_HEARTBEAT_MS) {
        await stream.write(': keep-alive\n\n');
        lastBeat = Date.now();
      }
      await jobs.nextChange(id, SSE_POLL_MS);
    }
  });
}
