/**
 * CLIP's byte-level BPE tokenizer, a port of openai/CLIP `clip/simple_tokenizer.py` (SimpleTokenizer) and of
 * `clip.tokenize` in `clip/clip.py` (https://github.com/openai/CLIP, MIT).
 *
 * - Bytes are mapped to printable unicode characters exactly as GPT-2's `bytes_to_unicode`; words end in `</w>`.
 * - The vocabulary is rebuilt from the gzipped merges file `bpe_simple_vocab_16e6.txt.gz`: 256 byte characters, the
 *   same with `</w>`, the first 48,894 merges (`merges[1:49152-256-2+1]`, line 0 is a header), then the two special
 *   tokens.
 * - Text cleaning: openai/CLIP runs `ftfy.fix_text`, which is not available here. As the reference fixtures do, this
 *   applies NFC normalisation, Python's `html.unescape` twice, whitespace collapse (Python's `\s`), strip and
 *   `str.lower`. `html.unescape` is replicated for numeric references (incl. Python's cp1252 / invalid code point
 *   tables) and for the named entities in `NAMED_ENTITIES` below: the Latin-1 set, amp/lt/gt/quot/apos and the common
 *   typographic ones. Other HTML5 names are left as written.
 */
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import type { HostTensor } from '../engine/tensor.js';
import { InputError } from '../errors.js';
import { resolveModelPath } from '../io/models/registry.js';

/** `len(encoder)` in SimpleTokenizer: 256 + 256 + 48,894 merges + 2 special tokens. */
export const CLIP_VOCAB_SIZE = 49408;
/** `encoder["<|startoftext|>"]`, the id `clip.tokenize` puts first. */
export const SOT_TOKEN = 49406;
/** `encoder["<|endoftext|>"]`, the id `clip.tokenize` puts last (the text model reads its position via argmax). */
export const EOT_TOKEN = 49407;
/** `context_length` default of `clip.tokenize` and the text transformer's positional embedding length. */
export const CLIP_CONTEXT_LENGTH = 77;
/** Number of merges used: `merges[1:49152-256-2+1]` in SimpleTokenizer.__init__. */
const CLIP_MERGES = 49152 - 256 - 2;

const SOT_TEXT = '<|startoftext|>';
const EOT_TEXT = '<|endoftext|>';
const WORD_END = '</w>';

/** Python's `str.isspace` set, which `re`'s `\s` uses for str patterns (whitespace_clean, strip). */
const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_SPACE_RUN = new RegExp(`[${PY_SPACE}]+`, 'gu');
const PY_STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'gu');

/**
 * SimpleTokenizer.pat. The `regex` module's `\s` is Unicode White_Space (JS `\s` would also match U+FEFF).
 */
const PRE_TOKENIZE =
  /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\p{White_Space}\p{L}\p{N}]+/giu;

/** Python `html._charref`. */
const CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

/** Python `html._invalid_charrefs` for 0x80..0x9f: the cp1252 reading of C1 controls (undefined ones map to self). */
const CP1252_C1 = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
  0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
];

/** HTML 4 Latin-1 entity names for U+00A0..U+00FF in code point order; HTML5 also accepts them without `;`. */
const LATIN1_NAMES = (
  'nbsp iexcl cent pound curren yen brvbar sect uml copy ordf laquo not shy reg macr deg plusmn sup2 sup3 acute ' +
  'micro para middot cedil sup1 ordm raquo frac14 frac12 frac34 iquest Agrave Aacute Acirc Atilde Auml Aring AElig ' +
  'Ccedil Egrave Eacute Ecirc Euml Igrave Iacute Icirc Iuml ETH Ntilde Ograve Oacute Ocirc Otilde Ouml times Oslash ' +
  'Ugrave Uacute Ucirc Uuml Yacute THORN szlig agrave aacute acirc atilde auml aring aelig ccedil egrave eacute ecirc ' +
  'euml igrave iacute icirc iuml eth ntilde ograve oacute ocirc otilde ouml divide oslash ugrave uacute ucirc uuml ' +
  'yacute thorn yuml'
).split(' ');
const LATIN1_FIRST = 0xa0;

