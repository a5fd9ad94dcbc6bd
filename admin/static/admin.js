// htmx 2 does not swap 4xx/5xx answers; say what went wrong instead of failing silently.
document.addEventListener("htmx:responseError", function (event) {
  var status = document.getElementById("request-status");
  var message = "The request failed (" + event.detail.xhr.status + ").";
  try {
    var body = JSON.parse(event.detail.xhr.responseText);
    if (body && body.message) { message = body.message; }
  } catch (ignored) { /* not JSON: keep the generic message */ }
  status.textContent = message;
  status.classList.add("visible");
});
document.addEventListener("htmx:beforeRequest", function () {
  var status = document.getElementById("request-status");
  if (status) { status.textContent = ""; status.classList.remove("visible"); }
});
// A switch that cannot be turned on stays focusable (its reason is read out with it) but does
// not toggle; the server refuses it too.
document.addEventListener("click", function (event) {
  var target = event.target;
  // During a click the box already shows its new state; preventDefault puts it back.
  if (target.matches && target.matches('input[aria-disabled="true"]') && target.checked) {
    event.preventDefault();
  }
});
