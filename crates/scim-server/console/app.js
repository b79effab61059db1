// The SCIM console: a small single-page app over the admin API (/admin/v1).
//
// No framework and no build step. Pages are functions that build DOM nodes with `h`, which sets
// text with textContent only, so nothing the server returns (user names, audit details) is ever
// parsed as HTML. The admin token lives in this tab's sessionStorage and travels as
// `Authorization: Bearer`; closing the tab forgets it.
"use strict";

const API = "/admin/v1";
const TOKEN_KEY = "scim-admin-token";
const TENANT_KEY = "scim-tenant";

// ---- helpers -------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "value") el.value = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(API + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch (e) {
    data = null;
  }
  if (!response.ok) {
    if (response.status === 401 && location.hash !== "#/login") {
      sessionStorage.removeItem(TOKEN_KEY);
      go("login");
    }
    throw new ApiError(response.status, (data && data.detail) || response.statusText);
  }
  return data;
}

function go(page) {
  if (location.hash !== "#/" + page) location.hash = "#/" + page;
  else render();
}

function currentTenant() {
  return sessionStorage.getItem(TENANT_KEY);
}

function tenantPath(rest) {
  return "/tenants/" + encodeURIComponent(currentTenant()) + rest;
}

function badge(kind, text) {
  return h("span", { class: "badge " + kind }, text);
}

function errorBanner(error) {
  return h("div", { class: "banner error", role: "alert" }, error.message || String(error));
}

function query(params) {
  const parts = [];
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") {
      parts.push(encodeURIComponent(key) + "=" + encodeURIComponent(value));
    }
  }
  return parts.length ? "?" + parts.join("&") : "";
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (e) {
    // Older browsers, or a clipboard the page may not use: the selection way.
    const area = h("textarea", { class: "mono" });
    area.value = text;
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (ignored) {
      ok = false;
    }
    area.remove();
    return ok;
  }
}

// A read-only field with a Copy button.
function copyField(id, label, value, secret) {
  const input = h("input", { type: "text", id, readonly: true, value, "aria-label": label, spellcheck: "false" });
  const done = h("span", { class: "copied", hidden: true }, "Copied");
  const button = h(
    "button",
    {
      type: "button",
      id: id + "-copy",
      onclick: async () => {
        input.select();
        const ok = await copyText(value);
        done.textContent = ok ? "Copied" : "Select and copy it yourself";
        done.hidden = false;
      },
    },
    "Copy",
  );
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    h("div", { class: "copy-field" + (secret ? " secret" : "") }, input, button, done),
  );
}

function openDialog(title, body, buttons) {
  const dialog = document.getElementById("dialog");
  dialog.replaceChildren(h("h2", { id: "dialog-title" }, title), body, h("div", { class: "dialog-foot" }, buttons));
  document.getElementById("dialog-backdrop").hidden = false;
}

function closeDialog() {
  document.getElementById("dialog-backdrop").hidden = true;
  document.getElementById("dialog").replaceChildren();
}

function twoStepButton(label, confirmLabel, action, id) {
  const button = h("button", { type: "button", class: "danger small", id }, label);
  let armed = false;
  button.addEventListener("click", async () => {
    if (!armed) {
      armed = true;
      button.textContent = confirmLabel;
      return;
    }
    button.disabled = true;
    await action();
  });
  return button;
}

function fmtDate(text) {
  return text ? text.replace("T", " ").replace(/\.\d+Z$/, " UTC").replace(/Z$/, " UTC") : "";
}

function pager(start, count, total, onMove) {
  const last = Math.min(start + count - 1, total);
  return h(
    "div",
    { class: "pager" },
    h("span", { class: "hint", id: "pager-info" }, total === 0 ? "Nothing found" : `${start}–${last} of ${total}`),
    h(
      "div",
      { class: "row" },
      h("button", { type: "button", class: "small", disabled: start <= 1, onclick: () => onMove(Math.max(1, start - count)) }, "Previous"),
      h("button", { type: "button", class: "small", id: "pager-next", disabled: last >= total, onclick: () => onMove(start + count) }, "Next"),
    ),
  );
}

// ---- shell ---------------------------------------------------------------------------------

const PAGES = {
  login: loginPage,
  settings: settingsPage,
  tokens: tokensPage,
  "access-keys": accessKeysPage,
  users: usersPage,
  groups: groupsPage,
  audit: auditPage,
  "access-control": accessControlPage,
};

