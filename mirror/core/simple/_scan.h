/* What the two source files of the project list's native passes share (_scan.c, _scan_index.c). */
#ifndef MIRROR_SCAN_H
#define MIRROR_SCAN_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* How many times the byte c occurs in d[:n]. */
Py_ssize_t mirror_count_byte(const char *d, Py_ssize_t n, char c);

/* index_keys(blobs) -> (blob, starts, order, repeats, count): see _scan_index.c. */
PyObject *mirror_index_keys(PyObject *module, PyObject *arg);

#endif
