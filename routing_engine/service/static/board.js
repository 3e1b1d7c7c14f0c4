// The ticket board: signs in, follows /v1/tickets/events, shows the open tickets with their
// SLA countdown, chimes on a new one, and claims, releases and resolves them.
//
// Every message carries the ticket as it is now with its version; a ticket is shown by its id
// and only a newer version changes it, so a message seen twice (after a reconnect) or late
// never duplicates or rewinds a ticket.
(() => {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const office = decodeURIComponent(location.pathname.replace(/^\/board\/?/, "").split("/")[0]);
  const MUTE_KEY = "routing-board-muted";
  const SOON_MS = 5 * 60 * 1000;

  const state = {
    session: null, // {name, role, csrf, keys}
    source: null, // the EventSource
    lastId: null, // the newest event id seen: where to resume
    shown: new Map(), // ticket id -> ticket (open and claimed ones)
    versions: new Map(), // ticket id -> newest version seen (resolved ones too)
    snapshots: 0,
    skew: 0, // server clock minus ours, in ms
    backoff: 1000,
    retry: null,
    resolving: null,
  };

  // ---- sound: a soft two-note chime made with WebAudio, no file needed ----
  let audio = null;
  let muted = localStorage.getItem(MUTE_KEY) === "1";

  function unlockAudio() {
    if (audio === null && window.AudioContext) {
      try {
        audio = new AudioContext();
      } catch {
        audio = null;
      }
    }
    if (audio && audio.state === "suspended") audio.resume().catch(() => {});
  }

  function chime() {
    if (muted || audio === null) return;
    const start = audio.currentTime + 0.02;
    [[659.25, 0], [880, 0.16]].forEach(([frequency, delay]) => {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      const at = start + delay;
      osc.type = "sine";
      osc.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.07, at + 0.03);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.45);
      osc.connect(gain).connect(audio.destination);
      osc.start(at);
      osc.stop(at + 0.5);
    });
  }

  function showMute() {
    $("mute").setAttribute("aria-pressed", String(muted));
  }

  // ---- talking to the server ----
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (state.session && state.session.csrf) headers["X-CSRF-Token"] = state.session.csrf;
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    return { ok: response.ok, status: response.status, data: data || {} };
  }

  function notice(text) {
    $("notice").textContent = text || "";
  }

  function setConnection(kind, text) {
    const element = $("connection");
    element.dataset.state = kind;
    element.textContent = text;
  }

  // ---- signing in and out ----
  function showSignIn(keys, message) {
    stopStream();
    state.session = null;
    $("board").hidden = true;
    $("boards-nav").hidden = true;
    $("tools").hidden = true;
    $("signin").hidden = false;
    $("key-field").hidden = !keys;
    $("key").required = keys;
    $("signin-error").textContent = message || "";
    setConnection("idle", "");
    $("name").focus();
  }

  async function signIn(event) {
    event.preventDefault();
    unlockAudio();
    const name = $("name").value.trim();
    const key = $("key").value;
    if (!name) {
      $("signin-error").textContent = "Enter your name.";
      return;
    }
    if (!$("key-field").hidden && !key) {
      $("signin-error").textContent = "Enter your staff key.";
      return;
    }
    const button = event.submitter;
    if (button) button.disabled = true;
    try {
      const answer = await api("POST", "/board/session", { name, key });
      if (answer.ok) {
        $("key").value = "";
        begin(answer.data);
      } else if (answer.status === 401) {
        $("signin-error").textContent = "That key is not known. Check it and try again.";
      } else {
        $("signin-error").textContent = answer.data.message || `Sign-in failed (${answer.status}).`;
      }
    } catch {
      $("signin-error").textContent = "The server does not answer; try again shortly.";
    } finally {
      if (button) button.disabled = false;
    }
  }

  async function signOut() {
    await api("POST", "/board/signout").catch(() => null);
    forget();
    showSignIn(state.keys, "");
  }

  function forget() {
    state.shown.clear();
    state.versions.clear();
    state.lastId = null;
    state.snapshots = 0;
    $("tickets").replaceChildren();
    showCount();
  }

  function begin(session) {
    state.session = session;
    state.keys = session.keys;
    $("signin").hidden = true;
    $("board").hidden = false;
    $("tools").hidden = false;
    $("who").textContent = `Signed in as ${session.name}`;
    connect();
    showBoards();
  }

  // ---- the deployment's boards: each declared one, with or without tickets ----
  async function showBoards() {
    const answer = await api("GET", "/v1/tickets/boards").catch(() => null);
    if (!answer || !answer.ok || !Array.isArray(answer.data)) return;
    const links = answer.data.map((board) => {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = `/board/${encodeURIComponent(board.name)}`;
      link.textContent = board.display_name;
      link.dataset.board = board.name;
      if (board.name === office) {
        link.setAttribute("aria-current", "page");
        $("title").textContent = `${board.display_name} board`;
      }
      item.append(link);
      return item;
    });
    $("boards").replaceChildren(...links);
    $("boards-nav").hidden = links.length === 0;
  }

  // ---- the stream ----
  function streamUrl() {
    const params = new URLSearchParams();
    if (office) params.set("board", office);
    if (state.lastId !== null) params.set("last_event_id", state.lastId);
    const query = params.toString();
    return "/v1/tickets/events" + (query ? `?${query}` : "");
  }

  function stopStream() {
    clearTimeout(state.retry);
    if (state.source) state.source.close();
    state.source = null;
  }

  function connect() {
    stopStream();
    setConnection("reconnecting", state.snapshots ? "Reconnecting…" : "Connecting…");
    const source = new EventSource(streamUrl());
    state.source = source;
    source.onopen = () => {
      state.backoff = 1000;
      setConnection("live", "Live");
    };
    source.addEventListener("snapshot", (event) => {
      seen(event);
      snapshot(JSON.parse(event.data));
    });
    source.addEventListener("change", (event) => {
      seen(event);
      const change = JSON.parse(event.data);
      apply(change.ticket, change.kind === "created");
    });
    source.onerror = () => {
      if (source !== state.source) return;
      if (source.readyState === EventSource.CLOSED) {
        recover(); // refused (signed out, or a proxy's error page): find out why, then retry
      } else {
        setConnection("reconnecting", "Reconnecting…"); // the browser retries by itself
      }
    };
  }

  function seen(event) {
    if (event.lastEventId) state.lastId = event.lastEventId;
    setConnection("live", "Live");
  }

  async function recover() {
    stopStream();
    setConnection("reconnecting", "Reconnecting…");
    let answer = null;
    try {
      answer = await api("GET", "/board/session");
    } catch {
      answer = null; // the server is down: try again later
    }
    if (answer && answer.ok && !answer.data.signed_in) {
      forget();
      showSignIn(answer.data.keys, "Your session has ended; sign in again.");
      return;
    }
    if (answer && answer.ok) state.session = answer.data;
    state.retry = setTimeout(connect, state.backoff);
    state.backoff = Math.min(state.backoff * 2, 15000);
  }

  // ---- tickets ----
  function snapshot(data) {
    state.skew = Date.parse(data.now) - Date.now() || 0;
    const first = state.snapshots === 0;
    state.snapshots += 1;
    const present = new Set(data.tickets.map((ticket) => ticket.id));
    for (const id of [...state.shown.keys()]) {
      if (!present.has(id)) remove(id);
    }
    for (const ticket of data.tickets) apply(ticket, !first, true);
  }

  function apply(ticket, isNew, authoritative = false) {
    if (office && ticket.board !== office) return;
    const known = state.versions.get(ticket.id);
    if (known !== undefined && ticket.version < known && !authoritative) return;
    state.versions.set(ticket.id, ticket.version);
    if (ticket.status === "resolved") {
      remove(ticket.id);
      return;
    }
    const arrived = !state.shown.has(ticket.id) && isNew && known === undefined;
    state.shown.set(ticket.id, ticket);
    render(ticket, arrived);
    if (arrived) announce(ticket);
  }

  function remove(id) {
    state.shown.delete(id);
    const card = cardOf(id);
    if (card) card.remove();
    showCount();
  }

  function cardOf(id) {
    return $("tickets").querySelector(`[data-ticket-id="${CSS.escape(String(id))}"]`);
  }

  function announce(ticket) {
    $("announce").textContent =
      `New ticket for ${ticket.board}: ${ticket.caller}. ${ticket.summary}`;
    chime();
  }

  function text(card, selector, value) {
    card.querySelector(selector).textContent = value;
  }

  function when(element, iso) {
    if (!iso) {
      element.removeAttribute("datetime");
      element.textContent = "—";
      return;
    }
    element.dateTime = iso;
    element.textContent = new Date(iso).toLocaleString(undefined, {
      dateStyle: "medium",
      timeStyle: "short",
    });
  }

  function render(ticket, arrived) {
    let card = cardOf(ticket.id);
    if (!card) {
      card = $("ticket-template").content.firstElementChild.cloneNode(true);
      card.dataset.ticketId = String(ticket.id);
      const heading = `ticket-${ticket.id}-caller`;
      card.querySelector(".caller").id = heading;
      card.querySelector("article").setAttribute("aria-labelledby", heading);
      for (const button of card.querySelectorAll("button")) {
        button.setAttribute("aria-describedby", heading);
      }
      card.querySelector(".claim").addEventListener("click", () => change(ticket.id, "claim"));
      card.querySelector(".release").addEventListener("click", () => change(ticket.id, "release"));
      card.querySelector(".resolve").addEventListener("click", () => askResolve(ticket.id));
      if (arrived) {
        card.classList.add("fresh");
        card.addEventListener("animationend", () => card.classList.remove("fresh"), { once: true });
      }
    }
    card.dataset.callId = ticket.call_id;
    card.dataset.status = ticket.status;
    const caller = card.querySelector(".caller");
    if (/^\+?[0-9]{3,20}$/.test(ticket.caller)) {
      const link = document.createElement("a");
      link.href = `tel:${ticket.caller}`;
      link.textContent = ticket.caller;
      caller.replaceChildren(link);
    } else {
      caller.textContent = ticket.caller || "Unknown caller";
    }
    const mine = state.session && ticket.assignee === state.session.name;
    text(card, ".status", ticket.status === "claimed"
      ? `Claimed by ${mine ? "you" : ticket.assignee}` : "Open");
    text(card, ".summary", ticket.summary);
    const steps = (ticket.story || []).map((step) => {
      const item = document.createElement("li");
      item.textContent = step;
      return item;
    });
    card.querySelector(".story-steps").replaceChildren(...steps);
    card.querySelector(".story").hidden = steps.length === 0;
    text(card, ".board", ticket.board);
    text(card, ".region", ticket.region || "unknown");
    text(card, ".call-type", ticket.call_type || "—");
    text(card, ".assignee", ticket.assignee || "nobody yet");
    when(card.querySelector(".created"), ticket.created_at);
    when(card.querySelector(".due"), ticket.due);
    const recording = card.querySelector(".recording");
    if (ticket.recording && /^https?:\/\//i.test(ticket.recording)) {
      const link = document.createElement("a");
      link.href = ticket.recording;
      link.rel = "noopener noreferrer";
      link.target = "_blank";
      link.textContent = "Listen";
      recording.replaceChildren(link);
    } else {
      recording.textContent = ticket.recording || "none";
    }
    card.querySelector(".claim").hidden = ticket.status === "claimed" && mine;
    card.querySelector(".claim").disabled = ticket.status === "claimed" && !mine;
    card.querySelector(".release").hidden = !(ticket.status === "claimed" && mine);
    countdown(card, ticket);
    place(card, ticket);
    showCount();
  }

  function order(a, b) {
    const dueA = a.due ? Date.parse(a.due) : Infinity;
    const dueB = b.due ? Date.parse(b.due) : Infinity;
    return dueA - dueB || a.id - b.id;
  }

  function place(card, ticket) {
    // the soonest due first; a card moves only when its place changes (keeps focus)
    const list = $("tickets");
    const after = [...state.shown.values()]
      .filter((other) => other.id !== ticket.id && order(other, ticket) > 0)
      .sort(order)[0];
    const before = after ? cardOf(after.id) : null;
    if (card.parentNode !== list || card.nextElementSibling !== before) {
      list.insertBefore(card, before);
    }
  }

  function showCount() {
    const count = state.shown.size;
    $("count").textContent = count === 1 ? "1 ticket" : `${count} tickets`;
    $("empty").hidden = count > 0;
    const where = office ? `${office} board` : "Ticket board";
    document.title = count ? `(${count}) ${where}` : where;
  }

  // ---- the SLA countdown: amber in the last quarter (at least 5 minutes), red when late ----
  function span(ms) {
    const seconds = Math.floor(Math.abs(ms) / 1000);
    const days = Math.floor(seconds / 86400);
    const hours = Math.floor((seconds % 86400) / 3600);
    const minutes = Math.floor((seconds % 3600) / 60);
    const rest = String(seconds % 60).padStart(2, "0");
    if (days) return `${days} d ${hours} h`;
    if (hours) return `${hours} h ${String(minutes).padStart(2, "0")} min`;
    return `${minutes}:${rest}`;
  }

  function countdown(card, ticket) {
    const element = card.querySelector(".countdown");
    let sla = "none";
    if (!ticket.due) {
      element.textContent = "No SLA";
    } else {
      const left = Date.parse(ticket.due) - (Date.now() + state.skew);
      const soon = Math.max(SOON_MS, (ticket.sla_s || 0) * 250);
      sla = left < 0 ? "overdue" : left <= soon ? "soon" : "ok";
      element.textContent = left < 0 ? `Overdue by ${span(left)}` : `Due in ${span(left)}`;
    }
    element.dataset.sla = sla;
    card.dataset.sla = sla;
  }

  function tick() {
    for (const [id, ticket] of state.shown) {
      const card = cardOf(id);
      if (card) countdown(card, ticket);
    }
  }

  // ---- actions ----
  async function change(id, action, note = "") {
    notice("");
    const card = cardOf(id);
    const buttons = card ? [...card.querySelectorAll("button")] : [];
    buttons.forEach((button) => { button.disabled = true; });
    try {
      const answer = await api("POST", `/v1/tickets/${id}/${action}`, {
        by: state.session.name,
        note,
      });
      if (answer.ok) {
        apply(answer.data, false);
        return true;
      }
      if (answer.status === 401) {
        forget();
        showSignIn(state.keys, "Your session has ended; sign in again.");
      } else {
        notice(answer.data.message || `That did not work (${answer.status}).`);
      }
    } catch {
      notice("The server does not answer; try again shortly.");
    } finally {
      buttons.forEach((button) => { button.disabled = false; });
      const ticket = state.shown.get(id);
      const current = cardOf(id);
      if (ticket && current) render(ticket, false);
    }
    return false;
  }

  function askResolve(id) {
    const ticket = state.shown.get(id);
    if (!ticket) return;
    state.resolving = id;
    $("resolve-what").textContent = `${ticket.caller}: ${ticket.summary}`;
    $("resolve-note").value = "";
    $("resolve-error").textContent = "";
    $("resolve-dialog").showModal();
    $("resolve-note").focus();
  }

  async function confirmResolve(event) {
    event.preventDefault();
    const id = state.resolving;
    if (id === null) return;
    $("resolve-ok").disabled = true;
    const done = await change(id, "resolve", $("resolve-note").value.trim());
    $("resolve-ok").disabled = false;
    if (done) {
      state.resolving = null;
      $("resolve-dialog").close();
      $("tickets").focus();
    } else {
      $("resolve-error").textContent = $("notice").textContent;
    }
  }

  // ---- start ----
  async function start() {
    $("title").textContent = office ? `${office} board` : "Ticket board";
    showMute();
    $("mute").addEventListener("click", () => {
      muted = !muted;
      localStorage.setItem(MUTE_KEY, muted ? "1" : "0");
      showMute();
      unlockAudio();
    });
    $("signout").addEventListener("click", signOut);
    $("signin-form").addEventListener("submit", signIn);
    $("resolve-form").addEventListener("submit", confirmResolve);
    $("resolve-cancel").addEventListener("click", () => {
      state.resolving = null;
      $("resolve-dialog").close();
    });
    for (const kind of ["pointerdown", "keydown"]) {
      document.addEventListener(kind, unlockAudio, { passive: true });
    }
    setInterval(tick, 1000);
    showCount();
    let answer = null;
    while (answer === null) {
      try {
        answer = await api("GET", "/board/session");
      } catch {
        setConnection("reconnecting", "Waiting for the server…");
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    }
    if (answer.data.signed_in) begin(answer.data);
    else showSignIn(answer.data.keys, "");
  }

  start();
})();
