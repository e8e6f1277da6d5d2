// Fast mode of the web form: StyleCLIP global directions. Typing a prompt creates its direction once
// (POST /v1/directions); every slider move re-renders (POST /v1/render), debounced, newest request wins and
// responses of older requests are dropped.

const DEBOUNCE_MS = 120;

export function fastMode({ $, showImage, showError, clear, ui, active }) {
  let directionId = null;
  let directionKey = '';
  let renderSeq = 0;
  let shownSeq = 0;
  let timer = null;

  let photo = { file: null, id: null };
  async function start() {
    if (document.getElementById('start-image').checked) {
      const file = $('image').files[0];
      if (!file) throw new Error('Choose a photo, or start from a seed.');
      if (photo.file !== file) {
        const data = await new Promise((resolve, reject) => {
          const r = new FileReader();
          r.onload = () => resolve(r.result);
          r.onerror = () => reject(new Error('Could not read the photo.'));
          r.readAsDataURL(file);
        });
        // Uploaded once; every slider move then renders it by id (no image in the request).
        const { photo_id: id } = await (await post('/v1/photos', { image: data })).json();
        photo = { file, id };
      }
      const choice = $('photo-inversion-field').hidden ? {} : { photo_inversion: document.querySelector('input[name="photo_inversion"]:checked').value };
      return { photo_id: photo.id, paste_back: true, ...choice, ...domain() };
    }
    return { seed: Number($('seed').value || '0'), ...domain() };
  }

  async function post(path, body) {
    const res = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    if (!res.ok) {
      const json = await res.json().catch(() => ({}));
      throw new Error(json.error ? json.error.message : `HTTP ${res.status}`);
    }
    return res;
  }

  const mapper = () => ($('mapper').value ? { name: $('mapper').value, strength: Number($('mapper-strength').value) } : undefined);
  /** This page's id for /v1/render: the server drops our renders that a newer one superseded before they started. */
  const client = (crypto.randomUUID?.() ?? String(Math.random()).slice(2)).replace(/[^A-Za-z0-9_-]/g, '').slice(0, 64);
  /** The chosen StyleGAN-NADA domain (GET /v1/models domains), if any. */
  const domain = () => ($('domain').value ? { domain: $('domain').value } : {});

  fetch('/v1/mappers')
    .then((r) => r.json())
    .then(({ mappers }) => {
      for (const m of mappers) $('mapper').add(new Option(m.name, m.name));
      $('mapper-field').hidden = mappers.length === 0;
    })
    .catch(() => undefined);
  $('mapper').addEventListener('change', () => {
    $('mapper-strength-field').hidden = !$('mapper').value;
    schedule();
  });
  $('mapper-strength').addEventListener('input', () => {
    $('mapper-strength-out').value = $('mapper-strength').value;
    schedule();
  });

  async function ensureDirection() {
    const prompt = $('prompt').value.trim();
    const neutral = $('neutral').value.trim() || 'face';
    if (!prompt && mapper()) return null;
    if (!prompt) throw new Error('Type a prompt: describe the change you want.');
    const key = JSON.stringify([prompt, neutral]);
    if (key !== directionKey) {
      $('channels').textContent = 'Finding the direction…';
      const info = await (await post('/v1/directions', { prompt, neutral, beta: Number($('beta').value) })).json();
      directionId = info.id;
      directionKey = key;
    }
    return directionId;
  }

  /**
   * One render. While a slider is dragged (`dragging`) a photo renders as its aligned face only (no paste-back: a
   * small PNG); on release the whole photo comes back, pasted, as JPEG (a tenth of a 1024 px PNG).
   */
  async function render(retried = false, dragging = false) {
    const seq = ++renderSeq;
    ui.error.hidden = true;
    try {
      const direction = await ensureDirection();
      const beta = Number($('beta').value);
      const start0 = await start();
      const whole = start0.photo_id !== undefined && !dragging;
      const from = { ...start0, client, paste_back: whole || undefined, format: whole ? 'jpeg' : undefined };
      const [before, after] = await Promise.all([
        seq === 1 || ui.before.hidden ? post('/v1/render', { ...start0, format: start0.photo_id ? 'jpeg' : undefined, edits: [] }) : null,
        post('/v1/render', { ...from, mapper: mapper(), edits: direction ? [{ direction, alpha: Number($('alpha').value), beta }] : [] }),
      ]);
      if (seq < shownSeq) return; // a newer render is already on screen
      shownSeq = seq;
      if (before) showImage(ui.before, URL.createObjectURL(await before.blob()));
      showImage(ui.current, URL.createObjectURL(await after.blob()));
      const m = mapper();
      const parts = [m ? `${m.name} ${m.strength}` : '', direction ? `alpha ${$('alpha').value}, beta ${beta}` : ''];
      ui.currentCaption.textContent = parts.filter(Boolean).join('; ');
      const kept = after.headers.get('X-Channels');
      $('channels').textContent = direction ? `beta ${beta} keeps ${kept} channels.` : 'No text direction: the mapper alone.';
      ui.run.hidden = false;
      ui.status.textContent = 'Move a slider to re-render.';
      ui.progress.value = 1;
    } catch (e) {
      if (/^superseded/.test(e.message)) return; // a newer render of ours is on its way
      // The server keeps a few photos; one it dropped (or lost in a restart) is uploaded again on the next render.
      if (/photo_id: no photo/.test(e.message)) {
        photo = { file: null, id: null };
        if (!retried) return render(true, dragging);
      }
      if (seq >= shownSeq) {
        // Nothing of the previous photo or render stays beside the error.
        clear();
        ui.before.hidden = true;
        showError(e.message);
      }
    }
  }

  function schedule(dragging = false) {
    if (!active()) return;
    clearTimeout(timer);
    timer = setTimeout(() => render(false, dragging === true), DEBOUNCE_MS);
  }

  for (const id of ['alpha', 'beta']) {
    $(id).addEventListener('input', () => schedule(true));
    $(id).addEventListener('change', () => schedule(false));
  }
  for (const id of ['prompt', 'neutral']) $(id).addEventListener('input', () => schedule());
  for (const id of ['seed', 'image', 'start-seed', 'start-image', 'inversion-fast', 'inversion-faithful', 'domain']) {
    $(id).addEventListener(id === 'seed' ? 'input' : 'change', () => {
      ui.before.hidden = true;
      schedule();
    });
  }
  return { render: schedule };
}
