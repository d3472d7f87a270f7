/* The name index of the project list (see scan.py's _py_index_keys, which this must agree with): the normalized
 * names of a list sorted as bytes, each followed by 0xff in one blob, where every 64th one starts, and the list
 * position of each by its rank; or, when a name comes again, the positions of the repeats.
 *
 * The names are sorted with the GIL released: they are read from bytes objects nothing changes meanwhile, and
 * written only into new bytes objects no other thread can see yet.
 */
#include "_scan.h"

typedef struct {
    const unsigned char *key;
    uint32_t len;
    uint32_t position;
} Key;

static int compare_keys(const void *a, const void *b) {
    const Key *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    if (c != 0) {
        return c;
    }
    if (x->len != y->len) {
        return x->len < y->len ? -1 : 1;
    }
    return x->position < y->position ? -1 : (x->position > y->position ? 1 : 0);
}

#define BLOCK 64

PyObject *mirror_index_keys(PyObject *module, PyObject *arg) {
    (void)module;
    PyObject *seq = PySequence_Fast(arg, "index_keys takes a list of bytes");
    if (seq == NULL) {
        return NULL;
    }
    Py_ssize_t parts = PySequence_Fast_GET_SIZE(seq);
    Py_buffer *views = PyMem_Calloc((size_t)(parts ? parts : 1), sizeof(Py_buffer));
    Key *keys = NULL;
    PyObject *blob = NULL, *starts = NULL, *order = NULL, *repeats = NULL, *result = NULL;
    Py_ssize_t got = 0, count = 0, total = 0;
    if (views == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (; got < parts; got++) {
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, got), &views[got], PyBUF_SIMPLE) < 0) {
            goto done;
        }
        count += mirror_count_byte(views[got].buf, views[got].len, '\n') + 1;
        total += views[got].len + 1;
    }
    if (count >= UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "too many names");
        goto done;
    }
    keys = PyMem_RawMalloc(sizeof(Key) * (size_t)(count ? count : 1));
    blob = PyBytes_FromStringAndSize(NULL, total);
    Py_ssize_t blocks = (count + BLOCK - 1) / BLOCK;
    starts = PyBytes_FromStringAndSize(NULL, (blocks + 1) * (Py_ssize_t)sizeof(uint64_t));
    order = PyBytes_FromStringAndSize(NULL, count * (Py_ssize_t)sizeof(uint32_t));
    if (keys == NULL || blob == NULL || starts == NULL || order == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_NoMemory();
        }
        goto done;
    }
    int identity = 1;
    Py_ssize_t repeated = 0;
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < parts; i++) {
        const unsigned char *p = views[i].buf, *stop = p + views[i].len;
        for (;;) {
            const unsigned char *nl = memchr(p, '\n', (size_t)(stop - p));
            const unsigned char *end = nl != NULL ? nl : stop;
            keys[k].key = p;
            keys[k].len = (uint32_t)(end - p);
            keys[k].position = (uint32_t)k;
            k++;
            if (nl == NULL) {
                break;
            }
            p = nl + 1;
        }
    }
    for (Py_ssize_t i = 1; i < count && identity; i++) {
        identity = compare_keys(&keys[i - 1], &keys[i]) < 0;
    }
    if (!identity) {
        qsort(keys, (size_t)count, sizeof(Key), compare_keys);
    }
    /* Repeats: equal neighbours once sorted (by key, then position: the first in the list comes first). */
    for (Py_ssize_t i = 1; i < count; i++) {
        if (keys[i].len == keys[i - 1].len && memcmp(keys[i].key, keys[i - 1].key, keys[i].len) == 0) {
            repeated++;
        }
    }
    if (repeated == 0) {
        unsigned char *b = (unsigned char *)PyBytes_AS_STRING(blob);
        uint64_t *s = (uint64_t *)PyBytes_AS_STRING(starts);
        uint32_t *o = (uint32_t *)PyBytes_AS_STRING(order);
        Py_ssize_t at = 0;
        for (Py_ssize_t i = 0; i < count; i++) {
            if (i % BLOCK == 0) {
                s[i / BLOCK] = (uint64_t)at;
            }
            memcpy(b + at, keys[i].key, keys[i].len);
            at += keys[i].len;
            b[at++] = 0xff;
            o[i] = keys[i].position;
        }
        s[blocks] = (uint64_t)at;
        total = at;
    }
    Py_END_ALLOW_THREADS
    if (repeated) {
        repeats = PyList_New(repeated);
        if (repeats == NULL) {
            goto done;
        }
        Py_ssize_t r = 0;
        for (Py_ssize_t i = 1; i < count; i++) {
            if (keys[i].len == keys[i - 1].len && memcmp(keys[i].key, keys[i - 1].key, keys[i].len) == 0) {
                PyObject *position = PyLong_FromUnsignedLong(keys[i].position);
                if (position == NULL) {
                    goto done;
                }
                PyList_SET_ITEM(repeats, r++, position);
            }
        }
        result = Py_BuildValue("(OOOOn)", Py_None, Py_None, Py_None, repeats, count);
        goto done;
    }
    if (_PyBytes_Resize(&blob, total) < 0) {
        goto done;
    }
    result = Py_BuildValue("(OOOOn)", blob, starts, identity ? Py_None : order, Py_None, count);
done:
    for (Py_ssize_t i = 0; i < got; i++) {
        PyBuffer_Release(&views[i]);
    }
    PyMem_Free(views);
    PyMem_RawFree(keys);
    Py_XDECREF(blob);
    Py_XDECREF(starts);
    Py_XDECREF(order);
    Py_XDECREF(repeats);
    Py_DECREF(seq);
    return result;
}

