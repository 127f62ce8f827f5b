/**
 * A real PowerShell grammar (tree-sitter-powershell's WASM build, run by
 * web-tree-sitter) to judge the PowerShell text thirdloop generates, since
 * no PowerShell runs here.
 */
import { createRequire } from 'node:module';
import { Language, Parser, type Node } from 'web-tree-sitter';

let parser: Promise<Parser> | undefined;

export function powershellParser(): Promise<Parser> {
  parser ??= (async () => {
    await Parser.init();
    const wasm = createRequire(import.meta.url).resolve('tree-sitter-powershell/tree-sitter-powershell.wasm');
    const language = await Language.load(wasm);
    const p = new Parser();
    p.setLanguage(language);
    return p;
  })();
  return parser;
}

/** Every node under `node`, depth first. */
export function* walk(node: Node): Generator<Node> {
  yield node;
  for (const child of node.children) if (child) yield* walk(child);
}

export interface Parsed {
  root: Node;
  /** ERROR and MISSING nodes, with where they are: empty when the text parses cleanly. */
  errors: string[];
}

export async function parsePowerShell(text: string): Promise<Parsed> {
  const tree = (await powershellParser()).parse(text);
  if (!tree) throw new Error('the parser returned nothing');
  const errors: string[] = [];
  for (const node of walk(tree.rootNode)) {
    if (node.type === 'ERROR' || node.isMissing) errors.push(`${node.isMissing ? 'missing' : 'error'} at ${node.startPosition.row + 1}:${node.startPosition.column + 1}: ${JSON.stringify(node.text.slice(0, 60))}`);
  }
  return { root: tree.rootNode, errors };
}

/** A single-quoted (verbatim) string's value: quotes stripped, doubled quotes (any of the four) made one. */
export function verbatimValue(literal: string): string {
  return literal.slice(1, -1).replace(/(['\u2018\u2019\u201a\u201b])['\u2018\u2019\u201a\u201b]/g, '$1');
}
