// The finesim search page: one form, one fetch to /v1/search, results drawn with textContent
// only (no HTML from the server is ever parsed). A URL like /?q=...&facet=method runs the
// search on load, so a search can be linked (and tested in a headless browser).
"use strict";

const $ = (id) => document.getElementById(id);
const FIELDS = ["q", "mode", "facet", "scoring", "preset", "index"];

function setStatus(text, isError) {
  const status = $("status");
  status.textContent = text;
  status.className = isError ? "error" : "";
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = (data.error && data.error.message) || `HTTP ${response.status}`;
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return data;
}

async function loadIndexes() {
  const response = await fetch("/v1/indexes");
  if (!response.ok) throw new Error(`cannot list indexes (HTTP ${response.status})`);
  const data = await response.json();
  const select = $("index");
  for (const index of data.indexes) {
    const option = document.createElement("option");
    option.value = index.name;
    option.textContent = `${index.name} (${index.documents} papers)`;
    select.appendChild(option);
  }
  if (!data.indexes.length) setStatus("This server has no index: start it with --index PATH.", true);
  const presets = $("preset");
  for (const name of data.presets || []) {
    const option = document.createElement("option");
    option.value = name;
    option.textContent = name;
    presets.appendChild(option);
  }
}

// the preset only means something for hybrid scoring
function syncPreset() {
  $("preset").disabled = $("scoring").value !== "hybrid";
}

async function search(form) {
  const base = {
    index: form.index || null,
    facet: form.facet || null,
    scoring: form.scoring || "min-l2",
    k: 10,
    explain: 3,
  };
  if (base.scoring === "hybrid" && form.preset) base.preset = form.preset;
  const text = form.q.trim();
  const looksLikeId = !/\s/.test(text);
  if (form.mode === "doc" || (form.mode === "auto" && looksLikeId)) {
    try {
      return await post("/v1/search", { ...base, query_doc: text });
    } catch (error) {
      if (form.mode === "doc" || error.status !== 404) throw error;
    }
  }
  return post("/v1/search", { ...base, query: text });
}

function sentenceList(title, sentences, marks) {
  // marks: sentence number -> the pairs it takes part in; coloured by its first pair
  const column = document.createElement("div");
  const heading = document.createElement("h3");
  heading.textContent = title;
  column.appendChild(heading);
  sentences.forEach((sentence, i) => {
    const pairs = marks.get(i);
    const line = document.createElement(pairs ? "mark" : "p");
    line.className = pairs ? `sentence pair-${pairs[0] % 5}` : "sentence";
    if (pairs) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = pairs.map((n) => n + 1).join(" ");
      line.appendChild(badge);
    }
    line.appendChild(document.createTextNode(sentence));
    column.appendChild(line);
  });
  return column;
}

function renderHit(hit, querySentences) {
  const item = document.createElement("li");
  item.className = "hit";
  item.dataset.id = hit.id;
  const title = document.createElement("h2");
  title.textContent = hit.title || hit.id;
  const meta = document.createElement("div");
  meta.className = "meta";
  const score = document.createElement("span");
  score.className = "score";
  score.textContent = `score ${hit.score.toFixed(4)}`;
  meta.append(`#${hit.rank} · paper ${hit.id} · `, score);
  const about = paperFields(hit.fields || {});
  const queryMarks = new Map();
  const paperMarks = new Map();
  const pairs = document.createElement("div");
  pairs.className = "pairs";
  hit.pairs.forEach((pair, n) => {
    const q = querySentences.indexOf(pair.query);
    const c = hit.sentences.indexOf(pair.candidate);
    if (q >= 0) queryMarks.set(q, [...(queryMarks.get(q) || []), n]);
    if (c >= 0) paperMarks.set(c, [...(paperMarks.get(c) || []), n]);
    const facets = `${pair.query_facet || "-"} ↔ ${pair.candidate_facet || "-"}`;
    const line = document.createElement("div");
    line.textContent = `pair ${n + 1}: query sentence ${q + 1} ↔ sentence ${c + 1} ` +
      `(${facets}, cosine ${pair.similarity.toFixed(3)})`;
    pairs.appendChild(line);
  });
  const columns = document.createElement("div");
  columns.className = "columns";
  columns.append(
    sentenceList("Query", querySentences, queryMarks),
    sentenceList("This paper", hit.sentences, paperMarks),
  );
  item.append(title, meta);
  if (about) item.append(about);
  item.append(columns, pairs);
  return item;
}

// what a library gave besides the text (finesim papers): year, authors, venue, DOI or link
function paperFields(fields) {
  const parts = [];
  if (fields.year) parts.push(String(fields.year));
  if (Array.isArray(fields.authors) && fields.authors.length) {
    const names = fields.authors.slice(0, 3).join("; ");
    parts.push(fields.authors.length > 3 ? `${names} et al.` : names);
  }
  if (fields.venue) parts.push(String(fields.venue));
  if (fields.indexed) parts.push(`indexed by ${fields.indexed}`);
  const href = fields.doi ? `https://doi.org/${encodeURI(String(fields.doi))}` : fields.url;
  if (!parts.length && !href) return null;
  const line = document.createElement("div");
  line.className = "fields";
  line.textContent = parts.join(" · ");
  if (href && /^https?:\/\//.test(String(href))) {  // never a javascript: link
    const link = document.createElement("a");
    link.href = String(href);
    link.textContent = fields.doi ? `doi:${fields.doi}` : "link";
    link.rel = "noopener noreferrer";
    if (parts.length) line.append(" · ");
    line.append(link);
  }
  return line;
}

function render(data, form) {
  const results = $("results");
  results.replaceChildren(...data.hits.map((hit) => renderHit(hit, data.query_sentences)));
  const on = data.facet ? `${data.facet} facet` : "all sentences";
  const note = data.note ? ` Note: ${data.note}.` : "";
  const how = data.preset ? `${data.scoring}, preset ${data.preset}` : data.scoring;
  setStatus(`${data.hits.length} results for "${form.q.trim()}" (${on}, ${how}).${note}`);
  document.body.dataset.state = "done";
}

function readForm() {
  const form = {};
  for (const name of FIELDS) form[name] = $(name).value;
  return form;
}

async function run() {
  const form = readForm();
  if (!form.q.trim()) return;
  const params = new URLSearchParams();
  for (const name of FIELDS) if (form[name]) params.set(name, form[name]);
  history.replaceState(null, "", `?${params}`);
  setStatus("Searching…");
  document.body.dataset.state = "searching";
  try {
    render(await search(form), form);
  } catch (error) {
    $("results").replaceChildren();
    setStatus(`Error: ${error.message}`, true);
    document.body.dataset.state = "error";
  }
}

async function start() {
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  try {
    await loadIndexes();
  } catch (error) {
    setStatus(`Error: ${error.message}`, true);
    return;
  }
  $("scoring").addEventListener("change", syncPreset);
  const params = new URLSearchParams(location.search);
  for (const name of FIELDS) if (params.has(name)) $(name).value = params.get(name);
  syncPreset();
  if (params.get("q")) await run();
}

start();
