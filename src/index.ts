/**
 * privheap - a private-heap allocator for Bun. The public API, by concept:
 *
 * - {@link PrivateHeap}: one region managed by the C core, used by offset,
 *   with zero-copy views (`u8`, `f32`, `view`, ...).
 * - {@link Snapshot}: a byte copy of a heap's used prefix; `heap.restore`.
 * - {@link SnapshotRing}: the last N frames of a heap, for rollback.
 * - {@link Replay}: record inputs and keyframes; seek to any tick; verify determinism.
 * - {@link FrameArena}: per-frame scratch over private heaps, reset in O(1).
 * - {@link struct}: C-layout structs with generated, allocation-free cursors.
 * - {@link HeapError}: the one error class, with a stable string `code`.
 * - Native library: {@link libraryCandidates} tells where the library is
 *   looked for. The raw bindings (`loadNative`) are unsafe and live at the
 *   subpath `privheap/native` (src/native.ts).
 *
 * @example
 * ```ts
 * import { PrivateHeap, struct } from "privheap";
 * const Vec2 = struct({ x: "f32", y: "f32" });
 * using heap = PrivateHeap.create({ size: 1 << 20 });
 * const v = Vec2.cursor(heap, Vec2.alloc(heap));
 * v.x = 3;
 * ```
 */
export { PrivateHeap, MAX_REGION_SIZE, PAGE_SIZE } from "./heap.ts";
export type { HeapOptions, HeapStats, OpenOptions, SnapshotOptions, WalkFn } from "./heap.ts";
export { HeapMirror } from "./heap-mirror.ts";
export type { MirrorLoadOptions, MirrorOptions, Recovery } from "./heap-mirror.ts";
export { Snapshot } from "./snapshot/snapshot.ts";
export { SnapshotRing } from "./snapshot/ring.ts";
export type { SnapshotRingOptions } from "./snapshot/ring.ts";
export type { DiffAllocation, DiffField, DiffOptions, DiffPaths, DiffRange, SnapshotDiff } from "./snapshot/diff.ts";
export { formatDiffField } from "./snapshot/diff.ts";
export { LayoutMap } from "./snapshot/layout-map.ts";
export type { PointerShape, RootShape } from "./snapshot/layout-map.ts";
export type { LoadOptions, SaveOptions } from "./snapshot/file-format.ts";
export { Replay, ReplayRecorder } from "./snapshot/replay.ts";
export type { RecordOptions, StepFn, VerifyOptions, VerifyResult } from "./snapshot/replay.ts";
export { StepContext } from "./snapshot/step-context.ts";
export { replayTimeline } from "./inspect/timeline.ts";
export type { ReplayTimeline, TimelineKeyframe, TimelineOptions, TimelineTicks } from "./inspect/timeline.ts";
export { heapDiff } from "./inspect/heap-diff.ts";
export type { AllocationSpan, HeapDiff } from "./inspect/heap-diff.ts";
export { timelinePage } from "./inspect/html/timeline-page.ts";
export type { TimelinePageOptions } from "./inspect/html/timeline-page.ts";
export { heapDiffPage } from "./inspect/html/heap-diff-page.ts";
export type { DiffPageLabels } from "./inspect/html/heap-diff-page.ts";
export type { TornTail } from "./snapshot/replay-format.ts";
export { formatReport } from "./inspect/text.ts";
export { inspectFile } from "./inspect/file.ts";
export type { FileReport, HeapFileKind, InspectFileOptions } from "./inspect/file.ts";
export { renderInspectPage } from "./inspect/html/inspect-page.ts";
export { reportJson } from "./inspect/json.ts";
export type { ReportJson } from "./inspect/json.ts";
export { PageKind, PAGE_KIND_NAMES, sizeClasses } from "./inspect/page-map.ts";
export type { PageMap, SizeClass } from "./inspect/page-map.ts";
export type { AllocationRef, ClassUsage, Fragmentation, HeapReport, InspectOptions, LargeBucket } from "./inspect/report.ts";
export type { ReachedStructs, RootReport } from "./inspect/roots.ts";
export { FrameArena } from "./frame-arena.ts";
export type { FrameArenaOptions } from "./frame-arena.ts";
export { struct, StructLayout } from "./struct.ts";
export type {
  ArrayCursor,
  CursorBase,
  FieldInfo,
  FieldType,
  Fields,
  ScalarPath,
  ScalarType,
  ScalarViews,
  StridedField,
  StructCursor,
  StructOptions,
  StructSource,
  StructValue,
} from "./struct.ts";
export { HeapError, codeFromNative, nativeFromCode } from "./errors.ts";
export type { HeapErrorCode } from "./errors.ts";
export { libraryCandidates, libraryFileName, platformDir, BUILD_COMMAND } from "./ffi/candidates.ts";
export type { LibraryCandidate } from "./ffi/candidates.ts";
