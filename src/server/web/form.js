// styleclip web form: posts the edit as multipart/form-data to /v1/edits, then follows its Server-Sent Events
// (/v1/edits/:id/events) to show progress, preview frames and the before/after result; in fast mode (fast.js) sliders
// re-render global-direction edits live. Plain ES2022, no build step.
import { fastMode } from './fast.js';

const $ = (id) => document.getElementById(id);
const form = $('edit-form');
const ui = {
  submit: $('submit'),
  cancel: $('cancel'),
  error: $('error'),
  run: $('run'),
  progress: $('progress'),
  status: $('status'),
  before: $('before'),
  current: $('current'),
  currentCaption: $('current-caption'),
  downloads: $('downloads'),
};
let events = null;
let jobId = null;

for (const name of ['l2', 'steps', 'id', 'alpha', 'beta']) {
  const input = $(name);
  const out = $(`${name}-out`);
  input.addEventListener('input', () => (out.value = input.value));
  out.value = input.value;
}

const isFast = () => form.elements.method.value === 'global';
let hasEncoder = false;
/** Both inversions on offer (GET /v1/models photo_inversions): the photo start shows the choice. */
let inversionChoice = false;
const showInversionChoice = () => {
  $('photo-inversion-field').hidden = !inversionChoice || form.elements.start.value !== 'image';
};
const fast = fastMode({ $, showImage, showError, clear: clearResult, ui, active: isFast });

const METHOD_HELP = {
  fast: 'Fast mode moves the image along a text direction in StyleSpace: one generator pass per slider move.',
  optimise: 'Optimise runs StyleCLIP latent optimisation: any prompt, a few seconds per step on a CPU.',
};

function applyMethod(event) {
  const on = isFast();
  if (event) {
    // The user switched modes: nothing of the other mode's result or help stays.
    clearResult();
    ui.error.hidden = true;
    ui.before.hidden = true;
    $('method-help').textContent = on ? METHOD_HELP.fast : METHOD_HELP.optimise;
  }
  $('fast-fields').hidden = !on;
  $('optimise-fields').hidden = on;
  $('start-image').disabled = on && !hasEncoder;
  $('inversion-field').hidden = on || form.elements.start.value !== 'image';
  if ($('start-image').disabled && form.elements.start.value === 'image') {
    $('start-seed').checked = true;
    $('start-seed').dispatchEvent(new Event('change'));
  }
  ui.submit.textContent = on ? 'Render' : 'Edit';
}
for (const radio of form.elements.method) radio.addEventListener('change', applyMethod);

// The methods on offer depend on the server's models: until they are known the method choice and the submit button
// wait, so a choice made meanwhile is never switched by the answer.
for (const radio of form.elements.method) radio.disabled = true;
ui.submit.disabled = true;
const modelsKnown = () => {
  for (const radio of form.elements.method) radio.disabled = false;
  ui.submit.disabled = false;
};
fetch('/v1/models')
  .then((r) => r.json())
  .then((m) => {
    modelsKnown();
    hasEncoder = m.photo_inversion === 'encoder';
    inversionChoice = (m.photo_inversions || []).length > 1;
    showInversionChoice();
    for (const name of m.domains || []) $('domain').add(new Option(name, name));
    $('domain-field').hidden = !(m.domains || []).length;
    if (hasEncoder) {
      $('inversion-label').textContent = 'Refinement steps after the encoder';
      $('inversion-steps').value = '0';
      $('inversion-help').textContent = 'The encoder inverts the photo in one pass; projection steps from its code sharpen the likeness.';
    }
    if (m.directions) {
      $('method-fast').checked = true;
      $('method-help').textContent = METHOD_HELP.fast;
    } else {
      $('method-fast').disabled = true;
    }
    applyMethod();
  })
  .catch(() => {
    modelsKnown();
    applyMethod();
  });

for (const radio of form.elements.start) {
  radio.addEventListener('change', () => {
    const photo = form.elements.start.value === 'image';
    $('seed-field').hidden = photo;
    $('image-field').hidden = !photo;
    $('inversion-field').hidden = !photo || isFast();
    showInversionChoice();
  });
}

// Optimise mode shows the upload at once; fast mode shows the server's reconstruction (fast.js renders it), so the
// inversion's error is never mistaken for the edit's.
$('image').addEventListener('change', () => {
  const file = $('image').files[0];
  if (file && !isFast()) showImage(ui.before, URL.createObjectURL(file));
});
// A file the browser cannot show (not an image) leaves no broken-image icon: the error line says what is wrong.
ui.before.addEventListener('error', () => (ui.before.hidden = true));

