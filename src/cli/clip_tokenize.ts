/**
 * `styleclip clip tokenize`: CLIP token ids of texts, as `clip.tokenize` in openai/CLIP `clip/clip.py` returns them
 * (SOT, BPE ids, EOT, zero padding to 77).
 */
import { ClipTokenizer } from '../clip/tokenizer.js';
import { UsageError, flag, modelFlag, type Command } from './command.js';

export const clipTokenizeCommand: Command = {
  path: ['clip', 'tokenize'],
  summary: 'CLIP token ids of texts (rows of 77, as clip.tokenize)',
  usage: [
    '  styleclip clip tokenize --vocab bpe_simple_vocab_16e6.txt.gz [--truncate] [--json] TEXT...',
    '',
    '  --vocab PATH   openai/CLIP BPE merges file (bpe_simple_vocab_16e6.txt.gz)',
    '  --truncate     cut texts longer than 77 tokens (the last token stays <|endoftext|>)',
    '  --json         print {"tokens": [[77 ints], ...]} instead of one space-separated row per text',
  ].join('\n'),
  options: {
    vocab: { type: 'string' },
    truncate: { type: 'boolean' },
    json: { type: 'boolean' },
  },
  allowPositionals: true,
  async run(args, io) {
    const vocab = await modelFlag(args, 'vocab', 'vocab', io.stderr);
    if (args.positionals.length === 0) {
      throw new UsageError("no text given; pass one or more texts, e.g. styleclip clip tokenize --vocab V 'a dog'");
    }
    const tokenizer = await ClipTokenizer.load(vocab);
    const t = tokenizer.tokenize(args.positionals, { truncate: flag(args, 'truncate') });
    const width = t.shape[1];
    const rows = Array.from({ length: t.shape[0] }, (_, i) => Array.from(t.data.subarray(i * width, (i + 1) * width) as Int32Array));
    const text = flag(args, 'json') ? JSON.stringify({ tokens: rows }) : rows.map((r) => r.join(' ')).join('\n');
    io.stdout.write(text + '\n');
    return 0;
  },
};
