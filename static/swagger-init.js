// Starts the vendored Swagger UI on /schema; a file of its own because the
// Content-Security-Policy allows no inline script.
(function () {
  "use strict";
  var box = document.getElementById("swagger-container");
  window.ui = SwaggerUIBundle({
    url: box.getAttribute("data-spec-url"),
    dom_id: "#swagger-container",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
  });
})();
