import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // One real daemon per file; files one after another (the model is the bottleneck).
    fileParallelism: false,
  },
});
