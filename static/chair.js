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

// The open-vote form: the notice of who is not checked in shows with the basis "present", and the
// confirmation names the basis and the roll size of the basis chosen.
document.addEventListener("change", (event) => {
  const basis = event.target;
  if (!(basis instanceof HTMLSelectElement) || basis.name !== "quorum_basis" || !basis.form?.classList.contains("open-vote")) return;
  const form = basis.form;
  for (const el of form.querySelectorAll("[data-basis]")) el.hidden = el.dataset.basis !== basis.value;
  form.dataset.confirm = basis.value === "present" ? form.dataset.confirmPresent : form.dataset.confirmAll;
});
