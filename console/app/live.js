/*
 * A graphql-transport-ws client on the browser's own WebSocket (the protocol of graphql-ws, which
 * Skyloom serves on /graphql): connection_init with the credential, subscribe / next / error /
 * complete, ping / pong, and reconnection with backoff that subscribes again with each
 * subscription's current variables (callers move `after` forward to miss nothing).
 *
 * One socket for the whole console, opened on the first subscription and closed shortly after the
 * last one ends. `live.status` says how it is doing, for the "live" indicator.
 */
(function (angular) {
  'use strict';

  var PROTOCOL = 'graphql-transport-ws';
  var REFUSED = { 4401: true, 4403: true };   // unauthorised / forbidden: reconnecting will not help
  var MAX_BACKOFF_MS = 30000;
  var IDLE_CLOSE_MS = 2000;
  var ACK_TIMEOUT_MS = 10000;

  angular.module('skyloom').factory('live', ['$window', '$timeout', '$rootScope', '$injector', 'credentials',
    function ($window, $timeout, $rootScope, $injector, credentials) {
      var status = { state: 'offline', attempts: 0, lastError: null, events: 0 };
      var subscriptions = {};   // id -> {document, name, variables, onNext, onError}
      var socket = null, acknowledged = false, nextId = 1, retry = null, idle = null, ackTimer = null;

      function url() {
        var loc = $window.location;
        return (loc.protocol === 'https:' ? 'wss://' : 'ws://') + loc.host + '/graphql';
      }

      function apply(fn) { $rootScope.$applyAsync(fn); }
      function count() { return Object.keys(subscriptions).length; }

      function send(message) {
        if (socket && socket.readyState === $window.WebSocket.OPEN) { socket.send(JSON.stringify(message)); }
      }

      function sendSubscribe(id) {
        var sub = subscriptions[id];
        send({ id: id, type: 'subscribe', payload: { query: sub.document, variables: sub.variables, operationName: sub.name } });
      }

      function connect() {
        if (socket || !count()) { return; }
        acknowledged = false;
        var state = status.attempts ? 'reconnecting' : 'connecting';
        apply(function () { status.state = state; });
        var ws = socket = new $window.WebSocket(url(), PROTOCOL);
        ws.onopen = function () {
          ws.send(JSON.stringify({ type: 'connection_init', payload: credentials.connectionParams() }));
          ackTimer = $timeout(function () { ws.close(4504, 'connection acknowledgement timeout'); }, ACK_TIMEOUT_MS, false);
        };
        ws.onmessage = function (event) { receive(ws, event.data); };
        ws.onclose = function (event) { closed(ws, event); };
      }

      function receive(ws, raw) {
        var message;
        try { message = JSON.parse(raw); } catch (e) { ws.close(4400, 'invalid message'); return; }
        var sub = message.id !== undefined ? subscriptions[message.id] : null;
        switch (message.type) {
          case 'connection_ack':
            $timeout.cancel(ackTimer);
            acknowledged = true;
            apply(function () { status.state = 'live'; status.attempts = 0; status.lastError = null; });
            Object.keys(subscriptions).forEach(sendSubscribe);
            break;
          case 'ping':
            ws.send(JSON.stringify({ type: 'pong', payload: message.payload }));
            break;
          case 'next':
            if (sub) {
              apply(function () {
                status.events += 1;
                var payload = message.payload || {};
                if (payload.errors && sub.onError) { sub.onError(payload.errors); }
                if (payload.data) { sub.onNext(payload.data); }
              });
            }
            break;
          case 'error':
            if (sub) {
              delete subscriptions[message.id];
              apply(function () { if (sub.onError) { sub.onError(message.payload); } });
            }
            break;
          case 'complete':
            delete subscriptions[message.id];
            break;
        }
      }

      function closed(ws, event) {
        if (ws !== socket) { return; }
        $timeout.cancel(ackTimer);
        socket = null;
        acknowledged = false;
        if (REFUSED[event.code]) {
          apply(function () { status.state = 'refused'; status.lastError = event.reason || 'the credential was refused'; });
          $injector.get('auth').expired();
          return;
        }
        if (!count()) { apply(function () { status.state = 'offline'; }); return; }
        status.attempts += 1;
        var delay = Math.min(MAX_BACKOFF_MS, 500 * Math.pow(2, status.attempts)) * (0.75 + Math.random() / 2);
        apply(function () { status.state = 'reconnecting'; status.lastError = event.reason || ('closed (' + event.code + ')'); });
        retry = $timeout(function () { retry = null; connect(); }, delay, false);
      }

      function unsubscribe(id) {
        if (!subscriptions[id]) { return; }
        delete subscriptions[id];
        if (acknowledged) { send({ id: id, type: 'complete' }); }
        if (!count()) {
          $timeout.cancel(idle);
          idle = $timeout(function () { if (!count()) { reset(); } }, IDLE_CLOSE_MS);
        }
      }

      /** Close the socket (sign-in or sign-out: the next connection carries the new credential). */
      function reset() {
        $timeout.cancel(retry);
        retry = null;
        status.attempts = 0;
        var ws = socket;
        socket = null;
        acknowledged = false;
        if (ws) { ws.close(1000, 'normal closure'); }
        status.state = 'offline';
      }

      return {
        status: status,
        reset: function () { subscriptions = {}; reset(); },
        subscribe: function (document, name, variables, onNext, onError) {
          var id = String(nextId++);
          subscriptions[id] = { document: document, name: name, variables: variables, onNext: onNext, onError: onError };
          $timeout.cancel(idle);
          if (socket && acknowledged) { sendSubscribe(id); } else { connect(); }
          return { id: id, unsubscribe: function () { unsubscribe(id); } };
        }
      };
    }]);
})(window.angular);