/** Clears what the other mode (or a failed render) left on screen: result, caption, status, channel note. */
function clearResult() {
  ui.current.hidden = true;
  ui.currentCaption.textContent = '';
  ui.status.textContent = '';
  $('channels').textContent = '';
  ui.run.hidden = true;
}

function showImage(img, src) {
  img.src = src;
  img.hidden = false;
}

function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = false;
}

function setRunning(running) {
  ui.submit.disabled = running;
  ui.cancel.hidden = !running;
}

function fmt(x) {
  return Number(x).toFixed(4);
}

function buildBody() {
  const body = new FormData();
  const prompt = $('prompt').value.trim();
  if (!prompt) throw new Error('Type a prompt: describe the change you want.');
  body.set('prompt', prompt);
  for (const name of ['l2', 'steps', 'id']) body.set(name, $(name).value);
  if (form.elements.start.value === 'image') {
    const file = $('image').files[0];
    if (!file) throw new Error('Choose a photo, or start from a seed.');
    body.set('image', file);
    const faithful = inversionChoice && form.elements.photo_inversion.value === 'faithful';
    if (inversionChoice) body.set('photo_inversion', form.elements.photo_inversion.value);
    // Refinement steps refine an e4e code; HyperStyle refines by its own passes.
    if (!faithful) body.set(hasEncoder ? 'refine_steps' : 'project_steps', $('inversion-steps').value || (hasEncoder ? '0' : '500'));
  } else {
    body.set('seed', $('seed').value || '0');
  }
  if ($('domain').value) body.set('domain', $('domain').value);
  return body;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  ui.error.hidden = true;
  if (isFast()) {
    fast.render();
    return;
  }
  let body;
  try {
    body = buildBody();
  } catch (e) {
    showError(e.message);
    return;
  }
  setRunning(true);
  ui.downloads.hidden = true;
  ui.current.hidden = true;
  if (form.elements.start.value !== 'image') ui.before.hidden = true;
  ui.progress.value = 0;
  ui.status.textContent = 'Submitting…';
  ui.run.hidden = false;
  try {
    const res = await fetch('/v1/edits', { method: 'POST', body });
    const json = await res.json();
    if (!res.ok) throw new Error(json.error ? json.error.message : `HTTP ${res.status}`);
    follow(json.id);
  } catch (e) {
    setRunning(false);
    ui.status.textContent = 'Not started.';
    showError(e.message);
  }
});

ui.cancel.addEventListener('click', async () => {
  if (jobId) await fetch(`/v1/edits/${jobId}`, { method: 'DELETE' });
});

function follow(id) {
  jobId = id;
  if (events) events.close();
  events = new EventSource(`/v1/edits/${id}/events`);
  const on = (name, fn) => events.addEventListener(name, (e) => fn(JSON.parse(e.data)));
  on('status', (s) => {
    ui.status.textContent = s.status === 'queued' ? 'Queued…' : s.status === 'cancelling' ? 'Cancelling…' : `Running (step ${s.step} of ${s.steps})…`;
  });
  on('projection', (p) => {
    ui.progress.value = p.step / p.steps;
    ui.status.textContent = `Fitting the photo to the generator: step ${p.step} of ${p.steps} (pixel error ${fmt(p.mse)})`;
  });
  on('progress', (p) => {
    ui.progress.value = p.step / p.steps;
    ui.status.textContent = `Step ${p.step} of ${p.steps} — loss ${fmt(p.loss)} (CLIP ${fmt(p.clipLoss)}, L2 ${fmt(p.l2Loss)})`;
  });
  on('before', (b) => showImage(ui.before, b.url));
  on('preview', (p) => {
    showImage(ui.current, p.url);
    ui.currentCaption.textContent = `Step ${p.step}`;
  });
  on('done', (s) => finish(s));
  on('failed', (s) => finish(s));
  on('cancelled', (s) => finish(s));
}

function finish(s) {
  events.close();
  events = null;
  setRunning(false);
  if (s.status === 'done') {
    ui.progress.value = 1;
    const last = s.last;
    ui.status.textContent = `Done: ${s.steps} steps${last ? `, final loss ${fmt(last.loss)}` : ''}.`;
    showImage(ui.before, s.results.before);
    showImage(ui.current, s.results.result);
    ui.currentCaption.textContent = 'After';
    $('dl-result').href = s.results.result;
    $('dl-compare').href = s.results.compare;
    $('dl-latent').href = s.results.latent;
    $('dl-photo').hidden = !s.results.photo;
    if (s.results.photo) $('dl-photo').href = s.results.photo;
    ui.downloads.hidden = false;
  } else if (s.status === 'failed') {
    ui.status.textContent = 'Failed.';
    showError(s.error ? s.error.message : 'The edit failed.');
  } else {
    ui.status.textContent = 'Cancelled.';
  }
}
