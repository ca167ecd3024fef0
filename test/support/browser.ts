/**
 * browser.ts - headless Chromium for the tests of privheap's HTML pages,
 * driven over the Chrome DevTools Protocol written here: no package to
 * install.
 *
 * `Browser.launch()` starts Chromium with a temporary profile, talking to
 * it over a pair of pipes; `browser.open(url)` makes a tab, collects its console errors and
 * uncaught exceptions from the start, navigates and waits for the load
 * event. A page then evaluates expressions, moves the mouse and takes
 * screenshots into {@link ARTIFACTS}.
 *
 * Chromium is found by `CHROMIUM` (a path), else on the usual paths; where
 * none exists {@link CHROMIUM} is null and the browser suites skip.
 */
import { closeSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

/** Where screenshots go (ignored by git). */
export const ARTIFACTS = join(import.meta.dir, "..", "..", "test-artifacts");

function findChromium(): string | null {
  const env = process.env.CHROMIUM;
  if (env !== undefined && env !== "") return existsSync(env) ? env : null;
  for (const p of ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable"]) if (existsSync(p)) return p;
  return null;
}

/** The Chromium executable, or null when this machine has none. */
export const CHROMIUM: string | null = findChromium();

/** Why the browser suites skip, printed once by each. */
export const NO_CHROMIUM = "no Chromium here (install Debian's chromium, or set CHROMIUM to its path): the browser tests are skipped";

/**
 * Write `html` to ARTIFACTS/pages/`name` (kept with the screenshots, to open
 * by hand) and return its file: URL.
 */
export function artifactPage(name: string, html: string): string {
  const dir = join(ARTIFACTS, "pages");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, html);
  return pathToFileURL(path).href;
}

/** How long a command or a page load may take before the test fails (ms). */
const TIMEOUT_MS = 30_000;

interface Pending {
  resolve: (value: Record<string, unknown>) => void;
  reject: (error: Error) => void;
  method: string;
}

type Listener = (params: Record<string, unknown>, sessionId: string | undefined) => void;

/**
 * One DevTools connection over Chromium's --remote-debugging-pipe: the
 * browser reads commands from its fd 3 and writes replies and events to its
 * fd 4, each a JSON text ended by a NUL byte. (Bun's WebSocket client drops
 * the connection to Chromium now and then, which a pipe cannot.)
 */
class Connection {
  readonly #toBrowser: number;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Map<string, Set<Listener>>();
  #next = 1;
  #closed = false;

  constructor(toBrowser: number, fromBrowser: number) {
    this.#toBrowser = toBrowser;
    void this.#read(fromBrowser);
  }

  async #read(fd: number): Promise<void> {
    const decoder = new TextDecoder();
    let text = "";
    for await (const chunk of Bun.file(fd).stream()) {
      text += decoder.decode(chunk, { stream: true });
      for (let end = text.indexOf("\0"); end >= 0; end = text.indexOf("\0")) {
        this.#receive(text.slice(0, end));
        text = text.slice(end + 1);
      }
    }
    this.#fail(new Error("the browser closed its DevTools pipe"));
  }

  #write(text: string): void {
    const bytes = Buffer.from(`${text}\0`);
    for (let at = 0; at < bytes.length; ) {
      try {
        at += writeSync(this.#toBrowser, bytes, at, bytes.length - at);
      } catch (e) {
        if ((e as { code?: unknown }).code !== "EAGAIN") throw e;
        Bun.sleepSync(1); // the pipe is full: the browser reads it soon
      }
    }
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    if (this.#closed) return Promise.reject(new Error(`${method}: the DevTools connection is closed`));
    const id = this.#next++;
    const message: Record<string, unknown> = { id, method, params };
    if (sessionId !== undefined) message.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${method}: no reply in ${TIMEOUT_MS} ms`));
      }, TIMEOUT_MS);
      this.#pending.set(id, {
        method,
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.#write(JSON.stringify(message));
    });
  }

  on(method: string, listener: Listener): () => void {
    let set = this.#listeners.get(method);
    if (set === undefined) this.#listeners.set(method, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeSync(this.#toBrowser);
  }

  #receive(text: string): void {
    const message = JSON.parse(text) as { id?: number; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown>; error?: { message: string }; sessionId?: string };
    if (message.id !== undefined) {
      const pending = this.#pending.get(message.id);
      if (pending === undefined) return;
      this.#pending.delete(message.id);
      if (message.error !== undefined) pending.reject(new Error(`${pending.method}: ${message.error.message}`));
      else pending.resolve(message.result ?? {});
      return;
    }
    if (message.method !== undefined) for (const listener of this.#listeners.get(message.method) ?? []) listener(message.params ?? {}, message.sessionId);
  }

  #fail(error: Error): void {
    this.#closed = true;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}

/** The text of a console call's arguments, as DevTools reports them. */
function consoleText(args: unknown): string {
  if (!Array.isArray(args)) return "";
  return args.map((a: { value?: unknown; description?: string }) => (a.value !== undefined ? String(a.value) : (a.description ?? ""))).join(" ");
}

/** A tab: what went wrong in it, and ways to look at it and move the mouse over it. */
export class Page {
  readonly #connection: Connection;
  readonly #sessionId: string;
  readonly #targetId: string;
  /** Console errors and warnings-as-errors, uncaught exceptions and failed loads, in order. */
  readonly errors: string[] = [];
  readonly #unsubscribe: (() => void)[] = [];

  /** @internal made by Browser.open */
  constructor(connection: Connection, targetId: string, sessionId: string) {
    this.#connection = connection;
    this.#targetId = targetId;
    this.#sessionId = sessionId;
    const mine = (listener: (params: Record<string, unknown>) => void): Listener => (params, session) => {
      if (session === sessionId) listener(params);
    };
    this.#unsubscribe.push(
      connection.on("Runtime.consoleAPICalled", mine((p) => {
        if (p.type === "error" || p.type === "assert") this.errors.push(`console.${String(p.type)}: ${consoleText(p.args)}`);
      })),
      connection.on("Runtime.exceptionThrown", mine((p) => {
        const d = p.exceptionDetails as { text?: string; exception?: { description?: string } };
        this.errors.push(`uncaught: ${d.exception?.description ?? d.text ?? "an exception"}`);
      })),
      connection.on("Log.entryAdded", mine((p) => {
        const e = p.entry as { level?: string; text?: string; url?: string };
        if (e.level === "error") this.errors.push(`log: ${e.text ?? ""}${e.url ? ` (${e.url})` : ""}`);
      })),
    );
  }

  #send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return this.#connection.send(method, params, this.#sessionId);
  }

  /** Enable the event domains and set the viewport (before navigating, so no early error is missed). */
  async prepare(width: number, height: number): Promise<void> {
    await this.#send("Runtime.enable");
    await this.#send("Log.enable");
    await this.#send("Page.enable");
    await this.#send("Emulation.setDeviceMetricsOverride", { width, height, deviceScaleFactor: 1, mobile: false });
  }

  /**
   * The next load event of this tab (take it before what navigates: a
   * click on a link, say, then await it).
   */
  nextLoad(): Promise<void> {
    const loaded = new Promise<void>((resolve) => {
      const off = this.#connection.on("Page.loadEventFired", (_p, session) => {
        if (session !== this.#sessionId) return;
        off();
        resolve();
      });
    });
    return withTimeout(loaded, "the next load event");
  }

  /** Navigate to `url` and wait for its load event. */
  async goto(url: string): Promise<void> {
    const loaded = this.nextLoad();
    const r = await this.#send("Page.navigate", { url });
    if (typeof r.errorText === "string") throw new Error(`cannot open ${url}: ${r.errorText}`);
    await loaded;
  }

  /**
   * The value of `expression` in the page (awaited when it is a promise),
   * as JSON allows; an exception in it rejects.
   */
  async evaluate<T = unknown>(expression: string): Promise<T> {
    const r = await this.#send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true });
    const failed = r.exceptionDetails as { text?: string; exception?: { description?: string } } | undefined;
    if (failed !== undefined) throw new Error(`evaluate(${expression}): ${failed.exception?.description ?? failed.text}`);
    return (r.result as { value?: T }).value as T;
  }

  /** Move the mouse to (x, y) in CSS pixels of the viewport, as a user would. */
  async mouseMove(x: number, y: number): Promise<void> {
    await this.#send("Input.dispatchMouseEvent", { type: "mouseMoved", x, y });
  }

  /** Click at (x, y) in CSS pixels of the viewport. */
  async click(x: number, y: number): Promise<void> {
    await this.#send("Input.dispatchMouseEvent", { type: "mousePressed", x, y, button: "left", clickCount: 1 });
    await this.#send("Input.dispatchMouseEvent", { type: "mouseReleased", x, y, button: "left", clickCount: 1 });
  }

  /** A PNG of the viewport, or of the whole page with `fullPage`, written to ARTIFACTS/name; returns its path. */
  async screenshot(name: string, options: { fullPage?: boolean } = {}): Promise<string> {
    const params: Record<string, unknown> = { format: "png", captureBeyondViewport: options.fullPage === true };
    if (options.fullPage === true) {
      const size = await this.evaluate<{ w: number; h: number }>("({ w: document.documentElement.scrollWidth, h: document.documentElement.scrollHeight })");
      params.clip = { x: 0, y: 0, width: size.w, height: size.h, scale: 1 };
    }
    await this.#send("Page.bringToFront"); // a tab in the background may never paint
    const r = await this.#send("Page.captureScreenshot", params);
    mkdirSync(ARTIFACTS, { recursive: true });
    const path = join(ARTIFACTS, name);
    writeFileSync(path, Buffer.from(String(r.data), "base64"));
    return path;
  }

  /**
   * Milliseconds from the start of navigation until the page's own ready
   * hook (window.privheapReadyAt, set by src/inspect/html/page.ts once its
   * script has drawn everything); throws when the page never got there.
   */
  async readyMs(): Promise<number> {
    const at = await this.evaluate<number | undefined>("window.privheapReadyAt");
    if (typeof at !== "number") throw new Error(`the page never became ready; errors: ${this.errors.join("; ") || "none"}`);
    return at;
  }

  /** Close the tab. */
  async close(): Promise<void> {
    for (const off of this.#unsubscribe) off();
    await this.#connection.send("Target.closeTarget", { targetId: this.#targetId }).catch(() => {});
  }
}

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing in ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** A headless Chromium process with a temporary profile. */
export class Browser {
  readonly #process: Bun.Subprocess;
  readonly #connection: Connection;
  readonly #profile: string;

  private constructor(process: Bun.Subprocess, connection: Connection, profile: string) {
    this.#process = process;
    this.#connection = connection;
    this.#profile = profile;
  }

  /** Start Chromium (CHROMIUM must not be null). */
  static async launch(): Promise<Browser> {
    if (CHROMIUM === null) throw new Error(NO_CHROMIUM);
    const profile = mkdtempSync(join(tmpdir(), "privheap-chromium-"));
    const child = Bun.spawn(
      [
        CHROMIUM,
        "--headless",
        "--no-sandbox", // CI runs as root, where Chromium's sandbox refuses to start
        "--disable-gpu",
        "--disable-dev-shm-usage", // containers often have a small /dev/shm; use /tmp
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--remote-debugging-pipe",
        `--user-data-dir=${profile}`,
        "about:blank",
      ],
      // fds 3 and 4: the DevTools pipe. Chromium's own log (dbus noise on a server) is dropped.
      { stdio: ["ignore", "ignore", "ignore", "pipe", "pipe"] },
    );
    const [, , , toBrowser, fromBrowser] = child.stdio as unknown as (number | null)[];
    const browser = new Browser(child, new Connection(toBrowser!, fromBrowser!), profile);
    try {
      await browser.#connection.send("Browser.getVersion"); // answers once the browser is up
    } catch (e) {
      await browser.close();
      throw e;
    }
    return browser;
  }

  /**
   * A new tab of `width` x `height` CSS pixels showing `url` once loaded;
   * its `errors` hold everything that went wrong from the first byte.
   */
  async open(url: string, width = 1280, height = 900): Promise<Page> {
    const { targetId } = (await this.#connection.send("Target.createTarget", { url: "about:blank" })) as { targetId: string };
    const { sessionId } = (await this.#connection.send("Target.attachToTarget", { targetId, flatten: true })) as { sessionId: string };
    const page = new Page(this.#connection, targetId, sessionId);
    await page.prepare(width, height);
    await page.goto(url);
    return page;
  }

  /** Quit Chromium and remove its profile. */
  async close(): Promise<void> {
    await this.#connection.send("Browser.close").catch(() => {});
    this.#connection.close();
    const exited = await Promise.race([this.#process.exited, Bun.sleep(5000).then(() => null)]);
    if (exited === null) {
      this.#process.kill("SIGKILL");
      await this.#process.exited;
    }
    rmSync(this.#profile, { recursive: true, force: true });
  }
}
