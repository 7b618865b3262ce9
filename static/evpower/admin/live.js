/* The cockpit's live pages: the staff socket (/ws/staff/, stations/staff_consumers.py)
   and the live station view (templates/admin/cockpit/station_live.html).

   No inline script anywhere (the admin's CSP): pages carry their endpoints and their
   translated texts in data attributes of their root element. The socket is
   window.EvPowerStaffSocket, used by map.js too. */
(function () {
  "use strict";

  var CLOSE_UNAUTHENTICATED = 4401; // log in again: retrying would not help
  var CLOSE_FORBIDDEN = 4403;
  var MAX_DELAY_MS = 30000;

  function text(root, name) {
    return root.getAttribute("data-text-" + name) || name;
  }

  function slug(value) {
    return String(value || "unknown").toLowerCase().replace(/[^a-z0-9]+/g, "-");
  }

  function setPill(element, value, label) {
    if (!element) return;
    element.textContent = label === undefined ? value : label;
    element.className = "cockpit-pill cockpit-pill-" + slug(value);
  }

  /* Connects, subscribes, and reconnects with a growing pause after a network failure
     (not after a refusal). Every (re)subscription is answered with a snapshot, so a page
     catches up with what it missed while disconnected. */
  function StaffSocket(root, subscription, handlers) {
    this.root = root;
    this.subscription = subscription;
    this.handlers = handlers;
    this.delay = 1000;
    this.indicator = root.querySelector('[data-role="socket"]');
  }

  StaffSocket.prototype.show = function (state) {
    if (!this.indicator) return;
    this.indicator.setAttribute("data-state", state);
    this.indicator.textContent = text(this.root, state);
  };

  StaffSocket.prototype.start = function () {
    var self = this;
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var path = this.root.getAttribute("data-socket-path") || "/ws/staff/";
    var ws = new WebSocket(scheme + window.location.host + path);
    this.show("connecting");
    ws.onopen = function () {
      ws.send(JSON.stringify({ action: "subscribe", stations: self.subscription.stations || [],
                               locations: self.subscription.locations || [] }));
    };
    ws.onmessage = function (message) {
      var data;
      try { data = JSON.parse(message.data); } catch (e) { return; }
      if (data.type === "subscribed") {
        self.delay = 1000;
        self.show("live");
      } else if (data.type === "snapshot") {
        data.stations.forEach(function (state) { self.handlers.snapshot(state); });
      } else if (data.type === "status") {
        self.handlers.status(data);
      } else if (data.type === "error" && window.console) {
        window.console.warn("staff socket:", data.code, data.details);
      }
    };
    ws.onclose = function (event) {
      if (event.code === CLOSE_UNAUTHENTICATED) { self.show("logged-out"); return; }
      if (event.code === CLOSE_FORBIDDEN) { self.show("forbidden"); return; }
      self.show("reconnecting");
      window.setTimeout(function () { self.start(); }, self.delay);
      self.delay = Math.min(self.delay * 2, MAX_DELAY_MS);
    };
    this.ws = ws;
  };

  window.EvPowerStaffSocket = StaffSocket;
  window.EvPowerCockpit = { text: text, slug: slug, setPill: setPill };

  /* --- the live station view ------------------------------------------------------- */

  function connectorElement(root, number) {
    var found = root.querySelector('[data-connector="' + Number(number) + '"]');
    if (found) return found;
    // a connector the charger reported for the first time: a plain card for its status
    var card = document.createElement("article");
    card.className = "cockpit-card cockpit-connector";
    card.setAttribute("data-connector", String(Number(number)));
    var title = document.createElement("h2");
    title.textContent = text(root, "connector") + " " + Number(number);
    var line = document.createElement("p");
    var status = document.createElement("span");
    status.setAttribute("data-role", "status");
    var error = document.createElement("span");
    error.setAttribute("data-role", "error");
    error.className = "cockpit-muted";
    line.appendChild(status);
    line.appendChild(document.createTextNode(" "));
    line.appendChild(error);
    card.appendChild(title);
    card.appendChild(line);
    root.querySelector('[data-role="connectors"]').appendChild(card);
    return card;
  }

  function showConnector(root, number, status, errorCode) {
    var card = connectorElement(root, number);
    setPill(card.querySelector('[data-role="status"]'), status);
    var error = card.querySelector('[data-role="error"]');
    if (error) error.textContent = errorCode && errorCode !== "NoError" ? errorCode : "";
  }

  function showOnline(root, online) {
    setPill(root.querySelector('[data-role="online"]'), online ? "online" : "offline",
            text(root, online ? "online" : "offline"));
  }

  function showStationStatus(root, status) {
    setPill(root.querySelector('[data-role="station-status"]'), status || "unknown",
            status || "—");
  }

  function pollFeed(root) {
    var url = root.getAttribute("data-feed-url");
    var seconds = Number(root.getAttribute("data-feed-seconds")) || 5;
    function apply(data) {
      if (data.charges) {
        Object.keys(data.charges).forEach(function (number) {
          var slot = root.querySelector('[data-connector="' + Number(number) + '"] [data-role="charge"]');
          if (slot) slot.innerHTML = data.charges[number]; // rendered (escaped) by our templates
        });
      }
      var messages = root.querySelector('[data-role="messages"]');
      if (messages && typeof data.messages === "string") messages.innerHTML = data.messages;
    }
    function tick() {
      if (document.hidden) return;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          var type = response.headers.get("content-type") || "";
          return response.ok && type.indexOf("application/json") === 0 ? response.json() : null;
        })
        .then(function (data) { if (data) apply(data); })
        .catch(function () { /* the next tick tries again */ });
    }
    window.setInterval(tick, seconds * 1000);
    return tick;
  }

  function wireCommands(root, refresh) {
    var url = root.getAttribute("data-command-url");
    var token = root.querySelector('input[name="csrfmiddlewaretoken"]');
    root.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-command]");
      if (!button || button.disabled) return;
      var question = button.getAttribute("data-confirm");
      if (question && !window.confirm(question)) return;
      var output = button.parentNode.querySelector('[data-role="answer"]');
      var body = new URLSearchParams();
      body.set("command", button.getAttribute("data-command"));
      body.set("connector", button.getAttribute("data-command-connector") || "0");
      button.disabled = true;
      output.className = "cockpit-answer";
      output.textContent = text(root, "sending");
      fetch(url, { method: "POST", credentials: "same-origin", body: body,
                   headers: { "X-CSRFToken": token ? token.value : "", Accept: "application/json" } })
        .then(function (response) {
          var type = response.headers.get("content-type") || "";
          if (type.indexOf("application/json") !== 0) throw new Error("not an answer");
          return response.json();
        })
        .then(function (answer) {
          output.textContent = answer.text;
          output.setAttribute("data-status", answer.status);
          output.className = "cockpit-answer " + (answer.ok ? "cockpit-answer-ok" : "cockpit-answer-fail");
          window.setTimeout(refresh, 1000);
        })
        .catch(function () {
          output.textContent = text(root, "failed");
          output.setAttribute("data-status", "failed");
          output.className = "cockpit-answer cockpit-answer-fail";
        })
        .then(function () { button.disabled = false; });
    });
  }

  function livePage(root) {
    var station = Number(root.getAttribute("data-station"));
    var socket = new StaffSocket(root, { stations: [station] }, {
      snapshot: function (state) {
        if (state.station !== station) return;
        showOnline(root, state.online);
        showStationStatus(root, state.status);
        state.connectors.forEach(function (c) { showConnector(root, c.connector, c.status, c.error_code); });
      },
      status: function (event) {
        if (event.station !== station) return;
        if (event.kind === "online") {
          showOnline(root, event.online);
        } else if (event.kind === "connector" && Number(event.connector) === 0) {
          showStationStatus(root, event.status);
        } else if (event.kind === "connector") {
          showConnector(root, event.connector, event.status, event.error_code);
        }
      }
    });
    socket.start();
    var refresh = pollFeed(root);
    wireCommands(root, refresh);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("cockpit-live");
    if (root) livePage(root);
  });
})();
