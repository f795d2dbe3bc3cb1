/* egresslint graph page: records what goes wrong, before anything else runs. Every error,
   failed promise, console.error call and blocked load (the page may load nothing) is added
   to <body data-errors>, so that a headless browser run can see it in the DOM. */
(() => {
  "use strict";
  const seen = [];
  const keep = (message) => {
    seen.push(String(message));
    document.body.setAttribute("data-errors", seen.join(" | "));
  };
  window.addEventListener("error", (e) => keep(e.message || e.type));
  window.addEventListener("unhandledrejection", (e) => keep(e.reason));
  document.addEventListener("securitypolicyviolation", (e) =>
    keep(`blocked by the page's policy: ${e.blockedURI || e.violatedDirective}`),
  );
  const original = console.error;
  console.error = (...args) => {
    keep(args.join(" "));
    original.apply(console, args);
  };
})();