let tenantsCache = [];

async function loadTenants() {
  const data = await api("GET", "/tenants");
  tenantsCache = data.tenants;
  const ids = tenantsCache.map((t) => t.tenant_id);
  if (!ids.includes(currentTenant())) {
    if (ids.length) sessionStorage.setItem(TENANT_KEY, ids[0]);
    else sessionStorage.removeItem(TENANT_KEY);
  }
  const select = document.getElementById("tenant-select");
  select.replaceChildren(
    ...tenantsCache.map((t) =>
      h("option", { value: t.tenant_id, selected: t.tenant_id === currentTenant() }, (t.name || "unnamed") + " · " + t.tenant_id.slice(0, 8)),
    ),
  );
  select.disabled = tenantsCache.length === 0;
  return tenantsCache;
}

let renderSerial = 0;

async function render() {
  const serial = ++renderSerial;
  const page = (location.hash.replace(/^#\//, "") || "settings").split("?")[0];
  const signedIn = !!sessionStorage.getItem(TOKEN_KEY);
  const view = document.getElementById("view");
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("session").hidden = !signedIn;
  if (!signedIn && page !== "login") {
    go("login");
    return;
  }
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.page === page);
  const builder = PAGES[page] || settingsPage;
  view.replaceChildren(h("p", { class: "hint" }, "Loading…"));
  try {
    if (signedIn) await loadTenants();
    const content = await builder();
    if (serial !== renderSerial) return;
    view.replaceChildren(content);
    document.body.dataset.page = page;
  } catch (error) {
    if (serial !== renderSerial) return;
    view.replaceChildren(errorBanner(error));
  }
}

function needTenant() {
  if (currentTenant()) return null;
  return h(
    "div",
    { class: "panel" },
    h("h2", {}, "No directory yet"),
    h("p", {}, "Enable automatic provisioning on the ", h("a", { href: "#/settings" }, "Settings"), " page first."),
  );
}

// ---- login ---------------------------------------------------------------------------------

async function loginPage() {
  const input = h("input", { type: "password", id: "admin-token", class: "wide", autocomplete: "off", spellcheck: "false" });
  const message = h("p", { class: "error-text", id: "login-error", role: "alert" });
  const form = h(
    "form",
    {
      id: "login-form",
      onsubmit: async (event) => {
        event.preventDefault();
        const token = input.value.trim();
        if (!token) {
          message.textContent = "Enter an admin token.";
          return;
        }
        sessionStorage.setItem(TOKEN_KEY, token);
        try {
          await api("GET", "/session");
          go("settings");
        } catch (error) {
          sessionStorage.removeItem(TOKEN_KEY);
          message.textContent = error.status === 401 ? "That admin token was refused." : error.message;
        }
      },
    },
    h("div", { class: "field" }, h("label", { for: "admin-token" }, "Admin token"), input),
    message,
    h("button", { type: "submit", class: "primary", id: "sign-in" }, "Sign in"),
  );
  return h(
    "div",
    { class: "panel login" },
    h("h1", {}, "Sign in to the SCIM console"),
    h(
      "p",
      { class: "hint" },
      "Use an admin token from ",
      h("code", {}, "scim-server admin token create"),
      " (or the one ",
      h("code", {}, "cargo xtask serve"),
      " printed). A SCIM access token does not work here.",
    ),
    form,
  );
}

// ---- settings: enable automatic provisioning -----------------------------------------------

function showProvisioningDialog(tenant) {
  openDialog(
    "Inbound automatic provisioning",
    h(
      "div",
      {},
      h(
        "div",
        { class: "banner info" },
        "Copy the SCIM endpoint and the access token now and paste them into your identity provider. ",
        h("strong", {}, "The access token is shown only once."),
      ),
      copyField("scim-endpoint", "SCIM endpoint", tenant.scim_endpoint),
      copyField("access-token", "Access token", tenant.token.token, true),
      h("p", { class: "hint" }, `Token ${tenant.token.token_id} expires ${fmtDate(tenant.token.expires_at)}.`),
    ),
    h("button", { type: "button", class: "primary", id: "dialog-close", onclick: () => { closeDialog(); render(); } }, "Close"),
  );
}

async function settingsPage() {
  const tenant = tenantsCache.find((t) => t.tenant_id === currentTenant());
  const name = h("input", { type: "text", id: "new-tenant-name", placeholder: "e.g. production", maxlength: "128" });
  const profile = h(
    "select",
    { id: "new-tenant-profile" },
    h("option", { value: "identity-center" }, "identity-center (AWS IAM Identity Center behaviour)"),
    h("option", { value: "rfc" }, "rfc (RFC 7643/7644 in full)"),
  );
  const enableError = h("div", {});
  const enable = h(
    "button",
    {
      type: "button",
      class: "primary",
      id: "enable-provisioning",
      onclick: async () => {
        enable.disabled = true;
        try {
          const created = await api("POST", "/tenants", { name: name.value.trim() || null, profile: profile.value });
          sessionStorage.setItem(TENANT_KEY, created.tenant_id);
          await loadTenants();
          showProvisioningDialog(created);
        } catch (error) {
          enableError.replaceChildren(errorBanner(error));
          enable.disabled = false;
        }
      },
    },
    "Enable",
  );
  const enablePanel = h(
    "div",
    { class: "panel", id: "enable-panel" },
    h("div", { class: "panel-head" }, h("h2", {}, tenant ? "Add another directory" : "Automatic provisioning")),
    h(
      "p",
      { class: "hint" },
      "Enabling automatic provisioning creates a directory with its own SCIM endpoint and a first access token, ",
      "which your identity provider (Okta, Entra ID, …) uses to push users and groups.",
    ),
    h("div", { class: "row" }, h("label", { for: "new-tenant-name" }, "Name"), name, h("label", { for: "new-tenant-profile" }, "Profile"), profile, enable),
    enableError,
  );
  if (!tenant) return h("div", {}, h("h1", {}, "Settings"), enablePanel);

  const profileSelect = h(
    "select",
    { id: "tenant-profile" },
    ["identity-center", "rfc"].map((p) => h("option", { value: p, selected: p === tenant.profile }, p)),
  );
  const profileNote = h("span", { class: "hint" });
  profileSelect.addEventListener("change", async () => {
    try {
      await api("PATCH", tenantPath(""), { profile: profileSelect.value });
      profileNote.textContent = "Saved.";
    } catch (error) {
      profileNote.textContent = error.message;
    }
  });
  const deleteButton = twoStepButton("Delete directory", "Really delete it, with all its users, groups and tokens?", async () => {
    await api("DELETE", tenantPath(""));
    sessionStorage.removeItem(TENANT_KEY);
    render();
  }, "delete-tenant");
  return h(
    "div",
    {},
    h("h1", {}, "Settings"),
    h(
      "div",
      { class: "panel", id: "provisioning-panel" },
      h("div", { class: "panel-head" }, h("h2", {}, "Automatic provisioning"), badge("ok", "Enabled")),
      copyField("tenant-endpoint", "SCIM endpoint", tenant.scim_endpoint),
      h(
        "dl",
        { class: "props" },
        h("dt", {}, "Directory"), h("dd", {}, (tenant.name || "unnamed") + " (" + tenant.tenant_id + ")"),
        h("dt", {}, "Profile"), h("dd", {}, profileSelect, " ", profileNote),
        h("dt", {}, "Created"), h("dd", {}, fmtDate(tenant.created_at)),
        h("dt", {}, "Users"), h("dd", { id: "tenant-users" }, `${tenant.users} of at most ${tenant.max_users}`),
        h("dt", {}, "Groups"), h("dd", {}, `${tenant.groups} of at most ${tenant.max_groups}`),
        h("dt", {}, "Access tokens"), h("dd", {}, h("a", { href: "#/tokens" }, "Manage access tokens")),
        h("dt", {}, "Identity store ID"), h("dd", { class: "mono", id: "identity-store-id" }, tenant.identity_store_id),
        h("dt", {}, "Instance ARN"), h("dd", { class: "mono", id: "instance-arn" }, tenant.instance_arn),
        h("dt", {}, "AWS access keys"), h("dd", {}, h("a", { href: "#/access-keys" }, "Manage access keys")),
      ),
      h("p", {}, deleteButton),
    ),
    enablePanel,
  );
}

// ---- access tokens -------------------------------------------------------------------------

async function tokensPage() {
  const missing = needTenant();
  if (missing) return missing;
  const data = await api("GET", tenantPath("/tokens"));
  const status = { active: badge("ok", "Active"), expiring: badge("warn", "Expiring soon"), expired: badge("bad", "Expired") };
  const banners = data.tokens
    .filter((t) => t.status !== "active")
    .map((t) =>
      h(
        "div",
        { class: "banner " + (t.status === "expired" ? "error" : "warn"), role: "alert", "data-token": t.token_id },
        t.status === "expired"
          ? `Access token ${t.token_id} has expired. Generate a new token, configure it in your identity provider, then delete the expired one.`
          : `Access token ${t.token_id} expires in ${t.days_left} days (${fmtDate(t.expires_at)}). ` +
              "Generate a new token, configure it in your identity provider, test it, then delete the old one.",
      ),
    );
  const full = data.tokens.length >= data.max_tokens;
  const generateError = h("div", {});
  const generate = h(
    "button",
    {
      type: "button",
      class: "primary",
      id: "generate-token",
      disabled: full,
      onclick: async () => {
        generate.disabled = true;
        try {
          const token = await api("POST", tenantPath("/tokens"));
          openDialog(
            "Access token generated",
            h(
              "div",
              {},
              h("div", { class: "banner info" }, "Copy the token now: ", h("strong", {}, "it is shown only once.")),
              copyField("new-access-token", "Access token", token.token, true),
              h("p", { class: "hint" }, `Token ${token.token_id} expires ${fmtDate(token.expires_at)}.`),
            ),
            h("button", { type: "button", class: "primary", id: "dialog-close", onclick: () => { closeDialog(); render(); } }, "Close"),
          );
        } catch (error) {
          generateError.replaceChildren(errorBanner(error));
        }
      },
    },
    "Generate token",
  );
  const rows = data.tokens.map((t) =>
    h(
      "tr",
      { "data-token": t.token_id },
      h("td", { class: "mono" }, t.token_id),
      h("td", {}, fmtDate(t.created_at)),
      h("td", {}, fmtDate(t.expires_at)),
      h("td", {}, status[t.status] || t.status, t.status === "expired" ? "" : ` ${t.days_left} days left`),
      h(
        "td",
        {},
        twoStepButton("Delete", "Confirm delete", async () => {
          await api("DELETE", tenantPath("/tokens/" + encodeURIComponent(t.token_id)));
          render();
        }, "delete-" + t.token_id),
      ),
    ),
  );
  return h(
    "div",
    {},
    h("h1", {}, "Access tokens"),
    banners,
    h(
      "div",
      { class: "panel" },
      h("div", { class: "panel-head" }, h("h2", {}, `Access tokens (${data.tokens.length} of ${data.max_tokens})`), generate),
      h(
        "p",
        { class: "hint" },
        `A directory holds at most ${data.max_tokens} access tokens, expired ones included; each is valid for one year. `,
        `Tokens are flagged ${data.warning_days} days before they expire. Deleting a token stops it at once.`,
      ),
      full ? h("p", { class: "hint", id: "token-limit" }, "To generate another token, delete one first.") : null,
      generateError,
      h(
        "table",
        { id: "tokens-table" },
        h("thead", {}, h("tr", {}, h("th", {}, "Token ID"), h("th", {}, "Created"), h("th", {}, "Expires"), h("th", {}, "Status"), h("th", {}, ""))),
        h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: "5", class: "hint" }, "No access token: provisioning is stopped."))),
      ),
    ),
  );
}

