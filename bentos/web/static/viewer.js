// The viewer page: plain JavaScript against the service's own endpoints (same origin).
"use strict";

const K = 10;
const OFFER_LABELS = { flatrate: "subscription", free: "free", ads: "free with ads", rent: "rent", buy: "buy" };
const OFFER_ORDER = ["flatrate", "free", "ads", "rent", "buy"];
const COMMON_REGIONS = ["US", "CA", "GB", "IE", "AU", "NZ", "DE", "FR", "ES", "IT", "NL", "IN", "BR", "MX", "JP"];

const state = { picks: new Map(), options: null, searchSeq: 0, active: -1, results: [] };
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const PLATFORM_NAMES = { netflix: "Netflix", hulu: "Hulu", prime_video: "Prime Video", disney_plus: "Disney+",
  hbo_max: "Max", max: "Max", apple_tv_plus: "Apple TV+", paramount_plus: "Paramount+", peacock: "Peacock" };

function platformName(platform) {
  return PLATFORM_NAMES[platform] || platform.replace(/_/g, " ").replace(/\b\w/g, (c) => c.toUpperCase());
}

// MovieLens files the article last ("Godfather, The"); people read it first.
const TRAILING_ARTICLE = /^(.+), (The|A|An|Les|Le|La|L'|Il|El|Das|Der|Die|Den|Det)$/;

function title(movie) {
  const text = movie.title || `movie ${movie.item_id}`;
  const match = TRAILING_ARTICLE.exec(text);
  return match ? `${match[2]}${match[2].endsWith("'") ? "" : " "}${match[1]}` : text;
}

function label(movie) {
  return movie.year ? `${title(movie)} (${movie.year})` : title(movie);
}

// -- talking to the service: every failure becomes a sentence ---------------------------
class ApiError extends Error {}

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  };
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(`Could not reach the recommendation service (${err.message}). Is it running?`);
  }
  const text = await response.text();
  let payload = null;
  try { payload = text ? JSON.parse(text) : null; } catch (_) { payload = null; }
  if (!response.ok) {
    const said = payload && (payload.error || payload.detail);
    const why = typeof said === "string" ? said : said ? JSON.stringify(said) : text.slice(0, 300) || response.statusText;
    throw new ApiError(`The service refused the request (HTTP ${response.status}): ${why}`);
  }
  if (payload === null) throw new ApiError(`The service sent an answer that is not JSON (HTTP ${response.status}).`);
  return payload;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
  $("status").textContent = "";
}

function clearMessages() {
  $("error").hidden = true;
  $("error").textContent = "";
  $("note").hidden = true;
  $("note").textContent = "";
}

// -- picks -------------------------------------------------------------------------------
function addPick(movie) {
  if (!state.picks.has(movie.item_id)) state.picks.set(movie.item_id, { movie, rating: 5 });
  renderPicks();
}

function removePick(itemId) {
  state.picks.delete(itemId);
  renderPicks();
}

function likedIds() {
  return [...state.picks.values()].filter((p) => p.rating >= 4).map((p) => p.movie.item_id);
}

function renderPicks() {
  const list = $("picked");
  list.replaceChildren();
  for (const { movie, rating } of state.picks.values()) {
    const select = el("select", { "aria-label": `Your rating of ${label(movie)}`,
      onchange: (e) => { state.picks.get(movie.item_id).rating = Number(e.target.value); } },
      ...[5, 4, 3, 2, 1].map((r) => el("option", { value: r, selected: r === rating }, `${r}★`)));
    list.append(el("li", { "data-item-id": movie.item_id }, el("span", {}, label(movie)), select,
      el("button", { type: "button", "aria-label": `Remove ${label(movie)}`, onclick: () => removePick(movie.item_id) }, "×")));
  }
  const n = state.picks.size;
  $("picked-count").textContent = n ? `(${n}; ratings of 4★ and up count as liked)` : "(none yet)";
  for (const button of document.querySelectorAll(".shelf button[data-item-id]")) {
    button.setAttribute("aria-pressed", String(state.picks.has(Number(button.dataset.itemId))));
  }
}

// -- type-ahead search (ARIA combobox) -----------------------------------------------------
function closeResults() {
  $("search-results").hidden = true;
  $("search-results").replaceChildren();
  state.results = [];
  $("search").setAttribute("aria-expanded", "false");
  $("search").removeAttribute("aria-activedescendant");
  state.active = -1;
}

function highlight(index) {
  const options = [...$("search-results").children];
  options.forEach((option, i) => {
    option.classList.toggle("active", i === index);
    option.setAttribute("aria-selected", String(i === index));
  });
  state.active = index;
  if (index >= 0 && options[index]) {
    $("search").setAttribute("aria-activedescendant", options[index].id);
    options[index].scrollIntoView({ block: "nearest" });
  }
}

