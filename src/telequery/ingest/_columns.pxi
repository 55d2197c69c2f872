# Column builders: rows written straight into Arrow buffers (included by _fastotlp.pyx).
#
# Each builder owns growable C buffers in the Arrow layout (validity bitmap, int32
# offsets, values) and hands them to pyarrow once, as a table of the events schema. The
# span decoder writes its common rows here field by field; any other row (a Python list
# made by the row code) goes in through ``_Columns.add_row``, so both end up in one table
# in arrival order.

from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.string cimport memset

import pyarrow as pa

from telequery.schema import arrow_schema

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object o, Py_ssize_t* size) except NULL

_ARROW_SCHEMA = arrow_schema()


cdef class _Buf:
    """A growable byte buffer."""
    cdef char* p
    cdef Py_ssize_t n
    cdef Py_ssize_t cap

    def __cinit__(self):
        self.cap = 1024
        self.n = 0
        self.p = <char*>PyMem_Malloc(self.cap)
        if self.p == NULL:
            raise MemoryError()

    def __dealloc__(self):
        PyMem_Free(self.p)

    cdef inline char* grow(self, Py_ssize_t k) except NULL:
        """Room for ``k`` more bytes: returns where they go (and counts them as written)."""
        cdef Py_ssize_t need = self.n + k, cap = self.cap
        cdef char* q
        if need > cap:
            while cap < need:
                cap *= 2
            q = <char*>PyMem_Realloc(self.p, cap)
            if q == NULL:
                raise MemoryError()
            self.p = q
            self.cap = cap
        q = self.p + self.n
        self.n = need
        return q

    cdef object buffer(self):
        return pa.py_buffer(PyBytes_FromStringAndSize(self.p, self.n))


cdef class _Col:
    """Validity bitmap and row count shared by every column kind."""
    cdef Py_ssize_t n
    cdef Py_ssize_t nulls
    cdef _Buf valid

    def __cinit__(self):
        self.valid = _Buf()

    cdef inline int bit(self, bint ok) except -1:
        if (self.n & 7) == 0:
            self.valid.grow(1)[0] = 0
        if ok:
            self.valid.p[self.n >> 3] |= <char>(1 << (self.n & 7))
        else:
            self.nulls += 1
        self.n += 1
        return 0

    cdef object validity(self):
        return self.valid.buffer() if self.nulls else None

    cdef int add_py(self, object v) except -1:
        raise NotImplementedError

    cdef object array(self):
        raise NotImplementedError


cdef class _StrCol(_Col):
    cdef _Buf offsets
    cdef _Buf data

    def __cinit__(self):
        self.offsets = _Buf()
        self.data = _Buf()
        (<int32_t*>self.offsets.grow(4))[0] = 0

    cdef inline int _close(self, bint ok) except -1:
        if self.data.n > 0x7FFFFFFF:
            raise OverflowError("string column over 2 GiB")
        (<int32_t*>self.offsets.grow(4))[0] = <int32_t>self.data.n
        return self.bit(ok)

    cdef inline int add(self, const char* s, Py_ssize_t k) except -1:
        memcpy(self.data.grow(k), s, k)
        return self._close(True)

    cdef inline int add_null(self) except -1:
        return self._close(False)

    cdef inline int add_str(self, str s) except -1:
        cdef Py_ssize_t k
        cdef const char* u = PyUnicode_AsUTF8AndSize(s, &k)
        return self.add(u, k)

    cdef inline int add_hex(self, const unsigned char* b, Py_ssize_t s, Py_ssize_t e) except -1:
        cdef Py_ssize_t i
        cdef char* d = self.data.grow(2 * (e - s))
        for i in range(e - s):
            d[2 * i] = _HEX[b[s + i] >> 4]
            d[2 * i + 1] = _HEX[b[s + i] & 15]
        return self._close(True)

    cdef int add_py(self, object v) except -1:
        if v is None:
            return self.add_null()
        return self.add_str(v)

    cdef object array(self):
        return pa.StringArray.from_buffers(self.n, self.offsets.buffer(), self.data.buffer(),
                                           self.validity(), self.nulls)


cdef class _F64Col(_Col):
    cdef _Buf data

    def __cinit__(self):
        self.data = _Buf()

    cdef inline int add(self, double v) except -1:
        (<double*>self.data.grow(8))[0] = v
        return self.bit(True)

    cdef inline int add_null(self) except -1:
        (<double*>self.data.grow(8))[0] = 0
        return self.bit(False)

    cdef int add_py(self, object v) except -1:
        if v is None:
            return self.add_null()
        return self.add(v)

    cdef object array(self):
        return pa.Array.from_buffers(pa.float64(), self.n, [self.validity(), self.data.buffer()],
                                     self.nulls)


