// The playground: editors in, the sdk's verdicts and generated YAML out. All the deciding is done by
// `evaluate` from the wasm-bindgen facade (web/src/lib.rs); this file only moves text between it and the page.
import init, { evaluate, example_settings } from "./pkg/priority_guard_web.js";

const $ = (id) => document.getElementById(id);

function showError(id, inputId, message) {
  const element = $(id);
  element.hidden = !message;
  element.textContent = message || "";
  if (inputId) $(inputId).classList.toggle("invalid", Boolean(message));
}

function resultItem(result) {
  const item = document.createElement("li");
  item.className = "result";
  item.dataset.verdict = result.verdict;
  const verdict = document.createElement("span");
  verdict.className = `verdict ${result.verdict}`;
  verdict.textContent = result.verdict;
  const subject = document.createElement("span");
  subject.className = "subject";
  subject.textContent = ` ${result.kind} "${result.name}" in namespace "${result.namespace}"`;
  const rule = document.createElement("span");
  rule.className = "rule";
  rule.textContent = result.rule ? ` (rule "${result.rule}"${result.action ? `, action ${result.action}` : ""})` : "";
  const message = document.createElement("p");
  message.className = "message";
  message.textContent = result.message;
  item.append(verdict, subject, rule, message);
  if (result.patch) {
    const patch = document.createElement("pre");
    patch.className = "patch";
    patch.textContent = JSON.stringify(result.patch, null, 2);
    item.append(patch);
  }
  return item;
}

function render() {
  const out = JSON.parse(
    evaluate($("settings").value, $("manifests").value, $("namespace").value, $("kubernetes-version").value),
  );
  showError("settings-error", "settings", out.settingsError);
  showError("manifests-error", "manifests", out.manifestsError);
  showError("version-error", null, out.versionError);
  $("results").replaceChildren(...out.results.map(resultItem));
  $("notes").replaceChildren(
    ...out.notes.map((note) => {
      const item = document.createElement("li");
      item.textContent = note;
      return item;
    }),
  );
  $("generated").textContent = out.generated ?? "";
  $("generated").hidden = !out.generated;
  $("status").textContent = out.settingsError
    ? "The settings are invalid: fix them to see verdicts."
    : `${out.results.length} object(s) decided.`;
}

// Several keystrokes between two frames make one evaluation.
let pending = false;
function schedule() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    render();
  });
}

await init();
$("settings").value = example_settings();
for (const id of ["settings", "manifests", "namespace"]) $(id).addEventListener("input", schedule);
$("kubernetes-version").addEventListener("change", schedule);
render();
document.body.dataset.ready = "true";
