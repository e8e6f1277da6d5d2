/**
 * The fast path as `styleclip edit`'s defaults (src/edit/defaults.ts): with no --method, global directions when the
 * generator has registered ones (else optimisation); a photo inverted by the generator's registered encoder unless
 * --encoder or --project-steps says otherwise; for photos, --out is the whole photo with the edited face pasted back
 * (--crop: the aligned face). What was chosen is said in one line on a terminal (`said`), and `--json` reports it.
 */
import { editDefaults } from '../edit/defaults.js';
import { EDIT_METHODS, type EditMethodName } from '../edit/methods.js';
import { UsageError, flag, str, strs, type ParsedArgs } from './command.js';
import { givenFlags } from './option_flags.js';

const METHODS = Object.keys(EDIT_METHODS) as EditMethodName[];

/** What the defaults chose for the user (absent keys were given), as --json reports it. */
export type Chosen = { readonly method?: EditMethodName; readonly encoder?: string };

export interface DefaultedArgs {
  /** The command line with the defaults filled in. */
  readonly args: ParsedArgs;
  /** What was chosen for the user, one line; undefined when the flags chose everything. */
  readonly said?: string;
  /** The same for --json: the method and encoder chosen (absent keys were given). */
  readonly chosen?: Chosen;
}

/** `args` with the defaults filled in: --method, and when they apply --fs3/--stats and --encoder (registry names). */
export async function withEditDefaults(args: ParsedArgs): Promise<DefaultedArgs> {
  const named = str(args, 'method');
  if (named !== undefined && !METHODS.includes(named as EditMethodName)) return { args }; // refused with the choices later
  // --domain without a prompt or method renders the start in the domain: no method to choose, the encoder still.
  const domainOnly = str(args, 'domain') !== undefined && strs(args, 'prompt').length === 0 && named === undefined;
  const d = await editDefaults({
    method: domainOnly ? 'optimize' : (named as EditMethodName | undefined),
    given: givenFlags(args),
    generator: str(args, 'generator'),
    clip: str(args, 'clip'),
    photo: str(args, 'image') !== undefined,
    encoder: str(args, 'encoder'),
    projection: str(args, 'project-steps') !== undefined,
  });
  const values = { ...args.values };
  if (!domainOnly) values.method = d.method;
  if (d.directions && str(args, 'fs3') === undefined && str(args, 'stats') === undefined) Object.assign(values, d.directions);
  if (d.encoder) values.encoder = d.encoder;
  const chosen = { ...(named === undefined && !domainOnly ? { method: d.method } : {}), ...(d.encoder ? { encoder: d.encoder } : {}) };
  return { args: { values, positionals: args.positionals }, said: d.said, chosen: Object.keys(chosen).length ? chosen : undefined };
}

/**
 * The output paths of a photo edit: --out is the photo with the edited face pasted back, unless --crop makes it the
 * aligned face (--paste-back then names the whole photo). Other starts have no photo to paste into.
 */
export function photoOutputPaths<P extends { out?: string; 'paste-back'?: string }>(paths: P, args: ParsedArgs): P {
  const photo = str(args, 'image') !== undefined;
  if (flag(args, 'crop')) {
    if (!photo) throw new UsageError('--crop applies to photo edits only: start from --image PHOTO');
    return paths;
  }
  if (!photo || paths.out === undefined) return paths;
  if (paths['paste-back'] !== undefined && paths['paste-back'] !== paths.out) {
    throw new UsageError('for a photo, --out is already the photo with the edited face pasted back: add --crop to make --out the aligned face and --paste-back the photo');
  }
  return { ...paths, out: undefined, 'paste-back': paths.out };
}
