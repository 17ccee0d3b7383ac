// validate.mjs DIR... — type-check every YAML document in each DIR/*.yaml
// against the Kubernetes API types: each document becomes a fresh object
// literal typed as its kind (apiVersion + kind pick the type), and the
// TypeScript compiler runs with --strict, whose excess-property check
// rejects any field the type does not declare (a typo), any wrong type and
// any missing required field. All directories are checked in one compiler
// run (one module per directory); prints "RESULT <dir> valid|invalid" per
// directory and exits 0 only when every directory is valid.
//
// Custom resources (Kubeflow's MPIJob) have no TypeScript types: they are
// checked with Ajv against the openAPIV3Schema their project publishes in
// its CRD (crdSchemas below, vendored by vendor-crd.mjs), made strict the
// way kube-apiserver's strict field validation is (an object that declares
// its properties and does not preserve unknown fields refuses any other
// field). Their pod templates are then also type-checked as PodTemplateSpec
// with the Kubernetes types, like every other pod in the directory.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import yaml from "js-yaml";
import ts from "typescript";
import Ajv from "ajv";

const here = path.dirname(fileURLToPath(import.meta.url));
const dirs = process.argv.slice(2);
if (dirs.length === 0) { console.error("usage: node validate.mjs DIR..."); process.exit(2); }

// apiVersion/kind -> [module, type]
const types = {
  "v1/Namespace": ["kubernetes-types/core/v1", "Namespace"],
  "v1/Service": ["kubernetes-types/core/v1", "Service"],
  "v1/Secret": ["kubernetes-types/core/v1", "Secret"],
  "v1/ConfigMap": ["kubernetes-types/core/v1", "ConfigMap"],
  "v1/PersistentVolumeClaim": ["kubernetes-types/core/v1", "PersistentVolumeClaim"],
  "v1/ServiceAccount": ["kubernetes-types/core/v1", "ServiceAccount"],
  "rbac.authorization.k8s.io/v1/Role": ["kubernetes-types/rbac/v1", "Role"],
  "rbac.authorization.k8s.io/v1/RoleBinding": ["kubernetes-types/rbac/v1", "RoleBinding"],
  "rbac.authorization.k8s.io/v1/ClusterRole": ["kubernetes-types/rbac/v1", "ClusterRole"],
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": ["kubernetes-types/rbac/v1", "ClusterRoleBinding"],
  "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy": ["kubernetes-types/admissionregistration/v1", "ValidatingAdmissionPolicy"],
  "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding": ["kubernetes-types/admissionregistration/v1", "ValidatingAdmissionPolicyBinding"],
  "apps/v1/Deployment": ["kubernetes-types/apps/v1", "Deployment"],
  "batch/v1/Job": ["kubernetes-types/batch/v1", "Job"],
  "node.k8s.io/v1/RuntimeClass": ["kubernetes-types/node/v1", "RuntimeClass"],
  "kubescheduler.config.k8s.io/v1/KubeSchedulerConfiguration": ["./kube-scheduler-config", "KubeSchedulerConfiguration"],
};

// custom resources: apiVersion/kind -> [vendored schema, pod templates of a document]
const crdSchemas = {
  "kubeflow.org/v2beta1/MPIJob": ["mpijob-v2beta1.schema.json",
    (d) => Object.entries(d.spec?.mpiReplicaSpecs ?? {}).map(([role, r]) => [`mpiReplicaSpecs.${role}.template`, r?.template])],
};
const strictify = (n) => {
  if (Array.isArray(n)) return n.map(strictify);
  if (!n || typeof n !== "object") return n;
  const o = {};
  for (const [k, v] of Object.entries(n)) o[k] = k === "enum" || k === "default" ? v : strictify(v);
  if (o.properties && !("additionalProperties" in o) && !o["x-kubernetes-preserve-unknown-fields"])
    o.additionalProperties = false;
  return o;
};
const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
const crdCheck = {};
for (const [key, [file]] of Object.entries(crdSchemas)) {
  const { schema } = JSON.parse(fs.readFileSync(path.join(here, file), "utf8"));
  crdCheck[key] = ajv.compile(strictify(schema));
}
types["pod/PodTemplateSpec"] = ["kubernetes-types/core/v1", "PodTemplateSpec"];

