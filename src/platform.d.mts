/** File name of the library on `platform` (node's `process.platform` values). */
export function libraryFileName(platform?: string): string;
/** True when this Linux process runs on musl libc rather than glibc. */
export function isMusl(): boolean;
/** `<platform>-<arch>[-musl]`: the prebuilds/ folder for a platform and architecture (node's names). */
export function platformDirOf(platform: string, arch: string, musl: boolean): string;
/** The prebuilds/ folder for this process. */
export function platformDir(): string;
