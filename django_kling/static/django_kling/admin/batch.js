/* django-kling: keeps a batch's progress panel current without reloading.
 *
 * The server renders the panel (counts per state, costs, failures, the newest clips); while the
 * batch is not done this fetches it again every few seconds and swaps it in. It stops when the
 * panel says the batch is done, and backs off after errors.
 */
(function () {
  "use strict";
  var delay = 3000;

  function refresh() {
    var holder = document.getElementById("kling-batch-panel");
    if (!holder) {
      return;
    }
    var panel = holder.querySelector("[data-kling-done]");
    if (panel && panel.getAttribute("data-kling-done") === "1") {
      return;
    }
    fetch(holder.getAttribute("data-kling-progress-url"), {credentials: "same-origin"})
      .then(function (response) {
        if (!response.ok) {
          throw new Error(response.status);
        }
        return response.text();
      })
      .then(function (html) {
        holder.innerHTML = html;
        delay = 3000;
        window.setTimeout(refresh, delay);
      })
      .catch(function () {
        delay = Math.min(delay * 2, 60000);
        window.setTimeout(refresh, delay);
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    window.setTimeout(refresh, delay);
  });
})();
