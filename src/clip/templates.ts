/**
 * The ImageNet prompt templates of openai/CLIP's zero-shot notebook (Radford et al. 2021, "Prompt_Engineering_for_
 * ImageNet.ipynb": 80 templates), in StyleCLIP's order (global_torch/StyleCLIP.py `imagenet_templates`), which
 * comments out "a photo of many {}." and so averages over the remaining 79.
 */
export const STYLECLIP_IMAGENET_TEMPLATES: readonly string[] = Object.freeze([
  'a bad photo of a {}.', 'a sculpture of a {}.', 'a photo of the hard to see {}.', 'a low resolution photo of the {}.',
  'a rendering of a {}.', 'graffiti of a {}.', 'a bad photo of the {}.', 'a cropped photo of the {}.', 'a tattoo of a {}.',
  'the embroidered {}.', 'a photo of a hard to see {}.', 'a bright photo of a {}.', 'a photo of a clean {}.',
  'a photo of a dirty {}.', 'a dark photo of the {}.', 'a drawing of a {}.', 'a photo of my {}.', 'the plastic {}.',
  'a photo of the cool {}.', 'a close-up photo of a {}.', 'a black and white photo of the {}.', 'a painting of the {}.',
  'a painting of a {}.', 'a pixelated photo of the {}.', 'a sculpture of the {}.', 'a bright photo of the {}.',
  'a cropped photo of a {}.', 'a plastic {}.', 'a photo of the dirty {}.', 'a jpeg corrupted photo of a {}.',
  'a blurry photo of the {}.', 'a photo of the {}.', 'a good photo of the {}.', 'a rendering of the {}.',
  'a {} in a video game.', 'a photo of one {}.', 'a doodle of a {}.', 'a close-up photo of the {}.', 'a photo of a {}.',
  'the origami {}.', 'the {} in a video game.', 'a sketch of a {}.', 'a doodle of the {}.', 'a origami {}.',
  'a low resolution photo of a {}.', 'the toy {}.', 'a rendition of the {}.', 'a photo of the clean {}.',
  'a photo of a large {}.', 'a rendition of a {}.', 'a photo of a nice {}.', 'a photo of a weird {}.',
  'a blurry photo of a {}.', 'a cartoon {}.', 'art of a {}.', 'a sketch of the {}.', 'a embroidered {}.',
  'a pixelated photo of a {}.', 'itap of the {}.', 'a jpeg corrupted photo of the {}.', 'a good photo of a {}.',
  'a plushie {}.', 'a photo of the nice {}.', 'a photo of the small {}.', 'a photo of the weird {}.', 'the cartoon {}.',
  'art of the {}.', 'a drawing of the {}.', 'a photo of the large {}.', 'a black and white photo of a {}.',
  'the plushie {}.', 'a dark photo of a {}.', 'itap of a {}.', 'graffiti of the {}.', 'a toy {}.', 'itap of my {}.',
  'a photo of a cool {}.', 'a photo of a small {}.', 'a tattoo of the {}.',
]);

/** The notebook's one template StyleCLIP drops: it stands second in the notebook's list. */
const MANY_TEMPLATE = 'a photo of many {}.';

/** All 80 ImageNet templates of openai/CLIP's zero-shot notebook (`imagenet_templates`, the notebook's order). */
export const CLIP_IMAGENET_TEMPLATES: readonly string[] = Object.freeze([
  STYLECLIP_IMAGENET_TEMPLATES[0], MANY_TEMPLATE, ...STYLECLIP_IMAGENET_TEMPLATES.slice(1),
]);

/** The CLIP paper's default prompt (§3.1.4: "A photo of a {label}." improved ImageNet accuracy by 1.3%). */
export const SIMPLE_TEMPLATES: readonly string[] = Object.freeze(['a photo of a {}.']);

/** Template sets by name, for `classify --templates NAME` and the API's `templates` field. */
export const TEMPLATE_SETS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  imagenet: CLIP_IMAGENET_TEMPLATES,
  simple: SIMPLE_TEMPLATES,
});
