// trioflow viewer: keeps relative times current, refreshes the live part of the page,
// and sends the instance page's actions to the JSON API. No framework, no globals.
"use strict";
(() => {
  const POLL_MS = 2000;
  const csrf = document.querySelector("meta[name=csrf-token]")?.content || "";

  function duration(seconds) {
    seconds = Math.abs(seconds);
    if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
    if (seconds < 10) return `${(Math.round(seconds * 10) / 10).toString()} s`;
    const whole = Math.floor(seconds);
    for (const [unit, size, smaller, smallSize] of
         [["d", 86400, "h", 3600], ["h", 3600, "min", 60], ["min", 60, "s", 1]]) {
      if (whole >= size) {
        const rest = Math.floor((whole % size) / smallSize);
        return `${Math.floor(whole / size)} ${unit}` + (rest ? ` ${rest} ${smaller}` : "");
      }
    }
    return `${whole} s`;
  }

  function tick() {
    const now = Date.now() / 1000;
    for (const el of document.querySelectorAll(".rel[data-at]")) {
      const delta = Number(el.dataset.at) - now;
      el.textContent = Math.abs(delta) < 1 ? "now"
        : delta > 0 ? `in ${duration(delta)}` : `${duration(delta)} ago`;
    }
  }

  let etag = document.getElementById("live")?.dataset.etag || null;
  let busy = false;
  let stopped = false;

  function announce(text) {
    const region = document.getElementById("announce");
    if (!region) return;
    region.hidden = false;
    region.textContent = text;
  }

  async function refresh() {
    const live = document.getElementById("live");
    if (!live || busy || stopped) return;
    busy = true;
    try {
      const headers = etag ? {"If-None-Match": etag} : {};
      const response = await fetch(location.href, {headers, cache: "no-store",
                                                   credentials: "same-origin"});
      if (response.status === 304) return;
      if (response.redirected || !response.ok) {  // signed out, or gone: say so, stop
        announce(response.redirected ? "Signed out: sign in again to see changes."
                                     : `The page could not be refreshed (${response.status}).`);
        stopped = true;
        return;
      }
      etag = response.headers.get("ETag");
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = doc.getElementById("live");
      if (!fresh) return;
      const open = new Set([...live.querySelectorAll("details[open]")].map(key));
      live.replaceChildren(...fresh.childNodes);
      for (const d of live.querySelectorAll("details")) if (open.has(key(d))) d.open = true;
      const before = live.dataset.status;
      for (const [name, value] of Object.entries(fresh.dataset)) live.dataset[name] = value;
      if (before && live.dataset.status !== before) {
        announce(`The instance is now ${live.dataset.status}.`);
      }
      document.title = doc.title;
      showActions(live.dataset.status);
      tick();
    } catch (error) {
      // The server is restarting or the network is down: the next round tries again.
    } finally {
      busy = false;
    }
  }

  function key(details) {
    const item = details.closest("li[id], li.step");
    const index = [...(item || details.parentElement).querySelectorAll("details")].indexOf(details);
    return `${item ? item.id || item.textContent.slice(0, 60) : ""}#${index}`;
  }

  function showActions(status) {
    for (const part of document.querySelectorAll(".actions [data-when]")) {
      part.hidden = !part.dataset.when.split(" ").includes(status);
    }
  }

  function problemText(body, status) {
    if (body && typeof body === "object" && "title" in body) {
      return `${body.title} (${body.status}): ${body.detail}`;
    }
    return `The server answered ${status}.`;
  }

  async function act(form, event) {
    event.preventDefault();
    const outcome = form.querySelector(".outcome");
    outcome.className = "outcome";
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      outcome.textContent = "Not sent.";
      return;
    }
    const body = {};
    let route = form.dataset.action;
    for (const field of form.querySelectorAll("[name]")) {
      const text = field.value;
      if (text === "") continue;
      if (field.dataset.kind === "path") {
        route = route.replace(`{${field.name}}`, encodeURIComponent(text));
      } else if (field.dataset.kind === "json") {
        try {
          body[field.name] = JSON.parse(text);
        } catch (error) {
          outcome.className = "outcome bad";
          outcome.textContent = `${field.labels[0]?.textContent || field.name}: not JSON (${error.message})`;
          field.focus();
          return;
        }
      } else {
        body[field.name] = text;
      }
    }
    const instance = document.getElementById("live").dataset.instance;
    const url = `/instances/${encodeURIComponent(instance)}/${route}`;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    outcome.textContent = "Sending…";
    try {
      const response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
        body: JSON.stringify(body),
      });
      let answer = null;
      try { answer = await response.json(); } catch (error) { answer = null; }
      if (response.ok) {
        outcome.className = "outcome ok";
        const status = answer && answer.status ? `; status now ${answer.status}` : "";
        const delivered = answer && answer.delivered ? `; delivered to ${answer.delivered.length}` : "";
        outcome.textContent = `Done (${response.status})${status}${delivered}.`;
      } else {
        outcome.className = "outcome bad";
        outcome.textContent = problemText(answer, response.status);
      }
    } catch (error) {
      outcome.className = "outcome bad";
      outcome.textContent = `Not sent: ${error.message}`;
    } finally {
      button.disabled = false;
      refresh();
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const form of document.querySelectorAll("form.action")) {
      form.addEventListener("submit", (event) => act(form, event));
    }
    tick();
    setInterval(tick, 1000);
    if (document.querySelector("[data-poll]")) {
      setInterval(() => { if (!document.hidden) refresh(); }, POLL_MS);
    }
  });
})();