cdef class _I64Col(_Col):
    """int64, and timestamps as int64 microseconds."""
    cdef _Buf data
    cdef object type

    def __cinit__(self, type):
        self.data = _Buf()
        self.type = type

    cdef inline int add(self, int64_t v) except -1:
        (<int64_t*>self.data.grow(8))[0] = v
        return self.bit(True)

    cdef inline int add_null(self) except -1:
        (<int64_t*>self.data.grow(8))[0] = 0
        return self.bit(False)

    cdef int add_py(self, object v) except -1:
        if v is None:
            return self.add_null()
        if isinstance(v, bool):
            raise TypeError("bool in an integer column")
        return self.add(v)

    cdef object array(self):
        return pa.Array.from_buffers(self.type, self.n, [self.validity(), self.data.buffer()],
                                     self.nulls)


cdef class _BoolCol(_Col):
    cdef _Buf data

    def __cinit__(self):
        self.data = _Buf()

    cdef inline int add(self, bint v) except -1:
        if (self.n & 7) == 0:
            self.data.grow(1)[0] = 0
        if v:
            self.data.p[self.n >> 3] |= <char>(1 << (self.n & 7))
        return self.bit(True)

    cdef inline int add_null(self) except -1:
        if (self.n & 7) == 0:
            self.data.grow(1)[0] = 0
        return self.bit(False)

    cdef int add_py(self, object v) except -1:
        if v is None:
            return self.add_null()
        if not isinstance(v, bool):
            raise TypeError("not a bool")
        return self.add(v)

    cdef object array(self):
        return pa.Array.from_buffers(pa.bool_(), self.n, [self.validity(), self.data.buffer()],
                                     self.nulls)


cdef class _ListCol(_Col):
    """A map (keys + items) or a list of strings (items only); never null."""
    cdef _Buf offsets
    cdef _StrCol keys
    cdef _Col items
    cdef object type

    def __cinit__(self, type):
        self.type = type
        self.offsets = _Buf()
        (<int32_t*>self.offsets.grow(4))[0] = 0
        if pa.types.is_map(type):
            self.keys = _StrCol()
            self.items = _new_col(type.item_type)
        else:
            self.items = _new_col(type.value_type)

    cdef inline int close(self) except -1:
        """End the current row (its entries were added to ``keys`` / ``items``)."""
        (<int32_t*>self.offsets.grow(4))[0] = <int32_t>self.items.n
        return self.bit(True)

    cdef int add_py(self, object v) except -1:
        if self.keys is not None:
            for k, x in (<dict>v).items():
                self.keys.add_str(k)
                self.items.add_py(x)
        else:
            for x in <list>v:
                self.items.add_py(x)
        return self.close()

    cdef object array(self):
        offsets = pa.Array.from_buffers(pa.int32(), self.n + 1, [None, self.offsets.buffer()])
        if self.keys is not None:
            return pa.MapArray.from_arrays(offsets, self.keys.array(), self.items.array(),
                                           type=self.type)
        return pa.ListArray.from_arrays(offsets, self.items.array(), type=self.type)


cdef _Col _new_col(object t):
    if t == pa.string():
        return _StrCol()
    if t == pa.float64():
        return _F64Col()
    if t == pa.int64() or pa.types.is_timestamp(t):
        return _I64Col(t)
    if t == pa.bool_():
        return _BoolCol()
    if pa.types.is_map(t) or pa.types.is_list(t):
        return _ListCol(t)
    raise TypeError(f"no column builder for {t}")


cdef class _Columns:
    """One builder per events column."""
    cdef list cols

    def __cinit__(self):
        self.cols = [_new_col(f.type) for f in _ARROW_SCHEMA]

    cdef int add_row(self, list row) except -1:
        cdef Py_ssize_t i
        for i in range(len(self.cols)):
            (<_Col>self.cols[i]).add_py(row[i])
        return 0

    cdef Py_ssize_t rows(self):
        return (<_Col>self.cols[0]).n

    cdef object table(self):
        cdef Py_ssize_t n = self.rows()
        for c in self.cols:
            if (<_Col>c).n != n:  # a writer forgot a column: fail loudly, never misalign
                raise RuntimeError("column builders out of step")
        return pa.Table.from_arrays([(<_Col>c).array() for c in self.cols],
                                    schema=_ARROW_SCHEMA)
