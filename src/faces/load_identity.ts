/** Loading an identity network by the name or path a user gives (`--identity-model`, the server's identity model). */
import { resolveModelPath } from '../io/models/registry.js';
import { ArcFaceIrSe } from './arcface.js';
import type { IdentityNet } from './identity.js';
import { MobileFace } from './mobileface.js';

/** `--identity-model` value that selects the MobileFace port (else a path: .json MobileFace, or an ArcFace .pth). */
export const MOBILEFACE_MODEL_NAME = 'mobileface';

/** Loads the identity net an `--identity-model` value names: `mobileface` (from the face models), a .json, or ArcFace. */
export async function loadIdentityNet(spec: string, modelsDir?: string): Promise<IdentityNet> {
  if (spec === MOBILEFACE_MODEL_NAME) return MobileFace.load(modelsDir);
  if (spec.endsWith('.json')) return MobileFace.load(spec);
  return ArcFaceIrSe.load(await resolveModelPath(spec, 'face'));
}

