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
      if (checked) {
        return checked.value;
      }
      var select = form.querySelector("select[name='options-" + name + "']");
      return select ? select.value : null;
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
      // Every variant, language and format of the preset is a clip of its own.
      var variants = Number(value("variants") || 1);
      var languages = form.querySelectorAll("[name='options-languages']:checked").length;
      var formats = Number(cost.getAttribute("data-kling-formats")) || 1;
      var perRow = variants * Math.max(1, languages) * formats;
      cost.querySelector("[data-kling-total]").textContent = money(perClip * count * perRow);
      cost.querySelector("[data-kling-per-clip]").textContent = money(perClip);
      var lastFrames = Array.prototype.some.call(
        form.querySelectorAll("input[type='file']"), function (input) { return input.files.length; });
      var hint = form.querySelector(".kling-pro-hint");
      if (hint) {
        hint.hidden = !(mode !== "pro" && (withSound || lastFrames));
      }
    }

    var preset = form.querySelector("[name='options-preset']");
    var apply = form.querySelector(".kling-apply-preset");
    if (preset && apply) {
      // Choosing a preset applies it at once; without JavaScript the button does the same.
      preset.addEventListener("change", function () { apply.click(); });
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
