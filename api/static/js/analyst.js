// The analyst's figures from GET /v1/stats: shares as tables with CSS bars, and the model's unit
// acceptance by day as a small SVG line chart, and the hot spots (incidents of several orders) with
// a bar sparkline of orders per day each, and the standard answers past their review date (no chart library,
// nothing fetched from outside).

import { api } from "./api.js";
import { $, fill, h, percent, svg, when } from "./dom.js";
import { HEADS, SCOPES, STATUSES, name } from "./labels.js";

const MAX_ROWS = 12;

function shareTable(shares, { label = (x) => x, empty = "暂无数据" } = {}) {
  if (!shares.length) return h("p", { class: "muted" }, empty);
  const rows = shares.slice(0, MAX_ROWS).map((s) => {
    const fillNode = h("span", { class: "bar-fill" });
    fillNode.style.width = `${Math.min(1, s.share) * 100}%`; // the share itself: a 20% unit fills a fifth
    return h(
      "tr",
      {},
      h("th", { scope: "row" }, label(s.label)),
      h("td", { class: "bar-cell" }, h("span", { class: "bar" }, fillNode)),
      h("td", { class: "num" }, String(s.count)),
      h("td", { class: "num" }, percent(s.share, 1)),
    );
  });
  const rest = shares.slice(MAX_ROWS);
  if (rest.length) {
    rows.push(
      h(
        "tr",
        { class: "muted" },
        h("th", { scope: "row" }, `其他 ${rest.length} 项`),
        h("td"),
        h("td", { class: "num" }, String(rest.reduce((n, s) => n + s.count, 0))),
        h("td", { class: "num" }, percent(rest.reduce((n, s) => n + s.share, 0), 1)),
      ),
    );
  }
  return h(
    "table",
    { class: "shares" },
    h("thead", {}, h("tr", {}, h("th", {}, "项目"), h("th", {}, "占比"), h("th", { class: "num" }, "件数"), h("th", { class: "num" }, "比例"))),
    h("tbody", {}, rows),
  );
}

const HEAD_ORDER = ["unit", "category", "topic", "district", "scope"];
const SATISFACTION_ORDER = ["满意", "基本满意", "不满意"];
const rank = (order, key) => (order.includes(key) ? order.indexOf(key) : order.length);

function modelTable(model) {
  const heads = Object.entries(model).sort(([a], [b]) => rank(HEAD_ORDER, a) - rank(HEAD_ORDER, b));
  if (!heads.length) return h("p", { class: "muted" }, "尚无已派单工单");
  return h(
    "table",
    { class: "shares" },
    h("thead", {}, h("tr", {}, h("th", {}, "项目"), h("th", { class: "num" }, "已决定"), h("th", { class: "num" }, "首位采纳"), h("th", { class: "num" }, "前三采纳"))),
    h(
      "tbody",
      {},
      heads.map(([head, r]) =>
        h("tr", {}, h("th", { scope: "row" }, name(HEADS, head)), h("td", { class: "num" }, String(r.decided)), h("td", { class: "num" }, percent(r.top1, 1)), h("td", { class: "num" }, percent(r.top3, 1))),
      ),
    ),
  );
}

