/** The flags every build of csrc/ uses (csrc/cflags.txt). */
export function sharedCFlags(): string[];
/** argv that builds the host library with the C compiler `cc` into `output`; run it in the package root. */
export function ccBuildCommand(cc: string, output: string): string[];