// ---- AWS access keys -----------------------------------------------------------------------

async function accessKeysPage() {
  const missing = needTenant();
  if (missing) return missing;
  const data = await api("GET", tenantPath("/access-keys"));
  const full = data.access_keys.length >= data.max_access_keys;
  const createError = h("div", {});
  const create = h(
    "button",
    {
      type: "button",
      class: "primary",
      id: "create-access-key",
      disabled: full,
      onclick: async () => {
        create.disabled = true;
        try {
          const key = await api("POST", tenantPath("/access-keys"));
          openDialog(
            "Access key created",
            h(
              "div",
              {},
              h("div", { class: "banner info" }, "Copy the secret now: ", h("strong", {}, "it is shown only once.")),
              copyField("new-access-key-id", "Access key ID", key.access_key_id),
              copyField("new-secret-access-key", "Secret access key", key.secret_access_key, true),
              copyField("new-key-identity-store-id", "Identity store ID", key.identity_store_id),
              h("p", { class: "hint" }, `Sign requests for region ${key.region}.`),
            ),
            h("button", { type: "button", class: "primary", id: "dialog-close", onclick: () => { closeDialog(); render(); } }, "Close"),
          );
        } catch (error) {
          createError.replaceChildren(errorBanner(error));
        }
      },
    },
    "Create access key",
  );
  const rows = data.access_keys.map((k) =>
    h(
      "tr",
      { "data-key": k.access_key_id },
      h("td", { class: "mono" }, k.access_key_id),
      h("td", {}, fmtDate(k.created_at)),
      h(
        "td",
        {},
        twoStepButton("Delete", "Confirm delete", async () => {
          await api("DELETE", tenantPath("/access-keys/" + encodeURIComponent(k.access_key_id)));
          render();
        }, "delete-" + k.access_key_id),
      ),
    ),
  );
  return h(
    "div",
    {},
    h("h1", {}, "AWS access keys"),
    h(
      "div",
      { class: "panel" },
      h("div", { class: "panel-head" }, h("h2", {}, `Access keys (${data.access_keys.length} of ${data.max_access_keys})`), create),
      h(
        "p",
        { class: "hint" },
        "The AWS SDKs and CLI read and manage this directory through the Identity Store API on this server, ",
        "signing with an access key: ",
        h("code", {}, `aws identitystore list-users --identity-store-id ${data.identity_store_id} --endpoint-url ${location.origin}`),
        ". Deleting a key stops it at once.",
      ),
      h(
        "dl",
        { class: "props" },
        h("dt", {}, "Identity store ID"), h("dd", { class: "mono" }, data.identity_store_id),
        h("dt", {}, "Instance ARN"), h("dd", { class: "mono" }, data.instance_arn),
        h("dt", {}, "Region"), h("dd", {}, data.region),
      ),
      full ? h("p", { class: "hint", id: "access-key-limit" }, "To create another key, delete one first.") : null,
      createError,
      h(
        "table",
        { id: "access-keys-table" },
        h("thead", {}, h("tr", {}, h("th", {}, "Access key ID"), h("th", {}, "Created"), h("th", {}, ""))),
        h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: "3", class: "hint" }, "No access key."))),
      ),
    ),
  );
}