function choose(index) {
  const movie = state.results[index];
  if (!movie) return;
  addPick(movie);
  $("search").value = "";
  closeResults();
  $("status").textContent = `Added ${label(movie)} to your picks.`;
}

async function search(query) {
  const seq = ++state.searchSeq;
  if (query.trim().length < 2) { closeResults(); return; }
  let payload;
  try {
    payload = await api(`/items/search?q=${encodeURIComponent(query)}&limit=10`);
  } catch (err) {
    if (seq === state.searchSeq) showError(err.message);
    return;
  }
  if (seq !== state.searchSeq) return;  // a later keystroke already asked again
  state.results = payload.items;
  const list = $("search-results");
  list.replaceChildren(...payload.items.map((movie, i) => el("li", {
    id: `search-option-${i}`, role: "option", "aria-selected": "false", "data-item-id": movie.item_id,
    onmousedown: (e) => { e.preventDefault(); choose(i); },
  }, label(movie), el("span", { class: "muted" }, movie.genres.join(", ")))));
  if (!payload.items.length) {
    list.replaceChildren(el("li", { role: "option", "aria-disabled": "true", class: "muted" }, `No title matches "${query}".`));
  }
  list.hidden = false;
  $("search").setAttribute("aria-expanded", "true");
  highlight(-1);
}

function setUpSearch() {
  const input = $("search");
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => search(input.value), 150);
  });
  input.addEventListener("keydown", (e) => {
    const n = state.results.length;
    if (e.key === "ArrowDown" && n) { e.preventDefault(); highlight((state.active + 1) % n); }
    else if (e.key === "ArrowUp" && n) { e.preventDefault(); highlight((state.active - 1 + n) % n); }
    else if (e.key === "Enter") { e.preventDefault(); if (state.active >= 0) choose(state.active); else if (n === 1) choose(0); }
    else if (e.key === "Escape") closeResults();
  });
  input.addEventListener("blur", () => setTimeout(closeResults, 100));
}

// -- quick start shelves -------------------------------------------------------------------
async function loadShelves() {
  const box = $("shelves");
  try {
    const payload = await api("/items/popular?per_genre=8&genres=8");
    box.replaceChildren(...payload.genres.map(({ genre, items }) => el("div", { class: "shelf" },
      el("h4", { id: `shelf-${genre.replace(/\W+/g, "-")}` }, genre),
      el("ul", { "aria-labelledby": `shelf-${genre.replace(/\W+/g, "-")}` }, ...items.map((movie) => el("li", {},
        el("button", { type: "button", "data-item-id": movie.item_id, "aria-pressed": "false",
          title: label(movie), onclick: () => (state.picks.has(movie.item_id) ? removePick(movie.item_id) : addPick(movie)) },
          label(movie))))))));
    renderPicks();
  } catch (err) {
    box.replaceChildren(el("p", { class: "error" }, err.message));
  }
}

// -- region and platforms ------------------------------------------------------------------
async function loadOptions() {
  let options;
  try {
    options = await api("/viewer/options");
  } catch (err) {
    showError(err.message);
    options = { platforms: [], regions: null, default_region: "US", attribution: null };
  }
  state.options = options;
  const regions = options.regions && options.regions.length ? options.regions : COMMON_REGIONS;
  const all = [...new Set([options.default_region, ...regions])];
  $("region").replaceChildren(...all.map((r) => el("option", { value: r, selected: r === options.default_region }, r)));
  const box = $("platforms");
  box.querySelectorAll("label").forEach((n) => n.remove());
  if (options.platforms.length) {
    $("platforms-empty").hidden = true;
    for (const platform of options.platforms) {
      const id = `platform-${platform.replace(/\W+/g, "-")}`;
      box.append(el("label", { for: id }, el("input", { type: "checkbox", id, value: platform, name: "platform" }), platformName(platform)));
    }
  } else {
    $("platforms-empty").textContent = options.availability_hint
      || (options.attribution ? "Platforms are listed once movies' availability has been fetched: reload the page after a first recommendation."
        : "No streaming availability is configured on this service.");
  }
  if (options.model_version) $("model-line").textContent = `Model version ${options.model_version}.`;
}

function chosenPlatforms() {
  return [...document.querySelectorAll("#platforms input:checked")].map((input) => input.value);
}

// -- recommendations -------------------------------------------------------------------------
async function genresOf(items) {
  if (!items.length) return new Map();
  try {
    const payload = await api(`/items/info?ids=${items.map((m) => m.item_id).join(",")}`);
    return new Map(payload.items.map((m) => [m.item_id, m.genres]));
  } catch (_) {
    return new Map();  // genres are a nicety: the cards still show
  }
}

