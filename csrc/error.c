/*
 * error.c - error codes and their descriptions, and the per-thread code of
 * the last failure. The last error is the only thread-local in the library:
 * it describes a call, not the heap, so it stays out of the region (a failed
 * call writes no byte of the region).
 */
#include "internal.h"

static _Thread_local int last_error;
static _Thread_local int last_os_error; /* the OS's reason for last_error, or 0 */

int ph__fail(int code) {
  last_error = code;
  last_os_error = 0;
  return code;
}

void *ph__fail_null(int code) {
  ph__fail(code);
  return NULL;
}

int ph__fail_os(int code, int os_error) {
  last_error = code;
  last_os_error = os_error;
  return code;
}

int ph_last_error(void) { return last_error; }

int ph_last_os_error(void) { return last_os_error; }

const char *ph_strerror(int code) {
  switch (code) {
  case PH_OK: return "success";
  case PH_ENOMEM: return "out of memory: the region has no room for the request";
  case PH_EINVAL: return "invalid argument";
  case PH_EBADPTR: return "not the start of a live allocation of this heap";
  case PH_EDOUBLEFREE: return "allocation already freed";
  case PH_ECORRUPT: return "region is not a consistent privheap heap";
  case PH_EVERSION: return "region was made by an incompatible privheap version";
  case PH_ESIZE: return "region size is too small, too large, or smaller than recorded";
  case PH_EIO: return "the operating system refused a mapping or file operation";
  case PH_ENOSPC: return "no free named-root slot";
  case PH_EBUSY: return "another process has the file mapped or locked";
  default: return "unknown error";
  }
}