/** Other HTML5 names without `;` (WHATWG legacy set). */
const LEGACY_OTHER: Readonly<Record<string, number>> = {
  amp: 0x26, lt: 0x3c, gt: 0x3e, quot: 0x22, AMP: 0x26, LT: 0x3c, GT: 0x3e, QUOT: 0x22, COPY: 0xa9, REG: 0xae,
};

/** Common HTML5 names that require `;` (WHATWG named character references). */
const SEMICOLON_ONLY: Readonly<Record<string, number>> = {
  apos: 0x27, OElig: 0x152, oelig: 0x153, Scaron: 0x160, scaron: 0x161, Yuml: 0x178, fnof: 0x192, circ: 0x2c6,
  tilde: 0x2dc, ensp: 0x2002, emsp: 0x2003, thinsp: 0x2009, zwnj: 0x200c, zwj: 0x200d, lrm: 0x200e, rlm: 0x200f,
  ndash: 0x2013, mdash: 0x2014, lsquo: 0x2018, rsquo: 0x2019, sbquo: 0x201a, ldquo: 0x201c, rdquo: 0x201d,
  bdquo: 0x201e, dagger: 0x2020, Dagger: 0x2021, bull: 0x2022, hellip: 0x2026, permil: 0x2030, prime: 0x2032,
  Prime: 0x2033, lsaquo: 0x2039, rsaquo: 0x203a, oline: 0x203e, frasl: 0x2044, euro: 0x20ac, trade: 0x2122,
  larr: 0x2190, uarr: 0x2191, rarr: 0x2192, darr: 0x2193, harr: 0x2194, minus: 0x2212, infin: 0x221e, ne: 0x2260,
  asymp: 0x2248, le: 0x2264, ge: 0x2265, spades: 0x2660, clubs: 0x2663, hearts: 0x2665, diams: 0x2666,
};

/** Keys as Python's `html.entities.html5` spells them: `name;` always, bare `name` for the legacy set. */
const NAMED_ENTITIES: ReadonlyMap<string, string> = (() => {
  const m = new Map<string, string>();
  const legacy: [string, number][] = [
    ...LATIN1_NAMES.map((n, i): [string, number] => [n, LATIN1_FIRST + i]),
    ...Object.entries(LEGACY_OTHER),
  ];
  for (const [name, cp] of legacy) {
    m.set(name, String.fromCodePoint(cp));
    m.set(`${name};`, String.fromCodePoint(cp));
  }
  for (const [name, cp] of Object.entries(SEMICOLON_ONLY)) m.set(`${name};`, String.fromCodePoint(cp));
  return m;
})();

/** Python `html._invalid_codepoints`: references to these decode to nothing. */
function isInvalidCodepoint(cp: number): boolean {
  return (
    (cp >= 0x1 && cp <= 0x8) ||
    cp === 0xb ||
    (cp >= 0xe && cp <= 0x1f) ||
    (cp >= 0x7f && cp <= 0x9f) ||
    (cp >= 0xfdd0 && cp <= 0xfdef) ||
    (cp & 0xffff) >= 0xfffe
  );
}

function numericCharref(cp: number): string {
  if (cp === 0) return '\ufffd';
  if (cp === 0x0d) return '\r';
  if (cp >= 0x80 && cp <= 0x9f) return String.fromCodePoint(CP1252_C1[cp - 0x80]);
  if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return '\ufffd';
  if (isInvalidCodepoint(cp)) return '';
  return String.fromCodePoint(cp);
}

/** Python's `html.unescape` (numeric references fully; named ones from `NAMED_ENTITIES`). */
export function htmlUnescape(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(CHARREF, (_m, body: string) => {
    if (body[0] === '#') {
      const hex = body[1] === 'x' || body[1] === 'X';
      const digits = body.slice(hex ? 2 : 1).replace(/;$/, '');
      return numericCharref(parseInt(digits, hex ? 16 : 10));
    }
    const whole = NAMED_ENTITIES.get(body);
    if (whole !== undefined) return whole;
    for (let x = body.length - 1; x > 1; x--) {
      const prefix = NAMED_ENTITIES.get(body.slice(0, x));
      if (prefix !== undefined) return prefix + body.slice(x);
    }
    return `&${body}`;
  });
}

