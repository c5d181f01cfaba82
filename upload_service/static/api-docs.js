// /api/docs: Redoc (vendored, see vendor/redoc/VERSION) renders /api/openapi.json.
(function () {
  "use strict";
  const root = document.getElementById("api-docs");
  window.Redoc.init(
    root.dataset.specUrl,
    {
      scrollYOffset: "header.site-header", // the sticky header stays above the menu
      expandResponses: "200,201",
      jsonSampleExpandLevel: 2,
      hideHostname: true,
      theme: { spacing: { sectionHorizontal: 24 }, typography: { fontSize: "15px" } },
    },
    root,
  );
})();
