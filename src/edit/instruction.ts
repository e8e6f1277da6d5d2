/**
 * Instructions as users type them ("make the hair red", "give him a beard", "remove the glasses") read as the
 * (target, neutral) text pair StyleCLIP's global directions take (Patashnik et al. 2021, sec. 6: the direction is
 * CLIP(target) - CLIP(neutral), e.g. "a face with red hair" vs "a face with hair"), and as the one target text the
 * optimisation method takes. Descriptions ("a person with purple hair", "face with red hair") pass through unchanged.
 *
 * Removals ("remove the glasses", "without glasses", "take off his hat") read as the addition with a negative
 * strength: target "a face with glasses", neutral "a face", alphaSign -1 (global directions move against the
 * direction); the optimisation method, which has one text and no sign, gets "a face without glasses".
 *
 * The rules, in order (the first that matches wins):
 *  1. removal:      remove | take off | get rid of | without | no  + THING   -> with THING, sign -1
 *  2. feature:      make | turn | dye | color | colour | change  + (the|his|her|their) PART (to|into)? ADJ
 *                   where PART is hair, eyes, lips, skin, beard, eyebrows   -> "a face with ADJ PART" vs "a face with PART"
 *  3. addition:     give (him|her|them|me|the person)? THING | add THING | put on THING | with THING
 *                   -> "a face with THING" vs "a face" ("... with hair" when THING is a kind of hair)
 *  4. expression:   make (him|her|them|me)? smile | laugh | frown          -> "a smiling face" vs "a face"
 *  5. look:         make (him|her|them|me)? (look)? ADJ (older -> old, younger -> young, bald -> with a bald head)
 *                   -> "an ADJ face" vs "a face"
 *  6. bare trait:   one to three words naming a trait (bald, smiling, curly hair, glasses, a beard)
 *  7. otherwise the text is a description: target = the text, neutral = the default neutral.
 */
import { InputError } from '../errors.js';

export interface Interpretation {
  /** What the edit aims at (global directions' target, the optimisation's prompt when alphaSign is 1). */
  readonly target: string;
  /** What the target is measured against (global directions' neutral text). */
  readonly neutral: string;
  /** -1 for removals: global directions move against target - neutral. */
  readonly alphaSign: 1 | -1;
  /** The optimisation method's one text (target, or "a face without THING" for removals). */
  readonly optimizeText: string;
  /** Which rule read it (`description` when the text passed through unchanged). */
  readonly rule: 'removal' | 'feature' | 'addition' | 'expression' | 'look' | 'trait' | 'description' | 'explicit';
}

/** The reading as the CLI's --json, the API and batch reports show it. */
export interface InterpretationJson {
  readonly target: string;
  readonly neutral: string;
  readonly alpha_sign: 1 | -1;
  readonly rule: Interpretation['rule'];
}

export const interpretationJson = (i: Interpretation): InterpretationJson => ({ target: i.target, neutral: i.neutral, alpha_sign: i.alphaSign, rule: i.rule });

/** One line for people: how the sentence was read. */
export function describeInterpretation(text: string, i: Interpretation): string {
  if (i.rule === 'description') return `"${text}" used as written (neutral "${i.neutral}")`;
  const sign = i.alphaSign < 0 ? ', alpha negated (a removal)' : '';
  return `read "${text}" as target "${i.target}", neutral "${i.neutral}"${sign}`;
}

/** The face of every rewritten text (StyleCLIP's FFHQ prompts: "a face with ...", neutral "a face"). */
export const FACE = 'a face';
/** Facial parts a colour or texture applies to ("make the hair red" -> "a face with red hair"). */
const PARTS = ['hair', 'eyes', 'lips', 'skin', 'beard', 'eyebrows'];
/** Words that carry nothing alone: an instruction made only of these reads as nothing. */
const STOP_WORDS = new Set(['a', 'an', 'the', 'make', 'please', 'it', 'him', 'her', 'them', 'me', 'this', 'that', 'look', 'more', 'be', 'to', 'and', 'of', 'face', 'photo', 'picture', 'image', 'person']);
const WHO = '(?:him|her|them|me|us|the person|this person|the man|the woman|the face)';
const DETERMINER = /^(?:the|his|her|their|my|your|its)\s+/;
/** Looks read as "an ADJ face", with the comparatives people type. */
const LOOKS: Readonly<Record<string, string>> = { older: 'old', younger: 'young', elder: 'old' };
const EXPRESSIONS: Readonly<Record<string, string>> = { smile: 'smiling', laugh: 'laughing', frown: 'frowning', grin: 'grinning' };
/** Single-word traits that name a face directly. */
const BARE_TRAITS: Readonly<Record<string, string>> = { bald: 'a face with a bald head', smiling: 'a smiling face', smile: 'a smiling face' };

