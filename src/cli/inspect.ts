/**
 * `styleclip inspect CKPT [--json]`: what a checkpoint holds — its format, every tensor (name, dtype, shape) and the
 * non-tensor values. Reads PyTorch checkpoints (zip, legacy, TorchScript, plain pickles; see src/io/tensors/torch.ts) and
 * safetensors files.
 */
import { readCheckpoint } from '../io/tensors/checkpoint.js';
import { numel, shapeStr, type HostTensor } from '../engine/tensor.js';
import { PyCallable, PyGlobal, PyObject } from '../io/tensors/pickle.js';
import { UsageError, flag, type Command } from './command.js';

interface Inspection {
  format: string;
  tensors: Map<string, HostTensor>;
  values: Record<string, unknown>;
}

async function inspect(path: string): Promise<Inspection> {
  const { format, tensors, values } = await readCheckpoint(path, 'checkpoint');
  return { format, tensors, values };
}

/** A value as JSON: bigints become decimal strings, bytes and pickled objects short descriptions. */
function jsonable(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return `<${v.length} bytes>`;
  if (v instanceof PyGlobal || v instanceof PyCallable) return `<global ${v.qualname}>`;
  if (v instanceof PyObject) return `<${v.global} object>`;
  if (Array.isArray(v)) return v.map(jsonable);
  if (v instanceof Set) return [...v].map(jsonable);
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return v;
}

export const inspectCommand: Command = {
  path: ['inspect'],
  summary: 'list the tensors and values in a checkpoint (.pt/.pth/.pkl/.safetensors)',
  usage: [
    '  styleclip inspect CKPT [--json]',
    '',
    '  CKPT     a torch.save / torch.jit.save file (zip or legacy), a pickled network (.pkl) or a .safetensors file',
    '  --json   print {"format", "tensors": [{"name", "dtype", "shape"}], "values": {...}} instead of a table',
  ].join('\n'),
  options: { json: { type: 'boolean' } },
  allowPositionals: true,
  async run(args, io) {
    if (args.positionals.length !== 1) {
      throw new UsageError(`expected exactly one checkpoint path, got ${args.positionals.length}; e.g. styleclip inspect model.pt`);
    }
    const { format, tensors, values } = await inspect(args.positionals[0]);
    const rows = [...tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: [...t.shape] }));
    if (flag(args, 'json')) {
      const vals = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, jsonable(v)]));
      io.stdout.write(JSON.stringify({ format, tensors: rows, values: vals }) + '\n');
      return 0;
    }
    const params = rows.reduce((n, r) => n + numel(r.shape), 0);
    const width = Math.max(0, ...rows.map((r) => r.name.length));
    const lines = [`format: ${format}`, `tensors: ${rows.length} (${params.toLocaleString('en-US')} elements)`];
    for (const r of rows) lines.push(`  ${r.name.padEnd(width)}  ${r.dtype.padEnd(8)}  ${shapeStr(r.shape)}`);
    const entries = Object.entries(values);
    lines.push(`values: ${entries.length}`);
    for (const [k, v] of entries) lines.push(`  ${k} = ${JSON.stringify(jsonable(v))}`);
    io.stdout.write(lines.join('\n') + '\n');
    return 0;
  },
};
