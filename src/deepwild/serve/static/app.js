// The deepwild page: pick a task and model, upload an image (or take an example), draw the answer over it.
// Plain browser JavaScript, no build step. document.body.dataset.state tells tests where the page is:
// "ready", "working", "done" or "error".
"use strict";

const TASKS = {
  "/v1/omr/detect": {label: "Music symbols (detect)", example: "/static/examples/score-page.png"},
  "/v1/news/segment": {label: "Newspaper articles (segment)", example: "/static/examples/newspaper-page.png"},
  "/v1/classify": {label: "Image class (classify)", example: null},
};
const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
let models = [];
let input = null;  // {blob, name}: what the next run sends
let pageUrl = null;

function setState(state, message) {
  document.body.dataset.state = state;
  $("status").textContent = message;
  $("status").className = state === "error" ? "error" : "";
}

function colour(text) {  // a stable colour per class name
  let hash = 0;
  for (const c of text) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  return `hsl(${Math.round((hash * 137.508) % 360)}, 75%, 40%)`;
}

function option(value, text) {
  const element = document.createElement("option");
  element.value = value;
  element.textContent = text;
  return element;
}

function fillModels() {
  const route = $("task").value;
  $("model").replaceChildren(...models.filter((m) => m.route === route).map((m) => option(m.name, `${m.name} (${m.version})`)));
  const example = TASKS[route] && TASKS[route].example;
  $("examples").replaceChildren();
  if (example) {
    const button = document.createElement("button");
    button.type = "button";
    button.id = "example";
    button.textContent = "Try the example page";
    button.addEventListener("click", () => useExample(example));
    $("examples").append(button);
  }
}

async function loadModels() {
  try {
    const response = await fetch("/v1/models");
    models = (await response.json()).models;
  } catch (error) {
    setState("error", `Cannot read the list of models: ${error}`);
    return;
  }
  const routes = Object.keys(TASKS).filter((route) => models.some((m) => m.route === route));
  $("task").replaceChildren(...routes.map((route) => option(route, TASKS[route].label)));
  fillModels();
  setState("ready", routes.length ? "Choose an image, or try the example page." : "This service holds no models.");
}

async function useExample(url) {
  const response = await fetch(url);
  input = {blob: await response.blob(), name: url.split("/").pop()};
  await run();
}

async function run(event) {
  if (event) event.preventDefault();
  const file = $("file").files[0];
  if (!input && !file) {
    setState("error", "Choose an image first.");
    return;
  }
  const chosen = input || {blob: file, name: file.name};
  input = null;
  const route = $("task").value;
  const query = new URLSearchParams({model: $("model").value});
  const form = new FormData();
  form.append("image", chosen.blob, chosen.name);
  setState("working", `Working on ${chosen.name}…`);
  let response, body;
  try {
    response = await fetch(`${route}?${query}`, {method: "POST", body: form});
    body = await response.json();
  } catch (error) {
    setState("error", `The service did not answer: ${error}`);
    return;
  }
  if (!response.ok) {
    setState("error", `${response.status}: ${body.error}${body.hint ? ` (${body.hint})` : ""}`);
    return;
  }
  await show(route, chosen, body, query);
  setState("done", `Done: ${summary(body)}.`);
}

function summary(body) {  // the adversarial flag wherever the model's package has a calibrated detector
  const flag = body.suspicious === undefined ? "" :
    `, ${body.suspicious ? "SUSPICIOUS input" : "not suspicious"} (adversarial score ${body.adversarial_score})`;
  if (body.symbols) return `${count(body.symbols, "symbol")}${flag}`;
  if (body.articles) return `${count(body.articles, "article")}${flag}`;
  return `${body.label} (${body.probability.toFixed(3)})${flag}`;
}

function count(items, noun) {
  return `${items.length} ${noun}${items.length === 1 ? "" : "s"}`;
}

async function show(route, chosen, body, query) {
  if (pageUrl) URL.revokeObjectURL(pageUrl);
  pageUrl = URL.createObjectURL(chosen.blob);
  const image = $("page");
  await new Promise((resolve) => { image.onload = resolve; image.onerror = resolve; image.src = pageUrl; });
  $("summary").textContent = `${chosen.name}: ${summary(body)} by ${body.model} (version ${body.model_version})`;
  drawOverlay(body, image.naturalWidth, image.naturalHeight);
  fillTable(body);
  downloads(route, chosen, body, query);
  $("result").hidden = false;
}