/** `whitespace_clean(basic_clean(text)).lower()` with ftfy reduced to NFC (see the header). */
export function cleanText(text: string): string {
  const unescaped = htmlUnescape(htmlUnescape(text.normalize('NFC')));
  return unescaped.replace(PY_SPACE_RUN, ' ').replace(PY_STRIP, '').toLowerCase();
}

/** GPT-2 / CLIP `bytes_to_unicode`: printable Latin-1 bytes map to themselves, the rest to U+0100 upwards. */
export function bytesToUnicode(): string[] {
  const table = new Array<string>(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCodePoint(printable ? b : 256 + n++);
  }
  return table;
}

/** Vocabulary in id order, per SimpleTokenizer.__init__: bytes, bytes + `</w>`, merges, SOT, EOT. */
function buildVocab(byteChars: string[], merges: [string, string][]): string[] {
  const ordered = [...byteChars].sort((a, b) => byteOrderKey(a) - byteOrderKey(b));
  return [...ordered, ...ordered.map((c) => c + WORD_END), ...merges.map(([a, b]) => a + b), SOT_TEXT, EOT_TEXT];
}

/** `list(bytes_to_unicode().values())` is ordered printable bytes first, then the remapped ones. */
function byteOrderKey(c: string): number {
  const cp = c.codePointAt(0) ?? 0;
  return cp >= 256 ? 256 + cp : cp;
}

/** Parses merges-file text into the pairs SimpleTokenizer uses; `where` names the file in errors. */
function parseMerges(text: string, where: string): [string, string][] {
  const lines = text.split('\n').slice(1, CLIP_MERGES + 1);
  if (lines.length < CLIP_MERGES) {
    throw new InputError(
      `${where}: has ${lines.length} merges, CLIP needs ${CLIP_MERGES}; pass openai/CLIP's bpe_simple_vocab_16e6.txt.gz`,
    );
  }
  return lines.map((line, i) => {
    const parts = line.split(/\s+/).filter((p) => p.length > 0);
    if (parts.length !== 2) {
      throw new InputError(`${where}: line ${i + 2} is not a merge pair; pass openai/CLIP's bpe_simple_vocab_16e6.txt.gz`);
    }
    return [parts[0], parts[1]];
  });
}

interface TokenizeOptions {
  /** Row length; `clip.tokenize` default 77. */
  readonly contextLength?: number;
  /** Cut over-long texts to `contextLength`, keeping EOT in the last slot (as `clip.tokenize(truncate=True)`). */
  readonly truncate?: boolean;
}

export class ClipTokenizer {
  private readonly byteEncoder: string[];
  private readonly byteDecoder: Map<string, number>;
  private readonly encoder: Map<string, number>;
  private readonly decoder: string[];
  private readonly ranks: Map<string, number>;
  private readonly cache = new Map<string, string[]>([
    [SOT_TEXT, [SOT_TEXT]],
    [EOT_TEXT, [EOT_TEXT]],
  ]);

  constructor(merges: [string, string][]) {
    this.byteEncoder = bytesToUnicode();
    this.byteDecoder = new Map(this.byteEncoder.map((c, b) => [c, b]));
    this.decoder = buildVocab(this.byteEncoder, merges);
    this.encoder = new Map(this.decoder.map((tok, id) => [tok, id]));
    this.ranks = new Map(merges.map(([a, b], i) => [`${a} ${b}`, i]));
  }

