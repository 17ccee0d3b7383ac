// run.mjs MODEL.onnx X.bin N C H W OUT.bin — run MODEL in ONNX Runtime
// (CPU) on N float32 images [N,C,H,W] from X.bin; write the float32 output
// of its first output to OUT.bin. Called by tests/onnx/test_onnx_torch.c.
import { readFileSync, writeFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';

const [model, xpath, n, c, h, w, out] = process.argv.slice(2);
const dims = [n, c, h, w].map(Number);
const raw = readFileSync(xpath);
const x = new Float32Array(raw.buffer, raw.byteOffset, dims.reduce((a, b) => a * b));
const session = await ort.InferenceSession.create(model, {
  executionProviders: ['cpu'],
  graphOptimizationLevel: 'disabled',
});
const result = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, dims) });
const y = result[session.outputNames[0]].data;
writeFileSync(out, Buffer.from(y.buffer, y.byteOffset, y.byteLength));
