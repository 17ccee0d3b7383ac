// admission.mjs POLICY.yaml — evaluate the ValidatingAdmissionPolicy's CEL
// with a CEL implementation (@bufbuild/cel, which passes the cel-spec
// conformance suite), the way the API server applies it
// (admissionregistration.k8s.io/v1): every matchCondition must be true for
// the policy to apply; then the variables are computed and each validation
// must be true, otherwise the request is denied. An evaluation error denies
// too (failurePolicy: Fail). Prints one line per pod and exits non-zero
// when any pod's outcome differs from the expectation.
import fs from "node:fs";
import yaml from "js-yaml";
import { run } from "@bufbuild/cel";

const docs = yaml.loadAll(fs.readFileSync(process.argv[2], "utf8"));
const vap = docs.find((d) => d && d.kind === "ValidatingAdmissionPolicy");
if (!vap) { console.error("no ValidatingAdmissionPolicy"); process.exit(2); }
const spec = vap.spec;
if (spec.failurePolicy !== "Fail") { console.error("failurePolicy is not Fail"); process.exit(2); }

// JSON -> CEL values: objects are maps, integers are CEL ints
const cel = (v) => Array.isArray(v) ? v.map(cel)
  : v !== null && typeof v === "object" ? new Map(Object.entries(v).map(([k, x]) => [k, cel(x)]))
  : typeof v === "number" && Number.isInteger(v) ? BigInt(v) : v;
const isErr = (r) => r instanceof Error || (r && typeof r === "object" && "_exprId" in r);

function admit(pod) {
  const object = cel(pod);
  for (const m of spec.matchConditions || []) {
    const r = run(m.expression, { object });
    if (isErr(r)) return { allowed: false, why: `matchCondition ${m.name}: ${r.message}` };
    if (r !== true) return { allowed: true, why: `not matched (${m.name})` };
  }
  const variables = new Map();
  for (const v of spec.variables || []) {
    const r = run(v.expression, { object, variables });
    if (isErr(r)) return { allowed: false, why: `variable ${v.name}: ${r.message}` };
    variables.set(v.name, r);
  }
  for (const val of spec.validations) {
    const r = run(val.expression, { object, variables });
    if (isErr(r)) return { allowed: false, why: `validation error: ${r.message}` };
    if (r !== true) return { allowed: false, why: `denied: ${val.reason}: ${val.message}` };
  }
  return { allowed: true, why: "validations pass" };
}

const c = (res, extra = {}) => ({ name: "main", image: "secureai", ...(res ? { resources: res } : {}), ...extra });
const pod = (labels, spec2) => ({ apiVersion: "v1", kind: "Pod", metadata: { name: "p", ...(labels ? { labels } : {}) }, spec: spec2 });
const REQ = { "secureai.io/confidentiality": "required" };
const cases = [
  // [name, pod, allowed]
  ["unlabelled ordinary pod", pod(null, { containers: [c()] }), true],
  ["labelled none", pod({ "secureai.io/confidentiality": "none" }, { containers: [c()] }), true],
  ["labelled preferred, no TEE", pod({ "secureai.io/confidentiality": "preferred" }, { containers: [c()] }), true],
  ["other labels only", pod({ app: "x" }, { containers: [c({ requests: { cpu: "1" } })] }), true],
  ["required + kata-qemu-snp", pod(REQ, { runtimeClassName: "kata-qemu-snp", containers: [c()] }), true],
  ["required + kata-qemu-tdx", pod(REQ, { runtimeClassName: "kata-qemu-tdx", containers: [c()] }), true],
  ["required + kata-qemu-nvidia-gpu-snp", pod(REQ, { runtimeClassName: "kata-qemu-nvidia-gpu-snp", containers: [c()] }), true],
  ["required + SGX enclave + EPC limits", pod(REQ, { containers: [c({ limits: { "sgx.intel.com/epc": "64Mi", "sgx.intel.com/enclave": "1" } })] }), true],
  ["required + SGX in the second container", pod(REQ, { containers: [c(), c({ requests: { "sgx.intel.com/epc": "8Mi", "sgx.intel.com/enclave": "1" } }, { name: "enclave" })] }), true],
  ["required, no TEE at all", pod(REQ, { containers: [c({ requests: { cpu: "1" } })] }), false],
  ["required, no resources", pod(REQ, { containers: [c()] }), false],
  ["required + plain kata (not confidential)", pod(REQ, { runtimeClassName: "kata-qemu", containers: [c()] }), false],
  ["required + kata-qemu-coco-dev (no TEE)", pod(REQ, { runtimeClassName: "kata-qemu-coco-dev", containers: [c()] }), false],
  ["required + runc", pod(REQ, { runtimeClassName: "runc", containers: [c()] }), false],
  ["required + EPC but no enclave device", pod(REQ, { containers: [c({ limits: { "sgx.intel.com/epc": "64Mi" } })] }), false],
  ["required + enclave device but no EPC", pod(REQ, { containers: [c({ limits: { "sgx.intel.com/enclave": "1" } })] }), false],
  ["required + EPC in requests, enclave in limits (split)", pod(REQ, { containers: [c({ requests: { "sgx.intel.com/epc": "8Mi" }, limits: { "sgx.intel.com/enclave": "1" } })] }), false],
  ["required + SGX only in an init container", pod(REQ, { initContainers: [c({ limits: { "sgx.intel.com/epc": "8Mi", "sgx.intel.com/enclave": "1" } })], containers: [c()] }), false],
];
let bad = 0;
for (const [name, p, want] of cases) {
  const got = admit(p);
  const ok = got.allowed === want;
  if (!ok) bad++;
  console.log(`${ok ? "ok  " : "FAIL"} ${want ? "allow" : "deny "} ${name}: ${got.why}`);
}
console.log(`admission cases: ${cases.length - bad} passed, ${bad} failed`);
process.exit(bad ? 1 : 0);