const work = fs.mkdtempSync(path.join(here, ".check-"));
const files = [];
const info = new Map();          // file -> {dir, header, origin, bad}
try {
  dirs.forEach((dir, k) => {
    let src = "", n = 0, nv = 0, bad = false;
    const imports = new Set(), origin = [];
    const yamls = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort() : [];
    for (const f of yamls) {
      let docs;
      try { docs = yaml.loadAll(fs.readFileSync(path.join(dir, f), "utf8")); }
      catch (e) { console.error(`${dir}/${f}: YAML: ${e.message}`); bad = true; continue; }
      // a component config held in a ConfigMap (kube-scheduler's --config
      // file) is checked as its own document too
      for (const d of [...docs]) {
        if (d && d.kind === "ConfigMap" && d.data)
          for (const [key, text] of Object.entries(d.data)) {
            if (!key.endsWith(".yaml")) continue;
            let inner;
            try { inner = yaml.load(text); } catch (e) { console.error(`${dir}/${f}: ${key}: YAML: ${e.message}`); bad = true; continue; }
            if (inner && typeof inner === "object" && "apiVersion" in inner && "kind" in inner) docs.push(inner);
          }
      }
      const emit = (d, key, label) => {
        const t = types[key];
        imports.add(`import type { ${t[1]} } from "${t[0].startsWith("./") ? path.join(here, t[0]) : t[0]}";`);
        src += `// ${label}\nexport const doc${nv++}: ${t[1]} = ${JSON.stringify(d, null, 1)};\n`;
        origin.push([src.split("\n").length, `${label} (${key})`]);
      };
      docs.forEach((d, i) => {
        if (d === null || d === undefined) return;
        const key = `${d.apiVersion}/${d.kind}`;
        const label = `${f} document ${i + 1}`;
        if (crdCheck[key]) {
          if (!crdCheck[key](d)) {
            for (const e of crdCheck[key].errors)
              console.error(`${dir}/${label} (${key}): ${e.instancePath || "/"} ${e.message}` +
                            (e.params?.additionalProperty ? ` '${e.params.additionalProperty}'` : ""));
            bad = true;
          }
          for (const [where, tpl] of crdSchemas[key][1](d))
            if (tpl !== undefined) emit(tpl, "pod/PodTemplateSpec", `${label} ${where}`);
          n++;
          return;
        }
        if (!types[key]) { console.error(`${dir}/${label}: no schema for ${key}`); bad = true; return; }
        emit(d, key, label);
        n++;
      });
    }
    if (n === 0) { console.error(`${dir}: no manifests found`); bad = true; }
    const file = path.join(work, `m${k}.ts`);
    fs.writeFileSync(file, [...imports].join("\n") + "\n" + src + "export {};\n");
    files.push(file);
    info.set(path.resolve(file), { dir, nimports: imports.size, origin, bad, n });
  });
  const program = ts.createProgram([path.join(here, "k8s-types-fixes.d.ts"), ...files], {
    strict: true, noEmit: true, skipLibCheck: true, types: [],
    module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10,
    target: ts.ScriptTarget.ES2020, typeRoots: [], baseUrl: here,
  });
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const msg = ts.flattenDiagnosticMessageText(d.messageText, "\n");
    const it = d.file ? info.get(path.resolve(d.file.fileName)) : undefined;
    if (!it) { console.error(msg); for (const v of info.values()) v.bad = true; continue; }
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    const where = it.origin.find(([end]) => line + 1 - it.nimports <= end);
    console.error(`${it.dir}/${where ? where[1] : "?"}: ${msg}`);
    it.bad = true;
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
let allOk = true;
for (const it of info.values()) {
  console.log(`RESULT ${it.dir} ${it.bad ? "invalid" : "valid"} (${it.n} documents)`);
  if (it.bad) allOk = false;
}
process.exit(allOk ? 0 : 1);
