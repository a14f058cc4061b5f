import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

// The modules of src/ import each other without a cycle, type-only and
// dynamic imports included: a cycle ties layers together (a store that
// needs the engine that needs the store) and makes the order in which
// modules run their top level matter. And the folders keep to the one
// direction of docs/architecture.md: front ends (cli, commands, library)
// -> setup -> engine -> ports; stores, sources and process implement the
// ports; nothing imports a front end.

const SRC = resolve(import.meta.dirname, '../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const path = join(dir, d.name);
    if (d.isDirectory()) return sourceFiles(path);
    return d.name.endsWith('.ts') ? [path] : [];
  });
}

// Every module a file names: import, import type, export … from, import().
function importsOf(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const specifiers: string[] = [];
  const visit = (node: ts.Node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      specifiers.push(node.moduleSpecifier.text);
    }
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      if (arg && ts.isStringLiteral(arg)) specifiers.push(arg.text);
    }
    if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      specifiers.push(node.argument.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return specifiers
    .filter((s) => s.startsWith('.'))
    .map((s) => resolve(dirname(file), s.replace(/\.js$/, '.ts')));
}

// The cycles of a graph, each as the list of its modules (Tarjan's strongly
// connected components of more than one node, or a node importing itself).
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const lowlinks = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const connect = (node: string) => {
    indices.set(node, index);
    lowlinks.set(node, index);
    index += 1;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!indices.has(next)) {
        connect(next);
        lowlinks.set(node, Math.min(lowlinks.get(node)!, lowlinks.get(next)!));
      } else if (onStack.has(next)) {
        lowlinks.set(node, Math.min(lowlinks.get(node)!, indices.get(next)!));
      }
    }
    if (lowlinks.get(node) === indices.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || (graph.get(node) ?? []).includes(node)) found.push(component);
    }
  };
  for (const node of graph.keys()) if (!indices.has(node)) connect(node);
  return found;
}

describe('the modules of src/', () => {
  it('import each other without a cycle', () => {
    const graph = new Map(sourceFiles(SRC).map((file) => [file, importsOf(file)]));
    const named = cycles(graph).map((component) => component.map((file) => relative(SRC, file)).sort());
    expect(named).toEqual([]);
  });

  it('resolve every relative import to a file of src/', () => {
    const files = new Set(sourceFiles(SRC));
    const missing = [...files].flatMap((file) => importsOf(file).filter((target) => !files.has(target)).map((t) => `${relative(SRC, file)} -> ${relative(SRC, t)}`));
    expect(missing).toEqual([]);
  });
});

// What each top-level folder of src/ may import, besides itself. The
// folders not named here import nothing of src/ (core is the leaf).
const MAY_IMPORT: Record<string, readonly string[]> = {
  core: [],
  schema: ['core'],
  policy: ['core'],
  ports: ['core', 'schema'],
  cloud: ['core'],
  sources: ['core', 'ports', 'schema', 'policy', 'cloud'],
  store: ['core', 'ports', 'schema', 'policy', 'cloud'],
  process: ['core', 'ports', 'schema', 'store'],
  engine: ['core', 'ports', 'schema', 'policy', 'sources'],
  terminal: ['core', 'ports'],
  setup: ['core', 'ports', 'schema', 'policy', 'sources', 'store', 'engine'],
  // dcache fetch, which both front ends use: list, download, put in place
  fetch: ['core', 'ports', 'schema', 'policy', 'sources', 'store', 'process', 'engine', 'setup'],
  library: ['core', 'ports', 'schema', 'policy', 'sources', 'store', 'process', 'engine', 'setup', 'fetch'],
  commands: ['core', 'ports', 'schema', 'policy', 'sources', 'store', 'process', 'engine', 'setup', 'terminal', 'fetch'],
  cli: ['core', 'ports', 'schema', 'policy', 'sources', 'store', 'process', 'engine', 'setup', 'terminal', 'commands'],
};

const folderOf = (file: string) => {
  const [top, ...rest] = relative(SRC, file).split('/');
  return rest.length === 0 ? '(root)' : top!;
};

describe('the folders of src/', () => {
  const edges = sourceFiles(SRC).flatMap((file) => importsOf(file).map((target) => ({ file, target, from: folderOf(file), to: folderOf(target) })));

  it('import only the folders below them', () => {
    const wrong = edges
      .filter(({ from, to }) => from !== to && from !== '(root)' && !(MAY_IMPORT[from] ?? []).includes(to))
      .map(({ file, target }) => `${relative(SRC, file)} -> ${relative(SRC, target)}`);
    expect(wrong).toEqual([]);
  });

  it('name every folder there is in the rules', () => {
    const folders = [...new Set(sourceFiles(SRC).map(folderOf))].filter((f) => f !== '(root)').sort();
    expect(folders).toEqual(Object.keys(MAY_IMPORT).sort());
  });

  it('import each other without a cycle', () => {
    const graph = new Map<string, string[]>();
    for (const { from, to } of edges) if (from !== to) graph.set(from, [...new Set([...(graph.get(from) ?? []), to])]);
    expect(cycles(graph)).toEqual([]);
  });
});
