// Bundles the console with esbuild into one script and one stylesheet, next to index.html:
// `node build.mjs [outdir]` (default dist/). dyntag's build embeds the result in the binary.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const out = process.argv[2] ?? join(here, "dist");
mkdirSync(out, { recursive: true });
const result = await build({
  entryPoints: [join(here, "src/main.ts")],
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  sourcemap: false,
  legalComments: "none",
  metafile: true,
  outfile: join(out, "app.js"),
  logLevel: "warning",
});
copyFileSync(join(here, "src/index.html"), join(out, "index.html"));
// The packages in the bundle with their versions and licences (served as /assets/licenses.txt).
const packages = new Map();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (m && !packages.has(m[1])) {
    const pkg = JSON.parse(readFileSync(join(here, "node_modules", m[1], "package.json"), "utf8"));
    packages.set(m[1], `${pkg.name} ${pkg.version}: ${pkg.license ?? "see its package"}`);
  }
}
writeFileSync(join(out, "licenses.txt"), ["The dyntag console bundles these npm packages:", ...[...packages.values()].sort()].join("\n") + "\n");
copyFileSync(join(here, "src/style.css"), join(out, "app.css"));
let raw = 0;
let gz = 0;
for (const f of ["index.html", "app.js", "app.css"]) {
  raw += statSync(join(out, f)).size;
  gz += gzipSync(readFileSync(join(out, f))).length;
}
console.log(`console bundle: ${(raw / 1024).toFixed(0)} KiB, ${(gz / 1024).toFixed(0)} KiB gzip -> ${out}`);
