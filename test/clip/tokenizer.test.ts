import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import {
  CLIP_CONTEXT_LENGTH,
  CLIP_VOCAB_SIZE,
  ClipTokenizer,
  EOT_TOKEN,
  SOT_TOKEN,
  bytesToUnicode,
  cleanText,
  htmlUnescape,
} from '../../src/clip/tokenizer.js';
import { InputError } from '../../src/errors.js';
import { readNpy } from '../../src/io/tensors/npy.js';
import { fixture, sharedPath } from '../helpers/shared.js';

const vocabPath = (): string => sharedPath('data', 'clip', 'bpe_simple_vocab_16e6.txt.gz');
const LOAD_BUDGET_MS = 1000;

let tok: ClipTokenizer;
let loadMs: number;
beforeAll(async () => {
  const t0 = performance.now();
  tok = await ClipTokenizer.load(vocabPath());
  loadMs = performance.now() - t0;
});

interface TokenizerFixture {
  texts: string[];
  ids: number[][];
}
const readFixture = (): TokenizerFixture => JSON.parse(readFileSync(fixture('tokenizer.json'), 'utf8')) as TokenizerFixture;

describe('ClipTokenizer', () => {
  it('builds the 49,408-entry vocabulary quickly', () => {
    expect(tok.vocabSize).toBe(CLIP_VOCAB_SIZE);
    expect([SOT_TOKEN, EOT_TOKEN, CLIP_CONTEXT_LENGTH]).toEqual([49406, 49407, 77]);
    expect(loadMs).toBeLessThan(LOAD_BUDGET_MS);
    console.log(`tokenizer load: ${loadMs.toFixed(0)} ms`);
  });

  it('encodes every fixture text to the reference ids', () => {
    const { texts, ids } = readFixture();
    expect(texts.length).toBeGreaterThan(50);
    texts.forEach((text, i) => expect(tok.encode(text), JSON.stringify(text)).toEqual(ids[i]));
  });

  it('tokenize matches clip.tokenize(texts, truncate=True) exactly', async () => {
    const { texts } = readFixture();
    const ref = await readNpy(fixture('tokenizer_tokens.npy'));
    const got = tok.tokenize(texts, { truncate: true });
    expect(got.dtype).toBe('int32');
    expect(got.shape).toEqual(ref.shape);
    expect(Array.from(got.data as Int32Array)).toEqual(Array.from(ref.data as Int32Array));
  });

  it('refuses over-long texts unless truncate is set, then ends with EOT', () => {
    const long = Array.from({ length: 100 }, (_, i) => `word${i}`).join(' ');
    expect(() => tok.tokenize([long])).toThrow(InputError);
    expect(() => tok.tokenize([long])).toThrow(/truncate/);
    const row = Array.from(tok.tokenize(long, { truncate: true }).data as Int32Array);
    expect(row.length).toBe(77);
    expect(row[0]).toBe(SOT_TOKEN);
    expect(row[76]).toBe(EOT_TOKEN);
    const exact = Array.from({ length: 75 }, () => 'a').join(' ');
    expect(Array.from(tok.tokenize(exact).data as Int32Array).slice(-1)).toEqual([EOT_TOKEN]);
  });

  it('decodes back to the cleaned text with word ends as spaces', () => {
    expect(tok.decode(tok.encode('A photo of a CAT.'))).toBe('a photo of a cat . ');
    expect(tok.decode(tok.encode('東京の猫 😀'))).toBe('東京の猫 😀 ');
    expect(tok.encode('<|startoftext|>')).toEqual([SOT_TOKEN]);
    expect(() => tok.decode([CLIP_VOCAB_SIZE])).toThrow(InputError);
  });

  it('reports a missing or malformed vocabulary file as InputError', async () => {
    await expect(ClipTokenizer.load('/nonexistent/bpe.txt.gz')).rejects.toThrow(/bpe\.txt\.gz: no such file; give a vocab file path or a model name/);
    await expect(ClipTokenizer.load(fixture('tokenizer.json'))).rejects.toThrow(/not gzip/);
  });
});

