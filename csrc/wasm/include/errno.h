/* errno.h for the WebAssembly build: the numbers the core returns (Linux's). */
#ifndef PH_WASM_ERRNO_H
#define PH_WASM_ERRNO_H
#define ENOMEM 12
#define EINVAL 22
#define ENOSYS 52
#endif
