/* The map of locations (templates/admin/cockpit/map.html): Leaflet markers for the rows of
   the location list that have coordinates, coloured by the location's live state, kept
   current over the staff socket (live.js) together with the list itself.

   locationState is the twin of stations.cockpit_selectors.location_state (and a
   connector's availability the twin of stations.selectors_map.connector_availability):
   change both together. */
(function () {
  "use strict";

  var OCCUPIED = ["Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Reserved"];
  var OUT_OF_SERVICE = ["Faulted", "Unavailable"];
  var COLOURS = { faulted: "#dc2626", offline: "#6b7280", partial: "#d97706",
                  charging: "#2563eb", available: "#16a34a" };

  function connectorAvailability(station, status) {
    if (!station.online) return "offline";
    if (station.maintenance || OUT_OF_SERVICE.indexOf(station.status) >= 0
        || OUT_OF_SERVICE.indexOf(status) >= 0) return "faulted";
    if (status === "Available") return "available";
    if (OCCUPIED.indexOf(status) >= 0) return "occupied";
    return "offline"; // Unknown: never reported
  }

  function stationAvailability(station) {
    if (!station.online) return "offline";
    if (station.maintenance || OUT_OF_SERVICE.indexOf(station.status) >= 0) return "faulted";
    var found = Object.keys(station.connectors).map(function (n) {
      return connectorAvailability(station, station.connectors[n]);
    });
    if (found.indexOf("faulted") >= 0) return "faulted";
    if (found.indexOf("occupied") >= 0) return "occupied";
    return "available";
  }

  function locationState(stations) {
    var online = stations.filter(function (s) { return s.online; });
    var availability = online.map(stationAvailability);
    if (availability.indexOf("faulted") >= 0) return "faulted";
    if (online.length === 0) return "offline";
    if (online.length < stations.length) return "partial";
    if (availability.indexOf("occupied") >= 0) return "charging";
    return "available";
  }

  /* The state of the page, read from the list the server rendered. */
  function readStations(row) {
    return Array.prototype.map.call(row.querySelectorAll("li[data-station]"), function (item) {
      var connectors = {};
      item.querySelectorAll("[data-map-connector]").forEach(function (c) {
        connectors[c.getAttribute("data-map-connector")] = c.getAttribute("data-status");
      });
      return { id: Number(item.getAttribute("data-station")), element: item,
               online: item.getAttribute("data-online") === "1",
               status: item.getAttribute("data-status") || "",
               maintenance: item.getAttribute("data-maintenance") === "1",
               connectors: connectors };
    });
  }

  function popupContent(root, location) {
    var box = document.createElement("div");
    var title = document.createElement("strong");
    title.textContent = location.name;
    box.appendChild(title);
    var state = document.createElement("div");
    state.textContent = root.getAttribute("data-label-" + location.state) || location.state;
    box.appendChild(state);
    var list = document.createElement("ul");
    location.stations.forEach(function (station) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = station.element.querySelector("a").getAttribute("href");
      link.textContent = station.element.querySelector("a").textContent;
      item.appendChild(link);
      var connectors = Object.keys(station.connectors).map(function (n) {
        return n + ": " + station.connectors[n];
      }).join(", ");
      item.appendChild(document.createTextNode(
        " — " + window.EvPowerCockpit.text(root, station.online ? "online" : "offline")
        + (connectors ? " (" + connectors + ")" : "")));
      list.appendChild(item);
    });
    box.appendChild(list);
    return box;
  }

  function render(root, location) {
    location.state = locationState(location.stations);
    var pill = location.row.querySelector('[data-role="state"]');
    pill.setAttribute("data-state", location.state);
    pill.className = "cockpit-pill cockpit-state-" + location.state;
    pill.textContent = root.getAttribute("data-label-" + location.state) || location.state;
    location.stations.forEach(function (station) {
      station.element.setAttribute("data-online", station.online ? "1" : "0");
      station.element.setAttribute("data-status", station.status);
      window.EvPowerCockpit.setPill(station.element.querySelector('[data-role="online"]'),
        station.online ? "online" : "offline",
        window.EvPowerCockpit.text(root, station.online ? "online" : "offline"));
      Object.keys(station.connectors).forEach(function (n) {
        var pillOf = station.element.querySelector('[data-map-connector="' + n + '"]');
        if (!pillOf) {
          pillOf = document.createElement("span");
          pillOf.setAttribute("data-map-connector", n);
          station.element.appendChild(pillOf);
        }
        pillOf.setAttribute("data-status", station.connectors[n]);
        window.EvPowerCockpit.setPill(pillOf, station.connectors[n], n + ": " + station.connectors[n]);
      });
    });
    if (location.marker) {
      location.marker.setStyle({ fillColor: COLOURS[location.state], color: COLOURS[location.state] });
      location.marker.setPopupContent(popupContent(root, location));
    }
  }

  function drawMap(root, locations) {
    var element = document.getElementById("cockpit-map");
    if (!element || !window.L) return; // no coordinates, or Leaflet did not load: the list stays
    var map = window.L.map(element);
    window.L.tileLayer(root.getAttribute("data-tile-url"), {
      maxZoom: 19, attribution: root.getAttribute("data-attribution")
    }).addTo(map);
    var points = [];
    locations.forEach(function (location) {
      if (location.lat === null) return;
      var point = [location.lat, location.lng];
      points.push(point);
      location.marker = window.L.circleMarker(point, {
        radius: 9, weight: 2, fillOpacity: 0.85,
        color: COLOURS[location.state], fillColor: COLOURS[location.state]
      }).addTo(map).bindPopup(popupContent(root, location));
      location.marker.bindTooltip(location.name);
    });
    if (points.length === 1) map.setView(points[0], 14);
    else map.fitBounds(points, { padding: [30, 30], maxZoom: 15 });
  }

  function mapPage(root) {
    var locations = {};
    var stations = {};
    root.querySelectorAll("tr[data-location]").forEach(function (row) {
      var lat = row.getAttribute("data-lat");
      var location = {
        id: Number(row.getAttribute("data-location")), row: row,
        name: row.getAttribute("data-name"),
        lat: lat === null ? null : Number(lat), lng: Number(row.getAttribute("data-lng")),
        stations: readStations(row)
      };
      location.state = locationState(location.stations);
      location.stations.forEach(function (s) { stations[s.id] = { station: s, location: location }; });
      locations[location.id] = location;
    });
    var all = Object.keys(locations).map(function (id) { return locations[id]; });
    drawMap(root, all);

    function apply(stationId, change) {
      var known = stations[stationId];
      if (!known) return; // a station added since the page was drawn: shown after a reload
      change(known.station);
      render(root, known.location);
    }

    var socket = new window.EvPowerStaffSocket(root, {
      locations: all.map(function (l) { return l.id; })
    }, {
      snapshot: function (state) {
        apply(state.station, function (station) {
          station.online = state.online;
          station.status = state.status || "";
          station.maintenance = state.maintenance;
          state.connectors.forEach(function (c) { station.connectors[String(c.connector)] = c.status; });
        });
      },
      status: function (event) {
        apply(event.station, function (station) {
          if (event.kind === "online") station.online = event.online;
          else if (event.kind === "connector" && Number(event.connector) === 0) station.status = event.status;
          else if (event.kind === "connector") station.connectors[String(event.connector)] = event.status;
        });
      }
    });
    if (all.length) socket.start();
    else socket.show("live"); // nothing to watch
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("cockpit-map-page");
    if (root) mapPage(root);
  });
})();
