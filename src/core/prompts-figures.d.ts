/** The glyph table of the prompts library (no types of its own). */
declare module 'prompts/lib/util/figures.js' {
  const figures: Record<string, string>;
  export default figures;
}
