/* The project list's per-name passes in one scan each, with the GIL released (see scan.py, which holds the
 * pure-Python versions every function here must agree with, and the tests that check they do).
 *
 * The public index lists ~700,000 projects. In Python each pass over their names (a regular expression, a
 * split and a join) costs 50-100 ms and holds the GIL, so the event loop that sends the list waits meanwhile.
 * Here each pass is one loop over the bytes, run while other threads (the event loop) go on.
 *
 * The name index's sort is in _scan_index.c.
 *
 * Every function takes bytes-like objects that nothing changes meanwhile (bytes) and writes only into a new
 * bytes object that no other thread can see yet: that is what makes releasing the GIL safe.
 */
#include "_scan.h"

/* Bytes of a plain name: ASCII letters, digits, ".", "_" and "-". */
static unsigned char plain_byte[256];

static void init_tables(void) {
    for (int c = 0; c < 256; c++) {
        plain_byte[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '_' || c == '-';
    }
}

static int starts_with(const char *at, const char *end, const char *lit, Py_ssize_t n) {
    return end - at >= n && memcmp(at, lit, (size_t)n) == 0;
}

/* ---------------------------------------------------------------------------------------- simple_anchors */

/* The scan of simple_anchors without the GIL: the length written to out (the names, each followed by "\n"),
 * or -1 when data[:cut] is not made only of simple anchors with plain names and text without "<". */
static Py_ssize_t scan_anchors(const char *d, Py_ssize_t cut, char *out, Py_ssize_t *count) {
    const char *p = d, *end = d + cut;
    Py_ssize_t o = 0;
    *count = 0;
    while (p < end) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        if (lt == NULL) {
            break;
        }
        p = lt;
        if (!starts_with(p, end, "<a href=\"", 9)) {
            return -1;
        }
        p += 9;
        while (p < end && *p != '"') {
            if (*p == '<') {
                return -1;
            }
            p++;
        }
        if (!starts_with(p, end, "\">", 2)) {
            return -1;
        }
        p += 2;
        const char *name = p;
        while (p < end && plain_byte[(unsigned char)*p]) {
            p++;
        }
        if (p == name || !starts_with(p, end, "</a>", 4)) {
            return -1;
        }
        memcpy(out + o, name, (size_t)(p - name));
        o += p - name;
        out[o++] = '\n';
        p += 4;
        (*count)++;
    }
    return o;
}

static PyObject *simple_anchors(PyObject *module, PyObject *arg) {
    (void)module;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    const char *d = view.buf;
    Py_ssize_t cut = -1;
    for (Py_ssize_t i = view.len - 4; i >= 0; i--) {
        if (d[i] == '<' && memcmp(d + i, "</a>", 4) == 0) {
            cut = i + 4;
            break;
        }
    }
    PyObject *names = cut < 0 ? NULL : PyBytes_FromStringAndSize(NULL, cut);
    if (names == NULL) {
        PyBuffer_Release(&view);
        if (cut < 0) {
            Py_RETURN_NONE;
        }
        return NULL;
    }
    Py_ssize_t written, count;
    Py_BEGIN_ALLOW_THREADS
    written = scan_anchors(d, cut, PyBytes_AS_STRING(names), &count);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (written <= 0) {
        Py_DECREF(names);
        Py_RETURN_NONE;
    }
    if (_PyBytes_Resize(&names, written - 1) < 0) { /* the last "\n" left out */
        return NULL;
    }
    return Py_BuildValue("(nNn)", cut, names, count);
}

/* ---------------------------------------------------------------------------------------- canonical_count */

static const char NAME_KEY[] = "{\"name\":\"";
#define NAME_KEY_LEN 9
static const char SERIAL_KEY[] = ",\"_last-serial\":";
#define SERIAL_KEY_LEN 16

