// Build the graph component's shipped files: workbench/ui/graph_component/frontend/.
//
//   cd frontend/graph && npm ci && npm run build
//
// No bundler: the page loads cytoscape's own minified UMD build (vendored as it is on npm,
// with its licence) and our three source files. Nothing is fetched at run time.
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "..", "workbench", "ui", "graph_component", "frontend");
const vendored = [
  // [package, file in the package, shipped name, licence file]
  ["cytoscape", "dist/cytoscape.min.js", "cytoscape.min.js", "LICENSE"],
];
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const name of readdirSync(join(here, "src"))) copyFileSync(join(here, "src", name), join(out, name));
const notices = [
  "Third-party files shipped in this folder (copied unchanged from their npm packages by frontend/graph/build.mjs).",
  "",
];
for (const [pkg, file, shipped, licence] of vendored) {
  const root = join(here, "node_modules", pkg);
  const meta = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  copyFileSync(join(root, file), join(out, shipped));
  copyFileSync(join(root, licence), join(out, `${shipped}.LICENSE`));
  notices.push(`${shipped}: ${meta.name}@${meta.version} (${meta.license}), ${meta.name}/${file}; licence text in ${shipped}.LICENSE`);
}
writeFileSync(join(out, "THIRD_PARTY.txt"), notices.join("\n") + "\n");
let total = 0;
for (const name of readdirSync(out)) total += statSync(join(out, name)).size;
console.log(`wrote ${readdirSync(out).length} files, ${(total / 1024).toFixed(0)} KiB, to ${out}`);
