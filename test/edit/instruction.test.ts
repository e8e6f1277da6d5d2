/** The instruction rules (src/edit/instruction.ts), table-driven: how each phrasing is read, and what passes through. */
import { describe, expect, it } from 'vitest';
import { interpretInstruction } from '../../src/edit/instruction.js';
import { InputError } from '../../src/errors.js';

/** [instruction, target, neutral, alphaSign, optimisation text (when it differs from the target)] */
const TABLE: [string, string, string, 1 | -1, string?][] = [
  ['make the hair red', 'a face with red hair', 'a face with hair', 1],
  ['Make the hair red.', 'a face with red hair', 'a face with hair', 1],
  ['make her hair light blue', 'a face with light blue hair', 'a face with hair', 1],
  ['turn the hair blonde', 'a face with blonde hair', 'a face with hair', 1],
  ['turn his hair grey', 'a face with grey hair', 'a face with hair', 1],
  ['dye the hair pink', 'a face with pink hair', 'a face with hair', 1],
  ['change the hair to purple', 'a face with purple hair', 'a face with hair', 1],
  ['change the hair color to green', 'a face with green hair', 'a face with hair', 1],
  ['colour her hair silver', 'a face with silver hair', 'a face with hair', 1],
  ['make the hair curly', 'a face with curly hair', 'a face with hair', 1],
  ['make his eyes blue', 'a face with blue eyes', 'a face with eyes', 1],
  ['make the lips red', 'a face with red lips', 'a face with lips', 1],
  ['make his beard grey', 'a face with grey beard', 'a face with beard', 1],
  ['give him a beard', 'a face with a beard', 'a face', 1],
  ['give her bangs', 'a face with bangs', 'a face', 1],
  ['give him a mustache', 'a face with a mustache', 'a face', 1],
  ['give her curly hair', 'a face with curly hair', 'a face with hair', 1],
  ['give me long hair', 'a face with long hair', 'a face with hair', 1],
  ['add a beard', 'a face with a beard', 'a face', 1],
  ['add glasses', 'a face with glasses', 'a face', 1],
  ['add makeup', 'a face with makeup', 'a face', 1],
  ['put on a hat', 'a face with a hat', 'a face', 1],
  ['please add earrings', 'a face with earrings', 'a face', 1],
  ['remove the glasses', 'a face with glasses', 'a face', -1, 'a face without glasses'],
  ['take off his glasses', 'a face with glasses', 'a face', -1, 'a face without glasses'],
  ['remove his beard', 'a face with a beard', 'a face', -1, 'a face without a beard'],
  ['get rid of the hat', 'a face with a hat', 'a face', -1, 'a face without a hat'],
  ['without glasses', 'a face with glasses', 'a face', -1, 'a face without glasses'],
  ['no beard', 'a face with a beard', 'a face', -1, 'a face without a beard'],
  ['remove the wrinkles', 'a face with wrinkles', 'a face', -1, 'a face without wrinkles'],
  ['make her smile', 'a smiling face', 'a face', 1],
  ['make him smile', 'a smiling face', 'a face', 1],
  ['make them laugh', 'a laughing face', 'a face', 1],
  ['make him frown', 'a frowning face', 'a face', 1],
  ['make him older', 'an old face', 'a face', 1],
  ['make her younger', 'a young face', 'a face', 1],
  ['make him look older', 'an old face', 'a face', 1],
  ['make her happy', 'a happy face', 'a face', 1],
  ['make him angry', 'an angry face', 'a face', 1],
  ['make the person surprised', 'a surprised face', 'a face', 1],
  ['make him bald', 'a face with a bald head', 'a face with hair', 1],
  ['bald', 'a face with a bald head', 'a face with hair', 1],
  ['smiling', 'a smiling face', 'a face', 1],
  ['curly hair', 'a face with curly hair', 'a face with hair', 1],
  ['red hair', 'a face with red hair', 'a face with hair', 1],
  ['glasses', 'a face with glasses', 'a face', 1],
  ['a beard', 'a face with a beard', 'a face', 1],
];

/** Descriptions: passed through as the target with the default neutral. */
const PASS_THROUGH = [
  'a person with purple hair',
  'face with red hair',
  'a smiling face',
  'A face with a beard',
  'Donald Trump',
  'a sketch of a man',
  'an old woman with glasses',
  'the face of a tired doctor',
];

describe('instructions read as (target, neutral, sign)', () => {
  for (const [text, target, neutral, sign, opt] of TABLE) {
    it(`'${text}' -> ('${target}', '${neutral}', ${sign})`, () => {
      const r = interpretInstruction(text);
      expect([r.target, r.neutral, r.alphaSign]).toEqual([target, neutral, sign]);
      expect(r.optimizeText).toBe(opt ?? target);
      expect(r.rule).not.toBe('description');
    });
  }

  for (const text of PASS_THROUGH) {
    it(`'${text}' passes through unchanged`, () => {
      const r = interpretInstruction(text);
      expect(r).toMatchObject({ target: text, neutral: 'face', alphaSign: 1, optimizeText: text, rule: 'description' });
    });
  }

  it('an explicit neutral wins over the rules', () => {
    expect(interpretInstruction('make the hair red', 'a face with black hair')).toMatchObject({ target: 'a face with red hair', neutral: 'a face with black hair' });
    expect(interpretInstruction('a person with purple hair', 'a person')).toMatchObject({ neutral: 'a person', rule: 'explicit' });
  });

  it('an instruction that reads as nothing is refused with a line naming the fix', () => {
    for (const text of ['', '   ']) expect(() => interpretInstruction(text), text).toThrow(/the prompt is empty: describe the edit/);
    for (const text of ['make it', 'please', 'the face', '?!']) {
      expect(() => interpretInstruction(text), text).toThrow(InputError);
      expect(() => interpretInstruction(text), text).toThrow(/says nothing to change; describe the edit/);
    }
  });

  it('covers at least 40 phrasings', () => {
    expect(TABLE.length + PASS_THROUGH.length).toBeGreaterThanOrEqual(40);
  });
});