/* How many entries data[:end] holds when it is made only of canonical entries each followed by ",", else -1. */
static Py_ssize_t scan_canonical(const char *d, Py_ssize_t end) {
    const char *p = d, *stop = d + end;
    Py_ssize_t count = 0;
    while (p < stop) {
        if (!starts_with(p, stop, NAME_KEY, NAME_KEY_LEN)) {
            return -1;
        }
        p += NAME_KEY_LEN;
        const char *name = p;
        while (p < stop && plain_byte[(unsigned char)*p]) {
            p++;
        }
        if (p == name || p == stop || *p != '"') {
            return -1;
        }
        p++;
        if (starts_with(p, stop, SERIAL_KEY, SERIAL_KEY_LEN)) {
            p += SERIAL_KEY_LEN;
            if (p < stop && *p == '0') {
                p++;
            } else if (p < stop && *p >= '1' && *p <= '9') {
                const char *digits = p;
                while (p < stop && *p >= '0' && *p <= '9' && p - digits < 15) {
                    p++;
                }
            } else {
                return -1;
            }
        }
        if (!starts_with(p, stop, "},", 2)) {
            return -1;
        }
        p += 2;
        count++;
    }
    return count > 0 ? count : -1;
}

static PyObject *canonical_count(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "canonical_count(data, end) takes 2 arguments");
        return NULL;
    }
    Py_ssize_t end = PyLong_AsSsize_t(args[1]);
    if (end == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (end < 0 || end > view.len) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "end out of range");
        return NULL;
    }
    Py_ssize_t count;
    Py_BEGIN_ALLOW_THREADS
    count = scan_canonical(view.buf, end);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(count);
}

/* ---------------------------------------------------------------------------------------- json_names */

/* The names of the "{"name":"..." keys of d (as the regular expression {"name":"([^"]+) finds them), each
 * followed by "\n"; the length written. */
static Py_ssize_t scan_json_names(const char *d, Py_ssize_t n, char *out) {
    const char *p = d, *stop = d + n;
    Py_ssize_t o = 0;
    while (p < stop) {
        const char *brace = memchr(p, '{', (size_t)(stop - p));
        if (brace == NULL) {
            break;
        }
        p = brace + 1;
        if (!starts_with(brace, stop, NAME_KEY, NAME_KEY_LEN)) {
            continue;
        }
        const char *name = brace + NAME_KEY_LEN;
        const char *quote = memchr(name, '"', (size_t)(stop - name));
        const char *name_end = quote != NULL ? quote : stop;
        if (name_end == name) {
            continue;
        }
        memcpy(out + o, name, (size_t)(name_end - name));
        o += name_end - name;
        out[o++] = '\n';
        p = name_end;
    }
    return o;
}

static PyObject *json_names(PyObject *module, PyObject *arg) {
    (void)module;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    PyObject *names = PyBytes_FromStringAndSize(NULL, view.len);
    if (names == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    Py_ssize_t written;
    Py_BEGIN_ALLOW_THREADS
    written = scan_json_names(view.buf, view.len, PyBytes_AS_STRING(names));
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (_PyBytes_Resize(&names, written > 0 ? written - 1 : 0) < 0) {
        return NULL;
    }
    return names;
}

/* ---------------------------------------------------------------------------------------- HTML lines */

Py_ssize_t mirror_count_byte(const char *d, Py_ssize_t n, char c) {
    Py_ssize_t count = 0;
    const char *p = d, *stop = d + n;
    while ((p = memchr(p, c, (size_t)(stop - p))) != NULL) {
        count++;
        p++;
    }
    return count;
}

static void write_lines(const char *keys, Py_ssize_t nk, const char *names, Py_ssize_t nn, char *out) {
    const char *k = keys, *kstop = keys + nk, *m = names, *mstop = names + nn;
    for (;;) {
        const char *kend = memchr(k, '\n', (size_t)(kstop - k));
        const char *mend = memchr(m, '\n', (size_t)(mstop - m));
        if (kend == NULL) {
            kend = kstop;
        }
        if (mend == NULL) {
            mend = mstop;
        }
        memcpy(out, "<a href=\"", 9);
        out += 9;
        memcpy(out, k, (size_t)(kend - k));
        out += kend - k;
        memcpy(out, "/\">", 3);
        out += 3;
        memcpy(out, m, (size_t)(mend - m));
        out += mend - m;
        memcpy(out, "</a>\n", 5);
        out += 5;
        if (kend == kstop) {
            break;
        }
        k = kend + 1;
        m = mend + 1;
    }
}

/* ---------------------------------------------------------------------------------------- plain_forms */

/* The normalized forms (PEP 503: lowercase, each run of "-", "_" and "." one "-") of plain names joined by "\n";
 * the length written. */
static Py_ssize_t write_keys(const char *names, Py_ssize_t n, char *out) {
    Py_ssize_t o = 0;
    int dash = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)names[i];
        if (c == '-' || c == '_' || c == '.') {
            if (!dash) {
                out[o++] = '-';
            }
            dash = 1;
            continue;
        }
        out[o++] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
        dash = 0;
    }
    return o;
}

