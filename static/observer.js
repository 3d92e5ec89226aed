// The observer (projector) view: follows the assembly live and audits the ballot board: every
// tree head must be signed by the pinned server key and extend the previous one (RFC 6962
// consistency proof). A failure is shown in large type and never cleared.
import { api, startView, t } from "./common.js";
import { importServerKey, unhex, verifyConsistency, verifyEnvelope } from "./crypto.js";

const meta = document.querySelector('meta[name="server-key"]');
const heads = new Map(); // election id -> the last verified sth envelope
let keyPromise = null;
let failed = false;
let queue = Promise.resolve();
const pushed = new Map(); // "election:first:second" -> the consistency proof pushed with the regions

function fail(message) {
  failed = true;
  const box = document.getElementById("history-warning");
  box.textContent = message;
  box.hidden = false;
  document.body.classList.add("history-bad");
  document.body.dataset.history = "bad";
}

function pinKey() {
  const pinned = localStorage.getItem("kurultai:server-key");
  if (pinned && pinned !== meta.content) fail(t("key_changed"));
  if (!pinned) localStorage.setItem("kurultai:server-key", meta.content);
  return importServerKey(meta.content);
}

async function check(sth) {
  const key = await (keyPromise ||= pinKey());
  const eid = sth.signed.election;
  try {
    await verifyEnvelope(sth, "sth", key, meta.dataset.keyId);
    const prev = heads.get(eid) || JSON.parse(localStorage.getItem(`kurultai:sth:${eid}`) || "null");
    if (prev) {
      // An older head may arrive late (a page fetched before an event): it must then be a
      // prefix of the newer one, checked the other way round, and it changes nothing.
      const older = sth.signed.tree_size < prev.signed.tree_size;
      const [a, b] = older ? [sth.signed, prev.signed] : [prev.signed, sth.signed];
      if (b.tree_size !== a.tree_size || b.root_hash !== a.root_hash) {
        const given = pushed.get(`${eid}:${a.tree_size}:${b.tree_size}`);
        const proof = a.tree_size === 0 || a.tree_size === b.tree_size ? []
          : given ? given.proof
          : (await api("GET", `/api/elections/${eid}/proof/consistency?first=${a.tree_size}&second=${b.tree_size}`)).consistency_proof;
        await verifyConsistency(a.tree_size, b.tree_size, unhex(a.root_hash), unhex(b.root_hash), proof.map(unhex));
      }
      if (older) return;
    }
    heads.set(eid, sth);
    localStorage.setItem(`kurultai:sth:${eid}`, JSON.stringify(sth));
    if (!failed) {
      document.body.dataset.history = "ok";
      document.getElementById("history-status").textContent = t("history_ok");
    }
  } catch (err) {
    fail(`${t("history_bad")} (${err.message})`);
  }
}

function checkPage() {
  for (const el of document.querySelectorAll("script.sth-data")) {
    const sth = JSON.parse(el.textContent);
    queue = queue.then(() => check(sth));
  }
  return queue;
}

startView({
  delay: 250,
  push: "live",
  // The tree heads arrive with the pushed regions (and their proofs); they are checked after each.
  onFrame: (frame) => {
    if (frame.type === "regions") for (const [eid, p] of Object.entries(frame.proofs || {})) pushed.set(`${eid}:${p.first}:${p.second}`, p);
  },
  onRefresh: checkPage,
});
checkPage();
