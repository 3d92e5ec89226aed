// The delegate view: the floor, amendments and comments (forms in common.js), and voting with a
// key that never leaves the browser: create, register, rank, sign, cast, verify the receipt.
import { api, ApiError, errorText, startView, t, toast } from "./common.js";
import { b64u, ed25519Available, hex, importServerKey, jcs, leafHash, sha256, unhex, utf8, verifyEnvelope, verifyInclusion } from "./crypto.js";

const view = startView({ push: "delegate", onRefresh: () => showKeyStatus().then(showVoted).then(showRoll) });

// -- the key in IndexedDB ------------------------------------------------------------------------

function idb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open("kurultai", 1);
    req.onupgradeneeded = () => req.result.createObjectStore("keys");
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function idbDo(mode, fn) {
  const db = await idb();
  return new Promise((resolve, reject) => {
    const tx = db.transaction("keys", mode);
    const req = fn(tx.objectStore("keys"));
    tx.oncomplete = () => resolve(req.result);
    tx.onerror = () => reject(tx.error);
  });
}

const keysBox = () => document.querySelector("[data-keys]");
const slot = () => `${keysBox()?.dataset.assembly}:${keysBox()?.dataset.user}`;
const loadKey = () => idbDo("readonly", (s) => s.get(slot()));
const saveKey = (record) => idbDo("readwrite", (s) => s.put(record, slot()));

let ed25519 = null;

async function showKeyStatus() {
  const box = keysBox();
  if (!box) return;
  const text = box.querySelector("[data-key-status-text]");
  const button = box.querySelector("[data-create-key]");
  if (ed25519 === null) ed25519 = await ed25519Available();
  if (!ed25519) {
    text.textContent = window.isSecureContext ? t("no_ed25519") : t("no_secure");
    text.classList.add("error");
    button.hidden = true;
    document.querySelectorAll("[data-cast]").forEach((b) => { b.disabled = true; });
    return;
  }
  const record = await loadKey();
  const li = record && box.querySelector(`li[data-key-id="${record.keyId}"]`);
  box.querySelectorAll("li[data-key-id]").forEach((el) => el.classList.toggle("this-browser", el === li));
  const elsewhere = Array.from(box.querySelectorAll("li[data-key-id]")).some((el) => el !== li && ["pending", "approved"].includes(el.dataset.keyStatus));
  let status = li ? li.dataset.keyStatus : record ? "unregistered" : "none";
  // A key of this person that is active in another browser: this one cannot register its own
  // until that one is revoked (the list offers it).
  if (elsewhere && (status === "none" || status === "unregistered" || status === "revoked")) status = "elsewhere";
  box.dataset.state = status;
  text.textContent = { none: t("key_none"), unregistered: t("key_none"), pending: t("key_pending"), approved: t("key_approved"), revoked: t("key_revoked"), elsewhere: t("key_elsewhere") }[status];
  button.hidden = status === "pending" || status === "approved" || status === "elsewhere";
  if (status === "unregistered") await register(record).catch(() => {});
}

async function register(record) {
  const made = await api("POST", "/api/me/keys", { assembly: Number(keysBox().dataset.assembly), public_key: record.publicKey });
  // Shown at once; the server's own render of the person's keys follows (a `mine` frame).
  const li = document.createElement("li");
  li.dataset.keyId = made.key_id;
  li.dataset.keyStatus = made.status;
  li.className = "mono";
  li.textContent = `${made.key_id.slice(0, 16)}…`;
  keysBox().querySelector(".key-list")?.append(li);
  await view.refresh();
}

async function createKey() {
  const box = keysBox();
  box.querySelector("[data-key-status-text]").textContent = t("key_creating");
  try {
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    const record = { privateKey: pair.privateKey, publicKey: b64u(raw), keyId: hex(await sha256(raw)) };
    await saveKey(record);
    await register(record);
    toast(t("key_pending"));
  } catch (err) {
    toast(errorText(err), "error");
  }
  await showKeyStatus().then(showVoted).then(showRoll);
}

// -- ranking: drag and drop, arrow keys, buttons -------------------------------------------------

function renumber(list) {
  list.querySelectorAll("li[data-option]").forEach((li, i) => { li.querySelector(".pos").textContent = String(i + 1); });
}

function move(li, dir) {
  const list = li.parentElement;
  const other = dir === "up" ? li.previousElementSibling : li.nextElementSibling;
  if (!other) return;
  if (dir === "up") list.insertBefore(li, other); else list.insertBefore(other, li);
  changed(list, li, dir);
}

