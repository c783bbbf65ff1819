// The operator's form: the suggestion fills it in while the caller is still talking; every field stays
// editable, and an edited field is never overwritten by the next suggestion. An emergency (110/119/120/122)
// turns the form red: the number to give the caller, the words to read, and a create button that records the
// call as refused; creating it as an ordinary order instead takes a note saying why (an override, on record).
// The draft: the summary (editable, saved with the order), the elements marked in the transcript as the
// service read it, and the caller's state as a badge (it orders the dispatcher's queue, never the routing).

import { api, ApiError, newIdempotencyKey } from "./api.js";
import { $, elementSpans, fill, h, highlighted, options, percent, toast, when } from "./dom.js";
import { CATEGORIES, CHANNELS, DEADLINES, DISTRICTS, EMERGENCY_NUMBERS, SCOPES, TOPICS, name } from "./labels.js";

const DEBOUNCE_MS = 350;
const PLACEHOLDER = "— 待识别 —";

export function operatorView() {
  const text = $("#op-text");
  const address = $("#op-address");
  const form = $("#op-form");
  const create = $("#op-create");
  const status = $("#op-status");
  const summary = $("#op-summary");
  const fields = {
    category: $("#op-category"),
    topic: $("#op-topic"),
    district: $("#op-district"),
    scope: $("#op-scope-select"),
    deadline_class: $("#op-deadline"),
  };
  const state = { key: newIdempotencyKey(), touched: new Set(), suggestion: null, seq: 0, timer: null, controller: null, created: null };
  let creatable = null; // the fields POST /v1/orders accepts, read from the service's OpenAPI schema

  // Before any suggestion every field shows a placeholder: a first option (咨询, 城乡建设, 紧急) would read as
  // if the system had suggested it.
  options($("#op-channel"), Object.entries(CHANNELS));
  options(fields.category, CATEGORIES.map((c) => [c, c]), { placeholder: PLACEHOLDER });
  options(fields.topic, TOPICS.map((t) => [t, t]), { placeholder: PLACEHOLDER });
  options(fields.district, DISTRICTS.map((d) => [d, d]), { blank: PLACEHOLDER });
  options(fields.scope, Object.entries(SCOPES), { placeholder: PLACEHOLDER });
  options(fields.deadline_class, Object.entries(DEADLINES), { placeholder: PLACEHOLDER });
  // the district's empty option is a choice too: "未识别" once a suggestion found none, a placeholder before
  const labelNoDistrict = () => (fields.district.options[0].textContent = state.suggestion ? "未识别" : PLACEHOLDER);

  for (const [field, select] of Object.entries(fields)) {
    select.addEventListener("change", () => {
      state.touched.add(field);
      describeField(field);
      if (field === "scope") renderEmergency();
    });
  }

  // the suggestion refused the call as an emergency (by a rule or by the scope model)
  const judgedEmergency = () => Boolean(state.suggestion && !state.suggestion.scope.accepted && state.suggestion.scope.reason === "emergency");

  // refuse: record the call as refused, the caller sent to an emergency number; override: an ordinary order
  // over the suggestion's emergency refusal (needs a note); normal: anything else
  function mode() {
    if (fields.scope.value === "emergency" && (judgedEmergency() || state.touched.has("scope"))) return "refuse";
    if (judgedEmergency() && fields.scope.value === "accepted") return "override";
    return "normal";
  }

  function setScope(value) {
    fields.scope.value = value;
    state.touched.add("scope");
    describeField("scope");
    renderEmergency();
  }

  function suggestedValue(field) {
    const s = state.suggestion;
    if (!s) return undefined;
    return {
      category: s.category.label,
      topic: s.topic.label,
      district: s.district || "",
      scope: s.scope.accepted ? "accepted" : s.scope.reason,
      deadline_class: s.deadline.class,
    }[field];
  }

  function describeField(field) {
    const note = fields[field].parentElement.querySelector(".suggested");
    const value = suggestedValue(field);
    if (value === undefined) return fill(note);
    const s = state.suggestion;
    const label = {
      category: `${value} ${percent(s.category.score)}`,
      topic: `${value} ${percent(s.topic.score)}`,
      district: value || "未识别",
      scope: name(SCOPES, value),
      deadline_class: name(DEADLINES, value),
    }[field];
    const edited = state.touched.has(field) && fields[field].value !== value;
    fields[field].classList.toggle("edited", edited);
    fill(note, edited ? h("span", { class: "tag edited" }, "已修改") : null, `建议：${label}`);
  }

  // The red banner: the number in large type, the words to read, the evidence; re-filled only when what it
  // says changes, so a screen reader announces it (role="alert") once, not at every keystroke.
  function renderEmergency() {
    const banner = $("#op-emergency");
    const current = mode();
    const shown = judgedEmergency() || current === "refuse";
    if (!shown) {
      banner.hidden = true;
      banner.dataset.key = "";
    } else {
      const scope = judgedEmergency() ? state.suggestion.scope : null;
      const why = scope ? whyText(scope.why) : "";
      const key = JSON.stringify([scope && scope.redirect, scope && scope.explanation, why, current]);
      if (banner.dataset.key !== key || banner.hidden) {
        banner.dataset.key = key;
        const number = scope && scope.redirect;
        fill(
          banner,
          h("p", { class: "em-title" }, "紧急警情：12345 不能替代紧急救援", scope ? h("span", { class: "em-source" }, scope.by_rule ? "规则判定" : "模型判定，请核实") : null),
          number
            ? h("p", { class: "em-call" }, "请立即让来电人拨打 ", h("strong", { class: "em-number" }, number), h("span", { class: "em-kind" }, EMERGENCY_NUMBERS[number] || ""))
            : h(
                "p",
                { class: "em-call" },
                h("label", { for: "op-redirect" }, "请立即让来电人拨打 "),
                h("select", { id: "op-redirect", class: "em-select" }, h("option", { value: "" }, "选择号码"), Object.entries(EMERGENCY_NUMBERS).map(([n, what]) => h("option", { value: n }, `${n} ${what}`))),
              ),
          scope && scope.explanation ? h("p", { class: "em-read" }, h("span", { class: "read" }, "向来电人说明："), h("q", {}, scope.explanation)) : null,
          why ? h("p", { class: "em-why" }, `依据：${why}`) : null,
          current === "refuse" && judgedEmergency()
            ? h("button", { type: "button", id: "op-override-open", class: "em-override", onclick: openOverride }, "来电人并非紧急情况？按普通工单受理…")
            : null,
        );
        banner.hidden = false;
      }
    }
    $("#op-scope").hidden = !$("#op-scope").childNodes.length || shown || !state.suggestion || state.suggestion.scope.accepted;
    $("#op-override").hidden = current !== "override";
    if (current !== "override") $("#op-override-error").textContent = "";
    // an emergency is 应急类: 24 hours, whatever was picked before
    const deadline = fields.deadline_class;
    deadline.disabled = current === "refuse";
    if (current === "refuse") deadline.value = "emergency";
    else if (!state.touched.has("deadline_class") && state.suggestion) deadline.value = suggestedValue("deadline_class");
    describeField("deadline_class");
    labelCreate();
  }

  function labelCreate() {
    const current = mode();
    const number = judgedEmergency() ? state.suggestion.scope.redirect : $("#op-redirect")?.value;
    const text = {
      refuse: `记录为不予受理${number ? `（已引导拨打 ${number}）` : ""}`,
      override: "仍按普通工单创建",
      normal: "创建工单",
    }[current];
    fill(create, `${text} `, h("kbd", {}, "Ctrl+Enter"));
    create.classList.toggle("danger", current === "refuse");
  }

  function openOverride() {
    setScope("accepted");
    $("#op-override-note").focus();
  }

  // the summary: prefilled from each suggestion until the operator edits it, then left alone
  function renderDraft(s) {
    if (!state.touched.has("summary")) summary.value = s ? s.summary || "" : "";
    describeSummary();
    const badge = $("#op-caller-state");
    const cs = s && s.caller_state;
    badge.hidden = !cs;
    if (cs) {
      badge.className = `badge state state-${cs.label}`;
      badge.textContent = `来电人：${cs.label}`;
      badge.title = cs.cues && cs.cues.length ? `依据：${cs.cues.join("、")}` : "";
    }
    const box = $("#op-marked-box");
    const spans = s ? elementSpans(s.elements) : [];
    box.hidden = !spans.length;
    fill($("#op-marked"), s && spans.length ? highlighted(s.text, {}, spans) : null);
    const contact = s && s.elements ? s.elements.contact_ok : null;
    $("#op-contact").textContent = contact === true ? "来电人同意回访" : contact === false ? "来电人不愿回访" : "";
  }

  function describeSummary() {
    const s = state.suggestion;
    const edited = state.touched.has("summary") && summary.value.trim() !== ((s && s.summary) || "");
    summary.classList.toggle("edited", edited);
    fill($("#op-summary-note"), edited ? h("span", { class: "tag edited" }, "已修改") : null, edited && s && s.summary ? `建议：${s.summary}` : null);
  }

  function clearSuggestion() {
    state.suggestion = null;
    renderDraft(null);
    labelNoDistrict();
    for (const [field, select] of Object.entries(fields)) {
      if (!state.touched.has(field)) select.value = ""; // the placeholder: nothing left from the previous call
      describeField(field);
    }
    $("#op-scope").hidden = true;
    $("#op-answers").hidden = true;
    fill($("#op-units"));
    $("#op-due").textContent = "—";
    fill($("#op-due-why"));
    renderEmergency();
  }

  function render(s) {
    state.suggestion = s;
    renderDraft(s);
    labelNoDistrict();
    for (const field of Object.keys(fields)) {
      if (!state.touched.has(field)) fields[field].value = suggestedValue(field);
      describeField(field);
    }
    $("#op-due").textContent = when(s.deadline.due_at);
    $("#op-due-why").textContent = s.deadline.explanation;
    const scope = $("#op-scope");
    if (s.scope.accepted) {
      scope.hidden = true;
    } else {
      fill(
        scope,
        h("strong", {}, `不予受理：${name(SCOPES, s.scope.reason)}`),
        s.scope.redirect ? h("span", { class: "redirect" }, `请引导来电人转至：${s.scope.redirect}`) : null,
        h("span", { class: "read" }, "向来电人说明："),
        h("q", {}, s.scope.explanation),
      );
      scope.hidden = false;
    }
    renderEmergency();
    fill(
      $("#op-units"),
      (s.scope.accepted ? s.units : []).slice(0, 3).map((u) =>
        h("li", {}, h("span", { class: "unit-name" }, u.name), bar(u.score), h("span", { class: "score" }, percent(u.score))),
      ),
    );
    renderAnswers(s.answers);
  }

  function updateCreate() {
    create.disabled = Boolean(state.created) || !text.value.trim();
  }

  function renderAnswers(answers) {
    const box = $("#op-answers");
    if (!Array.isArray(answers) || answers.length === 0) {
      box.hidden = true;
      return;
    }
    fill(
      $("#op-answer-list"),
      answers.map((a) =>
        h(
          "li",
          {},
          h(
            "div",
            { class: "q" },
            a.question,
            " ",
            h("span", { class: "muted" }, `${a.unit || ""} · 匹配度 ${percent(Number(a.score))}`),
            a.overdue ? h("span", { class: "badge overdue", title: `复核日期 ${a.valid_until || ""} 已过，请核实后再答复` }, "待复核") : "",
          ),
          h("div", { class: "a" }, a.answer),
        ),
      ),
    );
    box.hidden = false;
  }

  async function suggest() {
    const value = text.value.trim();
    if (state.controller) state.controller.abort();
    if (!value) {
      status.textContent = "";
      clearSuggestion();
      return;
    }
    const seq = ++state.seq;
    state.controller = new AbortController();
    status.textContent = "正在分析…";
    try {
      const body = { text: value, channel: $("#op-channel").value };  // a typed message is read by the written thresholds
      if (address.value.trim()) body.address = address.value.trim();
      const s = await api("/v1/suggestions", { method: "POST", body, signal: state.controller.signal });
      if (seq !== state.seq) return;
      render(s);
      status.textContent = s.needs_review ? "已自动填写（置信度较低，请核对）" : "已自动填写";
    } catch (error) {
      if (error.name === "AbortError" || seq !== state.seq) return;
      status.textContent = `自动填写失败：${error.message}`;
    }
  }

  function schedule() {
    clearTimeout(state.timer);
    state.timer = setTimeout(suggest, DEBOUNCE_MS);
  }

  async function loadSchema() {
    try {
      const schema = await api("/openapi.json");
      creatable = new Set(Object.keys(schema.components.schemas.OrderCreate.properties));
    } catch {
      creatable = new Set(["text", "address", "channel"]);
    }
  }

  async function submit() {
    if (state.created || !text.value.trim()) return;
    if (!creatable) await loadSchema();
    const current = mode();
    const note = $("#op-override-note").value.trim();
    if (current === "override" && !note) {
      const number = state.suggestion.scope.redirect;
      $("#op-override-error").textContent = `此来电被判定为紧急警情${number ? `（应拨打 ${number}）` : ""}，按普通工单受理必须填写理由。`;
      $("#op-override-note").focus();
      return;
    }
    const body = { text: text.value.trim(), channel: $("#op-channel").value };
    if (address.value.trim()) body.address = address.value.trim();
    if (current === "refuse" && creatable.has("refuse")) {
      body.scope = "emergency";
      body.refuse = true;
      const chosen = $("#op-redirect")?.value;
      if (chosen) body.redirect = chosen;
    }
    if (current === "override") body.override_note = note;
    const edits = [];
    const saved = [];
    const suggestedSummary = (state.suggestion && state.suggestion.summary) || "";
    if (state.touched.has("summary") && summary.value.trim() !== suggestedSummary) {
      if (creatable.has("summary")) {
        body.summary = summary.value.trim();
        saved.push(`摘要：${body.summary || "（空）"}`);
      } else edits.push(`摘要：${summary.value.trim()}`);
    }
    for (const [field, select] of Object.entries(fields)) {
      const suggested = suggestedValue(field);
      if (body.refuse && (field === "scope" || field === "deadline_class")) continue; // the service holds both
      if (!state.touched.has(field) || select.value === suggested) continue;
      const change = `${fieldName(field)}：${display(field, suggested)} → ${display(field, select.value)}`;
      if (creatable.has(field) && select.value) {
        body[field] = select.value;
        saved.push(change);
      } else edits.push(change);
    }
    create.disabled = true;
    try {
      const order = await api("/v1/orders", { method: "POST", body, headers: { "Idempotency-Key": state.key } });
      state.created = order;
      text.readOnly = true;
      address.readOnly = true;
      summary.readOnly = true;
      const result = $("#op-result");
      const refused = order.status === "refused";
      const sentTo = refused ? [...order.events].reverse().find((e) => e.kind === "refused")?.detail?.redirect : null;
      fill(
        result,
        h("strong", {}, refused ? `已记录工单 #${order.id}` : `已创建工单 #${order.id}`),
        refused
          ? ` 状态：不予受理（${name(SCOPES, order.decision.scope)}）${sentTo ? `，已引导来电人拨打 ${sentTo}` : ""}`
          : ` 状态：待派单，建议承办：${order.suggestion.units[0]?.name || "—"}，办结期限 ${when(order.deadline.due_at)}`,
        current === "override" ? h("p", {}, "已记录推翻应急判断的理由，派单员可在处理记录中看到。") : null,
        saved.length ? h("p", {}, `已保存修改（派单员将以此为准）：${saved.join("；")}`) : null,
        edits.length
          ? h("p", { class: "warn" }, `以下修改未能随工单保存，请在派单时告知派单员：${edits.join("；")}`)
          : null,
      );
      result.hidden = false;
      toast(refused ? `已记录工单 #${order.id}：不予受理` : `已创建工单 #${order.id}`);
    } catch (error) {
      updateCreate();
      const message = error instanceof ApiError && error.status === 422 ? `内容有误：${error.message}` : error.message;
      toast(`建单失败：${message}`, "error");
    }
  }

  function reset() {
    clearTimeout(state.timer);
    if (state.controller) state.controller.abort();
    state.key = newIdempotencyKey();
    state.touched.clear();
    state.created = null;
    state.seq += 1;
    text.value = "";
    address.value = "";
    text.readOnly = false;
    address.readOnly = false;
    summary.readOnly = false;
    summary.value = "";
    $("#op-override-note").value = "";
    for (const select of Object.values(fields)) select.classList.remove("edited");
    fill($("#op-result")).hidden = true;
    status.textContent = "";
    clearSuggestion();
    updateCreate();
    text.focus();
  }

  text.addEventListener("input", () => {
    updateCreate();
    schedule();
  });
  address.addEventListener("input", schedule);
  $("#op-channel").addEventListener("change", schedule);
  summary.addEventListener("input", () => {
    state.touched.add("summary");
    describeSummary();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  $("#op-reset").addEventListener("click", reset);
  $("#op-override-cancel").addEventListener("click", () => setScope("emergency"));
  $("#op-override-note").addEventListener("input", () => ($("#op-override-error").textContent = ""));
  $("#op-emergency").addEventListener("change", (event) => {
    if (event.target.id === "op-redirect") labelCreate();
  });
  clearSuggestion();
  updateCreate();

  return {
    show() {
      if (!creatable) loadSchema();
      text.focus();
    },
    keydown(event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        submit();
      }
    },
  };
}

// the scope's evidence: a phrase, or a list of them
function whyText(why) {
  if (!why) return "";
  return Array.isArray(why) ? why.filter(Boolean).join("；") : String(why);
}

function fieldName(field) {
  return { category: "类别", topic: "领域", district: "属地", scope: "受理范围", deadline_class: "时限" }[field];
}

function display(field, value) {
  if (field === "scope") return name(SCOPES, value);
  if (field === "deadline_class") return name(DEADLINES, value);
  return value || "未识别";
}

export function bar(score) {
  const fillNode = h("span", { class: "bar-fill" });
  fillNode.style.width = `${Math.max(0, Math.min(1, score)) * 100}%`;
  return h("span", { class: "bar", role: "img", "aria-label": percent(score) }, fillNode);
}