// ---- users and groups ----------------------------------------------------------------------

function primaryEmail(user) {
  const emails = user.emails || [];
  const primary = emails.find((e) => e.primary) || emails[0];
  return primary ? primary.value : "";
}

function attributeRows(resource) {
  const rows = [];
  const walk = (prefix, value) => {
    if (value === null || value === undefined) return;
    if (Array.isArray(value)) {
      value.forEach((item, i) => walk(`${prefix}[${i}]`, item));
    } else if (typeof value === "object") {
      for (const [key, inner] of Object.entries(value)) walk(prefix ? `${prefix}.${key}` : key, inner);
    } else {
      rows.push(h("dt", {}, prefix), h("dd", {}, String(value)));
    }
  };
  walk("", resource);
  return h("dl", { class: "props" }, rows);
}

function searchBar(id, placeholder, initial, onSearch) {
  const input = h("input", { type: "search", id, placeholder, value: initial || "", class: "grow" });
  return h(
    "form",
    { class: "row", onsubmit: (e) => { e.preventDefault(); onSearch(input.value.trim()); } },
    input,
    h("button", { type: "submit", id: id + "-go" }, "Search"),
  );
}

async function tagsPanel(userId) {
  const panel = h("div", { id: "user-tags" });
  try {
    const data = await api("GET", tenantPath("/users/" + encodeURIComponent(userId) + "/access-control"));
    const rows = data.tags.map((t) => h("tr", {}, h("td", {}, t.key), h("td", { class: "mono" }, t.value)));
    const omitted = data.omitted.map((t) => h("tr", {}, h("td", {}, t.key), h("td", { class: "hint" }, "omitted: " + t.reason)));
    panel.append(
      ...[
      h("h2", {}, "Attributes for access control"),
      rows.length + omitted.length
        ? h("table", { class: "tags" }, h("tbody", {}, rows, omitted))
        : h("p", { class: "hint" }, "No attribute is configured. See ", h("a", { href: "#/access-control" }, "Attributes for access control"), "."),
      data.saml ? h("div", {}, h("h3", {}, "SAML assertion fragment"), h("pre", { class: "xml", id: "saml-fragment" }, data.saml)) : null,
      ].filter(Boolean),
    );
  } catch (error) {
    panel.append(errorBanner(error));
  }
  return panel;
}

