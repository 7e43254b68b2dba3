/* django-kling "Generate video" page: keeps what will be made (objects x formats x variants x
 * languages), its cost per object and in all, and the Queue button in step with the options
 * (model, mode, sound, duration, formats, variants, languages), and points out that sound and a
 * last frame need the pro mode. It offers only what the chosen model can do (the capability
 * registry, in #kling-offers): durations, modes, sound and the voice it cannot are disabled and
 * cleared as the model changes (the multi-shot rows hidden and cleared), and sound as a last
 * frame is chosen where the model cannot do both. The server counts the same way and checks
 * everything again when the form is sent. */
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
    var offersNode = document.getElementById("kling-offers");
    var offers = offersNode ? JSON.parse(offersNode.textContent) : {};
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

    function show(name, text) {
      var node = cost.querySelector("[data-kling-" + name + "]");
      if (node) {
        node.textContent = text;
      }
    }

    function offerOnly() {
      var offered = offers[value("model")];
      if (!offered) {
        return;
      }
      ["duration", "mode"].forEach(function (name) {
        var allowed = (name === "duration" ? offered.durations : offered.modes).map(String);
        var radios = form.querySelectorAll("[name='options-" + name + "']");
        var cleared = false;
        Array.prototype.forEach.call(radios, function (radio) {
          radio.disabled = allowed.indexOf(radio.value) < 0;
          if (radio.disabled && radio.checked) {
            radio.checked = false;
            cleared = true;
          }
        });
        if (cleared) {
          var first = Array.prototype.find.call(radios, function (radio) { return !radio.disabled; });
          if (first) { first.checked = true; }
        }
      });
      var lastFrames = Array.prototype.some.call(
        form.querySelectorAll("input[type='file']"), function (input) { return input.files.length; });
      var sound = form.querySelector("[name='options-sound']");
      if (sound) {
        sound.disabled = !offered.sound || (lastFrames && !offered.lastFrameWithSound);
        if (sound.disabled) { sound.checked = false; }
      }
      var voice = form.querySelector("[name='options-voices']");
      if (voice) {
        voice.disabled = !offered.voices || !(sound && sound.checked);
        if (voice.disabled) { voice.value = ""; }
      }
      // Multi-shot rows: hidden and cleared for a model that takes no shots.
      var shots = form.querySelector("[data-kling-shots]");
      if (shots) {
        var row = shots.closest(".form-row, .w-field__wrapper") || shots;
        row.hidden = !offered.shots;
        row.style.display = offered.shots ? "" : "none";  // a stylesheet's display may win
        Array.prototype.forEach.call(shots.querySelectorAll("input"), function (input) {
          input.disabled = !offered.shots;
          if (input.disabled) { input.value = ""; }
        });
      }
    }

    function update() {
      offerOnly();
      var mode = value("mode") || "pro";
      var sound = form.querySelector("[name='options-sound']");
      var withSound = !!(sound && sound.checked);
      var byMode = prices[value("model")] || prices[Object.keys(prices)[0]];
      var table = byMode[mode] || byMode.pro;
      var voiced = withSound && value("voices") && table.voice ? "voice" : null;
      var perClip = Number(table[voiced || (withSound ? "sound" : "silent")]) *
        Number(value("duration") || 5);
      // Every format, variant and language ticked is a clip of its own, for every object.
      var variants = Number(value("variants") || 1);
      var languages = Math.max(1, form.querySelectorAll("[name='options-languages']:checked").length);
      var ticked = Array.prototype.map.call(
        form.querySelectorAll("[name='options-aspect_ratio']:checked"), function (box) { return box.value; });
      var formats = Math.max(1, ticked.length);
      var perRow = variants * languages * formats;
      show("formats", formats);
      show("format-names", "(" + ticked.join(", ") + ")");
      show("variants", variants);
      show("languages", languages);
      show("clips", count * perRow);
      show("per-object", money(perClip * perRow));
      show("total", money(perClip * count * perRow));
      show("per-clip", money(perClip));
      var queue = form.querySelector("[data-kling-queue-many]");
      if (queue) {
        var label = count * perRow === 1 ? queue.getAttribute("data-kling-queue-one")
          : queue.getAttribute("data-kling-queue-many").replace("999", String(count * perRow));
        if (queue.tagName === "INPUT") { queue.value = label; } else { queue.textContent = label; }
      }
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