const article = (word: string): string => (/^[aeiou]/i.test(word) ? 'an' : 'a');

/** Nouns without an article ("a face with makeup"). */
const MASS_NOUNS = new Set(['hair', 'makeup', 'skin', 'lipstick', 'stubble', 'eyeliner', 'mascara', 'acne']);

/** "the glasses" -> "glasses", "his hat" -> "a hat", "a beard" stays; plurals and mass nouns take no article. */
function thing(phrase: string): string {
  const t = phrase.replace(DETERMINER, '').trim();
  const last = t.split(/\s+/).at(-1)!;
  if (/^(?:a|an|some)\s/.test(t) || /s$/.test(last) || MASS_NOUNS.has(last)) return t;
  return `${article(t)} ${t}`;
}

/** The pair of "a face with THING" and its neutral: hair stays in the neutral text when THING is a kind of hair. */
function withThing(t: string): { target: string; neutral: string } {
  const isHair = /\bhair(cut|style)?$/.test(t);
  return { target: `${FACE} with ${t}`, neutral: isHair ? `${FACE} with hair` : FACE };
}

const result = (target: string, neutral: string, rule: Interpretation['rule'], alphaSign: 1 | -1 = 1, optimizeText = target): Interpretation =>
  Object.freeze({ target, neutral, alphaSign, optimizeText, rule });

/** How `text` is read; `neutral` (an explicit neutral text) wins over the rules' neutral. */
export function interpretInstruction(text: string, neutral?: string, defaultNeutral = 'face'): Interpretation {
  const raw = text.trim().replace(/\s+/g, ' ');
  const s = raw.toLowerCase().replace(/[.!?]+$/, '').replace(/^please\s+/, '').replace(/\s+please$/, '');
  if (raw === '') throw new InputError('the prompt is empty: describe the edit, e.g. "make the hair red" or "a face with a beard"');
  const words = s.split(/[^a-z0-9']+/).filter(Boolean);
  if (words.length === 0 || words.every((w) => STOP_WORDS.has(w))) {
    throw new InputError(`the instruction '${raw}' says nothing to change; describe the edit, e.g. "make the hair red" or "a face with a beard"`);
  }
  const r = read(s) ?? result(raw, defaultNeutral, 'description');
  return neutral === undefined ? r : Object.freeze({ ...r, neutral, rule: r.rule === 'description' ? 'explicit' : r.rule });
}

function read(s: string): Interpretation | undefined {
  let m = new RegExp(`^(?:remove|take off|get rid of|lose|delete)\\s+(?:${WHO}'?s?\\s+)?(.+)$`).exec(s) ?? /^(?:without|no)\s+(.+)$/.exec(s);
  if (m) {
    const t = thing(m[1]);
    const { target, neutral } = withThing(t);
    return result(target, neutral, 'removal', -1, `${FACE} without ${t}`);
  }
  m = new RegExp(`^(?:make|turn|dye|colou?r|change|paint)\\s+(?:the|his|her|their|my)\\s+(${PARTS.join('|')})(?:\\s+colou?r)?\\s+(?:to\\s+|into\\s+)?(.+)$`).exec(s);
  if (m) return result(`${FACE} with ${m[2]} ${m[1]}`, `${FACE} with ${m[1]}`, 'feature');
  m = new RegExp(`^(?:give\\s+(?:${WHO}\\s+)?|add\\s+(?:${WHO}\\s+)?|put on\\s+|with\\s+)(.+)$`).exec(s);
  if (m) {
    const { target, neutral } = withThing(thing(m[1]));
    return result(target, neutral, 'addition');
  }
  m = new RegExp(`^make\\s+(?:${WHO}\\s+)?(smile|laugh|frown|grin)$`).exec(s);
  if (m) return result(`a ${EXPRESSIONS[m[1]]} face`, FACE, 'expression');
  m = new RegExp(`^make\\s+(?:${WHO}\\s+)?(?:look\\s+)?([a-z-]+)$`).exec(s);
  if (m) {
    if (m[1] === 'bald') return result(BARE_TRAITS.bald, `${FACE} with hair`, 'look');
    const adj = LOOKS[m[1]] ?? m[1];
    return result(`${article(adj)} ${adj} face`, FACE, 'look');
  }
  if (BARE_TRAITS[s]) return result(BARE_TRAITS[s], s === 'bald' ? `${FACE} with hair` : FACE, 'trait');
  const words = s.split(' ');
  if (words.length <= 3 && !/^(?:a|an|the)?\s*(?:face|person|man|woman|photo|picture|portrait|painting|drawing|sketch)\b/.test(s) && /(?:hair|glasses|beard|moustache|mustache|hat|earrings|makeup|freckles|wrinkles|bangs)$/.test(s)) {
    const { target, neutral } = withThing(thing(s));
    return result(target, neutral, 'trait');
  }
  return undefined;
}
