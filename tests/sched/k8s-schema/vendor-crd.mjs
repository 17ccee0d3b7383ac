// vendor-crd.mjs CRD.yaml VERSION OUT.json — extract the openAPIV3Schema of
// one version of a CustomResourceDefinition (as published by its project)
// into OUT.json with the `description` strings dropped (they are prose, and
// most of the size); nothing else is changed. Used once to produce
// mpijob-v2beta1.schema.json from kubeflow/mpi-operator's
// manifests/base/kubeflow.org_mpijobs.yaml (see README.md for the commit).
import fs from "node:fs";
import yaml from "js-yaml";

const [crdPath, version, out] = process.argv.slice(2);
if (!out) { console.error("usage: node vendor-crd.mjs CRD.yaml VERSION OUT.json"); process.exit(2); }
const crd = yaml.load(fs.readFileSync(crdPath, "utf8"));
const v = (crd.spec.versions || []).find((x) => x.name === version);
if (!v) { console.error(`${crdPath}: no version ${version}`); process.exit(1); }
const strip = (n) => {
  if (Array.isArray(n)) return n.map(strip);
  if (n && typeof n === "object") {
    const o = {};
    for (const [k, val] of Object.entries(n)) if (k !== "description") o[k] = strip(val);
    return o;
  }
  return n;
};
const schema = strip(v.schema.openAPIV3Schema);
fs.writeFileSync(out, JSON.stringify({ group: crd.spec.group, kind: crd.spec.names.kind, version, schema }) + "\n");
