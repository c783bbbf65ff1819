// Sign-in, and the view each role gets: operators take calls, dispatchers route orders, analysts read
// the figures; an admin may switch between all three.

import { api, ApiError, token, whenUnauthorised } from "./api.js";
import { $, fill } from "./dom.js";
import { ROLES } from "./labels.js";
import { analystView } from "./analyst.js";
import { dispatcherView } from "./dispatcher.js";
import { operatorView } from "./operator.js";

const VIEWS_BY_ROLE = {
  operator: ["operator"],
  dispatcher: ["dispatcher", "analyst"],
  analyst: ["analyst"],
  admin: ["dispatcher", "operator", "analyst"],
};
const FACTORIES = { operator: operatorView, dispatcher: dispatcherView, analyst: analystView };
const views = {};
let allowed = [];
let active = null;

function showSignIn(message = "") {
  for (const id of ["view-operator", "view-dispatcher", "view-analyst"]) $(`#${id}`).hidden = true;
  $("#views").hidden = true;
  $("#signout").hidden = true;
  fill($("#who"));
  $("#signin").hidden = false;
  $("#signin-error").textContent = message;
  $("#token").value = "";
  $("#token").focus();
  active = null;
}

function show(name) {
  if (!allowed.includes(name)) name = allowed[0];
  for (const view of ["operator", "dispatcher", "analyst"]) $(`#view-${view}`).hidden = view !== name;
  for (const button of document.querySelectorAll("#views button")) {
    button.hidden = !allowed.includes(button.dataset.view);
    button.classList.toggle("active", button.dataset.view === name);
    button.setAttribute("aria-current", button.dataset.view === name ? "page" : "false");
  }
  if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
  views[name] ??= FACTORIES[name]();
  active = views[name];
  active.show();
}

async function start() {
  let me;
  try {
    me = await api("/v1/me");
  } catch (error) {
    token.clear();
    const message = error instanceof ApiError && error.status === 401 ? "令牌无效或已停用" : error.message;
    showSignIn(message);
    return;
  }
  allowed = VIEWS_BY_ROLE[me.role] || [];
  $("#signin").hidden = true;
  $("#who").textContent = `${me.name}（${ROLES[me.role] || me.role}）`;
  $("#signout").hidden = false;
  $("#views").hidden = allowed.length < 2;
  show(location.hash.slice(1) || allowed[0]);
}

$("#signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $("#token").value.trim();
  if (!value) return;
  token.set(value);
  start();
});

$("#signout").addEventListener("click", () => {
  token.clear();
  location.hash = "";
  location.reload();
});

$("#views").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-view]");
  if (button) show(button.dataset.view);
});

window.addEventListener("hashchange", () => {
  if (active && allowed.includes(location.hash.slice(1))) show(location.hash.slice(1));
});

document.addEventListener("keydown", (event) => {
  if (active && active.keydown) active.keydown(event);
});

whenUnauthorised(() => {
  token.clear();
  showSignIn("登录已失效，请重新输入令牌");
});

if (token.get()) start();
else showSignIn();
