/**
 * node:fs for the modules every command loads. An ESM `import … from 'node:fs'`
 * builds the namespace from every export, and reading `fs.promises` loads
 * node:fs/promises with the streams and readline modules under it: about 30
 * internal modules, 4-10 ms of CPU at each start that `thirdloop token` never
 * uses. process.getBuiltinModule (Node 20.16+) hands over the same module
 * without building that namespace. Modules that load later import node:fs as usual.
 */
export const fs = process.getBuiltinModule('node:fs');
