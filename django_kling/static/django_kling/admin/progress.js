/* django-kling: keeps status badges (and a request's panel) current without reloading.
 *
 * Every badge rendered by the admin carries its job id, whether it has ended, and the URL of
 * the JSON status endpoint. While any badge on the page is not final, this asks that endpoint
 * about those jobs every few seconds and updates the badges and progress lines. On a request's
 * own page it swaps in the panel the server rendered for the new state and, once the job has
 * ended, the page's fresh content (the player, the result, the error). It stops when nothing
 * is in flight.
 */
(function () {
  "use strict";
  if (window.klingProgress) {
    return; // included twice (changelist + inline media): one poller is enough
  }
  var state = { timer: null, delay: 1500, failures: 0 };
  window.klingProgress = state;

  function pendingBadges() {
    return Array.prototype.slice.call(
      document.querySelectorAll("[data-kling-job][data-kling-final='false'][data-kling-status-url]")
    ).filter(function (el) { return el.getAttribute("data-kling-status-url"); });
  }

  function byJob(selector, id) {
    return document.querySelectorAll("[" + selector + "='" + id + "']");
  }

  function apply(job) {
    byJob("data-kling-job", job.id).forEach(function (badge) {
      badge.className = "kling-badge kling-badge--" + job.status;
      badge.textContent = job.label;
      badge.setAttribute("data-kling-status", job.status);
      badge.setAttribute("data-kling-final", job.final ? "true" : "false");
    });
    byJob("data-kling-progress", job.id).forEach(function (el) { el.textContent = job.progress; });
    byJob("data-kling-bar", job.id).forEach(function (el) { el.value = job.elapsed; });
    if (job.review) {
      // The review column: markup rendered (and escaped) by the server's own template.
      byJob("data-kling-review", job.id).forEach(function (el) { el.innerHTML = job.review; });
    }
    byJob("data-kling-panel", job.id).forEach(function (panel) {
      if (panel.getAttribute("data-kling-status") === job.status) {
        return;
      }
      panel.setAttribute("data-kling-status", job.status);
      if (job.final) {
        refreshContent(panel, job); // the whole page changed: player, result fields, title
      } else {
        swapPanel(panel, job.panel);
      }
    });
  }

  function swapPanel(panel, markup) {
    if (!markup) {
      return;
    }
    // Markup rendered (and escaped) by the server's own template for the new state.
    var holder = document.createElement("div");
    holder.innerHTML = markup;
    var fresh = holder.querySelector("[data-kling-panel]");
    if (fresh) {
      panel.replaceWith(fresh);
    }
  }

  function refreshContent(panel, job) {
    // Fetch this page again and put its content in place of ours: the same as a reload for
    // the reader, without losing the scroll position or restarting this script.
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("reload failed");
        }
        return response.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        if (!doc.getElementById("content") || !document.getElementById("content")) {
          throw new Error("no content");
        }
        ["#content", ".breadcrumbs"].forEach(function (selector) {
          var fresh = doc.querySelector(selector);
          var current = document.querySelector(selector);
          if (fresh && current) {
            current.replaceWith(fresh);
          }
        });
        document.title = doc.title;
      })
      .catch(function () {
        swapPanel(panel, job.panel); // at least the state, the player or the error
      });
  }

  function schedule(delay) {
    clearTimeout(state.timer);
    state.timer = setTimeout(poll, delay);
  }

  function poll() {
    var badges = pendingBadges();
    if (!badges.length) {
      state.timer = null;
      return; // nothing in flight: stop
    }
    if (document.hidden) {
      return; // resumed by the visibilitychange listener
    }
    var url = new URL(badges[0].getAttribute("data-kling-status-url"), window.location.href);
    var seen = {};
    badges.forEach(function (el) {
      var id = el.getAttribute("data-kling-job");
      if (!seen[id]) {
        seen[id] = true;
        url.searchParams.append("id", id);
      }
    });
    var panel = document.querySelector("[data-kling-panel]");
    if (panel) {
      url.searchParams.set("panel", panel.getAttribute("data-kling-panel"));
    }
    fetch(url.toString(), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401 || response.status === 403 || response.redirected) {
          throw new Error("stop"); // logged out or not allowed: polling cannot help
        }
        if (!response.ok) {
          throw new Error("retry");
        }
        return response.json();
      })
      .then(function (data) {
        state.failures = 0;
        state.delay = data.interval || state.delay;
        Object.keys(seen).forEach(function (id) {
          if (data.jobs[id]) {
            apply(data.jobs[id]);
          } else {
            // Deleted meanwhile: nothing more will happen to it.
            byJob("data-kling-job", id).forEach(function (badge) {
              badge.setAttribute("data-kling-final", "true");
            });
          }
        });
        schedule(state.delay);
      })
      .catch(function (error) {
        if (error.message === "stop") {
          state.timer = null;
          return;
        }
        state.failures += 1; // network trouble: back off, up to half a minute
        schedule(Math.min(state.delay * Math.pow(2, state.failures), 30000));
      });
  }

  function start() {
    if (pendingBadges().length) {
      schedule(state.delay);
    }
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      schedule(0);
    }
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
