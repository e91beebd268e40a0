/*
 * The design document as the canvas edits it (docs/planner.md, "The design document"): components
 * with ids made here, connections from a container to what it holds, canvas positions. Nothing here
 * judges the drawing; the server does (designValidate). These functions only shape what is sent.
 */
(function (angular) {
  'use strict';

  var GRID = { left: 90, top: 70, dx: 190, dy: 110, columns: 6, near: 70 };
  var ID_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789';

  function number(value) { return typeof value === 'number' && isFinite(value) ? value : null; }

  /** A plain JSON clone (the document is data: no prototypes, no functions). */
  function clone(value) { return JSON.parse(JSON.stringify(value)); }

  function components(doc) { return Array.isArray(doc.components) ? doc.components : (doc.components = []); }
  function connections(doc) { return Array.isArray(doc.connections) ? doc.connections : (doc.connections = []); }

  function taken(doc) {
    var ids = {};
    components(doc).forEach(function (c) { if (c && typeof c.id === 'string') { ids[c.id.toLowerCase()] = true; } });
    return ids;
  }

  /** `c` and six random letters or digits, unique ignoring case (the server's rule for ids). */
  function newId(doc, random) {
    var used = taken(doc), id;
    random = random || Math.random;
    do {
      id = 'c';
      for (var i = 0; i < 6; i++) { id += ID_CHARS.charAt(Math.floor(random() * ID_CHARS.length)); }
    } while (used[id]);
    return id;
  }

  /** The first cell of a grid that no component sits near. */
  function freeSpot(doc) {
    var placed = components(doc).filter(function (c) { return c && number(c.x) !== null && number(c.y) !== null; });
    for (var n = 0; n < 10000; n++) {
      var x = GRID.left + (n % GRID.columns) * GRID.dx, y = GRID.top + Math.floor(n / GRID.columns) * GRID.dy;
      var clear = placed.every(function (c) { return Math.abs(c.x - x) > GRID.near || Math.abs(c.y - y) > GRID.near; });
      if (clear) { return { x: x, y: y }; }
    }
    return { x: GRID.left, y: GRID.top };
  }

  function defaultName(doc, kind) {
    var base = kind.toLowerCase(), n = 1, names = {};
    components(doc).forEach(function (c) { if (c && typeof c.name === 'string') { names[c.name] = true; } });
    while (names[base + '-' + n]) { n += 1; }
    return base + '-' + n;
  }

  angular.module('skyloom').constant('plannerModel', {
    clone: clone,
    newId: newId,
    freeSpot: freeSpot,

    empty: function (cloud, region) {
      return { provider: cloud.toLowerCase(), region: region, components: [], connections: [] };
    },

    /** Add a component of `kind` at a free spot; returns it. */
    add: function (doc, kind) {
      var spot = freeSpot(doc);
      var component = { id: newId(doc), kind: kind, name: defaultName(doc, kind), properties: {}, x: spot.x, y: spot.y };
      components(doc).push(component);
      return component;
    },

    find: function (doc, id) {
      return components(doc).filter(function (c) { return c && c.id === id; })[0] || null;
    },

    /** Remove a component and every connection to or from it. */
    remove: function (doc, id) {
      doc.components = components(doc).filter(function (c) { return !c || c.id !== id; });
      doc.connections = connections(doc).filter(function (k) { return !k || (k.from !== id && k.to !== id); });
    },

    connect: function (doc, from, to) {
      connections(doc).push({ from: from, to: to });
      return connections(doc).length - 1;
    },

    disconnect: function (doc, index) { connections(doc).splice(index, 1); },

    /** Does the palette list `source -> target` (by kind)? A hint only: the server judges. */
    allowed: function (palette, source, target) {
      return !!palette && palette.connections.some(function (c) { return c.source === source && c.target === target; });
    },

    move: function (doc, id, x, y) {
      var c = this.find(doc, id);
      if (c) { c.x = Math.round(x); c.y = Math.round(y); }
    },

    /**
     * The document to send: empty property values left out (the property's default applies), so
     * a cleared field means "not set" rather than an empty string the server would refuse.
     */
    outgoing: function (doc) {
      var out = clone(doc);
      components(out).forEach(function (c) {
        if (!c || !c.properties || typeof c.properties !== 'object') { return; }
        Object.keys(c.properties).forEach(function (key) {
          var value = c.properties[key];
          if (value === '' || value === null || value === undefined) { delete c.properties[key]; }
        });
      });
      return out;
    }
  });
})(window.angular);
