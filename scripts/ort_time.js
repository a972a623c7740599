// Times one ONNX model on ONNX Runtime's CPU provider (what a user would run instead of hilsim), for
// scripts/compare_ort.py: random inputs in [-1, 1], warm-up runs, then p10/median/p90 of timed runs as JSON.
const path = require("path");
function usage(msg) {
  process.stderr.write((msg ? "ort_time: " + msg + "\n" : "") +
    "usage: node scripts/ort_time.js MODEL.onnx SIZE [--threads N] [--repeat N] [--warmup N]\n");
  process.exit(2);
}
const args = process.argv.slice(2);
if (args.length < 2) usage();
const [model, sizeArg] = args;
let threads = 1, repeat = 20, warmup = 3;
for (let i = 2; i < args.length; i += 2) {
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < 1) usage(`${args[i]} needs a positive integer`);
  if (args[i] === "--threads") threads = v;
  else if (args[i] === "--repeat") repeat = v;
  else if (args[i] === "--warmup") warmup = v;
  else usage(`unknown flag '${args[i]}'`);
}
const size = Number(sizeArg);
if (!Number.isInteger(size) || size < 1) usage(`SIZE '${sizeArg}' is not a positive integer`);
let ort;
try { ort = require("onnxruntime-node"); } catch (e) { usage("onnxruntime-node is not installed (NODE_PATH): " + e.message); }

(async () => {
  let session;
  try {
    session = await ort.InferenceSession.create(model, {
      executionProviders: ["cpu"], intraOpNumThreads: threads, interOpNumThreads: 1,
      graphOptimizationLevel: "all", executionMode: "sequential" });
  } catch (e) { usage(`${model}: ${e.message}`); }
  const name = session.inputNames[0];
  const data = new Float32Array(3 * size * size);
  let seed = 1;
  for (let i = 0; i < data.length; ++i) { seed = (seed * 1103515245 + 12345) % 2147483648; data[i] = seed / 1073741824 - 1; }
  const feeds = { [name]: new ort.Tensor("float32", data, [1, 3, size, size]) };
  for (let i = 0; i < warmup; ++i) await session.run(feeds);
  const ms = [];
  for (let i = 0; i < repeat; ++i) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ms.sort((a, b) => a - b);
  const q = (p) => ms[Math.min(ms.length - 1, Math.floor(p * (ms.length - 1) + 0.5))];
  process.stdout.write(JSON.stringify({ model: path.basename(model), runtime: "onnxruntime " + (ort.env.versions ? ort.env.versions.common : ""),
    threads, repeat, p10_ms: q(0.1), median_ms: q(0.5), p90_ms: q(0.9) }) + "\n");
})();
