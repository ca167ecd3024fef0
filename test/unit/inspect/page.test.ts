// The self-contained page shell (src/inspect/html/page.ts): typed arrays
// embedded as base64 come back equal, no markup in the data can end its
// element, and the page names nothing outside itself.
import { describe, expect, test } from "bun:test";
import { embedData, escapeHtml, renderPage } from "../../../src/inspect/html/page.ts";

/** What the page's decode script does, run here over the embedded JSON. */
function decode(json: string): Record<string, unknown> {
  return JSON.parse(json, (_key, value) => {
    if (value === null || typeof value !== "object" || typeof value.$typed !== "string") return value;
    const bytes = Buffer.from(value.base64, "base64");
    const Typed = (globalThis as unknown as Record<string, new (b: ArrayBuffer, o: number, n: number) => ArrayBufferView>)[value.$typed]!;
    const copy = new Uint8Array(bytes).buffer;
    return new Typed(copy, 0, bytes.length / (Typed as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT);
  });
}

describe("page shell", () => {
  test("typed arrays round-trip through base64, sub-ranges included", () => {
    const big = new Uint32Array(1000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 0;
    const part = big.subarray(10, 20);
    const f = new Float64Array([1.5, -2, Number.MAX_SAFE_INTEGER]);
    const out = decode(embedData({ part, f, n: 7, s: "x", nested: { u8: new Uint8Array([1, 2, 255]) } }));
    expect(Array.from(out.part as Uint32Array)).toEqual(Array.from(big.slice(10, 20)));
    expect(out.part).toBeInstanceOf(Uint32Array);
    expect(Array.from(out.f as Float64Array)).toEqual([1.5, -2, Number.MAX_SAFE_INTEGER]);
    expect(out.n).toBe(7);
    expect(Array.from((out.nested as { u8: Uint8Array }).u8)).toEqual([1, 2, 255]);
  });

  test("a string holding </script> cannot end the data element", () => {
    const html = renderPage({ title: "t", body: "", data: { name: "</script><script>alert(1)</script>" } });
    const start = html.indexOf('id="privheap-data">');
    const end = html.indexOf("</script>", start);
    const json = html.slice(start + 'id="privheap-data">'.length, end);
    expect((decode(json) as { name: string }).name).toBe("</script><script>alert(1)</script>");
  });

  test("the page references nothing outside itself and forbids fetching", () => {
    const html = renderPage({ title: "a <b>", body: "<p>x</p>", data: { a: new Uint8Array(10) }, script: "void 0;" });
    expect(html).not.toMatch(/https?:/);
    expect(html).not.toMatch(/\bsrc\s*=/i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).toContain("default-src 'none'");
    expect(html).toContain("<title>a &lt;b&gt;</title>");
  });

  test("escapeHtml escapes the five characters", () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe("&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  });
});
