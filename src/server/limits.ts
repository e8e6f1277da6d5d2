/** The server's request limits, apart from the app so the CLI can print them without loading Hono. */

/**
 * Largest request body: 20 MiB holds a 12-megapixel JPEG (~5-10 MB) or a 1024^2 PNG (~2 MB) with room to spare,
 * and a W+ latent is 37 KB. Larger bodies get a 413 before they are read completely.
 */
export const DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024;
