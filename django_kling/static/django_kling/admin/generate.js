/* django-kling "Generate video" page: keeps the cost estimate in step with the options (model,
 * mode, sound, duration) and
 * points out that sound and a last frame need the pro mode. The server checks everything
 * again when the form is sent. */
(function () {
  "use strict";

  function init() {
    var form = document.getElementById("kling-generate-form");
    var pricesNode = document.getElementById("kling-prices");
    var cost = form && form.querySelector("[data-kling-count]");
    if (!form || !pricesNode || !cost) {
      return;
    }
    var prices = JSON.parse(pricesNode.textContent);
    var count = Number(cost.getAttribute("data-kling-count")) || 0;
    var currency = cost.getAttribute("data-kling-currency");

    function value(name) {
      var checked = form.querySelector("[name='options-" + name + "']:checked");
      return checked ? checked.value : null;
    }

    function money(amount) {
      // Two decimals unless the third one matters, like the server does.
      var cents = Math.round(amount * 1000) % 10 === 0;
      return amount.toFixed(cents ? 2 : 3) + " " + currency;
    }

    function update() {
      var mode = value("mode") || "pro";
      var sound = form.querySelector("[name='options-sound']");
      var withSound = !!(sound && sound.checked);
      var byMode = prices[value("model")] || prices[Object.keys(prices)[0]];
      var table = byMode[mode] || byMode.pro;
      var perClip = Number(table[withSound ? "sound" : "silent"]) * Number(value("duration") || 5);
      cost.querySelector("[data-kling-total]").textContent = money(perClip * count);
      cost.querySelector("[data-kling-per-clip]").textContent = money(perClip);
      var lastFrames = Array.prototype.some.call(
        form.querySelectorAll("input[type='file']"), function (input) { return input.files.length; });
      var hint = form.querySelector(".kling-pro-hint");
      if (hint) {
        hint.hidden = !(mode !== "pro" && (withSound || lastFrames));
      }
    }

    form.addEventListener("change", update);
    update();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