function changed(list, li, dir) {
  list.closest("[data-region]")?.setAttribute("data-dirty", "");
  renumber(list);
  const pos = Array.prototype.indexOf.call(list.children, li) + 1;
  const announce = list.parentElement.querySelector("[data-rank-announce]");
  if (announce) announce.textContent = `${li.querySelector(".option-label").textContent}: ${dir ? t(dir === "up" ? "moved_up" : "moved_down") + ", " : ""}${t("position")} ${pos}`;
}

document.addEventListener("click", (ev) => {
  const mover = ev.target.closest("[data-move]");
  if (mover) {
    const li = mover.closest("li[data-option]");
    move(li, mover.dataset.move);
    mover.focus();
    return;
  }
  const choice = ev.target.closest("[data-choice]");
  if (choice) {
    // yes / no / abstain: one choice, shown pressed; the region keeps it through pushes.
    for (const b of choice.parentElement.querySelectorAll("[data-choice]")) b.setAttribute("aria-pressed", b === choice ? "true" : "false");
    choice.closest("[data-region]")?.setAttribute("data-dirty", "");
    return;
  }
  if (ev.target.closest("[data-create-key]")) { createKey(); return; }
  const cast = ev.target.closest("[data-cast]");
  if (cast) { castBallot(cast.dataset.cast, cast); return; }
  const change = ev.target.closest("[data-change-vote], #vote-again");
  if (change) {
    const eid = change.dataset.changeVote || lastCast?.election || document.querySelector("[data-ballot]")?.dataset.ballot;
    if (!eid) return;
    changing.add(String(eid));
    showVoted().then(() => document.querySelector(`#ranking-${eid} li[data-option], #choices-${eid} [data-choice]`)?.focus());
  }
});

document.addEventListener("keydown", (ev) => {
  const li = ev.target.closest?.("li[data-option]");
  if (!li || ev.target !== li) return;
  if (ev.key === "ArrowUp" || ev.key === "ArrowDown") {
    ev.preventDefault();
    move(li, ev.key === "ArrowUp" ? "up" : "down");
    li.focus();
  }
});

let dragged = null;
document.addEventListener("dragstart", (ev) => {
  dragged = ev.target.closest?.("li[data-option]");
  if (!dragged) return;
  ev.dataTransfer.effectAllowed = "move";
  ev.dataTransfer.setData("text/plain", dragged.dataset.option);
  dragged.classList.add("dragging");
});
document.addEventListener("dragover", (ev) => {
  const over = ev.target.closest?.("li[data-option]");
  if (dragged && over && over.parentElement === dragged.parentElement) ev.preventDefault();
});
document.addEventListener("drop", (ev) => {
  const over = ev.target.closest?.("li[data-option]");
  if (!dragged || !over || over === dragged || over.parentElement !== dragged.parentElement) return;
  ev.preventDefault();
  const box = over.getBoundingClientRect();
  const list = over.parentElement;
  list.insertBefore(dragged, ev.clientY > box.top + box.height / 2 ? over.nextElementSibling : over);
  changed(list, dragged, null);
});
document.addEventListener("dragend", () => { dragged?.classList.remove("dragging"); dragged = null; });

// -- casting and checking the receipt --------------------------------------------------------------

let lastCast = null;

// -- "you have voted": the ballot this browser cast, kept here and shown after every push ------

const castKey = (eid, keyId) => `kurultai:cast:${eid}:${keyId}`;
const changing = new Set(); // elections whose "Change my vote" was pressed since the last cast

/** For each open ballot this browser's key has cast in: show "you have voted (revision N)"
 * with the recorded order (or choice) and the receipt, and lock the controls until the
 * delegate presses "Change my vote". The shared render knows nothing of it: applied again
 * after every push. */
