// The console's only script besides htmx: a followed log stays scrolled to its newest line (unless the reader
// has scrolled up to read), and the workspace switcher switches on change (its button stays for keyboards).
let logAtEnd = true;
document.addEventListener("htmx:beforeSwap", () => {
  const log = document.querySelector("#logs pre.log");
  if (log) logAtEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
});
document.addEventListener("htmx:afterSettle", () => {
  const log = document.querySelector("#logs pre.log");
  if (log && logAtEnd) log.scrollTop = log.scrollHeight;
});
document.addEventListener("change", (event) => {
  if (event.target.id === "workspace-switch") event.target.form.submit();
});
