/* The REST API's interactive docs (/api/v1/docs): Swagger UI on this server's OpenAPI description.
   Loaded as a file (the panel's Content-Security-Policy allows no inline script). */
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") {
    return;
  }
  window.ui = window.SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: false,
    tryItOutEnabled: false,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
})();