describe('text cleaning', () => {
  it('maps bytes like bytes_to_unicode', () => {
    const t = bytesToUnicode();
    expect([t[0x21], t[0x20], t[0x00], t[0xad], t[0xff]]).toEqual(['!', 'Ġ', 'Ā', 'Ń', 'ÿ']);
    expect(new Set(t).size).toBe(256);
  });

  it('unescapes like Python html.unescape', () => {
    expect(htmlUnescape('&amp; &lt;b&gt; &quot;x&quot; &apos;')).toBe('& <b> "x" \'');
    expect(htmlUnescape('&#65;&#x42;&#X43; &#128; &#0; &#1; &#xD800; &#1114112;')).toBe('ABC € \ufffd  \ufffd \ufffd');
    expect(htmlUnescape('&eacute;&yuml;&nbsp;&hellip;&mdash;')).toBe('éÿ\u00a0…—');
    expect(htmlUnescape('&ampx &copy2024 &notit; &bogus; &')).toBe('&x ©2024 ¬it; &bogus; &');
    expect(htmlUnescape('&amp;amp;')).toBe('&amp;');
  });

  it('cleans: NFC, unescape twice, Python whitespace, lower-case', () => {
    expect(cleanText('  Cafe\u0301 &amp;amp;\t\n\u3000X\x1c ')).toBe('café & x');
    expect(cleanText('\ufeffA')).toBe('\ufeffa');
  });
});

function sink(): { stream: Writable; text: () => string } {
  let buf = '';
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      buf += chunk.toString();
      cb();
    },
  });
  return { stream, text: () => buf };
}

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = sink();
  const err = sink();
  const code = await main(args, { stdout: out.stream, stderr: err.stream, signal: new AbortController().signal });
  return { code, out: out.text(), err: err.text() };
}

describe('styleclip clip tokenize', () => {
  it('prints rows of 77 ids as JSON', async () => {
    const r = await cli(['clip', 'tokenize', '--vocab', vocabPath(), '--json', 'a diagram', 'a dog']);
    expect(r.code).toBe(0);
    const parsed = JSON.parse(r.out) as { tokens: number[][] };
    expect(parsed.tokens.length).toBe(2);
    expect(parsed.tokens[0].slice(0, 4)).toEqual([SOT_TOKEN, 320, 22697, EOT_TOKEN]);
    expect(parsed.tokens.every((row) => row.length === 77)).toBe(true);
  });

  it('prints space-separated rows without --json and honours --truncate', async () => {
    const long = Array.from({ length: 90 }, () => 'cat').join(' ');
    const r = await cli(['clip', 'tokenize', '--vocab', vocabPath(), '--truncate', long]);
    expect(r.code).toBe(0);
    const row = r.out.trim().split(' ').map(Number);
    expect(row.length).toBe(77);
    expect(row[76]).toBe(EOT_TOKEN);
  });

  it('exits 2 with one line for user errors', async () => {
    const long = Array.from({ length: 90 }, () => 'cat').join(' ');
    const cases = [
      ['clip', 'tokenize', '--vocab', '/nonexistent/bpe.txt.gz', 'a dog'],
      ['clip', 'tokenize', '--vocab', vocabPath(), long],
      ['clip', 'tokenize', '--vocab', vocabPath()],
      ['clip', 'tokenize', '--offline', 'a dog'],
    ];
    // Without --vocab the registry's clip-bpe-vocab is used (downloaded on first use); --offline forbids that.
    const patterns = [/bpe.txt.gz: no such file/, /--truncate/, /no text/, /'clip-bpe-vocab' is not downloaded yet and downloads are off/];
    for (const [i, args] of cases.entries()) {
      const r = await cli(args);
      expect(r.code).toBe(2);
      expect(r.out).toBe('');
      expect(r.err.trim().split('\n').length).toBe(1);
      expect(r.err).toMatch(patterns[i]);
    }
  });
});
