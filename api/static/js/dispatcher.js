// The dispatcher's desk: the queue of orders waiting for a unit, the evidence behind each suggestion,
// and two decisions (accept as suggested, or correct) reachable from the keyboard. Orders of one
// incident (several callers, one problem: GET /v1/hotspots) are flagged, and can be split off.
// Auto-ready orders (accepted, every dispatch field confident) can be shown alone and confirmed in one
// action (POST /v1/orders/confirm), each with its own audit event. A difficult order can be coordinated
// (协调): a lead unit and up to four assisting units (POST /v1/orders/{id}/coordinate).

import { api, ApiError } from "./api.js";
import { $, fill, h, highlighted, options, percent, toast, typing, when } from "./dom.js";
import { CATEGORIES, CHANNELS, DEADLINES, DISTRICTS, ELEMENTS, EVENTS, HEADS, SCOPES, STATE_RANK, STATUSES, TOPICS, name } from "./labels.js";
import { bar } from "./operator.js";

const POLL_MS = 30000;
const EMERGENCY = (o) => o.deadline.class === "emergency";
const callerState = (o) => (o.caller_state ? o.caller_state.label : null);
const GROUP = (o) => (EMERGENCY(o) ? 0 : STATE_RANK[callerState(o)] || (o.overdue ? 4 : o.difficult ? 5 : 6));
const MAX_ASSIST = 4;
const SORTS = {
  // 紧急优先: every emergency (应急类, 24 hours) first, then callers crying for help, angry, anxious (as the
  // service sorts), each the nearest deadline first; then overdue, then difficult orders, then the rest, newest first
  urgent: (a, b) =>
    GROUP(a) - GROUP(b) ||
    (GROUP(a) <= 3 ? a.deadline.due_at.localeCompare(b.deadline.due_at) : b.created_at.localeCompare(a.created_at)) ||
    b.id - a.id,
  newest: (a, b) => b.created_at.localeCompare(a.created_at) || b.id - a.id,
  due: (a, b) => a.deadline.due_at.localeCompare(b.deadline.due_at) || a.id - b.id,
};

// What accepting as suggested decides: the suggestion with the operator's corrections (a service without
// `working` gives the suggestion's own scope).
const workingScope = (o) => (o.working ? o.working.scope : o.suggestion.scope.accepted ? "accepted" : o.suggestion.scope.reason);
// What the operator confirmed for category, topic and district: the suggestion with the operator's
// corrections (`working`), which is also what accepting as suggested decides.
const confirmed = (o) =>
  o.working
    ? { category: o.working.category, topic: o.working.topic, district: o.working.district }
    : { category: o.suggestion.category.label, topic: o.suggestion.topic.label, district: o.suggestion.district };
// An emergency refusal still standing: accepting the order overrides it, which takes a note.
const emergencyToOverride = (order) => workingScope(order) === "emergency";
const overridden = (order) => [...order.events].reverse().find((e) => e.kind === "scope_overridden");

// "topic置信度低" → "领域置信度低": the pipeline names its heads in English
const reviewReason = (reason) => reason.replace(/^[a-z_]+/, (head) => HEADS[head] || head);

// A label as the operator confirmed it; where the operator changed the model's value, the model's is kept
// beside it, struck through (and in the tooltip), so the dispatcher sees both and which one counts.
function labelValue(value, model, score) {
  const scored = (label) => (score === undefined ? label || "未识别" : `${label || "未识别"} ${percent(score)}`);
  if ((value || null) === (model || null)) return [h("strong", {}, value || "未识别"), score === undefined ? "" : ` ${percent(score)} `];
  return [
    h("strong", { class: "confirmed", title: `接线员更正；模型建议：${scored(model)}` }, value || "未识别"),
    " ",
    h("del", { class: "model-value", title: "模型建议" }, scored(model)),
    " ",
    h("span", { class: "tag edited" }, "接线员更正"),
  ];
}

