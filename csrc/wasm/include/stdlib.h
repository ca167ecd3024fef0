/* stdlib.h for the WebAssembly build: the allocation the core makes outside
 * its regions (a tracker's bookkeeping), served by libc.c from linear memory. */
#ifndef PH_WASM_STDLIB_H
#define PH_WASM_STDLIB_H
#include <stddef.h>

void *calloc(size_t count, size_t size);
void free(void *p);
#endif