function badges(availability) {
  if (availability === null || availability === undefined) {
    return el("p", { class: "badges" }, el("span", { class: "badge none" }, "availability unknown"));
  }
  if (!availability.length) {
    return el("p", { class: "badges" }, el("span", { class: "badge none" }, "not on a catalogued platform"));
  }
  const offers = [...availability].sort((a, b) => OFFER_ORDER.indexOf(a.offer_type) - OFFER_ORDER.indexOf(b.offer_type)
    || a.platform.localeCompare(b.platform));
  const seen = new Set();
  const list = el("ul", { class: "badges", "aria-label": "Where to watch" });
  for (const offer of offers) {
    const key = `${offer.platform}/${offer.offer_type}`;
    if (seen.has(key)) continue;
    seen.add(key);
    list.append(el("li", { class: `badge ${offer.offer_type}`, "data-platform": offer.platform, "data-offer": offer.offer_type },
      `${platformName(offer.platform)} · ${OFFER_LABELS[offer.offer_type] || offer.offer_type}`));
  }
  return list;
}

function because(movie) {
  const reasons = Array.isArray(movie.because) ? movie.because.filter((b) => b && (b.title || b.item_id !== undefined)) : [];
  if (!reasons.length) return null;
  return el("p", { class: "because" }, "Because you liked ",
    reasons.map((b) => title(b)).join(", "), ".");
}

async function render(payload, heading) {
  const genres = await genresOf(payload.items);
  const cards = payload.items.map((movie) => el("li", { class: "card", "data-item-id": movie.item_id },
    el("h3", {}, el("span", { class: "rank" }, `${movie.rank}.`), title(movie)),
    el("p", { class: "meta" }, [movie.year, (movie.genres || genres.get(movie.item_id) || []).join(", ")].filter(Boolean).join(" · ")),
    badges(movie.availability), because(movie)));
  $("cards").replaceChildren(...cards);
  const notes = [];
  if (payload.note) notes.push(payload.note);
  if (payload.availability_hint) notes.push(payload.availability_hint);
  if (payload.unknown_item_ids && payload.unknown_item_ids.length) notes.push(`The model does not know movie(s) ${payload.unknown_item_ids.join(", ")}.`);
  if (notes.length) { $("note").textContent = notes.join(" "); $("note").hidden = false; }
  if (payload.attribution) { $("attribution").textContent = payload.attribution; $("attribution").hidden = false; }
  else $("attribution").hidden = true;
  $("status").textContent = payload.items.length ? `${heading}: ${payload.items.length} movies.` : `${heading}: no movie matches.`;
  $("results").focus();
}

function filters() {
  const body = { k: K, region: $("region").value || "US" };
  if ($("only-stream").checked) {
    const platforms = chosenPlatforms();
    if (!platforms.length) throw new ApiError("Tick at least one platform to see only what you can stream, or untick \"Only what I can stream\".");
    body.platforms = platforms;
  }
  return body;
}

async function recommendNew() {
  clearMessages();
  try {
    const liked = likedIds();
    if (!liked.length) throw new ApiError("Pick (or rate 4★ or more) at least one movie first: search above or use the quick start.");
    $("status").textContent = "Finding movies...";
    const payload = await api("/recommend_new_user", { liked_item_ids: liked, ...filters() });
    await render(payload, `Top ${K} from your ${liked.length} pick(s)`);
  } catch (err) {
    $("cards").replaceChildren();
    showError(err.message);
  }
}

async function recommendUser(event) {
  event.preventDefault();
  clearMessages();
  const raw = $("user-id").value.trim();
  try {
    if (!/^\d+$/.test(raw)) throw new ApiError(`"${raw}" is not a user id: type a whole number such as 196.`);
    $("status").textContent = "Finding movies...";
    const payload = await api("/recommend", { user_id: Number(raw), ...filters() });
    if (payload.cold_start) {
      payload.note = `We do not know user ${raw} yet (cold start): these are popular movies, not personal picks.`
        + (payload.note ? ` (${payload.note})` : "");
    }
    await render(payload, `Top ${K} for user ${raw}`);
  } catch (err) {
    $("cards").replaceChildren();
    showError(err.message);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  setUpSearch();
  $("recommend-new").addEventListener("click", recommendNew);
  $("user-form").addEventListener("submit", recommendUser);
  $("only-stream").addEventListener("change", () => { if ($("cards").children.length) $("status").textContent = "Press a Recommend button to apply the streaming filter."; });
  loadOptions();
  loadShelves();
});
