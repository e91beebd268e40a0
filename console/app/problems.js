/*
 * Readable words for what the API answers when something is refused: typed problems (union members
 * with a `code`, see the SDL's Problem interface) and GraphQL errors (masked or limit errors, each
 * with `extensions.code`). Shown as text, never as HTML.
 */
(function (angular) {
  'use strict';

  var BY_CODE = {
    NOT_FOUND: 'Not found, or not visible to you.',
    FORBIDDEN: 'You are not allowed to do this.',
    PROOF_REQUIRED: 'This needs a fresh hardware-key proof: step up first.',
    UNAUTHENTICATED: 'Your sign-in was refused or has expired.',
    CSRF: 'Your browser session needs its CSRF token: reload the page and try again.',
    DATABASE_UNAVAILABLE: 'The database is unavailable; try again shortly.',
    REQUEST_TOO_LARGE: 'The request is too large.',
    INTERNAL_SERVER_ERROR: 'Something went wrong on the server.'
  };

  function describeProblem(problem) {
    if (!problem) { return ''; }
    var text = problem.message || BY_CODE[problem.code] || problem.code;
    if (problem.__typename === 'Forbidden' && problem.needsProof) {
      text += ' (a fresh hardware-key proof would allow it)';
    }
    if (problem.field && problem.field !== '') { text = problem.field + ': ' + text; }
    if (problem.__typename === 'ProofRefused' && problem.reason) { text += ' (' + problem.reason + ')'; }
    return text;
  }

  angular.module('skyloom').constant('problems', {
    /** A typed problem: an object with `code` and `message` (union members of a result). */
    isProblem: function (value) {
      return !!(value && typeof value.code === 'string' && typeof value.message === 'string');
    },
    describe: describeProblem,
    /** GraphQL errors (the `errors` array of a response, or of a subscription's error message). */
    describeErrors: function (errors) {
      if (!errors || !errors.length) { return 'The request failed.'; }
      return errors.map(function (error) {
        var code = error.extensions && error.extensions.code;
        return (code && BY_CODE[code]) || error.message || code || 'The request failed.';
      }).join(' ');
    }
  });
})(window.angular);