  /** Loads the gzipped merges file (openai/CLIP's `bpe_simple_vocab_16e6.txt.gz`), by path or registry name (`clip-bpe-vocab`). */
  static async load(pathOrName: string): Promise<ClipTokenizer> {
    const path = await resolveModelPath(pathOrName, 'vocab');
    let gz: Buffer;
    try {
      gz = await readFile(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      throw new InputError(`cannot read BPE vocabulary ${path}: ${code}; pass the path of bpe_simple_vocab_16e6.txt.gz`);
    }
    let text: string;
    try {
      text = gunzipSync(gz).toString('utf8');
    } catch {
      throw new InputError(`${path} is not gzip data; pass openai/CLIP's bpe_simple_vocab_16e6.txt.gz as downloaded`);
    }
    return new ClipTokenizer(parseMerges(text, path));
  }

  get vocabSize(): number {
    return this.decoder.length;
  }

  /** SimpleTokenizer.bpe: merges the lowest-ranked adjacent pair until none is in the merge table. */
  private bpe(token: string): string[] {
    const cached = this.cache.get(token);
    if (cached !== undefined) return cached;
    const chars = Array.from(token);
    let word = [...chars.slice(0, -1), chars[chars.length - 1] + WORD_END];
    while (word.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < word.length - 1; i++) {
        const r = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const first = word[best];
      const second = word[best + 1];
      const merged: string[] = [];
      for (let i = 0; i < word.length; i++) {
        if (word[i] === first && i < word.length - 1 && word[i + 1] === second) {
          merged.push(first + second);
          i++;
        } else {
          merged.push(word[i]);
        }
      }
      word = merged;
    }
    this.cache.set(token, word);
    return word;
  }

  /** SimpleTokenizer.encode: BPE ids of the cleaned text, without SOT/EOT. */
  encode(text: string): number[] {
    const ids: number[] = [];
    const utf8 = new TextEncoder();
    for (const m of cleanText(text).matchAll(PRE_TOKENIZE)) {
      let mapped = '';
      for (const b of utf8.encode(m[0])) mapped += this.byteEncoder[b];
      for (const piece of this.bpe(mapped)) {
        const id = this.encoder.get(piece);
        if (id === undefined) throw new Error(`BPE produced '${piece}', which is not in the vocabulary`);
        ids.push(id);
      }
    }
    return ids;
  }

  /** SimpleTokenizer.decode: invalid UTF-8 becomes U+FFFD and each `</w>` a space. */
  decode(ids: readonly number[]): string {
    const bytes: number[] = [];
    for (const id of ids) {
      const tok = this.decoder[id];
      if (tok === undefined) throw new InputError(`token id ${id} is outside the CLIP vocabulary 0..${this.vocabSize - 1}`);
      for (const c of tok) bytes.push(this.byteDecoder.get(c) ?? 0);
    }
    return new TextDecoder('utf-8').decode(Uint8Array.from(bytes)).replaceAll(WORD_END, ' ');
  }

  /** `clip.tokenize`: int32 [N, contextLength] rows of SOT, ids, EOT, zero padding. */
  tokenize(texts: string | readonly string[], options: TokenizeOptions = {}): HostTensor {
    const contextLength = options.contextLength ?? CLIP_CONTEXT_LENGTH;
    if (!Number.isInteger(contextLength) || contextLength < 2) {
      throw new InputError(`contextLength must be an integer >= 2, got ${contextLength}`);
    }
    const list = typeof texts === 'string' ? [texts] : texts;
    const out = new Int32Array(list.length * contextLength);
    list.forEach((text, row) => {
      const ids = [SOT_TOKEN, ...this.encode(text), EOT_TOKEN];
      if (ids.length > contextLength) {
        if (!options.truncate) {
          throw new InputError(
            `text ${row + 1} ('${text.slice(0, 40)}${text.length > 40 ? '…' : ''}') is ${ids.length} tokens, more ` +
              `than the context length ${contextLength}; shorten it or set truncate (CLI: --truncate) to cut it`,
          );
        }
        ids.length = contextLength;
        ids[contextLength - 1] = EOT_TOKEN;
      }
      out.set(ids, row * contextLength);
    });
    return { dtype: 'int32', shape: [list.length, contextLength], data: out };
  }
}