async function usersPage() {
  const missing = needTenant();
  if (missing) return missing;
  const state = { q: "", start: 1, count: 25, selected: null };
  const list = h("div", { id: "users-list" });
  const detail = h("div", { class: "panel", id: "user-detail", hidden: true });
  async function showDetail(id) {
    state.selected = id;
    detail.hidden = false;
    detail.replaceChildren(h("p", { class: "hint" }, "Loading…"));
    try {
      const data = await api("GET", tenantPath("/users/" + encodeURIComponent(id)));
      const groups = data.groups.length
        ? h("ul", {}, data.groups.map((g) => h("li", {}, (g.display || g.id) + (g.direct ? "" : " (through a nested group)"))))
        : h("p", { class: "hint" }, "Member of no group.");
      detail.replaceChildren(
        h("div", { class: "panel-head" }, h("h2", {}, data.user.userName), h("button", { type: "button", class: "small", onclick: () => { detail.hidden = true; } }, "Close")),
        h("div", { class: "split" }, h("div", {}, attributeRows(data.user)), h("div", {}, h("h2", {}, "Groups"), groups, await tagsPanel(id))),
      );
    } catch (error) {
      detail.replaceChildren(errorBanner(error));
    }
  }
  async function load() {
    list.replaceChildren(h("p", { class: "hint" }, "Loading…"));
    try {
      const data = await api("GET", tenantPath("/users" + query({ q: state.q, startIndex: state.start, count: state.count })));
      const rows = data.Resources.map((u) =>
        h(
          "tr",
          { class: "clickable", "data-id": u.id, onclick: () => showDetail(u.id) },
          h("td", {}, u.userName),
          h("td", {}, u.displayName || ""),
          h("td", {}, primaryEmail(u)),
          h("td", {}, u.active === false ? badge("neutral", "Disabled") : badge("ok", "Enabled")),
          h("td", {}, fmtDate(u.meta && u.meta.created)),
        ),
      );
      list.replaceChildren(
        h(
          "table",
          { id: "users-table" },
          h("thead", {}, h("tr", {}, h("th", {}, "Username"), h("th", {}, "Display name"), h("th", {}, "Primary email"), h("th", {}, "Status"), h("th", {}, "Created"))),
          h("tbody", {}, rows),
        ),
        pager(state.start, state.count, data.totalResults, (start) => { state.start = start; load(); }),
      );
    } catch (error) {
      list.replaceChildren(errorBanner(error));
    }
  }
  await load();
  return h(
    "div",
    {},
    h("h1", {}, "Users"),
    h(
      "div",
      { class: "panel" },
      h("p", { class: "hint" }, "Users provisioned by your identity provider. They are managed there: this view is read-only."),
      searchBar("user-search", "Search by username, display name, email, external id or id", "", (q) => { state.q = q; state.start = 1; load(); }),
      list,
    ),
    detail,
  );
}

