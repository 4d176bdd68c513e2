// Runs the committed WebAssembly module on prepared inputs, as a browser's script would:
//   node check.mjs <module.wasm> <directory> <count>
// Each <directory>/<n>.in holds klero_check's input bytes; prints {"n": answer JSON text, ...}
// and each call's time in milliseconds.
import fs from "node:fs";

const [modulePath, directory, count] = process.argv.slice(2);
const { instance } = await WebAssembly.instantiate(fs.readFileSync(modulePath), {});
const exports = instance.exports;
const answers = {};
const millis = {};
for (let n = 0; n < Number(count); n++) {
  const input = fs.readFileSync(`${directory}/${n}.in`);
  const started = performance.now();
  const pointer = exports.klero_alloc(input.length);
  new Uint8Array(exports.memory.buffer, pointer, input.length).set(input);
  const output = exports.klero_check(pointer, input.length);
  const length = new DataView(exports.memory.buffer).getUint32(output, true);
  answers[n] = new TextDecoder().decode(new Uint8Array(exports.memory.buffer, output + 4, length));
  exports.klero_free(output, length + 4);
  millis[n] = performance.now() - started;
}
process.stdout.write(JSON.stringify({ answers, millis }));
