const { defineConfig } = require("eslint/config");
const raycastConfig = require("@raycast/eslint-config");

module.exports = defineConfig([
  ...raycastConfig,
  { ignores: ["dist/", "e2e/", ".termcast-bundle/", "raycast-env.d.ts"] },
]);