async function groupsPage() {
  const missing = needTenant();
  if (missing) return missing;
  const state = { q: "", start: 1, count: 25 };
  const list = h("div", { id: "groups-list" });
  const detail = h("div", { class: "panel", id: "group-detail", hidden: true });
  async function showMembers(id, start) {
    detail.hidden = false;
    try {
      const data = await api("GET", tenantPath("/groups/" + encodeURIComponent(id) + query({ startIndex: start, count: 50 })));
      const members = data.members;
      const rows = members.Resources.map((m) => h("tr", {}, h("td", {}, m.display || m.id), h("td", {}, m.type), h("td", { class: "mono" }, m.id)));
      detail.replaceChildren(
        h("div", { class: "panel-head" }, h("h2", {}, "Members of " + data.group.displayName), h("button", { type: "button", class: "small", onclick: () => { detail.hidden = true; } }, "Close")),
        h("table", { id: "members-table" }, h("thead", {}, h("tr", {}, h("th", {}, "Member"), h("th", {}, "Type"), h("th", {}, "ID"))), h("tbody", {}, rows)),
        pager(members.startIndex, 50, members.totalResults, (s) => showMembers(id, s)),
      );
    } catch (error) {
      detail.replaceChildren(errorBanner(error));
    }
  }
  async function load() {
    try {
      const data = await api("GET", tenantPath("/groups" + query({ q: state.q, startIndex: state.start, count: state.count })));
      const rows = data.Resources.map((g) =>
        h(
          "tr",
          { class: "clickable", "data-id": g.id, onclick: () => showMembers(g.id, 1) },
          h("td", {}, g.displayName),
          h("td", { class: "mono" }, g.externalId || ""),
          h("td", {}, fmtDate(g.meta && g.meta.created)),
        ),
      );
      list.replaceChildren(
        h("table", { id: "groups-table" }, h("thead", {}, h("tr", {}, h("th", {}, "Group name"), h("th", {}, "External ID"), h("th", {}, "Created"))), h("tbody", {}, rows)),
        pager(state.start, state.count, data.totalResults, (start) => { state.start = start; load(); }),
      );
    } catch (error) {
      list.replaceChildren(errorBanner(error));
    }
  }
  await load();
  return h(
    "div",
    {},
    h("h1", {}, "Groups"),
    h(
      "div",
      { class: "panel" },
      h("p", { class: "hint" }, "Groups pushed by your identity provider. Choose a group to see its members."),
      searchBar("group-search", "Search by group name, external id or id", "", (q) => { state.q = q; state.start = 1; load(); }),
      list,
    ),
    detail,
  );
}

