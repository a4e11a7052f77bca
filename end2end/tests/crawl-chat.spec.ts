import { expect, test, type Page } from "@playwright/test";

// scripts/test.sh serves a generated fixture site on loopback and lets the app crawl it.
const fixture = process.env.FIXTURE_URL;

async function hydrated(page: Page) {
  await page.goto("/");
  await expect(page.locator("html")).toHaveAttribute("data-hydrated", "true");
}

/** An image description as a person would read it on the fixture site. */
async function describedImage(page: Page): Promise<string> {
  await page.goto(`${fixture}/`);
  const alt = await page.evaluate(() =>
    [...document.querySelectorAll("img[alt]")]
      .map((i) => (i.getAttribute("alt") ?? "").trim())
      .find((a) => a.split(/\s+/).length >= 4),
  );
  expect(alt, "the fixture home page has a described image").toBeTruthy();
  return alt as string;
}

async function ask(page: Page, message: string) {
  await page.getByTestId("chat-input").fill(message);
  await page.getByTestId("chat-send").click();
}

test.describe("crawl and chat", () => {
  test.skip(!fixture, "FIXTURE_URL is unset: run the end-to-end tests through scripts/test.sh");

  test("a person crawls a site, watches it finish, and finds an image by describing it", async ({ page }) => {
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    const alt = await describedImage(page);
    await hydrated(page);
    await expect(page.getByTestId("chat-empty")).toBeVisible();

    await page.getByTestId("crawl-url").fill(`${fixture}/`);
    await page.getByTestId("crawl-max-pages").fill("40");
    await page.getByTestId("crawl-submit").click();
    const progress = page.getByTestId("progress");
    await expect(progress).toBeVisible();
    await page.screenshot({ path: "test-results/crawl-progress.png", fullPage: true });
    await expect(progress).toHaveAttribute("data-status", "finished", { timeout: 60_000 });
    await expect(page.getByTestId("progress-bar")).toHaveAttribute("aria-valuenow", "100");
    await expect(page.getByTestId("count-pages")).toHaveText("40");
    const indexed = Number(await page.getByTestId("count-indexed").textContent());
    expect(indexed).toBeGreaterThan(0);
    // Images were fetched and read for their real size and format.
    const analysed = Number(await page.getByTestId("count-analysed").textContent());
    expect(analysed).toBeGreaterThan(0);
    // Analysed images are searchable unless their bytes showed a pixel or an icon.
    const tooSmall = Number(await page.getByTestId("count-too-small").textContent());
    expect(tooSmall).toBeGreaterThanOrEqual(0);
    expect(analysed).toBeLessThanOrEqual(indexed + tooSmall);
    // Images the site says are not there are counted apart (the fixture site has none).
    await expect(page.getByTestId("count-missing")).toHaveText("0");
    await page.screenshot({ path: "test-results/crawl-finished.png", fullPage: true });

    // Ask for the image by its description: it is in the grid with its caption.
    await ask(page, alt);
    const turn = page.getByTestId("turn").last();
    await expect(turn.getByTestId("result-caption").filter({ hasText: alt }).first()).toBeVisible();
    const card = turn.getByTestId("result").filter({ hasText: alt }).first();
    await expect(card.locator("img")).toHaveAttribute("loading", "lazy");
    await page.screenshot({ path: "test-results/chat-results.png", fullPage: true });
    // The README's screenshot: the finished crawl and the answer's first results.
    await page.setViewportSize({ width: 1280, height: 1100 });
    await page.evaluate(() => document.getElementById("progress-title")?.scrollIntoView());
    await page.screenshot({ path: "test-results/chat-results-viewport.png" });
    await page.setViewportSize({ width: 1280, height: 720 });

    // A filter becomes a chip; removing it searches again without it.
    await ask(page, `PNG images of ${alt}`);
    const filtered = page.getByTestId("turn").last();
    const chip = filtered.locator('[data-testid="chip"][data-kind="format"]');
    await expect(chip).toBeVisible();
    // The results that meet the filter are PNGs; any closest ones shown after them say they are not.
    const met = filtered.locator('[data-testid="results-strong"], [data-testid="results-weaker"]');
    for (const badge of await met.getByTestId("result-format").allTextContents()) expect(badge).toBe("PNG");
    for (const unmet of await filtered.getByTestId("result-unmet").allTextContents()) expect(unmet).toContain("PNG");
    if ((await filtered.getByTestId("result-unmet").count()) > 0) {
      await expect(chip.getByTestId("chip-note")).toContainText("PNG");
    }
    await page.screenshot({ path: "test-results/chat-chips.png", fullPage: true });
    await chip.getByTestId("chip-remove").click();
    await expect(page.getByTestId("turn")).toHaveCount(3);
    const unfiltered = page.getByTestId("turn").last();
    await expect(unfiltered.locator(".you")).toContainText("Remove format");
    await expect(unfiltered.getByTestId("changes")).toContainText("− PNG");
    await expect(unfiltered.locator('[data-testid="chip"][data-kind="format"]')).toHaveCount(0);
    await expect(unfiltered.getByTestId("result").first()).toBeVisible();

    // The source page link opens the page the image came from.
    const [source] = await Promise.all([
      page.waitForEvent("popup"),
      card.getByTestId("result-page").click(),
    ]);
    await source.waitForLoadState();
    expect(source.url().startsWith(`${fixture}/`)).toBe(true);
    await source.close();

    // Nothing found: say so and suggest what to try.
    await ask(page, "quantum chromodynamics lecture notes");
    await expect(page.getByTestId("turn").last().getByTestId("no-results")).toContainText("No images matched");

    // Still usable at 360 px wide.
    await page.setViewportSize({ width: 360, height: 800 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.getByTestId("turn").last().scrollIntoViewIfNeeded();
    await page.screenshot({ path: "test-results/chat-360.png" });
    expect(errors, errors.join("\n")).toEqual([]);
  });

  test("progress falls back to polling when the event stream is refused", async ({ page }) => {
    // Refuse the SSE request (a proxy that breaks streaming): the browser gives up on it and the
    // panel polls the session instead.
    let refused = 0;
    await page.route("**/crawl/*/status", async (route) => {
      if ((route.request().headers()["accept"] ?? "").includes("text/event-stream")) {
        refused += 1;
        await route.fulfill({ status: 503, body: "no streaming here" });
      } else {
        await route.continue();
      }
    });
    await hydrated(page);
    await page.getByTestId("crawl-url").fill(`${fixture}/`);
    await page.getByTestId("crawl-max-pages").fill("20");
    const polled = page.waitForRequest((r) => new URL(r.url()).pathname === "/api/session" && r.method() === "POST");
    await page.getByTestId("crawl-submit").click();
    await polled;
    await expect(page.getByTestId("progress")).toHaveAttribute("data-status", "finished", { timeout: 60_000 });
    await expect(page.getByTestId("progress-bar")).toHaveAttribute("aria-valuenow", "100");
    expect(refused).toBeGreaterThan(0);
  });

  test("progress reconnects after the event stream drops", async ({ page }) => {
    // The first stream is cut off; the browser reconnects by itself and the server's fresh
    // snapshot brings the panel up to date, without falling back to polling.
    let streams = 0;
    let polls = 0;
    await page.route("**/crawl/*/status", async (route) => {
      if ((route.request().headers()["accept"] ?? "").includes("text/event-stream")) {
        streams += 1;
        if (streams === 1) return route.abort("connectionreset");
      }
      return route.continue();
    });
    page.on("request", (r) => {
      if (new URL(r.url()).pathname === "/api/session") polls += 1;
    });
    await hydrated(page);
    await page.getByTestId("crawl-url").fill(`${fixture}/`);
    await page.getByTestId("crawl-max-pages").fill("20");
    await page.getByTestId("crawl-submit").click();
    await expect(page.getByTestId("progress")).toHaveAttribute("data-status", "finished", { timeout: 30_000 });
    expect(streams).toBeGreaterThanOrEqual(2);
    expect(polls).toBe(0);
  });

  test("a running crawl is shown again after a reload, and can be cancelled", async ({ page, request }) => {
    // A start page that answers only after 30 s keeps the crawl running.
    const res = await request.post("/crawl", { data: { url: `${fixture}/trap/slow-headers?ms=30000`, max_pages: 1 } });
    expect(res.status()).toBe(202);
    await hydrated(page);
    const progress = page.getByTestId("progress");
    await expect(progress).toHaveAttribute("data-status", "running");
    await page.getByTestId("crawl-cancel").click();
    await expect(progress).toHaveAttribute("data-status", "cancelled", { timeout: 15_000 });
    await expect(page.getByTestId("crawl-cancel")).toHaveCount(0);
  });

  test("the form's render control reaches the crawl: every page is rendered in the browser", async ({ page }) => {
    await hydrated(page);
    await page.getByTestId("crawl-url").fill(`${fixture}/`);
    await page.getByTestId("crawl-max-pages").fill("3");
    await page.locator("details.advanced summary").click();
    await page.getByTestId("render-mode").selectOption("always");
    await page.getByTestId("crawl-submit").click();
    const progress = page.getByTestId("progress");
    await expect(progress).toHaveAttribute("data-status", "finished", { timeout: 60_000 });
    // Each page the crawl fetched as HTML went through the browser (a link that is no page is not).
    await expect(page.getByTestId("count-rendered")).toHaveText(/^[1-3] pages/);
  });

  test("a conversation narrows a search, a chip comes off, and New search starts over", async ({ page }) => {
    // The site was crawled by the first test; its sessions are searched ("all crawls").
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    const alt = await describedImage(page);
    await hydrated(page);
    const words = alt.split(/\s+/).slice(0, 3).join(" ");

    // Turn 1: a description.
    await ask(page, words);
    const first = page.getByTestId("turn").last();
    await expect(first.getByTestId("result").first()).toBeVisible();
    await expect(first.getByTestId("changes")).toHaveCount(0);

    // Turn 2: "only the PNG ones" refines it; the answer says so and holds PNGs first.
    await ask(page, "only the PNG ones");
    const second = page.getByTestId("turn").nth(1);
    await expect(second.getByTestId("changes")).toHaveText("refined: + PNG");
    await expect(second.locator('[data-testid="chip"][data-kind="format"]')).toContainText("png");
    const met = second.locator('[data-testid="results-strong"], [data-testid="results-weaker"]');
    for (const badge of await met.getByTestId("result-format").allTextContents()) expect(badge).toBe("PNG");

    // Turn 3: "in landscape" adds to it; both chips are the request's now.
    await ask(page, "in landscape");
    const third = page.getByTestId("turn").nth(2);
    await expect(third.getByTestId("changes")).toHaveText("refined: + landscape");
    await expect(third.getByTestId("chip")).toHaveCount(2);
    // Only the latest answer's chips can be removed.
    await expect(second.getByTestId("chip-remove")).toHaveCount(0);
    await page.screenshot({ path: "test-results/chat-conversation.png", fullPage: true });

    // Removing the PNG chip runs the request without it; landscape stays.
    await third.locator('[data-testid="chip"][data-kind="format"]').getByTestId("chip-remove").click();
    const fourth = page.getByTestId("turn").nth(3);
    await expect(fourth.getByTestId("changes")).toHaveText("refined: − PNG");
    await expect(fourth.getByTestId("chip")).toHaveCount(1);
    await expect(fourth.locator('[data-testid="chip"][data-kind="orientation"]')).toBeVisible();

    // New search forgets the conversation: "only the PNG ones" is then a first message.
    await page.getByTestId("new-search").click();
    await expect(page.getByTestId("turn")).toHaveCount(0);
    await ask(page, words);
    await expect(page.getByTestId("turn").last().getByTestId("changes")).toHaveCount(0);
    await expect(page.getByTestId("turn").last().getByTestId("chip")).toHaveCount(0);
    expect(errors, errors.join("\n")).toEqual([]);
  });

  test("past sessions are listed in the session picker", async ({ page }) => {
    await hydrated(page);
    const picker = page.getByTestId("session-picker");
    await expect(picker.locator("option")).not.toHaveCount(1);
    await expect(picker.locator("option").nth(1)).toContainText("127.0.0.1");
  });
});

test("an invalid URL is refused with a message, in the browser and by the server", async ({ page }) => {
  await hydrated(page);
  const url = page.getByTestId("crawl-url");
  const error = page.getByTestId("crawl-error");
  await url.fill("example.org");
  await page.getByTestId("crawl-submit").click();
  await expect(error).toContainText("must start with http:// or https://");
  await expect(url).toHaveAttribute("aria-invalid", "true");
  // Passes the browser's check; the server refuses private addresses.
  await url.fill("http://10.0.0.1/");
  await page.getByTestId("crawl-submit").click();
  await expect(error).toContainText("url: address 10.0.0.1 is not public");
  await expect(page.getByTestId("progress")).toHaveCount(0);
  await page.screenshot({ path: "test-results/crawl-invalid.png", fullPage: true });
});

test("the API answers errors as JSON with a code and a message", async ({ request }) => {
  const res = await request.post("/crawl", { data: { url: "ftp://example.org/" } });
  expect(res.status()).toBe(400);
  const body = await res.json();
  expect(body.error.code).toBe("invalid_request");
  expect(body.error.message).toContain("url:");
});