async function showVoted() {
  const record = await loadKey().catch(() => null);
  for (const box of document.querySelectorAll("[data-ballot]")) {
    const eid = box.dataset.ballot;
    const saved = record ? JSON.parse(localStorage.getItem(castKey(eid, record.keyId)) || "null") : null;
    const note = box.querySelector("[data-voted]");
    const locked = Boolean(saved) && !changing.has(eid);
    box.dataset.voted = saved ? (locked ? "yes" : "changing") : "no";
    if (note) {
      note.hidden = !saved;
      if (saved) note.querySelector("[data-voted-text]").textContent = t("you_voted").replace("%(n)s", String(saved.ballot.revision));
      const again = note.querySelector("[data-change-vote]");
      if (again) again.hidden = !locked;
    }
    if (saved && locked) arrange(eid, saved.ballot.ranking);
    box.querySelectorAll("[data-move], [data-choice], [data-cast]").forEach((b) => { b.disabled = locked || (b.hasAttribute("data-cast") && ed25519 === false); });
    box.querySelectorAll("li[data-option]").forEach((li) => { li.draggable = !locked; });
    if (saved && !lastCast) {
      lastCast = { election: eid, ...saved };
      showReceipt(saved.receipt, saved.ballot);
      const panel = document.getElementById("receipt-panel");
      panel.hidden = false;
      panel.dataset.state = "recorded";
      document.getElementById("receipt-status").textContent = t("you_voted").replace("%(n)s", String(saved.ballot.revision));
    }
  }
}

/** Whether this browser can vote in each open ballot, before anybody casts: the server sends
 * the person's standing on each roll (`#my-roll`, in their own `mine` frame); a delegate who
 * cannot vote is told why, and the ballot offers no cast button. */
async function showRoll() {
  const data = document.getElementById("my-roll");
  if (!data) return;
  let roll = {};
  try { roll = JSON.parse(data.textContent || "{}"); } catch { roll = {}; }
  const record = await loadKey().catch(() => null);
  for (const box of document.querySelectorAll("[data-ballot]")) {
    const standing = roll[box.dataset.ballot];
    let why = null;
    if (!standing) why = null; // not known yet (the vote just opened): the next frame says
    else if (standing.status === "on_roll") why = record && record.keyId === standing.key_id ? null : "roll_other_device";
    else why = `roll_${standing.status}`;
    box.dataset.roll = why ? "no" : "yes";
    if (why) { // nothing to arrange for a ballot that cannot be cast
      box.querySelectorAll("[data-move], [data-choice]").forEach((b) => { b.disabled = true; });
      box.querySelectorAll("li[data-option]").forEach((li) => { li.draggable = false; });
    }
    const note = box.querySelector("[data-roll-note]");
    if (note) { note.hidden = !why; note.textContent = why ? t(why) : ""; }
  }
}

/** Put the ballot's controls in the order (or on the choice) that was cast. */
function arrange(eid, ranking) {
  const list = document.getElementById(`ranking-${eid}`);
  if (list) {
    const items = new Map(Array.from(list.querySelectorAll("li[data-option]"), (li) => [li.dataset.option, li]));
    for (const id of ranking) if (items.has(id)) list.append(items.get(id));
    for (const [id, li] of items) if (!ranking.includes(id)) list.append(li);
    renumber(list);
  }
  const choices = document.getElementById(`choices-${eid}`);
  if (choices) for (const b of choices.querySelectorAll("[data-choice]")) b.setAttribute("aria-pressed", ranking[0] === b.dataset.choice ? "true" : "false");
}

async function highestRevision(eid, voter) {
  let best = 0;
  for (let start = 0; ; ) {
    const page = await api("GET", `/api/elections/${eid}/board?start=${start}`);
    for (const e of page.entries) if (e.leaf.ballot.signed.voter === voter) best = Math.max(best, e.leaf.ballot.signed.revision);
    if (!page.entries.length) return best;
    start = page.entries[page.entries.length - 1].seq + 1;
  }
}

/** The ballot's ranking: the ordered options, or for a yes/no vote the one choice pressed. */
function ballotChoice(eid) {
  const choices = document.getElementById(`choices-${eid}`);
  if (choices) return Array.from(choices.querySelectorAll('[data-choice][aria-pressed="true"]'), (b) => b.dataset.choice);
  return Array.from(document.querySelectorAll(`#ranking-${eid} li[data-option]`), (li) => li.dataset.option);
}