function byDayChart(days) {
  const points = days.filter((d) => d.unit_top1 !== null || d.unit_top3 !== null);
  if (!points.length) return h("p", { class: "muted" }, "尚无逐日数据");
  const width = 900;
  const height = 170;
  const pad = { left: 40, right: 16, top: 12, bottom: 28 };
  const x = (i) => pad.left + (points.length === 1 ? (width - pad.left - pad.right) / 2 : (i * (width - pad.left - pad.right)) / (points.length - 1));
  const y = (v) => pad.top + (1 - v) * (height - pad.top - pad.bottom);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "line-chart", role: "img", "aria-label": "承办单位建议逐日采纳率" });
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    chart.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: "grid" }));
    chart.append(svg("text", { x: pad.left - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" }, `${v * 100}%`));
  }
  const step = Math.ceil(points.length / 10);
  points.forEach((d, i) => {
    if (i % step === 0 || i === points.length - 1) {
      chart.append(svg("text", { x: x(i), y: height - 8, "text-anchor": "middle", class: "axis" }, d.day.slice(5)));
    }
  });
  for (const [key, cls] of [["unit_top3", "s-top3"], ["unit_top1", "s-top1"]]) {
    const series = points.map((d, i) => [x(i), d[key]]).filter(([, v]) => v !== null);
    chart.append(svg("polyline", { points: series.map(([px, v]) => `${px},${y(v)}`).join(" "), class: `series ${cls}` }));
    for (const [px, v] of series) chart.append(svg("circle", { cx: px, cy: y(v), r: 3, class: `dot ${cls}` }, svg("title", {}, percent(v, 1))));
  }
  const legend = h("p", { class: "legend" }, h("span", { class: "key s-top1" }), "首位采纳 ", h("span", { class: "key s-top3" }), "前三采纳");
  const table = h(
    "table",
    { class: "shares compact" },
    h("thead", {}, h("tr", {}, h("th", {}, "日期"), h("th", { class: "num" }, "派单"), h("th", { class: "num" }, "首位"), h("th", { class: "num" }, "前三"))),
    h("tbody", {}, points.slice(-7).map((d) => h("tr", {}, h("th", {}, d.day), h("td", { class: "num" }, String(d.dispatched)), h("td", { class: "num" }, percent(d.unit_top1, 1)), h("td", { class: "num" }, percent(d.unit_top3, 1))))),
  );
  return h("div", { class: "by-day" }, h("div", {}, chart, legend), table);
}

// per day (latest first) and per unit: auto-ready and system-dispatched shares, and the bounce rate of system
// dispatches beside that of people's: the one live sign of whether the automatic decisions hold
function automationTable(automation) {
  const row = (r, label) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, label),
      h("td", { class: "num" }, String(r.orders)),
      h("td", { class: "num" }, percent(r.auto_ready_rate, 1)),
      h("td", { class: "num" }, `${r.auto_dispatched}（${percent(r.automation_rate, 1)}）`),
      h("td", { class: "num" }, String(r.human_dispatched)),
      h("td", { class: "num" }, percent(r.auto_bounce_rate, 1)),
      h("td", { class: "num" }, percent(r.human_bounce_rate, 1)),
    );
  const head = (first) =>
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", {}, first),
        h("th", { class: "num" }, "工单"),
        h("th", { class: "num", title: "建议受理且承办单位、属地均达到自动派单置信度" }, "可直接派单"),
        h("th", { class: "num" }, "系统派单"),
        h("th", { class: "num" }, "人工派单"),
        h("th", { class: "num", title: "系统派出后被承办单位退回的比例" }, "系统派单退单率"),
        h("th", { class: "num" }, "人工派单退单率"),
      ),
    );
  if (!automation.total.orders) return h("p", { class: "muted" }, "暂无工单");
  return h(
    "div",
    { class: "automation" },
    h("table", { class: "shares compact" }, head("日期"), h("tbody", {}, [row(automation.total, "合计"), ...automation.by_day.slice(-7).reverse().map((d) => row(d, d.key))])),
    h("table", { class: "shares compact" }, head("承办单位"), h("tbody", {}, automation.by_unit.slice(0, MAX_ROWS).map((u) => row(u, u.key)))),
  );
}

// coordination orders per unit (units_by_role): those it leads (牵头) and those it assists (配合), most first; the
// orders it handles alone are left out here (they are in 承办单位占比)
function rolesTable(units) {
  const total = (u) => u.coordinated_lead + u.assist;
  const rows = units.filter((u) => total(u) > 0).sort((a, b) => total(b) - total(a) || a.unit.localeCompare(b.unit, "zh-CN"));
  if (!rows.length) return h("p", { class: "muted" }, "暂无协调工单");
  const rest = rows.length - MAX_ROWS;
  return h(
    "div",
    {},
    h(
      "table",
      { class: "shares compact roles" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", {}, "承办单位"),
          h("th", { class: "num" }, "牵头"),
          h("th", { class: "num" }, "配合"),
          h("th", { class: "num" }, "合计"),
          h("th", { class: "num", title: "牵头的全部已派单工单，含单独承办" }, "承办工单"),
        ),
      ),
      h(
        "tbody",
        {},
        rows.slice(0, MAX_ROWS).map((u) =>
          h(
            "tr",
            { dataset: { unit: u.unit } },
            h("th", { scope: "row" }, u.unit),
            h("td", { class: "num lead" }, String(u.coordinated_lead)),
            h("td", { class: "num assist" }, String(u.assist)),
            h("td", { class: "num" }, String(total(u))),
            h("td", { class: "num muted" }, String(u.lead)),
          ),
        ),
      ),
    ),
    rest > 0 ? h("p", { class: "muted" }, `另有 ${rest} 个单位未列出`) : null,
  );
}

