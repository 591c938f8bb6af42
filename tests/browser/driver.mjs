// Runs the browser scenarios for tests/browser.bats in one chromium, one
// scenario at a time. Starting node and chromium takes seconds, so the test
// file starts this once (setup_file) instead of once per test.
//
//   node driver.mjs serve DIR   wait for requests in DIR (what the tests do)
//   node driver.mjs once NAME [ARG]   run one scenario, exit 0 or 1 (by hand)
//
// A request is a file DIR/request-N holding "NAME [ARG]"; the answer is
// DIR/result-N: "ok NAME" or "FAILED NAME: why". Both appear whole (written,
// then renamed). ARG is the scenario's one argument: the folder of its step
// files for the restart scenarios, the file to write for the screenshot.
// BASE_URL names the nginx under test.
import { readdir, readFile, rename, writeFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { launch, pageErrors, setStepDir } from "./lib.mjs";
import { scenarios as pageScenarios } from "./scenarios.mjs";
import { scenarios as atScale } from "./at-scale.mjs";

const scenarios = { ...pageScenarios, ...atScale };

const SCENARIO_TIMEOUT_MS = 45000;
const IDLE_EXIT_MS = 10 * 60 * 1000; // no request for this long: the test run is gone

// Runs one scenario; every context it opened is closed afterwards, even when
// it failed or timed out, so no page keeps a stream open into the next test.
async function run(browser, name, arg) {
  if (!scenarios[name]) return `FAILED ${name}: no such scenario (${Object.keys(scenarios).join(", ")})`;
  setStepDir(arg);
  pageErrors.length = 0;
  const contexts = [];
  const tracked = {
    newContext: async (options) => {
      const context = await browser.newContext(options);
      contexts.push(context);
      return context;
    },
  };
  let timer;
  const timeout = new Promise((_, reject) => {
    // A scenario may need longer (at-scale.mjs's 20 tabs): its timeoutMs.
    const limit = scenarios[name].timeoutMs || SCENARIO_TIMEOUT_MS;
    timer = setTimeout(() => reject(new Error(`took over ${limit} ms`)), limit);
  });
  try {
    await Promise.race([scenarios[name](tracked, arg), timeout]);
    if (pageErrors.length > 0) throw new Error(`uncaught errors in the page:\n${pageErrors.join("\n")}`);
    return `ok ${name}`;
  } catch (err) {
    return `FAILED ${name}: ${err.stack || err}`;
  } finally {
    clearTimeout(timer);
    await Promise.all(contexts.map((c) => c.close().catch(() => {})));
  }
}

async function nextRequest(dir) {
  const names = (await readdir(dir)).filter((f) => /^request-\d+$/.test(f));
  names.sort((a, b) => Number(a.slice(8)) - Number(b.slice(8)));
  return names[0];
}

async function serve(browser, dir) {
  await writeFile(`${dir}/ready`, String(process.pid));
  const parent = process.ppid;
  let idleSince = Date.now();
  // Ends when the test run stops it (SIGTERM, below), or when the run that
  // started it is gone.
  while (process.ppid === parent && Date.now() - idleSince < IDLE_EXIT_MS) {
    const request = await nextRequest(dir);
    if (!request) {
      await sleep(50);
      continue;
    }
    const n = request.slice(8);
    const [name, arg] = (await readFile(`${dir}/${request}`, "utf8")).trim().split(/\s+/);
    await rename(`${dir}/${request}`, `${dir}/running-${n}`);
    const result = await run(browser, name, arg);
    await writeFile(`${dir}/result-${n}.tmp`, result + "\n");
    await rename(`${dir}/result-${n}.tmp`, `${dir}/result-${n}`);
    idleSince = Date.now();
  }
}

const [mode, what, arg] = process.argv.slice(2);
if (!process.env.BASE_URL || !["serve", "once"].includes(mode) || !what) {
  console.error("usage: BASE_URL=http://127.0.0.1:PORT node driver.mjs serve DIR | once NAME [ARG]");
  process.exit(2);
}
const browser = await launch();
// Stopped by the test run (or Ctrl-C): close chromium, then exit.
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) {
  process.on(signal, () => browser.close().finally(() => process.exit(1)));
}
let status = 0;
try {
  if (mode === "serve") {
    await serve(browser, what);
  } else {
    const result = await run(browser, what, arg);
    console.log(result);
    status = result.startsWith("ok ") ? 0 : 1;
  }
} finally {
  await browser.close();
}
process.exit(status);