/* {"name":"<name>"}, for each of the names joined by "\n"; the length written. */
static Py_ssize_t write_json(const char *names, Py_ssize_t n, char *out) {
    const char *m = names, *stop = names + n;
    char *o = out;
    for (;;) {
        const char *end = memchr(m, '\n', (size_t)(stop - m));
        if (end == NULL) {
            end = stop;
        }
        memcpy(o, NAME_KEY, NAME_KEY_LEN);
        o += NAME_KEY_LEN;
        memcpy(o, m, (size_t)(end - m));
        o += end - m;
        memcpy(o, "\"},", 3);
        o += 3;
        if (end == stop) {
            break;
        }
        m = end + 1;
    }
    return o - out;
}

static PyObject *plain_forms(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "plain_forms(names, json, html) takes 3 arguments");
        return NULL;
    }
    int want_json = PyObject_IsTrue(args[1]), want_html = PyObject_IsTrue(args[2]);
    if (want_json < 0 || want_html < 0) {
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    PyObject *keys = NULL, *json = NULL, *html = NULL, *result = NULL;
    Py_ssize_t lines = mirror_count_byte(view.buf, view.len, '\n') + 1;
    keys = PyBytes_FromStringAndSize(NULL, view.len);
    if (keys == NULL) {
        goto done;
    }
    if (want_json && (json = PyBytes_FromStringAndSize(NULL, view.len + lines * 11 + 1)) == NULL) {
        goto done;
    }
    if (want_html && (html = PyBytes_FromStringAndSize(NULL, 2 * view.len + lines * 15 + 2)) == NULL) {
        goto done;
    }
    Py_ssize_t keys_len, html_len = 0;
    Py_BEGIN_ALLOW_THREADS
    keys_len = write_keys(view.buf, view.len, PyBytes_AS_STRING(keys));
    if (json != NULL) {
        write_json(view.buf, view.len, PyBytes_AS_STRING(json));
    }
    if (html != NULL) {
        write_lines(PyBytes_AS_STRING(keys), keys_len, view.buf, view.len, PyBytes_AS_STRING(html));
        html_len = keys_len + view.len + lines * 15 + 2;
    }
    Py_END_ALLOW_THREADS
    if (_PyBytes_Resize(&keys, keys_len) < 0 || (html != NULL && _PyBytes_Resize(&html, html_len) < 0)) {
        goto done;
    }
    result = Py_BuildValue("(nOOO)", lines, keys, json != NULL ? json : Py_None, html != NULL ? html : Py_None);
done:
    PyBuffer_Release(&view);
    Py_XDECREF(keys);
    Py_XDECREF(json);
    Py_XDECREF(html);
    return result;
}

/* ---------------------------------------------------------------------------------------- module */

static PyMethodDef methods[] = {
    {"simple_anchors", (PyCFunction)simple_anchors, METH_O, NULL},
    {"canonical_count", (PyCFunction)(void (*)(void))canonical_count, METH_FASTCALL, NULL},
    {"json_names", (PyCFunction)json_names, METH_O, NULL},
    {"plain_forms", (PyCFunction)(void (*)(void))plain_forms, METH_FASTCALL, NULL},
    {"index_keys", (PyCFunction)mirror_index_keys, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_scan", "The project list's per-name passes, native (see scan.py).", 0, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__scan(void) {
    init_tables();
    return PyModule_Create(&module_def);
}
