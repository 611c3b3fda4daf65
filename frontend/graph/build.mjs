// Vendor the graph component's third-party files into workbench/ui/graph_component/frontend/.
//
//   cd frontend/graph && npm ci && npm run build
//
// No bundler: the page loads cytoscape's own minified UMD build (vendored as it is on npm,
// with its licence) beside our own files, which live only in that folder (index.html,
// graph.js, graph.css, layout.js: edited there, shipped as they are). Nothing is fetched
// at run time.
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "..", "workbench", "ui", "graph_component", "frontend");
const vendored = [
  // [package, file in the package, shipped name, licence file]
  ["cytoscape", "dist/cytoscape.min.js", "cytoscape.min.js", "LICENSE"],
];
mkdirSync(out, { recursive: true });
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
