// The chair console: every action is a form (common.js) and destructive ones ask first.
import { startView } from "./common.js";

startView({ delay: 100, push: "chair" });

// The "create a vote" form: a yes/no vote takes a majority rule and quorum instead of a method.
// Delegated, because live updates replace the form's region.
document.addEventListener("change", (event) => {
  const kind = event.target;
  if (!(kind instanceof HTMLSelectElement) || kind.id !== "el-kind") return;
  for (const el of kind.form.querySelectorAll("[data-kind]")) {
    const on = el.dataset.kind === kind.value;
    el.hidden = !on;
    if ("disabled" in el) el.disabled = !on;
  }
});
