// llmfit dashboard: plain JavaScript over the node's public REST API (relative URLs, so the page
// works against whichever llmfit node serves it). Every string from the API reaches the page as
// text (textContent / text nodes), never as HTML.
"use strict";

(() => {
  const LISTING = ["search", "min_fit", "use_case", "runtime", "provider", "license", "capability",
    "sort", "limit"];
  const WHAT_IF = ["ram_gb", "vram_gb", "cpu_cores"];
  const PATH_LABELS = { gpu: "GPU", moe_offload: "MoE offload", cpu_offload: "CPU+GPU",
    cpu_only: "CPU only" };
  const COMMAND_LABELS = { llama_server: "llama-server", ollama: "Ollama" };

  const $ = (selector, root = document) => root.querySelector(selector);
  const filterForm = $("#filter-form");
  const planForm = $("#plan-form");
  const tbody = $("#models-table tbody");

  let applied = new URLSearchParams(); // the query the table shows
  let rows = []; // its model rows
  let selectedName = null;

  // --- small helpers -------------------------------------------------------------------------

  /** An element with attributes and children; strings become text nodes. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function num(value, digits = 2) {
    if (value === null || value === undefined) return "—";
    return Number(value).toLocaleString("en-US", { maximumFractionDigits: digits });
  }

  function fitBadge(level, label) {
    return el("span", { class: `fit fit-${level}` }, label);
  }

  function showError(section, message) {
    const box = $(".error", section);
    box.textContent = message || "";
    box.hidden = !message;
  }

  function setState(section, state) {
    section.dataset.state = state;
    section.setAttribute("aria-busy", String(state === "loading"));
  }

  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  /** JSON from the API; a 4xx/5xx answer throws the server's own `error` message. */
  async function api(path, options = {}) {
    let response;
    try {
      response = await fetch(path, { ...options,
        headers: { Accept: "application/json", ...(options.headers || {}) } });
    } catch (error) {
      throw new ApiError(`Cannot reach the llmfit node: ${error.message}`, 0);
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    if (!response.ok) {
      const message = body && typeof body.error === "string" ? body.error
        : `HTTP ${response.status} ${response.statusText}`.trim();
      throw new ApiError(message, response.status);
    }
    if (body === null || typeof body !== "object") {
      throw new ApiError("The node's answer is not JSON.", response.status);
    }
    return body;
  }

  /** Sequence numbers: only the latest request of a panel may render. */
  function latest() {
    let counter = 0;
    return () => {
      const mine = ++counter;
      return () => mine === counter;
    };
  }
  const systemTurn = latest();
  const modelsTurn = latest();
  const planTurn = latest();

  function facts(list, entries) {
    list.replaceChildren(...entries.filter(([, value]) => value !== null && value !== undefined)
      .map(([label, value, key]) => el("div", null, el("dt", null, label),
        el("dd", { "data-key": key }, value))));
  }

  // --- filters and the URL ---------------------------------------------------------------------

  function formParams() {
    const fields = filterForm.elements;
    const params = new URLSearchParams();
    for (const name of [...LISTING, ...WHAT_IF]) {
      const value = fields[name].value.trim();
      if (value !== "") params.set(name, value);
    }
    if (!fields.include_too_tight.checked) params.set("include_too_tight", "false");
    return params;
  }

  function loadHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    if (![...params.keys()].length) return;
    const fields = filterForm.elements;
    for (const name of [...LISTING, ...WHAT_IF]) fields[name].value = params.get(name) || "";
    fields.include_too_tight.checked = params.get("include_too_tight") !== "false";
  }

  function whatIf(params) {
    const chosen = new URLSearchParams();
    for (const name of WHAT_IF) if (params.has(name)) chosen.set(name, params.get(name));
    return chosen;
  }

  function refresh() {
    applied = formParams();
    const query = applied.toString();
    history.replaceState(null, "", query ? `#${query}` : location.pathname + location.search);
    loadSystem(whatIf(applied));
    loadModels(applied);
  }

  // --- hardware card ---------------------------------------------------------------------------

  async function loadSystem(params) {
    const section = $("#hardware");
    const current = systemTurn();
    setState(section, "loading");
    $("#whatif-badge").hidden = ![...params.keys()].length;
    try {
      const body = await api(`api/v1/system${params.toString() ? `?${params}` : ""}`);
      if (!current()) return;
      renderSystem(body);
      showError(section, null);
      setState(section, "ready");
    } catch (error) {
      if (!current()) return;
      showError(section, error.message);
      setState(section, "error");
    }
  }

  function gpuText(gpu) {
    const free = gpu.free_vram_gb === null ? "" : `, ${num(gpu.free_vram_gb)} free`;
    const count = gpu.count > 1 ? `${gpu.count}× ` : "";
    return `${count}${gpu.name}: ${num(gpu.vram_gb)} GiB${free} (${gpu.backend})`;
  }

  function renderSystem(body) {
    const { node, system } = body;
    $("#node-name").textContent = node.name;
    document.title = `llmfit · ${node.name}`;
    const gpus = system.gpus.length ? system.gpus.map(gpuText).join("; ") : "none";
    facts($("#hardware-facts"), [
      ["Node", `${node.name} (${node.os})`, "node"],
      ["CPU", `${system.cpu_name}, ${system.cpu_cores} cores`, "cpu"],
      ["RAM", `${num(system.total_ram_gb)} GiB (${num(system.available_ram_gb)} available)`, "ram"],
      ["GPU", gpus, "gpu"],
      ["Backend", system.backend + (system.unified_memory ? ", unified memory" : ""), "backend"],
      ["CPU bandwidth", system.cpu_bandwidth_gbps === undefined ? null
        : `${num(system.cpu_bandwidth_gbps, 1)} GB/s (${system.cpu_bandwidth_source})`, "cpu_bw"],
    ]);
    const notes = system.notes || [];
    const details = $("#hardware-notes");
    details.hidden = !notes.length;
    $("ul", details).replaceChildren(...notes.map((note) => el("li", null, note)));
  }

  // --- models table ----------------------------------------------------------------------------

  async function loadModels(params) {
    const section = $("#models");
    const current = modelsTurn();
    setState(section, "loading");
    try {
      const body = await api(`api/v1/models?${params}`);
      if (!current()) return;
      rows = body.models;
      renderModels(body);
      showError(section, null);
      section.dataset.query = params.toString();
      setState(section, "ready");
    } catch (error) {
      if (!current()) return;
      rows = [];
      renderModels(null);
      showError(section, error.message);
      section.dataset.query = params.toString();
      setState(section, "error");
    }
  }

  /** A repo id that may wrap after its owner's slash (text nodes and a <wbr>, no markup). */
  function breakable(name) {
    const slash = name.indexOf("/");
    return slash < 0 ? [name] : [name.slice(0, slash + 1), el("wbr"), name.slice(slash + 1)];
  }

  function modelRow(row, index) {
    const tps = row.estimated_tps === null ? "—" : num(row.estimated_tps, 1);
    return el("tr", { tabindex: "-1", "aria-selected": "false", "data-name": row.name },
      el("td", { class: "num" }, String(index + 1)),
      el("td", { class: "name" }, breakable(row.name)),
      el("td", { class: "opt" }, row.parameter_count),
      el("td", null, fitBadge(row.fit_level, row.fit_label)),
      el("td", { class: "opt" }, row.run_mode_label),
      el("td", { class: "opt nowrap" }, row.best_quant || "—"),
      el("td", { class: "num" }, num(row.memory_required_gb, 1),
        el("span", { class: "opt" }, ` / ${num(row.memory_available_gb, 1)}`)),
      el("td", { class: "num" }, tps),
      el("td", { class: "num" }, num(row.score, 1)));
  }

  function renderModels(body) {
    tbody.replaceChildren(...rows.map(modelRow));
    $("#models-count").textContent = body
      ? `${body.returned_models} shown of ${body.total_models} matching` : "";
    if (body && !rows.length) {
      tbody.append(el("tr", null, el("td", { colspan: "9", class: "muted" },
        "No model passes these filters.")));
    }
    $("#model-names").replaceChildren(...rows.map((row) => el("option", { value: row.name })));
    const keep = rows.findIndex((row) => row.name === selectedName);
    if (keep >= 0) select(keep, false);
    else {
      selectedName = null;
      renderDetails(null);
    }
    const focusable = tbody.querySelector("tr[aria-selected=true]") || tbody.querySelector("tr[data-name]");
    if (focusable) focusable.tabIndex = 0;
  }

  function rowElements() {
    return [...tbody.querySelectorAll("tr[data-name]")];
  }

  function select(index, focus = true) {
    const elements = rowElements();
    elements.forEach((tr, i) => {
      tr.setAttribute("aria-selected", String(i === index));
      tr.tabIndex = i === index ? 0 : -1;
    });
    selectedName = rows[index].name;
    renderDetails(rows[index]);
    if (focus) elements[index].focus();
  }

  tbody.addEventListener("click", (event) => {
    const tr = event.target.closest("tr[data-name]");
    if (tr) select(rowElements().indexOf(tr));
  });

  tbody.addEventListener("keydown", (event) => {
    const tr = event.target.closest("tr[data-name]");
    if (!tr) return;
    const elements = rowElements();
    const index = elements.indexOf(tr);
    const moves = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: elements.length - 1 };
    if (event.key === "Enter" || event.key === " ") {
      select(index);
    } else if (event.key in moves) {
      const target = Math.max(0, Math.min(elements.length - 1, moves[event.key]));
      elements.forEach((row, i) => { row.tabIndex = i === target ? 0 : -1; });
      elements[target].focus();
    } else {
      return;
    }
    event.preventDefault();
  });

  // --- details of the selected row -------------------------------------------------------------

  function ttftText(ms) {
    if (ms === null) return null;
    return ms >= 1000 ? `${num(ms / 1000, 1)} s` : `${num(ms, 0)} ms`;
  }

  function speedText(row) {
    if (row.estimated_tps === null) return "no estimate";
    const range = row.estimated_tps_low === null ? ""
      : ` (${num(row.estimated_tps_low, 1)}–${num(row.estimated_tps_high, 1)})`;
    return `${num(row.estimated_tps, 1)} tok/s${range}, ${row.estimate_confidence} confidence`;
  }

  function scoreBars(components) {
    return Object.entries(components).flatMap(([name, value]) => {
      const fill = el("span");
      fill.style.width = `${Math.max(0, Math.min(100, Number(value)))}%`; // CSSOM: CSP-safe
      return [el("span", null, name), el("span", { class: "bar", role: "presentation" }, fill),
        el("span", { class: "num", "data-key": name }, num(value, 1))];
    });
  }

  function renderDetails(row) {
    const section = $("#details");
    $(".empty", section).hidden = Boolean(row);
    $(".body", section).hidden = !row;
    section.dataset.model = row ? row.name : "";
    if (!row) return;
    $("#detail-name").textContent = row.name;
    const parts = [row.provider, row.parameter_count, row.category, row.is_moe ? "MoE" : null,
      row.release_date ? `released ${row.release_date}` : null];
    $("#detail-summary").replaceChildren(fitBadge(row.fit_level, row.fit_label), " · ",
      parts.filter(Boolean).join(" · "));
    $("#detail-scores").replaceChildren(...scoreBars({ score: row.score, ...row.score_components }));
    const b = row.memory_breakdown;
    const full = row.estimated_tps_full_context;
    facts($("#detail-facts"), [
      ["Runs as", `${row.run_mode_label} on ${row.runtime_label}, ${row.best_quant || "no quant fits"}`, "run"],
      ["Decode speed", speedText(row), "estimated_tps"],
      ["At full context", full === null ? null
        : `${num(full, 1)} tok/s at ${num(row.effective_context_length, 0)} tokens`, "full_context"],
      ["Prompt processing", row.prefill_tps === null ? null : `${num(row.prefill_tps, 1)} tok/s`, "prefill_tps"],
      ["Time to first token", ttftText(row.ttft_ms), "ttft_ms"],
      ["Memory", `${num(row.memory_required_gb)} of ${num(row.memory_available_gb)} GiB (${num(row.utilization_pct, 1)}%)`, "memory"],
      ["Breakdown", b ? `weights ${num(b.weights_gb)} · KV ${num(b.kv_cache_gb)} · overhead ${num(b.overhead_gb)} GiB` : null, "breakdown"],
      ["Disk", `${num(row.disk_size_gb)} GiB`, "disk"],
      ["Context", `${num(row.effective_context_length, 0)} assumed · ${num(row.usable_context, 0)} fits · ${num(row.context_length, 0)} native`, "context"],
      ["License", row.license || "unknown", "license"],
      ["Capabilities", row.capability_ids.length ? row.capability_ids.join(", ") : "—", "capabilities"],
      ["Installed", row.installed ? "yes" : "no", "installed"],
      ["Ollama", row.ollama_name, "ollama"],
    ]);
    $("#detail-notes").replaceChildren(...row.notes.map((note) => el("li", null, note)));
    const verify = $("#detail-verify");
    verify.hidden = !row.verify_command;
    $("code", verify).textContent = row.verify_command || "";
  }

  // --- plan ------------------------------------------------------------------------------------

  function planNumber(fields, name, errors) {
    const input = fields[name];
    if (input.validity && input.validity.badInput) errors.push(`${name}: not a number`);
    const text = input.value.trim();
    return text === "" ? null : Number(text);
  }

  function planBody() {
    const fields = planForm.elements;
    const errors = [];
    const body = {
      model: fields.model.value.trim(),
      context: planNumber(fields, "context", errors),
      quant: fields.quant.value.trim() || null,
      kv_quant: fields.kv_quant.value || null,
      target_tps: planNumber(fields, "target_tps", errors),
      parallel: planNumber(fields, "parallel", errors),
    };
    for (const name of WHAT_IF) body[name] = applied.has(name) ? Number(applied.get(name)) : null;
    if (!body.model) errors.push("name a model to plan for");
    return { body, errors };
  }

  async function submitPlan() {
    const section = $("#plan");
    const { body, errors } = planBody();
    const current = planTurn();
    if (errors.length) {
      showError(section, errors.join("; "));
      $("#plan-result").hidden = true;
      setState(section, "error");
      return;
    }
    setState(section, "loading");
    try {
      const plan = await api("api/v1/plan", { method: "POST", body: JSON.stringify(body),
        headers: { "Content-Type": "application/json" } });
      if (!current()) return;
      renderPlan(plan, body);
      showError(section, null);
      setState(section, "ready");
    } catch (error) {
      if (!current()) return;
      $("#plan-result").hidden = true;
      showError(section, error.message);
      setState(section, "error");
    }
  }

  function needCells(need) {
    if (!need) return [el("td", { colspan: "3", class: "muted" }, "no path reaches this")];
    return ["vram_gb", "ram_gb", "cpu_cores"].map((key) =>
      el("td", { class: "num", "data-key": key, "data-value": JSON.stringify(need[key]) },
        num(need[key], key === "cpu_cores" ? 0 : 2)));
  }

  function needText(need) {
    if (!need) return "—";
    return `${num(need.vram_gb)} GiB GPU · ${num(need.ram_gb)} GiB RAM · ${need.cpu_cores} cores`;
  }

  function renderPlan(plan, asked) {
    const section = $("#plan");
    section.dataset.model = plan.model_name;
    $("#plan-result").hidden = false;
    $("#plan-title").textContent = `${plan.model_name} (${plan.provider}) at ${plan.quantization}, `
      + `${num(plan.context, 0)} tokens, KV ${plan.kv_quant}, ${plan.parallel} sequence`
      + (plan.parallel === 1 ? "" : "s");
    const where = WHAT_IF.some((name) => asked[name] !== null) ? "On the what-if machine" : "On this node";
    const now = plan.current;
    const target = plan.target_tps === null ? "" : plan.target_reached
      ? ` The recommendation reaches ${num(plan.target_tps, 1)} tok/s.`
      : ` No path found reaches ${num(plan.target_tps, 1)} tok/s.`;
    $("#plan-current").replaceChildren(`${where}: `, fitBadge(now.fit_level, now.fit_label),
      `, ${now.run_mode_label}`, now.estimated_tps === null ? "" : `, ${num(now.estimated_tps, 1)} tok/s`,
      ".", target);
    const path = plan.recommended_path ? ` (${PATH_LABELS[plan.recommended_path] || plan.recommended_path} path)` : "";
    $("#plan-needs tbody").replaceChildren(
      el("tr", { id: "plan-minimum" }, el("th", { scope: "row" }, "Minimum (marginal fit)"), needCells(plan.minimum)),
      el("tr", { id: "plan-recommended" }, el("th", { scope: "row" }, `Recommended${path}`), needCells(plan.recommended)));
    $("#plan-notice").textContent = plan.estimate_notice;
    $("#plan-paths tbody").replaceChildren(...plan.run_paths.map((run) => el("tr", null,
      el("th", { scope: "row" }, PATH_LABELS[run.path] || run.path,
        run.path === plan.recommended_path ? el("span", { class: "muted" }, " (recommended)") : null),
      el("td", null, run.feasible && run.fit_level ? fitBadge(run.fit_level, run.fit_level.replace("_", " ")) : "not feasible"),
      el("td", { class: "num" }, num(run.estimated_tps, 1)),
      el("td", null, needText(run.minimum)),
      el("td", null, needText(run.recommended)),
      el("td", null, run.notes.map((note) => el("div", null, note))))));
    const upgrades = plan.upgrade_deltas.map((delta) => el("li", null, delta.description));
    $("#plan-upgrades").replaceChildren(...(upgrades.length ? upgrades
      : [el("li", { class: "muted" }, "None needed: nothing fits better on any path.")]));
    $("#plan-kv tbody").replaceChildren(...plan.kv_alternatives.map((kv) => el("tr", null,
      el("th", { scope: "row" }, kv.kv_quant, kv.supported ? null : el("span", { class: "muted" }, " (unsupported)")),
      el("td", { class: "num" }, num(kv.kv_cache_gb)),
      el("td", { class: "num" }, num(kv.memory_required_gb)),
      el("td", { class: "num" }, `${num(kv.savings_fraction * 100, 0)}%`),
      el("td", null, el("code", null, kv.note)))));
    const commands = Object.entries(plan.commands || {}).filter(([, text]) => text);
    $("#plan-commands").hidden = !commands.length;
    $("#plan-commands dl").replaceChildren(...commands.flatMap(([key, text]) => [
      el("dt", null, COMMAND_LABELS[key] || key), el("dd", null, el("pre", null, el("code", null, text)))]));
  }

  // --- installed models ------------------------------------------------------------------------

  async function loadInstalled() {
    const section = $("#installed");
    const empty = $(".empty", section);
    try {
      const body = await api("api/v1/installed");
      const models = body.models || [];
      $("#installed-table tbody").replaceChildren(...models.map((m) => el("tr", null,
        el("td", null, m.runtime), el("td", { class: "wrap" }, m.name), el("td", { class: "wrap" }, m.catalog_name || "—"),
        el("td", null, m.quant || "—"), el("td", { class: "num" }, num(m.size_gb)),
        el("td", null, m.loaded ? "in memory" : ""))));
      $("#installed-table").hidden = !models.length;
      empty.hidden = Boolean(models.length);
      empty.textContent = "No models found in local runtimes.";
      const warnings = body.warnings || [];
      $("#installed-warnings").hidden = !warnings.length;
      $("#installed-warnings ul").replaceChildren(...warnings.map((w) => el("li", null, w)));
      setState(section, "ready");
    } catch (error) {
      if (error.status === 404) { // an llmfit node from before /api/v1/installed
        empty.hidden = false;
        empty.textContent = "This node does not list installed models.";
        setState(section, "absent");
      } else {
        showError(section, error.message);
        setState(section, "error");
      }
    }
  }

  async function loadRuntimes() {
    const line = $("#runtimes-line");
    try {
      const body = await api("api/v1/runtimes");
      const found = body.runtimes.filter((r) => r.installed || r.running).map((r) =>
        `${r.name}${r.version ? ` ${r.version}` : ""}${r.running ? " (running)" : ""}`);
      line.textContent = found.length ? `Runtimes: ${found.join(" · ")}` : "No local runtime found.";
    } catch {
      line.textContent = ""; // optional: older nodes have no /api/v1/runtimes
    }
  }

  // --- wiring ----------------------------------------------------------------------------------

  filterForm.addEventListener("submit", (event) => {
    event.preventDefault();
    refresh();
  });
  filterForm.addEventListener("change", (event) => {
    if (event.target.tagName === "SELECT" || event.target.type === "checkbox") refresh();
  });
  $("#reset-filters").addEventListener("click", () => {
    filterForm.reset();
    refresh();
  });
  planForm.addEventListener("submit", (event) => {
    event.preventDefault();
    submitPlan();
  });
  $("#plan-selected").addEventListener("click", () => {
    planForm.elements.model.value = selectedName || "";
    submitPlan();
    $("#plan-heading").focus();
  });
  window.addEventListener("hashchange", () => {
    if (location.hash.slice(1) !== applied.toString()) {
      loadHash();
      refresh();
    }
  });

  loadHash();
  refresh();
  loadInstalled();
  loadRuntimes();
})();