const MAX_HOTSPOTS = 8;

// orders per 24 hours, oldest first: one bar each, the last (ending now) highlighted
function sparkline(daily) {
  const width = 112;
  const height = 26;
  const n = Math.max(daily.length, 1);
  const top = Math.max(...daily, 1);
  const slot = width / n;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "sparkline", role: "img", "aria-label": `逐日件数 ${daily.join("、")}` });
  chart.append(svg("line", { x1: 0, x2: width, y1: height - 0.5, y2: height - 0.5, class: "base" }));
  daily.forEach((count, i) => {
    const barHeight = count ? Math.max(2, (count / top) * (height - 2)) : 0;
    const ago = daily.length - 1 - i;
    chart.append(
      svg(
        "rect",
        { x: i * slot + 1, y: height - barHeight, width: Math.max(1, slot - 2), height: barHeight, class: ago === 0 ? "today" : "" },
        svg("title", {}, `${ago === 0 ? "近24小时" : `${ago * 24}–${(ago + 1) * 24}小时前`}：${count} 件`),
      ),
    );
  });
  return chart;
}

function growth(now, before) {
  const diff = now - before;
  if (diff > 0) return h("span", { class: "up" }, `↑${diff}`);
  if (diff < 0) return h("span", { class: "down" }, `↓${-diff}`);
  return h("span", { class: "muted" }, "持平");
}

function hotspotTable(spots) {
  if (!spots.length) return h("p", { class: "muted" }, "暂无多单同一事件");
  const rows = spots.slice(0, MAX_HOTSPOTS).map((s) =>
    h(
      "tr",
      { class: s.alerting ? "alerting" : "", dataset: { incident: s.id } },
      h(
        "th",
        { scope: "row", title: s.places.join("、") },
        s.place || s.district || "地点未识别",
        s.place && s.district ? h("span", { class: "muted" }, ` ${s.district}`) : null,
        s.alerting ? h("span", { class: "badge alert" }, "预警") : null,
      ),
      h("td", {}, s.topic || "—"),
      h("td", { class: "num count" }, String(s.count)),
      h("td", { class: "num" }, `${s.last_24h} / ${s.previous_24h} `, growth(s.last_24h, s.previous_24h)),
      h("td", { class: "spark-cell" }, sparkline(s.daily)),
      h("td", { class: "muted" }, `${when(s.first_seen)} 至 ${when(s.last_seen)}`),
    ),
  );
  const rest = spots.length - MAX_HOTSPOTS;
  return h(
    "div",
    {},
    h(
      "table",
      { class: "shares hotspots" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", {}, "地点"),
          h("th", {}, "领域"),
          h("th", { class: "num" }, "件数"),
          h("th", { class: "num", title: "近24小时 / 前24小时" }, "近24h / 前24h"),
          h("th", {}, "逐日件数"),
          h("th", {}, "首次 至 最近来电"),
        ),
      ),
      h("tbody", {}, rows),
    ),
    rest > 0 ? h("p", { class: "muted" }, `另有 ${rest} 个事件未列出`) : null,
  );
}

async function loadHotspots() {
  try {
    fill($("#a-hotspots"), hotspotTable(await api("/v1/hotspots", { query: { min_orders: 2 } })));
  } catch (error) {
    fill($("#a-hotspots"), h("p", { class: "error" }, `热点事件加载失败：${error.message}`));
  }
}

const MAX_OVERDUE = 12;
const beijingDate = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }); // YYYY-MM-DD
const DAY_MS = 24 * 3600 * 1000;