function drawOverlay(body, width, height) {
  const svg = $("overlay");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const shapes = [];
  for (const s of body.symbols || []) {
    const [x0, y0, x1, y1] = s.bbox;
    const rect = document.createElementNS(SVG, "rect");
    Object.entries({x: x0, y: y0, width: x1 - x0, height: y1 - y0}).forEach(([k, v]) => rect.setAttribute(k, v));
    rect.setAttribute("stroke", colour(s.class));
    rect.setAttribute("fill", colour(s.class));
    rect.append(Object.assign(document.createElementNS(SVG, "title"), {textContent: `${s.class} ${s.score}`}));
    shapes.push(rect);
  }
  for (const a of body.articles || []) {
    const polygon = document.createElementNS(SVG, "polygon");
    polygon.setAttribute("points", a.polygon.map((p) => p.join(",")).join(" "));
    polygon.setAttribute("stroke", colour(a.id));
    polygon.setAttribute("fill", colour(a.id));
    const label = document.createElementNS(SVG, "text");
    label.setAttribute("x", a.bbox[0] + 8);
    label.setAttribute("y", a.bbox[1] + 32);
    label.setAttribute("fill", colour(a.id));
    label.textContent = `${a.reading_order}`;
    shapes.push(polygon, label);
  }
  svg.replaceChildren(...shapes);
}

function fillTable(body) {
  let columns, rows;
  if (body.symbols) {
    columns = ["#", "class", "score", "x0", "y0", "x1", "y1"];
    rows = body.symbols.map((s, i) => [i, swatch(s.class), s.score, ...s.bbox]);
  } else if (body.articles) {
    columns = ["reading order", "article", "score", "points", "x0", "y0", "x1", "y1"];
    rows = body.articles.map((a) => [a.reading_order, swatch(a.id), a.score, a.polygon.length, ...a.bbox]);
  } else {
    columns = ["class", "probability"];
    rows = body.top.map((t) => [t.label, t.probability]);
    if (body.suspicious !== undefined) rows.push(["adversarial score", body.adversarial_score]);
  }
  const head = document.createElement("tr");
  head.append(...columns.map((c) => Object.assign(document.createElement("th"), {textContent: c})));
  $("table").tHead.replaceChildren(head);
  $("table").tBodies[0].replaceChildren(...rows.map((row) => {
    const tr = document.createElement("tr");
    tr.append(...row.map((value) => {
      const td = document.createElement("td");
      if (value instanceof Node) td.append(value); else td.textContent = value;
      if (typeof value === "number") td.className = "num";
      return td;
    }));
    return tr;
  }));
}

function swatch(text) {
  const span = document.createElement("span");
  const box = Object.assign(document.createElement("span"), {className: "swatch"});
  box.style.background = colour(text);
  span.append(box, text);
  return span;
}

function downloads(route, chosen, body, query) {
  const stem = chosen.name.replace(/\.[^.]*$/, "");
  const json = new Blob([JSON.stringify(body, null, 2)], {type: "application/json"});
  const links = [Object.assign(document.createElement("a"), {
    id: "download-json", href: URL.createObjectURL(json), download: `${stem}.json`, textContent: "Download JSON"})];
  if (route === "/v1/news/segment") {  // PAGE XML is asked for when wanted: the page is segmented once more
    const xml = Object.assign(document.createElement("a"), {id: "download-xml", href: "#", textContent: "Download PAGE XML"});
    xml.addEventListener("click", async (event) => {
      event.preventDefault();
      const form = new FormData();
      form.append("image", chosen.blob, chosen.name);
      query.set("format", "pagexml");
      const response = await fetch(`${route}?${query}`, {method: "POST", body: form});
      if (!response.ok) { setState("error", `PAGE XML: ${(await response.json()).error}`); return; }
      const save = Object.assign(document.createElement("a"), {
        href: URL.createObjectURL(await response.blob()), download: `${stem}.xml`});
      save.click();
    });
    links.push(xml);
  }
  $("downloads").replaceChildren(...links);
}

$("task").addEventListener("change", fillModels);
$("file").addEventListener("change", () => { input = null; });
$("ask").addEventListener("submit", run);
loadModels();