// ---- audit log -----------------------------------------------------------------------------

const ACTIONS = ["CreateUser", "GetUser", "ListUsers", "PutUser", "PatchUser", "DeleteUser", "CreateGroup", "GetGroup", "ListGroups", "PutGroup", "PatchGroup", "DeleteGroup"];

async function auditPage() {
  const missing = needTenant();
  if (missing) return missing;
  const outcome = h(
    "select",
    { id: "audit-outcome" },
    h("option", { value: "all" }, "All requests"),
    h("option", { value: "rejected" }, "Rejected only"),
    h("option", { value: "succeeded" }, "Succeeded only"),
  );
  const action = h("select", { id: "audit-action" }, h("option", { value: "" }, "Any action"), ACTIONS.map((a) => h("option", { value: a }, a)));
  const resource = h("input", { type: "search", id: "audit-resource", placeholder: "Resource id" });
  const body = h("tbody", {});
  const more = h("button", { type: "button", id: "audit-more", hidden: true }, "Load more");
  const status = h("p", { class: "hint", id: "audit-status" });
  let before = null;
  async function load(reset) {
    if (reset) {
      before = null;
      body.replaceChildren();
    }
    try {
      const data = await api("GET", tenantPath("/audit" + query({ outcome: outcome.value, action: action.value, resource: resource.value.trim(), before, count: 50 })));
      for (const e of data.entries) {
        const kind = e.status >= 400 ? "bad" : "ok";
        body.append(
          h(
            "tr",
            { "data-status": e.status },
            h("td", {}, fmtDate(e.at)),
            h("td", {}, e.action),
            h("td", {}, badge(kind, String(e.status))),
            h("td", { class: "mono" }, e.resource_id || ""),
            h("td", { class: "detail" }, e.detail || ""),
            h("td", { class: "mono" }, e.request_id),
          ),
        );
      }
      before = data.next_before;
      more.hidden = before === null;
      status.textContent = body.children.length ? "" : "No matching entry.";
    } catch (error) {
      status.replaceChildren(errorBanner(error));
    }
  }
  more.addEventListener("click", () => load(false));
  for (const control of [outcome, action]) control.addEventListener("change", () => load(true));
  const form = h(
    "form",
    { class: "row", id: "audit-filters", onsubmit: (e) => { e.preventDefault(); load(true); } },
    outcome, action, resource, h("button", { type: "submit", id: "audit-apply" }, "Apply"),
  );
  await load(true);
  return h(
    "div",
    {},
    h("h1", {}, "Audit log"),
    h(
      "div",
      { class: "panel" },
      h(
        "p",
        { class: "hint" },
        "Every SCIM write and every rejected request, newest first, with the specific reason the identity-center profile hides from the client.",
      ),
      form,
      h(
        "table",
        { id: "audit-table" },
        h("thead", {}, h("tr", {}, h("th", {}, "Time"), h("th", {}, "Action"), h("th", {}, "Status"), h("th", {}, "Resource"), h("th", {}, "Reason"), h("th", {}, "Request id"))),
        body,
      ),
      status,
      more,
    ),
  );
}

// ---- attributes for access control ---------------------------------------------------------

