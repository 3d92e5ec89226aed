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
// confirmation names the basis and the roll size of the basis chosen, and says when the vote is
// named (who has voted shown by name: issue #17).
document.addEventListener("change", (event) => {
  const field = event.target;
  const form = field.form;
  if (!(field instanceof HTMLSelectElement || field instanceof HTMLInputElement) || !["quorum_basis", "named"].includes(field.name) || !form?.classList.contains("open-vote")) return;
  const basis = form.elements.namedItem("quorum_basis");
  const named = form.elements.namedItem("named");
  for (const el of form.querySelectorAll("[data-basis]")) el.hidden = el.dataset.basis !== basis.value;
  const confirm = basis.value === "present" ? form.dataset.confirmPresent : form.dataset.confirmAll;
  form.dataset.confirm = named?.checked ? `${confirm} ${form.dataset.confirmNamed}` : confirm;
});
