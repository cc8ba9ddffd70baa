// The report's views, drawn from the data the page carries (#report-data): the story list
// (a page at a time) with its filters and search, the timeline and the outlet x story
// matrix; the plain-text toggle and the entity table's filters. Every text goes into the
// page through textContent: nothing from the data is ever read as markup.
(function () {
  "use strict";
  var PAGE = 20; // story cards drawn at a time
  var ROWS = 25; // stories in the timeline and the matrix
  var COLUMNS = 30; // outlets in the matrix
  var DAYS = 92; // days in the timeline (the latest ones)
  var KINDS = {
    PERSON: "People", GPE: "Places", LOC: "Places", FAC: "Places",
    ORG: "Organisations", NORP: "Groups", EVENT: "Events"
  };

  function $(id) { return document.getElementById(id); }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function add(parent) {
    for (var i = 1; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined) continue;
      parent.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return parent;
  }

  function plural(n, one, many) { return n.toLocaleString("en") + " " + (n === 1 ? one : many); }

  function cut(text, width) {
    return text.length <= width ? text : text.slice(0, width - 1).replace(/\s+\S*$/, "") + " …";
  }

  // --- the plain-text toggle and the entity table ----------------------------------------

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.classList || !box.classList.contains("plain")) return;
    document.body.classList.toggle("plain", box.checked);
    document.querySelectorAll("input.plain").forEach(function (other) { other.checked = box.checked; });
  });

  var entityFilter = $("entity-filter");
  var entityType = $("entity-type");
  function filterEntities() {
    var needle = entityFilter ? entityFilter.value.toLowerCase() : "";
    var label = entityType ? entityType.value : "";
    document.querySelectorAll("table.entities tbody tr").forEach(function (row) {
      var keep = (!label || row.dataset.label === label) &&
        row.textContent.toLowerCase().indexOf(needle) >= 0;
      row.style.display = keep ? "" : "none";
    });
  }
  if (entityFilter) entityFilter.addEventListener("input", filterEntities);
  if (entityType) entityType.addEventListener("change", filterEntities);

  // --- the stories -------------------------------------------------------------------------

  var dataNode = $("report-data");
  var list = $("story-list");
  if (!dataNode || !list) return;
  var data = JSON.parse(dataNode.textContent);
  var stories = data.stories;
  var texts = {};
  document.querySelectorAll("#story-texts > .texts").forEach(function (node) {
    texts[node.dataset.story] = node;
  });
  var state = { source: "", from: "", to: "", type: "", search: [], only: null, shown: PAGE };
  var controls = {
    source: $("f-source"), from: $("f-from"), to: $("f-to"), type: $("f-type"), search: $("f-search")
  };
  data.sources.forEach(function (source) { add(controls.source, option(source)); });
  data.labels.forEach(function (label) { add(controls.type, option(label, label + " (" + KINDS[label] + ")")); });

  function option(value, text) {
    var node = el("option", null, text || value);
    node.value = value;
    return node;
  }

  function haystack(story) {
    if (story.hay === undefined) {
      var parts = [story.id, story.title, story.sources.join(" ")];
      story.docs.forEach(function (d) { parts.push(d[0], d[2]); });
      story.entities.forEach(function (e) { parts.push(e[0]); });
      story.quotes.forEach(function (q) {
        parts.push(q.text, q.speaker || "");
        q.carriers.forEach(function (c) { parts.push(c[3] || "", c[4] || ""); });
      });
      story.added.forEach(function (a) { parts.push(a[1].join("\n")); });
      story.hay = parts.join("\n").toLowerCase();
    }
    return story.hay;
  }

  function keeps(story) {
    if (state.only !== null) return story.id === state.only;
    if (state.source && story.sources.indexOf(state.source) < 0) return false;
    if (state.from && !(story.to && story.to >= state.from)) return false;
    if (state.to && !(story.from && story.from <= state.to)) return false;
    if (state.type && !story.entities.some(function (e) { return e[1] === state.type; })) return false;
    if (state.search.length) {
      var hay = haystack(story);
      return state.search.every(function (word) { return hay.indexOf(word) >= 0; });
    }
    return true;
  }

  function entitiesLine(story) {
    var kinds = {};
    var order = [];
    story.entities.forEach(function (e) {
      if (state.type && e[1] !== state.type) return;
      var kind = KINDS[e[1]] || e[1];
      if (!kinds[kind]) { kinds[kind] = []; order.push(kind); }
      kinds[kind].push(e);
    });
    if (!order.length) return null;
    var line = el("p", "entities");
    order.forEach(function (kind) {
      var group = add(el("span", "kind"), el("strong", null, kind + ": "));
      kinds[kind].forEach(function (e, i) {
        if (i) add(group, ", ");
        var chip = el("span", "ent ent-" + e[1], e[0]);
        chip.title = e[1] + " · named in " + plural(e[2], "article", "articles");
        add(group, chip);
      });
      add(line, group);
    });
    return line;
  }

  function quoteBlock(quote) {
    var block = el("blockquote", "shared-quote");
    add(block, el("p", "said", "“" + quote.text + "”"));
    var who = add(el("p", "who"), "— ", el("span", "speaker", quote.speaker || "speaker not named"), " · carried by ");
    // "first" is said only when some carried it later
    var later = quote.carriers.some(function (c) { return !c[5]; });
    quote.carriers.forEach(function (c, i) {
      if (i) add(who, ", ");
      var carrier = el("span", "carrier" + (c[5] ? " first" : ""), c[0]);
      carrier.title = c[1] + (c[4] ? " · speaker: " + c[4] : "");
      add(who, carrier);
      var when = [c[5] && later ? "first" : "", c[2] || ""].filter(Boolean).join(", ");
      if (when) add(who, el("span", "when", " (" + when + ")"));
    });
    add(block, who);
    // a carrier's wording is given only where it differs from the quote's words
    if (quote.carriers.some(function (c) { return c[3]; })) {
      var wordings = add(el("details", "wordings"), el("summary", null, "Each outlet's wording"));
      var items = el("ul");
      quote.carriers.forEach(function (c) {
        add(items, add(el("li"), el("strong", null, c[0] + ": "), "“" + (c[3] || quote.text) + "”"));
      });
      add(block, add(wordings, items));
    }
    return block;
  }

  function additionsBlock(story) {
    var box = add(el("section", "additions"), el("h4", null, "What each outlet added"));
    var side = el("div", "side");
    story.added.forEach(function (a) {
      var outlet = el("div", "added");
      outlet.dataset.source = a[0];
      add(outlet, el("h5", null, a[0] + " · " + (a[2] ? plural(a[2], "passage", "passages") + " no other source has" : "nothing the others do not have")));
      if (a[1].length) {
        var items = el("ul");
        a[1].forEach(function (p) { add(items, el("li", null, p)); });
        if (a[2] > a[1].length) add(items, el("li", "more", "… and " + (a[2] - a[1].length) + " more"));
        add(outlet, items);
      }
      add(side, outlet);
    });
    return add(box, side);
  }

  function card(story) {
    var article = el("article", "story");
    article.id = "story-" + story.id;
    article.dataset.story = story.id;
    add(article, el("h3", null, story.title));
    add(article, el("p", "meta", story.when + " · " + story.sources.length + " sources: " +
      story.sources.join(", ") + " · " + plural(story.docs.length, "article", "articles")));
    add(article, entitiesLine(story));
    if (story.quotes.length) {
      var quotes = add(el("section", "quotes"), el("h4", null, "Shared quotes"));
      story.quotes.forEach(function (q) { add(quotes, quoteBlock(q)); });
      add(article, quotes);
    }
    if (story.added.length) add(article, additionsBlock(story));
    var articles = el("ul", "articles");
    story.docs.forEach(function (d) {
      var item = add(el("li"), el("strong", null, d[2]), " — " + d[1] + (d[3] ? ", " + d[3] : "") + " ", el("code", null, d[0]));
      if (d[4]) add(item, " · " + plural(d[4], "copy", "copies") + " dropped");
      add(articles, item);
    });
    add(article, add(el("details", "articles"), el("summary", null, "Articles"), articles));
    var node = texts[story.id];
    if (node) add(article, add(el("details", "texts"), el("summary", null, "The articles side by side"), node));
    return article;
  }

  function render() {
    var found = stories.filter(keeps);
    list.textContent = "";
    var page = document.createDocumentFragment();
    found.slice(0, state.shown).forEach(function (story) { page.appendChild(card(story)); });
    list.appendChild(page);
    $("f-count").textContent = found.length === stories.length
      ? plural(stories.length, "story", "stories")
      : found.length.toLocaleString("en") + " of " + plural(stories.length, "story", "stories");
    var more = $("more");
    more.hidden = found.length <= state.shown;
    more.textContent = "Show " + Math.min(PAGE, found.length - state.shown) + " more of " +
      (found.length - state.shown).toLocaleString("en");
    $("f-only").hidden = state.only === null;
    timeline(found);
    matrix(found);
  }

  function focus(id) {
    state.only = id;
    state.shown = PAGE;
    render();
    $("stories").scrollIntoView();
  }

  function storyLink(story) {
    var link = el("button", "link", cut(story.title, 60));
    link.type = "button";
    link.title = story.title;
    link.addEventListener("click", function () { focus(story.id); });
    return link;
  }

  // --- the timeline: articles per day per story -------------------------------------------

  function nextDay(day) {
    var date = new Date(day + "T00:00:00Z");
    date.setUTCDate(date.getUTCDate() + 1);
    return date.toISOString().slice(0, 10);
  }

  // The first and last day to show of the stories given: all of them when they span at
  // most DAYS days, else the DAYS days that hold the most of their articles (a stray date
  // years off does not decide), with their whole span as a third item.
  function busiest(dated) {
    var perDay = {};
    dated.forEach(function (s) { s.days.forEach(function (d) { perDay[d[0]] = (perDay[d[0]] || 0) + d[1]; }); });
    var keys = Object.keys(perDay).sort();
    var number = function (d) { return Math.round(Date.parse(d + "T00:00:00Z") / 86400000); };
    var first = keys[0], last = keys[keys.length - 1];
    if (number(last) - number(first) < DAYS) return [first, last, null];
    var best = 0, bestAt = 0, sum = 0, low = 0;
    for (var high = 0; high < keys.length; high++) {
      sum += perDay[keys[high]];
      while (number(keys[high]) - number(keys[low]) >= DAYS) sum -= perDay[keys[low++]];
      if (sum > best) { best = sum; bestAt = low; }
    }
    var start = keys[bestAt];
    var end = start;
    for (var i = 1; i < DAYS; i++) end = nextDay(end);
    return [start, end < last ? end : last, [first, last]];
  }

  function timeline(found) {
    var box = $("timeline-grid");
    box.textContent = "";
    var dated = found.filter(function (s) { return s.from; });
    if (!dated.length) { add(box, el("p", "note", "No dated story matches the filters.")); return; }
    var span = busiest(dated.slice(0, ROWS)); // the days of the stories that have a row
    var days = [];
    for (var day = span[0]; day <= span[1]; day = nextDay(day)) days.push(day);
    if (span[2]) {
      add(box, el("p", "note", "The " + DAYS + " days with the most articles are shown (these stories run from " +
        span[2][0] + " to " + span[2][1] + ")."));
    }
    var column = {};
    days.forEach(function (d, i) { column[d] = i; });
    var table = el("table", "timeline");
    var head = add(el("tr"), el("th", null, "story"));
    days.forEach(function (d, i) {
      var th = el("th", "day", i === 0 || d.slice(8) === "01" ? d.slice(5) : d.slice(8));
      th.title = d;
      add(head, th);
    });
    var body = el("tbody");
    var totals = days.map(function () { return 0; });
    dated.forEach(function (s) {
      s.days.forEach(function (d) { if (d[0] in column) totals[column[d[0]]] += d[1]; });
    });
    add(body, row(add(el("th"), "all " + plural(dated.length, "story", "stories")), totals, "total"));
    dated.slice(0, ROWS).forEach(function (s) {
      var counts = days.map(function () { return 0; });
      s.days.forEach(function (d) { if (d[0] in column) counts[column[d[0]]] += d[1]; });
      add(body, row(add(el("th"), storyLink(s)), counts, null, s.id));
    });
    function row(label, counts, className, id) {
      var tr = add(el("tr", className), label);
      if (id) tr.dataset.story = id;
      counts.forEach(function (n, i) {
        var td = el("td", n ? "c" + Math.min(4, Math.ceil(Math.log2(n + 1))) : null, n || "");
        if (n) td.title = days[i] + ": " + plural(n, "article", "articles");
        add(tr, td);
      });
      return tr;
    }
    add(box, add(table, add(el("thead"), head), body));
    if (dated.length > ROWS) add(box, el("p", "note", "The " + ROWS + " most widely carried of " + plural(dated.length, "story", "stories") + " have a row."));
  }

  // --- the matrix: which outlet carried which story ----------------------------------------

  function matrix(found) {
    var box = $("matrix-grid");
    box.textContent = "";
    var rows = found.slice(0, ROWS);
    if (!rows.length) { add(box, el("p", "note", "No story matches the filters.")); return; }
    var carried = {};
    rows.forEach(function (s) { s.sources.forEach(function (o) { carried[o] = (carried[o] || 0) + 1; }); });
    var outlets = Object.keys(carried).sort(function (a, b) {
      return carried[b] - carried[a] || (a < b ? -1 : a > b ? 1 : 0);
    });
    var hidden = outlets.length - COLUMNS;
    outlets = outlets.slice(0, COLUMNS);
    var head = add(el("tr"), el("th", null, "story"));
    outlets.forEach(function (o) { add(head, add(el("th", "outlet"), el("span", null, o))); });
    var body = el("tbody");
    rows.forEach(function (s) {
      var counts = {};
      var firstDay = s.from;
      var first = {};
      s.docs.forEach(function (d) {
        counts[d[1]] = (counts[d[1]] || 0) + 1;
        if (firstDay && d[3] === firstDay) first[d[1]] = true;
      });
      if (s.sources.every(function (o) { return first[o]; })) first = {}; // all on one day
      var tr = add(el("tr"), add(el("th"), storyLink(s)));
      tr.dataset.story = s.id;
      outlets.forEach(function (o) {
        var n = counts[o] || 0;
        var td = el("td", n ? "hit" + (first[o] ? " first" : "") : null, n ? (first[o] ? "● " : "") + n : "");
        if (n) td.title = o + ": " + plural(n, "article", "articles") + (first[o] ? ", first" : "");
        add(tr, td);
      });
      add(body, tr);
    });
    add(box, add(el("table", "matrix"), add(el("thead"), head), body));
    var notes = [];
    if (found.length > ROWS) notes.push("the " + ROWS + " most widely carried of " + plural(found.length, "story", "stories"));
    if (hidden > 0) notes.push("the " + COLUMNS + " outlets that carried most of them (" + hidden + " more not shown)");
    if (notes.length) add(box, el("p", "note", "Shown: " + notes.join("; ") + "."));
  }

  // --- the filters ---------------------------------------------------------------------------

  var timer = null;
  function read() {
    state.source = controls.source.value;
    state.from = controls.from.value;
    state.to = controls.to.value;
    state.type = controls.type.value;
    state.search = controls.search.value.toLowerCase().split(/\s+/).filter(Boolean);
    state.only = null;
    state.shown = PAGE;
    render();
  }
  ["source", "from", "to", "type"].forEach(function (name) { controls[name].addEventListener("change", read); });
  controls.search.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(read, 120);
  });
  $("filters").addEventListener("submit", function (event) { event.preventDefault(); read(); });
  $("filters").addEventListener("reset", function () { setTimeout(read, 0); });
  $("f-all").addEventListener("click", function () { state.only = null; render(); });
  $("more").addEventListener("click", function () { state.shown += PAGE; render(); });
  render();
})();
