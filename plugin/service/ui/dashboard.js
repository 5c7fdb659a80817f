"use strict";
// entityscan fleet dashboard: read-only views over the service's API.  The token lives in
// sessionStorage; every value from the API is placed with textContent (never as HTML).
// Views follow the URL fragment:
//   #/sites                                  sites at a glance
//   #/site/NAME?verdict=flagged&maker=M&q=T  a site's devices (filters), what changed
//   #/device/NAME?key=KEY                    a device: evidence trail, matches, history
//   #/findings?site=NAME&min_verdict=review  the findings queue with decisions
(function () {
  var TOKEN_KEY = "entityscan.token";
  var view = document.getElementById("view");
  var status = document.getElementById("status");
  var login = document.getElementById("login");
  var forget = document.getElementById("forget");

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") { node.textContent = attrs[name]; }
      else if (name === "cls") { node.className = attrs[name]; }
      else { node.setAttribute(name, attrs[name]); }
    });
    (children || []).forEach(function (child) {
      if (child !== null && child !== undefined) {
        node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
      }
    });
    return node;
  }
  function link(text, href) { return el("a", { href: href, text: text }); }
  function badge(verdict) { return el("span", { cls: "badge " + verdict, text: verdict }); }
  function when(value) {
    if (!value) { return "—"; }
    var d = new Date(value);
    return isNaN(d) ? String(value) : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }
  function table(id, headers, rows) {
    var head = el("thead", {}, [el("tr", {}, headers.map(function (h) {
      return el("th", { scope: "col", text: h });
    }))]);
    var body = el("tbody", {}, rows.map(function (cells) {
      return el("tr", {}, cells.map(function (c) {
        return el("td", {}, [c === null || c === undefined ? "" : c]);
      }));
    }));
    return el("table", { id: id, cls: "records" }, [head, body]);
  }
  function q(params) {
    var search = new URLSearchParams();
    Object.keys(params).forEach(function (k) { if (params[k]) { search.set(k, params[k]); } });
    var text = search.toString();
    return text ? "?" + text : "";
  }
  function siteHref(site, params) { return "#/site/" + encodeURIComponent(site) + q(params || {}); }
  function deviceHref(site, key) { return "#/device/" + encodeURIComponent(site) + q({ key: key }); }

  function token() { return window.sessionStorage.getItem(TOKEN_KEY); }

  function api(path) {
    return window.fetch(path, { headers: { Authorization: "Bearer " + token() },
                                credentials: "omit", cache: "no-store" })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          if (response.status === 401 || response.status === 403) {
            var problem = new Error(body.error || "the token was refused");
            problem.auth = true;
            throw problem;
          }
          if (!response.ok) { throw new Error(body.error || ("HTTP " + response.status)); }
          return body;
        });
      });
  }

  function showLogin(message) {
    login.hidden = false;
    forget.hidden = true;
    view.textContent = "";
    document.getElementById("login-error").textContent = message || "";
    document.body.dataset.view = "login";
    document.getElementById("token").focus();
  }

  function fail(error) {
    if (error.auth) { window.sessionStorage.removeItem(TOKEN_KEY); showLogin(error.message); return; }
    status.textContent = "Error: " + error.message;
    document.body.dataset.view = "error";
  }

  // --- sites at a glance --------------------------------------------------------------
  function sitesView(params) {
    return api("/v1/sites").then(function (sites) {
      var flagged = 0, review = 0, stale = 0, devices = 0;
      sites.forEach(function (s) { flagged += s.flagged; review += s.review; devices += s.devices; if (s.stale) { stale += 1; } });
      var only = params.get("only") || "";
      var text = (params.get("q") || "").toLowerCase();
      var shown = sites.filter(function (s) {
        return (!text || s.site.indexOf(text) >= 0) &&
          (only !== "flagged" || s.flagged > 0) && (only !== "stale" || s.stale) &&
          (only !== "review" || s.review > 0);
      });
      var cards = el("div", { cls: "cards", id: "summary" }, [
        el("a", { cls: "card total", href: "#/sites" }, [el("span", { cls: "num", id: "count-sites", text: String(sites.length) }), el("span", { cls: "lbl", text: "sites" })]),
        el("a", { cls: "card flagged", href: "#/sites?only=flagged" }, [el("span", { cls: "num", id: "count-flagged", text: String(flagged) }), el("span", { cls: "lbl", text: "flagged devices" })]),
        el("a", { cls: "card review", href: "#/sites?only=review" }, [el("span", { cls: "num", id: "count-review", text: String(review) }), el("span", { cls: "lbl", text: "to review" })]),
        el("a", { cls: "card stale", href: "#/sites?only=stale" }, [el("span", { cls: "num", id: "count-stale", text: String(stale) }), el("span", { cls: "lbl", text: "stale sites" })]),
        el("div", { cls: "card neutral" }, [el("span", { cls: "num", text: String(devices) }), el("span", { cls: "lbl", text: "devices" })])
      ]);
      var filter = el("form", { cls: "controls", id: "site-filter" }, [
        el("label", {}, ["Site ", el("input", { type: "search", id: "f-site-q", value: params.get("q") || "" })]),
        el("label", {}, ["Show ", select("f-only", [["", "all"], ["flagged", "with flagged devices"], ["review", "with devices to review"], ["stale", "stale"]], only)]),
        el("output", { id: "shown", text: "Showing " + shown.length + " of " + sites.length })
      ]);
      filter.addEventListener("submit", function (e) { e.preventDefault(); });
      function apply() {
        window.location.hash = "#/sites" + q({ q: document.getElementById("f-site-q").value.trim().toLowerCase(), only: document.getElementById("f-only").value });
      }
      filter.addEventListener("change", apply);
      var rows = shown.map(function (s) {
        return [link(s.site, siteHref(s.site, s.flagged ? { verdict: "flagged" } : {})), String(s.devices),
                s.flagged ? badge("flagged") : "0", String(s.review), String(s.clear),
                when(s.last_scan_at), s.stale ? el("span", { cls: "badge stale", text: "stale" }) : "current"];
      });
      rows.forEach(function (r, i) { if (shown[i].flagged) { r[2] = el("span", {}, [badge("flagged"), " " + shown[i].flagged]); } });
      view.replaceChildren(el("h2", { text: "Sites at a glance" }), cards, filter,
                           table("sites", ["Site", "Devices", "Flagged", "Review", "Clear", "Last scan", "Freshness"], rows));
      return "sites";
    });
  }

  function select(id, options, current) {
    return el("select", { id: id }, options.map(function (o) {
      var option = el("option", { value: o[0], text: o[1] });
      if (o[0] === current) { option.selected = true; }
      return option;
    }));
  }

  // --- a site's devices and what changed ---------------------------------------------
  function siteView(site, params) {
    var filters = { site: site, verdict: params.get("verdict") || "", maker: params.get("maker") || "", q: params.get("q") || "", limit: "1000" };
    return Promise.all([api("/v1/devices" + q(filters)), api("/v1/devices" + q({ site: site, limit: "1000" })),
                        api("/v1/scans" + q({ site: site, limit: "1" }))]).then(function (found) {
      var devices = found[0], all = found[1], latest = found[2][0];
      var makers = Array.from(new Set(all.map(function (d) { return d.maker; }).filter(Boolean))).sort();
      var form = el("form", { cls: "controls", id: "controls" }, [
        el("label", {}, ["Verdict ", select("f-verdict", [["", "all"], ["flagged", "flagged"], ["review", "review"], ["clear", "clear"]], filters.verdict)]),
        el("label", {}, ["Maker ", select("f-maker", [["", "all"]].concat(makers.map(function (m) { return [m, m]; })), filters.maker)]),
        el("label", {}, ["Search ", el("input", { type: "search", id: "f-q", value: filters.q, placeholder: "key, brand, model" })]),
        el("output", { id: "shown", text: "Showing " + devices.length + " of " + all.length })
      ]);
      function apply() {
        window.location.hash = siteHref(site, { verdict: document.getElementById("f-verdict").value, maker: document.getElementById("f-maker").value, q: document.getElementById("f-q").value.trim() });
      }
      form.addEventListener("change", apply);
      form.addEventListener("submit", function (e) { e.preventDefault(); apply(); });
      var rows = devices.map(function (d) {
        return [badge(d.verdict), link(d.key, deviceHref(site, d.key)), (d.addresses || []).join(", "),
                d.brand || "", d.maker || "", d.model || "", d.decision, when(d.last_seen)];
      });
      var parts = [el("p", { cls: "crumbs" }, [link("Sites", "#/sites"), " › " + site]),
                   el("h2", { text: "Site " + site }), form,
                   table("devices", ["Verdict", "Device", "Addresses", "Label", "Maker", "Model", "Decision", "Last seen"], rows),
                   el("h2", { text: "What changed since the last scan" })];
      view.replaceChildren.apply(view, parts);
      if (!latest) { view.appendChild(el("p", { cls: "none", text: "No scan saved for this site." })); return "site"; }
      return api("/v1/scans/" + latest.id + "/diff").then(function (diff) {
        view.appendChild(diffBlock(site, latest, diff));
        return "site";
      }, function (error) {
        view.appendChild(el("p", { cls: "none", text: error.message }));
        return "site";
      });
    });
  }

  function diffBlock(site, latest, diff) {
    var box = el("div", { id: "changes" }, [el("p", { cls: "lead", text: "Scan " + latest.id + " received " + when(latest.received_at) + (diff.scan_a ? " against scan " + diff.scan_a : " (the site's first scan)") + ": " + diff.summary.new + " new, " + diff.summary.gone + " gone, " + diff.summary.changed + " changed, " + diff.summary.newly_flagged + " newly flagged." })]);
    [["newly_flagged", "Newly flagged"], ["new", "New"], ["gone", "Gone"], ["changed", "Changed"]].forEach(function (pair) {
      var items = diff[pair[0]] || [];
      if (!items.length) { return; }
      box.appendChild(el("h3", { text: pair[1] }));
      box.appendChild(el("ul", { cls: "diff-list", id: "diff-" + pair[0] }, items.slice(0, 200).map(function (d) {
        var what = d.changes ? Object.keys(d.changes).map(function (f) { return f + ": " + JSON.stringify(d.changes[f][0]) + " → " + JSON.stringify(d.changes[f][1]); }).join("; ") : [d.brand, d.model, d.maker].filter(Boolean).join(" · ");
        return el("li", {}, [badge(d.verdict), " ", pair[0] === "gone" ? d.key : link(d.key, deviceHref(site, d.key)), " " + what]);
      })));
    });
    return box;
  }

  // --- one device: evidence trail and history ----------------------------------------
  function deviceView(site, params) {
    var key = params.get("key") || "";
    return api("/v1/devices/detail" + q({ site: site, key: key })).then(function (d) {
      var record = d.record || {};
      var facts = [["Site", site], ["Key", d.key], ["Addresses", (d.addresses || []).join(", ")], ["MAC", record.mac], ["Serial", record.serial],
                   ["Label (brand)", d.brand], ["Attributed maker", record.maker], ["Platform", record.platform], ["Model", d.model],
                   ["Firmware", record.firmware], ["Class", record.device_class], ["First seen", when(d.first_seen)], ["Last seen", when(d.last_seen)],
                   ["Decision", d.decision + (d.applied_decision ? " (decision " + d.applied_decision.decision_id + " by " + d.applied_decision.who + ": " + d.applied_decision.why + ")" : "")],
                   ["Lists", d.lists_content_hash]];
      var dl = el("dl", { cls: "facts", id: "facts" }, []);
      facts.forEach(function (f) { if (f[1]) { dl.appendChild(el("dt", { text: f[0] })); dl.appendChild(el("dd", { text: String(f[1]) })); } });
      var evidence = (record.evidence || []).map(function (e) {
        return [e.probe, e.field, el("span", { cls: "value", text: e.value }), e.indicates || "—", e.kind || "", e.certainty || "", (e.rule || "") + (e.rule && e.source ? " · " : "") + (e.source || "")];
      });
      var matches = (d.matches || []).map(function (m) {
        return [m.list, m.entity, m.citation || "—", m.via || "", (m.field ? m.field + " = “" + m.value + "”" : ""), m.score === null || m.score === undefined ? "" : String(m.score)];
      });
      var history = (d.history || []).map(function (h) {
        return [String(h.scan_id), when(h.received_at), badge(h.verdict), h.maker || "", (h.addresses || []).join(", "), h.firmware || ""];
      });
      view.replaceChildren(
        el("p", { cls: "crumbs" }, [link("Sites", "#/sites"), " › ", link(site, siteHref(site)), " › " + d.key]),
        el("h2", {}, [badge(d.verdict), " " + d.key]),
        dl,
        el("h3", { text: "Why" }), el("ul", { cls: "reasons", id: "reasons" }, (d.reasons || []).map(function (r) { return el("li", { text: r }); })),
        el("h3", { text: "List citations" }), matches.length ? table("matches", ["List", "Entity", "Citation", "How", "Matched", "Score"], matches) : el("p", { cls: "none", text: "No list entry matched." }),
        el("h3", { text: "Evidence trail" }),
        el("ul", { cls: "reasons" }, (record.reasons || []).map(function (r) { return el("li", { text: r }); })),
        evidence.length ? table("evidence", ["Probe", "Field", "Value seen", "Points to", "Kind", "Certainty", "Rule / source"], evidence) : el("p", { cls: "none", text: "No evidence was collected from this device." }),
        el("h3", { text: "History" }), table("history", ["Scan", "Received", "Verdict", "Maker", "Addresses", "Firmware"], history));
      return "device";
    });
  }

  // --- the findings queue -------------------------------------------------------------
  function findingsView(params) {
    var filters = { site: params.get("site") || "", min_verdict: params.get("min_verdict") || "review", limit: "500" };
    return Promise.all([api("/v1/findings" + q(filters)), api("/v1/decisions?active_only=true")]).then(function (found) {
      var findings = found[0], decisions = found[1];
      var form = el("form", { cls: "controls", id: "controls" }, [
        el("label", {}, ["At least ", select("f-min", [["review", "review"], ["flagged", "flagged"]], filters.min_verdict)]),
        el("label", {}, ["Site ", el("input", { type: "search", id: "f-site", value: filters.site })]),
        el("output", { id: "shown", text: findings.length + " findings" })
      ]);
      function apply() { window.location.hash = "#/findings" + q({ site: document.getElementById("f-site").value.trim().toLowerCase(), min_verdict: document.getElementById("f-min").value }); }
      form.addEventListener("change", apply);
      form.addEventListener("submit", function (e) { e.preventDefault(); apply(); });
      var rows = findings.map(function (f) {
        var subject = f.site && f.subject_kind === "device" ? link(f.subject, deviceHref(f.site, f.subject)) : f.subject;
        var applied = f.applied_decision ? f.applied_decision.decision + " by " + f.applied_decision.who + " until " + when(f.applied_decision.until) + ": " + f.applied_decision.why : "—";
        return [when(f.at), badge(f.verdict), subject, f.site || "(line item)", f.maker || "", f.decision, applied, String(f.audit_id)];
      });
      var drows = decisions.map(function (x) {
        return [String(x.id), x.decision, x.kind, [x.subject, x.entry_id, x.value, x.maker].filter(Boolean).join(" · "), x.who, x.why, when(x.until)];
      });
      view.replaceChildren(el("h2", { text: "Findings queue" }), form,
        table("findings", ["At", "Verdict", "Subject", "Site", "Maker", "Decision", "Applied decision", "Audit"], rows),
        el("h2", { text: "Decisions in force" }),
        table("decisions", ["Id", "Decision", "Kind", "Covers", "Who", "Why", "Until"], drows));
      return "findings";
    });
  }

  function route() {
    if (!token()) { showLogin(""); return; }
    login.hidden = true;
    forget.hidden = false;
    var hash = window.location.hash.replace(/^#/, "") || "/sites";
    var at = hash.indexOf("?");
    var path = at >= 0 ? hash.slice(0, at) : hash;
    var params = new URLSearchParams(at >= 0 ? hash.slice(at + 1) : "");
    var parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    status.textContent = "Loading…";
    document.body.dataset.view = "loading";
    var work;
    if (parts[0] === "site" && parts[1]) { work = siteView(parts[1], params); }
    else if (parts[0] === "device" && parts[1]) { work = deviceView(parts[1], params); }
    else if (parts[0] === "findings") { work = findingsView(params); }
    else { work = sitesView(params); }
    work.then(function (name) { status.textContent = ""; document.body.dataset.view = name; }, fail);
  }

  login.addEventListener("submit", function (e) {
    e.preventDefault();
    var value = document.getElementById("token").value.trim();
    if (!value) { return; }
    window.sessionStorage.setItem(TOKEN_KEY, value);
    document.getElementById("token").value = "";
    route();
  });
  forget.addEventListener("click", function () { window.sessionStorage.removeItem(TOKEN_KEY); showLogin("Token forgotten."); });
  window.addEventListener("hashchange", route);
  route();
})();
