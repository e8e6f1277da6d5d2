import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { PickleError, PyGlobal, PyObject, Unpickler, unpickle } from '../../src/io/tensors/pickle.js';

const DATA = join(dirname(fileURLToPath(import.meta.url)), 'data');
const bytes = (...parts: (string | number[])[]): Uint8Array =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));

describe('safe unpickler', () => {
  // values.pN.pkl: the same dict pickled by CPython 3.11 with protocol N (see data/make_fixtures.py `values`).
  for (const protocol of [0, 1, 2, 3, 4, 5]) {
    it(`reads every value type of protocol ${protocol}`, () => {
      const v = unpickle(readFileSync(join(DATA, `values.p${protocol}.pkl`))) as Map<unknown, unknown>;
      expect(v).toBeInstanceOf(Map);
      expect(v.get('int')).toBe(1);
      expect(v.get('neg')).toBe(-3);
      expect(v.get('i32')).toBe(2 ** 31 - 1);
      expect(v.get('i16')).toBe(40000);
      expect(v.get('big')).toBe(2n ** 70n);
      expect(v.get('negbig')).toBe(-(2n ** 70n));
      expect(v.get('float')).toBe(1.5);
      expect(v.get('str')).toBe('h\u00e9llo \u20ac\n"q" \'s\' \\');
      expect(Array.from(v.get('bytes') as Uint8Array)).toEqual([0, 255]);
      expect(v.get('none')).toBeNull();
      expect(v.get('t')).toBe(true);
      expect(v.get('f')).toBe(false);
      expect(v.get('tuple')).toEqual([1, 'a', [2]]);
      expect(v.get('list')).toEqual([1, [2, 3]]);
      expect(v.get('set')).toEqual(new Set([1, 2]));
      expect(v.get('frozenset')).toEqual(new Set([3]));
      expect(v.get('od')).toEqual(new Map([['a', 1]]));
      expect(v.get('nested')).toEqual(new Map([['x', new Map([['y', 2]])]]));
      const shared = v.get('shared') as unknown[];
      expect(shared[0]).toEqual([7, 8]);
      expect(shared[0]).toBe(shared[1]);
      expect(v.get('empty')).toEqual([]);
      expect(v.get(5)).toBe('int key');
      const thing = v.get('obj') as PyObject;
      expect(thing).toBeInstanceOf(PyObject);
      expect(thing.global).toBe('__main__.Thing');
      expect(thing.state).toEqual(new Map<string, unknown>([['a', 1], ['b', [2, 3]]]));
      const fraction = v.get('fraction') as PyObject;
      expect(fraction.global).toBe('fractions.Fraction');
      expect(fraction.args).toEqual([1, 3]);
    });
  }

  it('never calls a global that is not allow-listed', () => {
    // protocol 2: os.system('echo pwned') via REDUCE, then posix.system via STACK_GLOBAL + NEWOBJ (protocol 4 opcodes)
    const reduce = bytes([0x80, 2], 'cos\nsystem\n', [0x58, 10, 0, 0, 0], 'echo pwned', [0x85], 'R.');
    const obj = unpickle(reduce) as PyObject;
    expect(obj).toBeInstanceOf(PyObject);
    expect(obj.global).toBe('os.system');
    expect(obj.args).toEqual(['echo pwned']);
    const stackGlobal = bytes([0x80, 4, 0x8c, 5], 'posix', [0x8c, 6], 'system', [0x93, 0x29, 0x81], '.');
    expect((unpickle(stackGlobal) as PyObject).global).toBe('posix.system');
    const bare = unpickle(bytes([0x80, 2], 'cbuiltins\neval\n.'));
    expect(bare).toBeInstanceOf(PyGlobal);
    expect((bare as PyGlobal).qualname).toBe('builtins.eval');
  });

  it('hands persistent ids to the caller and reads consecutive pickles', () => {
    const two = bytes([0x80, 2, 0x58, 3, 0, 0, 0], 'pid', [0x51], '.', [0x80, 2, 0x4b, 7], '.');
    const u = new Unpickler(two, { persistentLoad: (pid) => ({ loaded: pid }) });
    expect(u.load()).toEqual({ loaded: 'pid' });
    expect(u.load()).toBe(7);
    expect(u.pos).toBe(two.length);
    expect(() => unpickle(two)).toThrow(/persistent ids but nothing resolves them/);
  });

  it('rejects truncated, corrupt and out-of-band pickles with PickleErrors', () => {
    const good = readFileSync(join(DATA, 'values.p4.pkl'));
    const truncated = (() => {
      try {
        unpickle(good.subarray(0, good.length - 20), { where: 'x.pkl' });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(truncated).toBeInstanceOf(PickleError);
    expect(truncated).toBeInstanceOf(InputError);
    expect(truncated?.message).toMatch(/^x\.pkl: truncated pickle at byte \d+/);
    expect(() => unpickle(bytes([0x80, 2, 0xff]))).toThrow(/unknown pickle opcode 0xff/);
    expect(() => unpickle(bytes([0x80, 9]))).toThrow(/protocol 9/);
    expect(() => unpickle(bytes([0x80, 5, 0x97], '.'))).toThrow(/out-of-band buffers/);
    expect(() => unpickle(bytes([0x80, 2], 'h', [3], '.'))).toThrow(/memo key 3/);
    expect(() => unpickle(bytes([0x80, 2], 's.'))).toThrow(/stack underflow/);
    expect(() => unpickle(bytes([0x80, 2, 0x82, 1], '.'))).toThrow(/extension codes/);
    expect(() => unpickle(bytes('I12x\n.'))).toThrow(/malformed integer '12x'/);
    expect(unpickle(bytes('L-12L\n(0.'))).toBe(-12);
  });
});
