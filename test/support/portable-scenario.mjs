// One fixed run of privheap's public API, in plain JavaScript so Node, Deno
// and a browser page run it unchanged: allocator calls, struct writes,
// FrameArena scratch, snapshots as bytes, a SnapshotRing rewind, a replay
// recorded in memory, checksums and HeapError codes. `P` is the module
// `import "privheap"` gives; the result is JSON-ready (bigints as decimal
// text), so runs on any runtime and backend compare with toEqual.
export function runScenario(P, options = {}) {
  const create = (size) => P.PrivateHeap.create({ size, ...options });
  const out = { offsets: [], checksums: [], errors: [] };
  let x = 0x2545f491;
  const next = (n) => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x % n;
  };

  const Vec2 = P.struct({ x: "f32", y: "f32" });
  const Body = P.struct({ pos: Vec2, vel: Vec2, id: "u32", mass: "f64" });
  const heap = create(16 << 20);
  const live = [];
  for (let i = 0; i < 3000; i++) {
    const roll = next(10);
    if (roll < 3 && live.length > 0) {
      heap.free(live.splice(next(live.length), 1)[0]);
    } else if (roll < 4 && live.length > 0) {
      const j = next(live.length);
      live[j] = heap.realloc(live[j], 1 + next(20000));
      out.offsets.push(live[j]);
    } else if (roll < 6) {
      const off = Body.alloc(heap);
      const b = Body.cursor(heap, off);
      b.pos.x = next(1000) / 8;
      b.vel.y = -next(1000) / 16;
      b.id = i;
      b.mass = next(1 << 20) / 3;
      live.push(off);
      out.offsets.push(off);
    } else {
      const size = [8, 48, 200, 5000][next(4)] + next(300);
      const off = heap.malloc(size);
      heap.u8.fill(i & 255, off, off + Math.min(size, 64));
      live.push(off);
      out.offsets.push(off);
    }
    if (i % 500 === 499) out.checksums.push(String(heap.checksum()));
  }
  heap.setRoot("bodies", live[0]);

  // Snapshots as bytes, restored into a second heap.
  const snap = heap.snapshot();
  const bytes = snap.bytes.slice();
  out.snapshotBytes = bytes.length;
  out.snapshotSum = String(bytes.reduce((a, b) => (a * 31 + b) >>> 0, 7));
  const copy = create(16 << 20);
  copy.restore(P.Snapshot.fromBytes(bytes));
  out.restoredChecksum = String(copy.checksum());
  out.restoredRoot = copy.getRoot("bodies");
  out.restoredMalloc = [copy.malloc(100), heap.malloc(100)];
  copy.close();

  // What a debug menu shows: the report, a diff of two states and its page.
  const before = heap.snapshot();
  for (let k = 0; k < 30; k++) live.push(heap.malloc(40 + k * 64));
  const report = heap.inspect();
  const diff = P.heapDiff(before, heap.snapshot());
  out.inspect = { live: report.live, sizes: report.sizes, largest: report.largest.slice(0, 3), classes: report.classes.filter((c) => c.liveCount > 0).length };
  out.heapDiff = { changedPages: Array.from(diff.changedPages), added: diff.added.length, freed: diff.freed.length };
  out.inspectPage = P.renderInspectPage(report, "scenario").length > 1000;

  // A ring of frames: save 6, change, go back 3.
  const ring = P.SnapshotRing.create(heap, { capacity: 8 });
  const frameSums = [];
  for (let f = 0; f < 6; f++) {
    for (let k = 0; k < 40; k++) live.push(heap.malloc(16 + next(900)));
    heap.free(live.splice(next(live.length), 1)[0]);
    ring.save(f);
    frameSums.push(String(heap.checksum()));
  }
  ring.load(2);
  out.ringFrames = frameSums;
  out.ringLoaded = String(heap.checksum());
  ring.close();

  // FrameArena scratch: two frames, the second reuses the first's offsets.
  const arena = P.FrameArena.create({ size: 4 << 20, ...options });
  const frames = [];
  for (let f = 0; f < 2; f++) {
    arena.beginFrame();
    const offs = [];
    for (let k = 0; k < 50; k++) offs.push(arena.alloc(8 + ((k * 37) % 500)));
    frames.push(offs);
    arena.endFrame();
  }
  out.arenaFrames = frames;
  arena.close();

  // A replay recorded in memory (uncompressed: a browser and Node 20 have no zstd), read back, verified, sought.
  const world = create(1 << 20);
  const slots = world.calloc(64, 8);
  const stepOn = (skewAt) => (h, input, t) => {
    for (let k = 0; k < 8; k++) h.f64[(slots >>> 3) + ((input[0] + k * t) % 64)] += input[0] + k + (t === skewAt ? 0.5 : 0);
    if (t % 6 === 5) h.free(h.malloc(100 + t));
  };
  const stepFn = stepOn(-1);
  const rec = P.Replay.recordInMemory(world, { keyframeEvery: 5, compress: false });
  for (let t = 0; t < 24; t++) {
    const input = Uint8Array.of((t * 7) & 255);
    stepFn(world, input, t);
    rec.tick(input);
  }
  rec.close();
  const recorded = rec.bytes();
  out.replayBytes = recorded.length;
  out.replaySum = String(recorded.reduce((a, b) => (a * 31 + b) >>> 0, 7));
  const replay = P.Replay.fromBytes(recorded);
  const again = create(1 << 20);
  out.replayVerify = replay.verify(again, stepFn).ok;
  out.replayDiverges = replay.verify(again, stepOn(13)).firstDivergentTick;
  replay.seek(10, again, stepFn);
  out.replaySeek = again.checksum() === replay.checksum(10);
  replay.close();
  again.close();
  world.close();

  // Errors carry stable codes, and the heap stays consistent.
  for (const bad of [() => heap.free(3), () => heap.free(-1), () => heap.malloc(-5)]) {
    try {
      bad();
      out.errors.push("none");
    } catch (e) {
      out.errors.push(e instanceof P.HeapError ? e.code : `not a HeapError: ${e}`);
    }
  }
  out.checkAfterErrors = heap.check();
  out.finalChecksum = String(heap.checksum());
  out.stats = heap.stats();
  heap.close();
  try {
    heap.malloc(8);
    out.closed = "none";
  } catch (e) {
    out.closed = e.code;
  }
  return out;
}