async function castBallot(eid, button) {
  const record = await loadKey();
  if (!record) { toast(t("key_none"), "error"); return; }
  if (document.getElementById(`choices-${eid}`) && !ballotChoice(eid).length) { toast(t("choose_first"), "error"); return; }
  const panel = document.getElementById("receipt-panel");
  const status = document.getElementById("receipt-status");
  panel.hidden = false;
  panel.dataset.state = "signing";
  status.textContent = t("signing");
  button.disabled = true;
  try {
    const election = await api("GET", `/api/elections/${eid}`);
    const serverKey = document.querySelector('meta[name="server-key"]');
    const key = await importServerKey(serverKey.content);
    await verifyEnvelope(election.election, "election", key, serverKey.dataset.keyId);
    const digest = hex(await sha256(utf8(jcs(election.election.signed))));
    const ranking = ballotChoice(eid);
    const revKey = `kurultai:revision:${eid}:${record.keyId}`;
    let revision = Number(localStorage.getItem(revKey) || 0) + 1;
    let receipt, signed;
    for (let attempt = 0; ; attempt++) {
      signed = { v: 1, type: "ballot", election: String(eid), election_digest: digest, voter: record.keyId, revision, ranking, nonce: b64u(crypto.getRandomValues(new Uint8Array(16))) };
      const signature = b64u(new Uint8Array(await crypto.subtle.sign("Ed25519", record.privateKey, utf8(jcs(signed)))));
      try {
        receipt = await api("POST", `/api/elections/${eid}/ballots`, JSON.stringify({ signed, signature, signer: record.keyId }));
        break;
      } catch (err) {
        if (err instanceof ApiError && err.code === "stale_revision" && attempt === 0) { revision = (await highestRevision(eid, record.keyId)) + 1; continue; }
        throw err;
      }
    }
    localStorage.setItem(revKey, String(revision));
    status.textContent = t("verifying");
    panel.dataset.state = "verifying";
    await verifyReceipt(eid, receipt, signed, key, serverKey.dataset.keyId);
    lastCast = { election: eid, receipt, ballot: signed };
    localStorage.setItem(castKey(eid, record.keyId), JSON.stringify({ receipt, ballot: signed }));
    changing.delete(String(eid));
    showReceipt(receipt, signed);
    panel.dataset.state = "recorded";
    status.textContent = t("recorded");
    status.className = "receipt-status ok";
    document.getElementById("vote")?.removeAttribute("data-dirty");
    await showVoted();
    panel.scrollIntoView({ block: "nearest" });
  } catch (err) {
    panel.dataset.state = "failed";
    status.className = "receipt-status error";
    status.textContent = err instanceof ApiError && err.code === "not_on_roll" ? t("not_on_roll")
      : err instanceof ApiError ? errorText(err) : t("receipt_bad");
    if (!(err instanceof ApiError)) console.warn(`receipt: ${err.message}`); // the check that failed, for whoever debugs it
  } finally {
    button.disabled = false;
  }
  await view.refresh();
}

async function verifyReceipt(eid, receipt, signed, key, keyId) {
  const sth = receipt.sth;
  await verifyEnvelope(sth, "sth", key, keyId);
  if (sth.signed.election !== String(eid)) throw new Error("tree head of another election");
  if (!(sth.signed.tree_size > receipt.seq)) throw new Error("tree head does not cover the ballot");
  const page = await api("GET", `/api/elections/${eid}/board?start=${receipt.seq}&end=${receipt.seq + 1}`);
  const entry = page.entries[0];
  if (!entry || entry.seq !== receipt.seq) throw new Error("the board has no such leaf");
  if (jcs(entry.leaf.ballot.signed) !== jcs(signed)) throw new Error("the board holds another ballot at this position");
  const lh = await leafHash(entry.leaf);
  if (hex(lh) !== receipt.leaf_hash) throw new Error("leaf hash differs");
  await verifyInclusion(receipt.seq, sth.signed.tree_size, lh, receipt.inclusion_proof.map(unhex), unhex(sth.signed.root_hash));
}

function showReceipt(receipt, signed) {
  const dl = document.getElementById("receipt-details");
  dl.replaceChildren();
  for (const [k, v] of [["seq", receipt.seq], ["revision", signed.revision], ["leaf_hash", receipt.leaf_hash], ["tree_size", receipt.sth.signed.tree_size], ["root_hash", receipt.sth.signed.root_hash]]) {
    const dt = document.createElement("dt"); dt.textContent = t(`receipt_${k}`); dt.dataset.field = k;
    const dd = document.createElement("dd"); dd.textContent = String(v);
    dl.append(dt, dd);
  }
  const a = document.getElementById("receipt-download");
  if (a.href.startsWith("blob:")) URL.revokeObjectURL(a.href);
  a.href = URL.createObjectURL(new Blob([JSON.stringify({ receipt, ballot: signed }, null, 2)], { type: "application/json" }));
  a.download = `kurultai-receipt-${signed.election}-${signed.revision}.json`;
}

showKeyStatus().then(showVoted).then(showRoll);