// standard answers past their review date (GET /v1/knowledge/overdue, longest overdue first), each flagged
function overdueTable(entries) {
  if (!entries.length) return h("p", { class: "muted" }, "没有过期未复核的标准答案");
  const today = Date.parse(beijingDate.format(new Date()));
  const rows = entries.slice(0, MAX_OVERDUE).map((e) =>
    h(
      "tr",
      { class: "overdue", dataset: { id: e.id } },
      h("th", { scope: "row" }, e.id),
      h("td", {}, e.question),
      h("td", {}, e.unit),
      h("td", { class: "muted" }, e.basis || "未注明依据"),
      h(
        "td",
        { class: "num" },
        e.valid_until,
        " ",
        h("span", { class: "badge overdue", title: "已过复核日期，答复前请核实" }, `逾期 ${Math.max(1, Math.round((today - Date.parse(e.valid_until)) / DAY_MS))} 天`),
      ),
    ),
  );
  const rest = entries.length - MAX_OVERDUE;
  return h(
    "div",
    {},
    h(
      "table",
      { class: "shares knowledge" },
      h("thead", {}, h("tr", {}, h("th", {}, "编号"), h("th", {}, "问题"), h("th", {}, "承办单位"), h("th", {}, "依据"), h("th", { class: "num" }, "复核截止"))),
      h("tbody", {}, rows),
    ),
    h("p", { class: "muted" }, `共 ${entries.length} 条${rest > 0 ? `，另有 ${rest} 条未列出` : ""}`),
  );
}

async function loadOverdue() {
  try {
    fill($("#a-knowledge"), overdueTable(await api("/v1/knowledge/overdue")));
  } catch (error) {
    fill($("#a-knowledge"), h("p", { class: "error" }, `知识库复核清单加载失败：${error.message}`));
  }
}

function kpi(label, value, extra) {
  return h("div", { class: "kpi card" }, h("span", { class: "muted" }, label), h("strong", {}, value), extra ? h("small", { class: "muted" }, extra) : null);
}

export function analystView() {
  async function load() {
    const status = $("#a-status");
    status.textContent = "加载中…";
    const since = $("#a-since").value.trim();
    const until = $("#a-until").value.trim();
    const bad = [since, until].find((value) => value && !/^\d{4}-\d{2}-\d{2}$/.test(value));
    if (bad) {
      status.textContent = `日期 ${bad} 无法识别，请写成 年-月-日，例如 2026-12-01`;
      return;
    }
    const hotspots = Promise.all([loadHotspots(), loadOverdue()]);
    let stats;
    try {
      stats = await api("/v1/stats", {
        query: { since: since ? `${since}T00:00:00+08:00` : null, until: until ? `${until}T23:59:59+08:00` : null },
      });
    } catch (error) {
      status.textContent = `加载失败：${error.message}`;
      await hotspots;
      return;
    }
    status.textContent = `更新于 ${new Date().toLocaleTimeString("zh-CN", { hour12: false, timeZone: "Asia/Shanghai" })}（北京时间）`;
    const open = (stats.by_status.pending || 0) + (stats.by_status.difficult || 0);
    fill(
      $("#a-kpis"),
      kpi("工单总数", String(stats.orders)),
      kpi("待派单", String(open), `其中疑难 ${stats.difficult}`),
      kpi("已派单", String(stats.dispatched)),
      kpi("不予受理", String(stats.refused)),
      kpi("超期", String(stats.overdue)),
      kpi("满意率", percent(stats.satisfaction_rate, 1), `回访 ${stats.visited} 件`),
    );
    fill($("#a-category"), shareTable(stats.calls_by_category));
    fill($("#a-unit"), shareTable(stats.orders_by_unit));
    fill($("#a-district"), shareTable(stats.orders_by_district));
    const satisfaction = [...stats.satisfaction].sort((a, b) => rank(SATISFACTION_ORDER, a.label) - rank(SATISFACTION_ORDER, b.label));
    fill($("#a-satisfaction"), shareTable(satisfaction, { empty: "尚无回访" }));
    fill($("#a-refused"), shareTable(stats.refused_by_reason, { label: (code) => name(SCOPES, code), empty: "无不予受理工单" }));
    fill($("#a-model"), modelTable(stats.model));
    fill($("#a-by-day"), byDayChart(stats.model_by_day));
    fill($("#a-automation"), automationTable(stats.automation));
    fill($("#a-roles"), rolesTable(stats.units_by_role));
    await hotspots;
    $("#a-kpis").title = Object.entries(stats.by_status).map(([k, n]) => `${name(STATUSES, k)} ${n}`).join("，");
  }

  $("#a-reload").addEventListener("click", load);
  return { show: load };
}