export function dispatcherView() {
  const list = $("#q-list");
  const search = $("#q-search");
  const sort = $("#q-sort");
  const unitSearch = $("#d-unit-search");
  const unitList = $("#d-unit-list");
  const correctForm = $("#d-correct-form");
  const autoOnly = $("#q-auto");
  const confirmAll = $("#q-confirm");
  const coordForm = $("#d-coord-form");
  const state = {
    orders: [], shown: [], selected: null, units: [], matches: [], chosen: null, busy: false, timer: null, incidents: new Map(), assists: [],
  };

  options($("#d-category"), CATEGORIES.map((c) => [c, c]));
  options($("#d-topic"), TOPICS.map((t) => [t, t]));
  options($("#d-district"), DISTRICTS.map((d) => [d, d]), { blank: "未识别" });

  // the hot spot of an order, when it holds other orders too
  const incidentOf = (order) => {
    const spot = order.incident_id ? state.incidents.get(order.incident_id) : null;
    return spot && spot.count > 1 ? spot : null;
  };

  function badges(order) {
    const spot = incidentOf(order);
    return [
      spot ? h("span", { class: "badge incident", title: "多位来电人反映同一问题" }, `同一事件 ${spot.count}`) : null,
      order.overdue ? h("span", { class: "badge overdue" }, "超期") : null,
      EMERGENCY(order) ? h("span", { class: "badge emergency", title: "应急类：24小时内办结" }, "应急") : null,
      order.difficult ? h("span", { class: "badge difficult" }, "疑难") : null,
      STATE_RANK[callerState(order)]
        ? h("span", { class: `badge state state-${callerState(order)}`, title: (order.caller_state.cues || []).join("、") }, callerState(order))
        : null,
      order.suggestion.needs_review ? h("span", { class: "badge review" }, "待复核") : null,
      order.auto_ready ? h("span", { class: "badge ready", title: "受理、承办单位和属地均达到自动派单的置信度" }, "可直接派单") : null,
      workingScope(order) !== "accepted" ? h("span", { class: "badge refuse" }, "建议不予受理") : null,
      overridden(order) ? h("span", { class: "badge overridden", title: "判定为紧急警情，经说明理由后按普通工单受理" }, "已推翻应急判断") : null,
    ];
  }

  async function load({ keep = true } = {}) {
    try {
      const [page, spots] = await Promise.all([
        // the service's 紧急优先 order: with more than a page waiting, no emergency is left out of it
        api("/v1/orders", { query: { status: ["pending", "difficult"], sort: "urgent", limit: 200 } }),
        api("/v1/hotspots", { query: { min_orders: 2 } }).catch(() => null), // the queue works without them
      ]);
      state.orders = page.items;
      if (spots) state.incidents = new Map(spots.map((s) => [s.id, s]));
      $("#q-count").textContent = page.total > page.items.length ? `${page.items.length}/${page.total}` : String(page.total);
    } catch (error) {
      toast(`队列加载失败：${error.message}`, "error");
      return;
    }
    const previous = keep && state.selected ? state.selected.id : null;
    renderQueue();
    const again = state.shown.find((o) => o.id === previous);
    select(again || state.shown[0] || null);
  }

  function renderQueue() {
    const q = search.value.trim().toLowerCase();
    const match = (o) =>
      !q ||
      String(o.id) === q.replace(/^#/, "") ||
      o.text.toLowerCase().includes(q) ||
      o.suggestion.units.some((u) => u.name.toLowerCase().includes(q)) ||
      confirmed(o).category.includes(q) ||
      (confirmed(o).district || "").includes(q);
    state.shown = state.orders.filter((o) => match(o) && (!autoOnly.checked || o.auto_ready)).sort(SORTS[sort.value]);
    const ready = state.shown.filter((o) => o.auto_ready);
    confirmAll.hidden = !autoOnly.checked || !ready.length;
    $("#q-confirm-n").textContent = String(ready.length);
    fill(
      list,
      state.shown.map((o) =>
        h(
          "li",
          {
            role: "option",
            class: `q-item ${EMERGENCY(o) ? "is-emergency" : ""} ${o.overdue ? "is-overdue" : ""} ${o.difficult ? "is-difficult" : ""}`,
            dataset: { id: String(o.id) },
            "aria-selected": state.selected && state.selected.id === o.id ? "true" : "false",
            onclick: () => select(o),
          },
          h("div", { class: "q-top" }, h("strong", {}, `#${o.id}`), h("span", { class: "muted" }, when(o.created_at)), badges(o)),
          h(
            "div",
            { class: "q-route" },
            `${confirmed(o).category} · ${workingScope(o) === "accepted" ? (o.working ? o.working.unit : o.suggestion.units[0]?.name) || "—" : `不予受理（${name(SCOPES, workingScope(o))}）`}`,
          ),
          h("div", { class: "q-text" }, o.text),
        ),
      ),
    );
    if (!state.shown.length) {
      const none = q ? "没有匹配的工单" : autoOnly.checked ? "暂无可直接派单的工单" : "暂无待派单工单";
      list.append(h("li", { class: "muted q-none" }, none));
    }
  }

  function select(order) {
    state.selected = order;
    closeCorrect();
    closeCoordinate();
    $("#d-conflict").hidden = true;
    for (const item of list.querySelectorAll(".q-item")) {
      const on = order && item.dataset.id === String(order.id);
      item.setAttribute("aria-selected", on ? "true" : "false");
      if (on) item.scrollIntoView({ block: "nearest" });
    }
    $("#d-empty").hidden = Boolean(order);
    $("#d-detail").hidden = !order;
    if (order) renderDetail(order);
  }

  function move(step) {
    if (!state.shown.length) return;
    const at = state.selected ? state.shown.findIndex((o) => o.id === state.selected.id) : -1;
    const next = Math.max(0, Math.min(state.shown.length - 1, at + step));
    select(state.shown[next]);
  }

  function renderDetail(order) {
    const s = order.suggestion;
    $("#d-title").textContent = `工单 #${order.id} · ${name(STATUSES, order.status)}`;
    fill($("#d-badges"), badges(order));
    $("#d-meta").textContent = [
      `建单 ${when(order.created_at)}`,
      `接线员 ${order.created_by}`,
      `渠道 ${name(CHANNELS, order.channel)}`,
      `办结期限 ${when(order.deadline.due_at)}（${name(DEADLINES, order.deadline.class)}）`,
      order.bounce_count ? `已退单 ${order.bounce_count} 次` : null,
    ]
      .filter(Boolean)
      .join(" · ");
    fill($("#d-text"), highlighted(order.text, { place: s.places, kw: s.keywords }));
    // the elements beside the transcript (its marks are the evidence for the routing)
    const found = Object.entries(ELEMENTS).filter(([key]) => s.elements && s.elements[key]);
    $("#d-elements").hidden = !found.length;
    fill($("#d-elements"), found.map(([key, label]) => h("span", { class: "element" }, h("mark", { class: `el el-${key}` }, label), ` ${s.elements[key].text} `)));
    const summary = $("#d-summary");
    summary.hidden = !order.summary;
    summary.textContent = order.summary ? `摘要：${order.summary}${order.summary_edited ? "（接线员修改）" : ""}` : "";
    renderAssignments(order);
    $("#d-coordinate").hidden = !order.difficult;
    $("#d-address").textContent = order.address ? `地址：${order.address}` : "";
    fill(
      $("#d-units"),
      s.units.slice(0, 5).map((u, i) =>
        h(
          "li",
          { class: i === 0 ? "top" : "" },
          h("div", { class: "unit-row" }, h("span", { class: "unit-name" }, u.name), bar(u.score), h("span", { class: "score" }, percent(u.score, 1))),
          u.why.length ? h("ul", { class: "why" }, u.why.map((w) => h("li", {}, w))) : null,
        ),
      ),
    );
    if (!s.units.length) $("#d-units").append(h("li", { class: "muted" }, "没有建议的承办单位，请更正选择"));
    const scopeNow = workingScope(order);
    $("#d-units-note").hidden = scopeNow === "accepted"; // a refused call keeps its ranking, for a dispatcher who accepts it after all
    const alternatives = (p) =>
      h("span", { class: "alts" }, p.alternatives.slice(0, 3).map((a) => h("span", { class: "chip" }, `${a.label} ${percent(a.score)}`)));
    const places = s.places.length ? h("span", { class: "muted" }, `（${s.places.join("、")}）`) : null;
    const c = confirmed(order);
    fill(
      $("#d-labels"),
      h("dt", {}, "类别"),
      h("dd", { dataset: { field: "category" } }, labelValue(c.category, s.category.label, s.category.score), alternatives(s.category)),
      h("dt", {}, "领域"),
      h("dd", { dataset: { field: "topic" } }, labelValue(c.topic, s.topic.label, s.topic.score), alternatives(s.topic)),
      h("dt", {}, "属地"),
      h("dd", { dataset: { field: "district" } }, labelValue(c.district, s.district), places),
      h("dt", {}, "时限"),
      h("dd", {}, s.deadline.explanation),
      s.needs_review ? h("dt", {}, "复核") : null,
      s.needs_review ? h("dd", { class: "warn" }, s.review_reasons.map(reviewReason).join("；") || "置信度较低") : null,
    );
    const scope = $("#d-scope");
    const override = overridden(order);
    if (override) {
      const d = override.detail || {};
      fill(
        scope,
        h("strong", {}, `${override.actor || ""} 已推翻应急判断，按普通工单受理`),
        d.redirect ? h("span", { class: "redirect" }, `原判：紧急警情，应拨打 ${d.redirect}`) : null,
        h("span", {}, `理由：${d.note || ""}`),
      );
      scope.classList.add("is-emergency");
      scope.hidden = false;
    } else if (scopeNow === "accepted") scope.hidden = true;
    else if (s.scope.accepted || s.scope.reason !== scopeNow) {
      fill(scope, h("strong", {}, `接线员建议不予受理：${name(SCOPES, scopeNow)}`));
      scope.classList.toggle("is-emergency", scopeNow === "emergency");
      scope.hidden = false;
    } else {
      const emergency = s.scope.reason === "emergency";
      fill(
        scope,
        h("strong", {}, `建议不予受理：${name(SCOPES, s.scope.reason)}`),
        s.scope.redirect
          ? h("span", { class: "redirect" }, emergency ? "来电人应拨打 " : "转至：", emergency ? h("strong", { class: "em-number" }, s.scope.redirect) : s.scope.redirect)
          : null,
        h("q", {}, s.scope.explanation),
      );
      scope.classList.toggle("is-emergency", emergency);
      scope.hidden = false;
    }
    renderIncident(order);
    const unit = order.working ? order.working.unit : s.units[0]?.name;
    fill($("#d-accept"), scopeNow === "accepted" ? `接受建议：${unit || "—"} ` : "接受建议：不予受理 ", h("kbd", {}, "A"));
    renderEvents(order);
  }

  function renderIncident(order) {
    const box = $("#d-incident");
    const spot = incidentOf(order);
    box.hidden = !spot;
    if (!spot) {
      fill(box);
      return;
    }
    const others = spot.order_ids.filter((id) => id !== order.id).sort((a, b) => a - b);
    const linked = [...order.events].reverse().find((e) => e.kind === "linked" && e.detail && e.detail.unit);
    fill(
      box,
      h("strong", { class: "same" }, `同一事件：共 ${spot.count} 单`),
      h(
        "span",
        { class: "others" },
        others.map((id) => {
          const queued = state.orders.find((o) => o.id === id);
          return queued
            ? h("button", { type: "button", class: "chip-link", dataset: { id: String(id) }, title: "查看此工单", onclick: () => selectShown(queued) }, `#${id}`)
            : h("span", { class: "chip-off", title: "已不在待派单队列" }, `#${id}`);
        }),
      ),
      linked ? h("span", { class: "went" }, `此前已派往 ${linked.detail.unit}`) : null,
      h("button", { type: "button", class: "split", id: "d-unlink", onclick: unlink }, "拆分（非同一事件）"),
    );
  }

  // an order of the queue picked from elsewhere: clear a search that would hide it
  function selectShown(order) {
    if (!state.shown.some((o) => o.id === order.id)) {
      search.value = "";
      renderQueue();
    }
    select(order);
  }

  async function unlink() {
    const order = state.selected;
    if (!order || state.busy) return;
    state.busy = true;
    try {
      await api(`/v1/orders/${order.id}/unlink`, { method: "POST" });
      toast(`工单 #${order.id} 已拆分为单独事件`);
      await load({ keep: true });
    } catch (error) {
      toast(`拆分失败：${error.message}`, "error");
    } finally {
      state.busy = false;
    }
  }

  function renderEvents(order) {
    const bounces = order.events.filter((e) => e.kind === "bounced");
    const items = order.events.map((e) => {
      const d = e.detail || {};
      const detail = {
        bounced: `${d.unit || "—"} 退回：${d.reason || ""}（第 ${d.count ?? "?"} 次）`,
        difficult: `退单 ${d.bounces ?? ""} 次，转入疑难工单`,
        dispatched: `派至 ${d.unit || "—"}${d.corrected && d.corrected.length ? "（已更正）" : ""}${d.confirmed_in_bulk ? "（批量确认）" : ""}`,
        auto_dispatched: `自动派至 ${d.unit || "—"}`,
        auto_dispatch_failed: d.reason || "",
        refused: `${name(SCOPES, d.scope)}${d.redirect ? `，已引导拨打 ${d.redirect}` : ""}`,
        scope_overridden: `判定为紧急警情${d.redirect ? `（${d.redirect}）` : ""}，仍按普通工单受理。理由：${d.note || ""}`,
        replied: d.unit || "",
        visited: d.satisfaction || "",
        created: "",
        linked: `与此前工单为同一事件${d.place ? `（${d.place}）` : ""}${d.unit ? `，此前派往 ${d.unit}` : ""}`,
        unlinked: "派单员确认非同一事件，已拆分",
        incident_merged: "相关事件已合并",
        coordinated: `牵头 ${d.lead || "—"}，配合 ${(d.assist_units || []).join("、") || "—"}`,
        assist_replied: d.unit || "",
        assist_bounced: `${d.unit || "—"} 退出配合：${d.reason || ""}`,
      }[e.kind];
      return h(
        "li",
        { class: `ev ev-${e.kind}` },
        h("span", { class: "muted" }, when(e.at)),
        " ",
        h("strong", {}, name(EVENTS, e.kind)),
        e.actor ? h("span", { class: "muted" }, ` ${e.actor}`) : null,
        detail ? h("div", {}, detail) : null,
      );
    });
    fill($("#d-events"), items, bounces.length ? null : h("li", { class: "muted" }, "无退单记录"));
  }

  async function decide(body, done) {
    const order = state.selected;
    if (!order || state.busy) return;
    state.busy = true;
    try {
      const result = await api(`/v1/orders/${order.id}/dispatch`, { method: "POST", body: { version: order.version, ...body } });
      const at = state.shown.findIndex((o) => o.id === order.id);
      state.orders = state.orders.filter((o) => o.id !== order.id);
      renderQueue();
      $("#q-count").textContent = String(state.orders.length);
      select(state.shown[Math.min(at, state.shown.length - 1)] || null);
      toast(result.status === "refused" ? `工单 #${result.id} 不予受理` : `工单 #${result.id} 已${done}至 ${result.decision.unit}`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) conflict(order, error);
      else if (error instanceof ApiError && error.status === 422 && error.message.includes("emergency") && !correctForm.hidden) {
        $("#d-override").hidden = false; // the operator's emergency the page could not see: ask for the note
        $("#d-override-note").focus();
        toast("此工单被判定为紧急警情，按普通工单派单须填写理由", "warn");
      } else toast(`派单失败：${error.message}`, "error");
    } finally {
      state.busy = false;
    }
  }

  // every auto-ready order shown, as suggested, in one request; each one the server could not dispatch is named
  async function confirmShown() {
    const ready = state.shown.filter((o) => o.auto_ready);
    if (!ready.length || state.busy) return;
    state.busy = true;
    try {
      const result = await api("/v1/orders/confirm", { method: "POST", body: { orders: ready.map((o) => ({ id: o.id, version: o.version })) } });
      const failed = result.results.filter((r) => !r.ok);
      toast(
        failed.length ? `已确认 ${result.confirmed} 单；${failed.length} 单未派：${failed.map((r) => `#${r.id} ${r.detail}`).join("；")}` : `已确认派单 ${result.confirmed} 单`,
        failed.length ? "warn" : undefined,
      );
    } catch (error) {
      toast(`批量确认失败：${error.message}`, "error");
    } finally {
      state.busy = false;
    }
    await load({ keep: false });
  }

  function conflict(order, error) {
    $("#d-conflict-text").textContent = `工单 #${order.id} 已被他人处理或修改，本次操作未保存。${error.message}`;
    $("#d-conflict").hidden = false;
    $("#d-conflict-reload").focus();
  }

  async function reloadSelected() {
    const id = state.selected && state.selected.id;
    $("#d-conflict").hidden = true;
    await load({ keep: true });
    if (id && !state.orders.some((o) => o.id === id)) toast(`工单 #${id} 已不在待派单队列`, "warn");
  }

  // correction: a searchable list of the catalogue plus category / topic / district
  function openCorrect() {
    const order = state.selected;
    if (!order) return;
    const s = order.suggestion;
    closeCoordinate();
    const c = confirmed(order); // a correction starts from what the operator confirmed
    $("#d-category").value = c.category;
    $("#d-topic").value = c.topic;
    $("#d-district").value = c.district || "";
    state.chosen = s.units[0]?.name || null;
    unitSearch.value = "";
    filterUnits(false);
    $("#d-override-note").value = "";
    $("#d-override").hidden = !emergencyToOverride(order);
    correctForm.hidden = false;
    unitSearch.focus();
  }

  function closeCorrect() {
    correctForm.hidden = true;
  }

  // a coordination order's units: the lead first, then the assisting ones, each with its state and reply
  function renderAssignments(order) {
    const box = $("#d-assignments");
    const parts = order.assignments || [];
    box.hidden = !parts.length;
    const stateName = { sent: "办理中", replied: "已答复", bounced: "已退出", withdrawn: "已撤回" };
    fill(
      box,
      parts.length
        ? h(
            "ul",
            {},
            parts.map((a) =>
              h("li", { class: a.state }, `${a.role === "lead" ? "牵头" : "配合"}：${a.unit}（${stateName[a.state] || a.state}）`, a.reply ? ` ${a.reply}` : ""),
            ),
          )
        : null,
    );
  }

  // 协调: the lead (the working unit to start with) and up to four assisting units, picked from the catalogue
  function openCoordinate() {
    const order = state.selected;
    if (!order || !order.difficult) return;
    closeCorrect();
    const lead = $("#d-coord-lead");
    options(lead, state.units.map((u) => [u.name, u.name]));
    lead.value = (order.working && order.working.unit) || order.suggestion.units[0]?.name || state.units[0]?.name || "";
    state.assists = [];
    $("#d-coord-search").value = "";
    renderAssists();
    coordForm.hidden = false;
    lead.focus();
  }

  function closeCoordinate() {
    coordForm.hidden = true;
  }

  function renderAssists() {
    const q = $("#d-coord-search").value.trim().toLowerCase();
    const lead = $("#d-coord-lead").value;
    state.assists = state.assists.filter((name) => name !== lead);
    const matches = state.units.filter((u) => u.name !== lead && (!q || [u.name, ...u.aliases, ...u.topics].some((v) => v.toLowerCase().includes(q))));
    fill(
      $("#d-coord-list"),
      matches.map((u) => {
        const on = state.assists.includes(u.name);
        return h(
          "li",
          { class: "unit-option", dataset: { name: u.name } },
          h(
            "label",
            { class: "check" },
            h("input", {
              type: "checkbox",
              value: u.name,
              checked: on,
              disabled: !on && state.assists.length >= MAX_ASSIST,
              onchange: (event) => {
                state.assists = event.target.checked ? [...state.assists, u.name] : state.assists.filter((n) => n !== u.name);
                renderAssists();
              },
            }),
            ` ${u.name}`,
          ),
        );
      }),
    );
    $("#d-coord-chosen").textContent = state.assists.length ? `配合单位：${state.assists.join("、")}` : "请选择 1 至 4 个配合单位";
  }

  async function coordinate() {
    const order = state.selected;
    if (!order || state.busy) return;
    const lead = $("#d-coord-lead").value;
    if (!lead || !state.assists.length) {
      toast("请选择牵头单位和至少一个配合单位", "warn");
      return;
    }
    state.busy = true;
    try {
      const result = await api(`/v1/orders/${order.id}/coordinate`, {
        method: "POST",
        body: { version: order.version, unit: lead, assist_units: state.assists },
      });
      const at = state.shown.findIndex((o) => o.id === order.id);
      state.orders = state.orders.filter((o) => o.id !== order.id);
      renderQueue();
      $("#q-count").textContent = String(state.orders.length);
      select(state.shown[Math.min(at, state.shown.length - 1)] || null);
      toast(`工单 #${result.id} 已协调：牵头 ${result.decision.unit}，配合 ${result.assist_units.join("、")}`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) conflict(order, error);
      else toast(`协调失败：${error.message}`, "error");
    } finally {
      state.busy = false;
    }
  }

  function filterUnits(pickFirst = true) {
    const q = unitSearch.value.trim().toLowerCase();
    state.matches = state.units.filter(
      (u) => !q || [u.name, ...u.aliases, ...u.topics].some((v) => v.toLowerCase().includes(q)),
    );
    if (q && pickFirst && state.matches.length && !state.matches.some((u) => u.name === state.chosen)) {
      state.chosen = state.matches[0].name;
    }
    renderUnits();
  }

  function renderUnits() {
    fill(
      unitList,
      state.matches.map((u) =>
        h(
          "li",
          {
            role: "option",
            class: "unit-option",
            dataset: { name: u.name },
            "aria-selected": u.name === state.chosen ? "true" : "false",
            onclick: () => {
              state.chosen = u.name;
              renderUnits();
            },
          },
          h("span", {}, u.name),
          u.aliases.length ? h("span", { class: "muted" }, ` ${u.aliases.slice(0, 3).join("、")}`) : null,
        ),
      ),
    );
    if (!state.matches.length) unitList.append(h("li", { class: "muted" }, "没有匹配的单位"));
    unitList.querySelector('[aria-selected="true"]')?.scrollIntoView({ block: "nearest" });
  }

  function stepUnit(step) {
    if (!state.matches.length) return;
    const at = state.matches.findIndex((u) => u.name === state.chosen);
    state.chosen = state.matches[Math.max(0, Math.min(state.matches.length - 1, at + step))].name;
    renderUnits();
  }

  unitSearch.addEventListener("input", () => filterUnits());
  unitSearch.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      stepUnit(event.key === "ArrowDown" ? 1 : -1);
    }
  });
  correctForm.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      closeCorrect();
    }
  });
  correctForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!state.chosen) {
      toast("请先选择承办单位", "warn");
      return;
    }
    const note = $("#d-override-note").value.trim();
    if (!$("#d-override").hidden && !note) {
      toast("此工单被判定为紧急警情，按普通工单派单须填写理由", "warn");
      $("#d-override-note").focus();
      return;
    }
    decide(
      {
        unit: state.chosen,
        category: $("#d-category").value,
        topic: $("#d-topic").value,
        district: $("#d-district").value || null,
        scope: "accepted",
        ...(note ? { note } : {}),
      },
      "改派",
    );
  });
  $("#d-correct-cancel").addEventListener("click", closeCorrect);
  $("#d-coordinate").addEventListener("click", openCoordinate);
  $("#d-coord-cancel").addEventListener("click", closeCoordinate);
  $("#d-coord-lead").addEventListener("change", renderAssists);
  $("#d-coord-search").addEventListener("input", renderAssists);
  coordForm.addEventListener("submit", (event) => {
    event.preventDefault();
    coordinate();
  });
  coordForm.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      closeCoordinate();
    }
  });
  $("#d-accept").addEventListener("click", () => decide({}, "派"));
  $("#d-correct").addEventListener("click", openCorrect);
  $("#d-conflict-reload").addEventListener("click", reloadSelected);
  $("#q-reload").addEventListener("click", () => load());
  search.addEventListener("input", () => {
    renderQueue();
    if (!state.selected || !state.shown.some((o) => o.id === state.selected.id)) select(state.shown[0] || null);
  });
  search.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === "Escape") {
      event.preventDefault();
      search.blur();
    }
  });
  sort.addEventListener("change", () => renderQueue());
  autoOnly.addEventListener("change", () => {
    renderQueue();
    if (!state.selected || !state.shown.some((o) => o.id === state.selected.id)) select(state.shown[0] || null);
  });
  confirmAll.addEventListener("click", confirmShown);

  return {
    async show() {
      if (!state.units.length) {
        try {
          state.units = await api("/v1/units");
        } catch (error) {
          toast(`单位目录加载失败：${error.message}`, "error");
        }
      }
      await load();
      clearInterval(state.timer);
      state.timer = setInterval(() => {
        if (!$("#view-dispatcher").hidden && correctForm.hidden && coordForm.hidden && document.visibilityState === "visible") load();
      }, POLL_MS);
    },
    keydown(event) {
      if ($("#view-dispatcher").hidden || event.ctrlKey || event.metaKey || event.altKey || typing(event)) return;
      const key = event.key.toLowerCase();
      const actions = {
        a: () => decide({}, "派"),
        c: openCorrect,
        j: () => move(1),
        n: () => move(1),
        arrowdown: () => move(1),
        k: () => move(-1),
        arrowup: () => move(-1),
        "/": () => search.focus(),
        r: () => (!$("#d-conflict").hidden ? reloadSelected() : load()),
      };
      if (actions[key]) {
        event.preventDefault();
        actions[key]();
      }
    },
  };
}
