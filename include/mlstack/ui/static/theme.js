/* mlstack pages: follow Airflow's colour mode.
 *
 * Airflow's UI (next-themes) keeps the user's choice in localStorage under "theme"
 * ("light", "dark" or "system") and marks <html> with the class "light" or "dark". The pages
 * share its origin, so they read the same key, follow the system setting for "system" (or
 * no choice yet), and redraw when the choice changes in Airflow's UI around them (a
 * "storage" event) or in the system. Listeners get a "mlstack-theme" event on window.
 */
(function () {
  "use strict";
  var query = window.matchMedia("(prefers-color-scheme: dark)");

  function chosen() {
    try {
      return window.localStorage.getItem("theme");
    } catch (e) {
      return null;
    }
  }

  function apply() {
    var mode = chosen();
    var dark = mode === "dark" || (mode !== "light" && query.matches);
    var root = document.documentElement;
    root.classList.toggle("dark", dark);
    root.classList.toggle("light", !dark);
    root.style.colorScheme = dark ? "dark" : "light";
  }

  function changed() {
    apply();
    window.dispatchEvent(new Event("mlstack-theme"));
  }

  apply();
  window.addEventListener("storage", function (event) {
    if (event.key === "theme" || event.key === null) changed();
  });
  query.addEventListener("change", changed);
})();
