/// <reference lib="dom" />
/**
 * examples/browser/main.ts - the demo's simulation in a browser page.
 *
 * Build: `npm run demo:browser` (the package's browser bundle, then this
 * file bundled into main.js beside index.html); open index.html. `import
 * "privheap"` resolves to dist/browser.js through the package's "browser"
 * export condition, as in any game bundled with Vite, esbuild or webpack.
 *
 * It plays 600 frames, drawing every entity, saves each frame in a
 * SnapshotRing and at frame 300 rewinds 8 frames and plays them again (the
 * checksums come out the same). `?fast` plays every frame at once and
 * draws the last (what the browser test does). The final heap checksum is
 * the one a Bun process gets for the same frames (test/browser/example.test.ts).
 */
import { PrivateHeap, SnapshotRing } from "privheap";
import { createWorld, Entity, inputFor, step, WORLD } from "../sim.ts";

const ENTITIES = 4000;
const FRAMES = 600;
const REWIND_AT = 300;

const canvas = document.querySelector("canvas")!;
const draw2d = canvas.getContext("2d")!;
const status = document.querySelector("#status")!;

const world = PrivateHeap.create({ size: 16 << 20 }); // the WebAssembly backend: the only one in a browser
createWorld(world, ENTITIES);
const ring = SnapshotRing.create(world, { capacity: 16 });
const checksums: bigint[] = [];
const e = Entity.cursor(world, world.getRoot("entities"));
let frame = 0;
let rewound = "";

/** One frame: save it, step it, and at REWIND_AT go back 8 frames once. */
function play(): void {
  ring.save(frame);
  step(world, inputFor(frame), frame);
  checksums[frame] = world.checksum();
  frame++;
  if (frame === REWIND_AT && rewound === "") {
    ring.load(frame - 8); // the state before frame - 8
    const again = frame;
    for (frame -= 8; frame < again; frame++) {
      step(world, inputFor(frame), frame);
      if (world.checksum() !== checksums[frame]) throw new Error(`frame ${frame} replayed differently`);
    }
    rewound = `rewound 8 frames at ${REWIND_AT} and played them again: same checksums`;
  }
}

function draw(): void {
  draw2d.clearRect(0, 0, canvas.width, canvas.height);
  const scale = canvas.width / WORLD;
  const base = world.getRoot("entities");
  for (let i = 0; i < ENTITIES; i++) {
    const it = e.index(base, i);
    if (it.hp <= 0) continue;
    draw2d.fillStyle = it.team === 0 ? "#4dabf7" : "#ff6b6b";
    draw2d.fillRect(it.pos.x * scale, it.pos.y * scale, 2, 2);
  }
  status.textContent = `frame ${frame} of ${FRAMES}, heap checksum ${world.checksum().toString(16)}, ${world.usedBytes} bytes used${rewound ? `; ${rewound}` : ""}`;
}

/** The result, for a test: the final checksum and used bytes. */
function finish(): void {
  draw();
  (globalThis as { privheapDemo?: unknown }).privheapDemo = { checksum: String(world.checksum()), usedBytes: world.usedBytes, rewound: rewound !== "" };
}

if (new URLSearchParams(location.search).has("fast")) {
  while (frame < FRAMES) play();
  finish();
} else {
  const tick = (): void => {
    play();
    draw();
    if (frame < FRAMES) requestAnimationFrame(tick);
    else finish();
  };
  requestAnimationFrame(tick);
}
