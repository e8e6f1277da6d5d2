/**
 * One-pass inverters behind one interface: the e4e / pSp encoders (./encoder.ts: w+ codes) and HyperStyle
 * (./hyperstyle.ts: w+ codes plus generator weight offsets). Which one a checkpoint holds is read from its keys
 * (`encoder.*` vs `hypernet.*`), so `--encoder` takes either and callers never branch on the network.
 */
import { readCheckpoint, type Checkpoint } from '../io/tensors/checkpoint.js';
import type { SessionOptions } from '../engine/session.js';
import { sliceRows } from '../engine/batching.js';
import type { HostTensor } from '../engine/tensor.js';
import { InputError } from '../errors.js';
import { Generator } from '../generator/index.js';
import type { Pixels } from '../io/images/image.js';
import { resolveModelPath } from '../io/models/registry.js';
import { PhotoEncoder, encoderFromCheckpoint } from './encoder.js';
import type { EncoderKind } from './encoder_net.js';
import { HyperStyle, type HyperStyleDomain } from './hyperstyle.js';

export type InverterKind = EncoderKind | 'hyperstyle';

/** One photo inverted in one pass. */
export interface OnePassInversion {
  /** w+ [1, L, D]. */
  readonly latent: HostTensor;
  /** HyperStyle's weight offsets [Cout,Cin,k,k] by generator layer name (render with `Generator.withOffsets`). */
  readonly offsets?: ReadonlyMap<string, HostTensor>;
}

export interface InverterOptions {
  /** HyperStyle's passes (hyperstyle.ts DEFAULT_ITERATIONS when undefined); e4e/pSp refuse a value. */
  readonly iterations?: number;
}

export interface OnePassInverter {
  readonly kind: InverterKind;
  /** What its images show: photo edits (face detection and alignment) need 'faces'. */
  readonly domain: HyperStyleDomain;
  readonly generator: Generator;
  /** Aligned faces (any size, RGB) -> one inversion each. */
  invertFaces(faces: readonly Pixels[], o?: InverterOptions): Promise<OnePassInversion[]>;
  /** Builds (or opens) the sessions one photo needs, so the first inversion does not wait for them. */
  prepare(): Promise<void>;
  dispose(): Promise<void>;
}

const isHyperStyle = (ckpt: Pick<Checkpoint, 'tensors'>): boolean => [...ckpt.tensors.keys()].some((k) => k.startsWith('state_dict.hypernet.'));

class EncoderInverter implements OnePassInverter {
  readonly domain = 'faces';
  constructor(private readonly encoder: PhotoEncoder) {}
  get kind(): InverterKind {
    return this.encoder.kind;
  }
  get generator(): Generator {
    return this.encoder.generator;
  }
  async invertFaces(faces: readonly Pixels[], o: InverterOptions = {}): Promise<OnePassInversion[]> {
    if (o.iterations !== undefined) throw new InputError(`iterations apply to HyperStyle inversion; ${this.kind} encodes in one pass`);
    const codes = await this.encoder.encodeImages(faces);
    return faces.map((_, i) => ({ latent: sliceRows(codes, i, 1) }));
  }
  prepare(): Promise<void> {
    return this.encoder.prepare();
  }
  dispose(): Promise<void> {
    return this.encoder.dispose();
  }
}

class HyperStyleInverter implements OnePassInverter {
  readonly kind = 'hyperstyle';
  constructor(private readonly net: HyperStyle) {}
  get domain(): HyperStyleDomain {
    return this.net.domain;
  }
  get generator(): Generator {
    return this.net.generator;
  }
  async invertFaces(faces: readonly Pixels[], o: InverterOptions = {}): Promise<OnePassInversion[]> {
    return (await this.net.invertImages(faces, o.iterations)).map((r) => ({ latent: r.codes, offsets: r.offsets }));
  }
  async prepare(): Promise<void> {
    // Its sessions depend on the iteration count asked for; they are built by the first inversion.
  }
  dispose(): Promise<void> {
    return this.net.dispose();
  }
}

/**
 * An inverter over an already loaded `generator` (the edit's), from a checkpoint read here; `what` names the file.
 * HyperStyle finds its W encoder as hyperstyle.ts `wEncoderFor` says.
 */
export async function inverterFor(ckpt: Pick<Checkpoint, 'tensors' | 'values'>, path: string, generator: Generator, o: { wEncoder?: string } = {}, opts: SessionOptions = {}): Promise<OnePassInverter> {
  if (!isHyperStyle(ckpt)) return new EncoderInverter(new PhotoEncoder(encoderFromCheckpoint(ckpt, path), generator, path, opts));
  return new HyperStyleInverter(await HyperStyle.over(ckpt, path, generator, o.wEncoder, opts));
}

/**
 * The inverter of the checkpoint at `path` over the edit's `generator`. The checkpoint is read in place (its
 * directory and pickle; onnxruntime maps the encoder's weights from the file: engine/session_options.ts `serialise`).
 */
export async function inverterForPath(path: string, generator: Generator, o: { wEncoder?: string } = {}, opts: SessionOptions = {}): Promise<OnePassInverter> {
  return inverterFor(await readCheckpoint(path, 'encoder checkpoint'), path, generator, o, opts);
}

/** Loads an e4e / pSp / HyperStyle checkpoint (file or registry name); without `generator` its decoder renders. */
export async function loadInverter(pathOrName: string, o: { generator?: string; wEncoder?: string } = {}, opts: SessionOptions = {}): Promise<OnePassInverter> {
  const path = await resolveModelPath(pathOrName, 'encoder');
  const ckpt = await readCheckpoint(path, 'encoder checkpoint');
  if (!isHyperStyle(ckpt)) {
    if (o.wEncoder !== undefined) throw new InputError(`${path} is an e4e/pSp encoder; a W encoder applies to HyperStyle checkpoints`);
    return new EncoderInverter(await PhotoEncoder.fromCheckpoint(ckpt, path, o.generator, opts));
  }
  return new HyperStyleInverter(await HyperStyle.fromCheckpoint(ckpt, path, o, opts));
}