async function accessControlPage() {
  const missing = needTenant();
  if (missing) return missing;
  const data = await api("GET", tenantPath("/access-control"));
  const rows = h("div", { id: "abac-rows" });
  const message = h("div", { id: "abac-message" });
  const datalist = h("datalist", { id: "abac-sources" }, data.sources.map((s) => h("option", { value: s })));
  const add = h("button", { type: "button", id: "abac-add" }, "Add attribute");
  function refreshAdd() {
    add.disabled = rows.children.length >= data.max_attributes;
  }
  function addRow(key, value) {
    const keyInput = h("input", { type: "text", class: "abac-key", placeholder: "Key, e.g. CostCenter", value: key || "", maxlength: "128", "aria-label": "Key" });
    const valueInput = h("input", { type: "text", class: "abac-value mono", list: "abac-sources", placeholder: "${path:enterprise.costCenter}", value: value || "", "aria-label": "Value" });
    const row = h("div", { class: "abac-row" }, keyInput, valueInput, h("button", { type: "button", class: "small danger", onclick: () => { row.remove(); refreshAdd(); } }, "Remove"));
    rows.append(row);
    refreshAdd();
    return row;
  }
  for (const a of data.attributes) addRow(a.key, a.value);
  add.addEventListener("click", () => addRow("", "").querySelector("input").focus());
  const save = h(
    "button",
    {
      type: "button",
      class: "primary",
      id: "abac-save",
      onclick: async () => {
        const attributes = [...rows.children].map((row) => ({
          key: row.querySelector(".abac-key").value.trim(),
          value: row.querySelector(".abac-value").value.trim(),
        }));
        try {
          await api("PUT", tenantPath("/access-control"), { attributes });
          message.replaceChildren(h("div", { class: "banner ok", role: "status" }, `Saved ${attributes.length} attribute(s).`));
        } catch (error) {
          message.replaceChildren(errorBanner(error));
        }
      },
    },
    "Save changes",
  );
  const previewInput = h("input", { type: "search", id: "abac-preview-user", placeholder: "Username, email or id" });
  const preview = h("div", { id: "abac-preview" });
  const previewForm = h(
    "form",
    {
      class: "row",
      onsubmit: async (e) => {
        e.preventDefault();
        preview.replaceChildren();
        try {
          const found = await api("GET", tenantPath("/users" + query({ q: previewInput.value.trim(), count: 1 })));
          if (!found.Resources.length) {
            preview.replaceChildren(h("p", { class: "hint" }, "No such user."));
            return;
          }
          const user = found.Resources[0];
          preview.replaceChildren(h("p", {}, "Tags of ", h("strong", {}, user.userName), ":"), await tagsPanel(user.id));
        } catch (error) {
          preview.replaceChildren(errorBanner(error));
        }
      },
    },
    previewInput,
    h("button", { type: "submit", id: "abac-preview-go" }, "Preview"),
  );
  return h(
    "div",
    {},
    h("h1", {}, "Attributes for access control"),
    h(
      "div",
      { class: "panel" },
      h("p", { class: "hint" },
        "Each attribute becomes a session tag of the user's AWS sessions, sent in the SAML assertion as ",
        h("code", {}, "AccessControl:{Key}"),
        ` and usable in policies as aws:PrincipalTag/{Key}. At most ${data.max_attributes} attributes; `,
        "a key has 1–128 letters, digits, spaces or _.:/=+-@; a value is one source such as ",
        h("code", {}, "${path:enterprise.department}"),
        ". A tag whose source has no value for a user is left out."),
      h("div", { class: "abac-head" }, h("span", {}, "Key"), h("span", {}, "Value (source)"), h("span", {}, "")),
      rows,
      datalist,
      h("div", { class: "row" }, add, save),
      message,
    ),
    h("div", { class: "panel" }, h("h2", {}, "Preview a user's tags"), previewForm, preview),
  );
}

// ---- start ---------------------------------------------------------------------------------

window.addEventListener("hashchange", render);
document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(TENANT_KEY);
    go("login");
  });
  document.getElementById("tenant-select").addEventListener("change", (e) => {
    sessionStorage.setItem(TENANT_KEY, e.target.value);
    render();
  });
  document.getElementById("dialog-backdrop").addEventListener("keydown", (e) => {
    if (e.key === "Escape") document.getElementById("dialog-close")?.click();
  });
  render();
});
