import { expect, test } from "@playwright/test";

test.describe("home page", () => {
  test("loads, hydrates and round-trips a server function", async ({ page }) => {
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));

    await page.goto("/");
    await expect(page).toHaveTitle(/image-chat/);
    await expect(page.getByRole("heading", { level: 1 })).toHaveText("Find images by describing them");
    // The status panel is rendered on the server: it is there before any script runs.
    await expect(page.getByTestId("version")).toHaveText(/^\d+\.\d+\.\d+$/);

    // Hydration marks the document; clicking before that would do nothing.
    await expect(page.locator("html")).toHaveAttribute("data-hydrated", "true");

    const summary = page.getByTestId("status-summary");
    await expect(summary).toHaveAttribute("data-checks", "0");
    const response = page.waitForResponse((r) => r.url().includes("/api/status") && r.request().method() === "POST");
    await page.getByTestId("refresh-status").click();
    const res = await response;
    expect(res.status()).toBe(200);
    const body = await res.json();
    expect(body.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(body.components.map((c: { name: string }) => c.name)).toEqual(
      expect.arrayContaining(["web", "data_dir", "model", "redis", "postgres"]),
    );
    // The re-rendered panel shows the answer of the second check.
    await expect(summary).toHaveAttribute("data-checks", "1");
    await expect(page.locator("li", { hasText: "model" })).toBeVisible();

    await page.screenshot({ path: "test-results/home.png", fullPage: true });
    expect(errors, `browser errors: ${errors.join("\n")}`).toEqual([]);
  });

  test("is usable at 360 px wide", async ({ page }) => {
    await page.setViewportSize({ width: 360, height: 740 });
    await page.goto("/");
    await expect(page.locator("html")).toHaveAttribute("data-hydrated", "true");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: "test-results/home-360.png", fullPage: true });
  });

  test("an unknown page says so", async ({ page }) => {
    const res = await page.goto("/no/such/page");
    expect(res?.status()).toBe(404);
    await expect(page.getByText("Page not found.")).toBeVisible();
  });
});

test("health answers JSON with the version and each component", async ({ request }) => {
  const res = await request.get("/health");
  expect(res.status()).toBe(200);
  const body = await res.json();
  expect(body.status).toMatch(/^(ok|degraded)$/);
  expect(body.components.find((c: { name: string }) => c.name === "web").state).toBe("ok");
});
