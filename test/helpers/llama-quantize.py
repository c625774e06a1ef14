"""llama.cpp's own quantizer (llama_model_quantize), driven through ctypes on node-llama-cpp's
prebuilt libllama, as `llama-quantize IN OUT FTYPE` would run it (no imatrix, default mix).

usage: python3 llama-quantize.py LIBDIR IN.gguf OUT.gguf FTYPE [NTHREAD]

LIBDIR holds libggml-base.so, libggml[.vX].so and libllama[.vX].so. FTYPE is a llama_ftype number
(MOSTLY_Q4_0 = 2, MOSTLY_Q8_0 = 7, MOSTLY_Q4_K_M = 15, MOSTLY_Q6_K = 18). Exit status: 0 on
success, 1 when llama.cpp refuses the file, 3 when the library's default parameters do not look
like the struct layout below (a llama.cpp whose llama.h changed: better to stop than to pass a
misread struct).
"""
import ctypes
import glob
import os
import sys


def find(libdir, stem):
    """libNAME.so or libNAME.vX.Y.Z.so (node-llama-cpp versions its sonames), or .dylib."""
    for pattern in (stem + '.so', stem + '.v*.so', stem + '.dylib', stem + '.v*.dylib'):
        hits = sorted(glob.glob(os.path.join(libdir, pattern)))
        if hits:
            return hits[0]
    raise SystemExit('llama-quantize.py: no %s library in %s' % (stem, libdir))


class QuantizeParams(ctypes.Structure):
    # The leading fields of llama.h's llama_model_quantize_params (llama.cpp as node-llama-cpp
    # 3.21 bundles it):
    #   int32_t nthread; enum llama_ftype ftype; enum ggml_type output_tensor_type;
    #   enum ggml_type token_embedding_type; bool allow_requantize; bool quantize_output_tensor;
    #   bool only_copy; bool pure; bool keep_split; bool dry_run; then pointers (imatrix,
    #   kv_overrides, tt_overrides, prune_layers) and size_t max_buf_size.
    # The tail is left as opaque bytes, over-sized: the function returns the struct through a
    # caller-allocated buffer (x86-64 SysV returns a struct over 16 bytes in memory), so a larger
    # buffer only leaves bytes unused, and quantize reads the default values in place.
    _fields_ = [
        ('nthread', ctypes.c_int32),
        ('ftype', ctypes.c_int32),
        ('output_tensor_type', ctypes.c_int32),
        ('token_embedding_type', ctypes.c_int32),
        ('allow_requantize', ctypes.c_bool),
        ('quantize_output_tensor', ctypes.c_bool),
        ('only_copy', ctypes.c_bool),
        ('pure', ctypes.c_bool),
        ('keep_split', ctypes.c_bool),
        ('dry_run', ctypes.c_bool),
        ('rest', ctypes.c_uint8 * 250),
    ]


def main():
    libdir, src, dst, ftype = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    nthread = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    # libllama finds its dependencies by RUNPATH $ORIGIN; loading them first, global, makes that
    # independent of how the folder is reached.
    for stem in ('libggml-base', 'libggml'):
        ctypes.CDLL(find(libdir, stem), mode=ctypes.RTLD_GLOBAL)
    lib = ctypes.CDLL(find(libdir, 'libllama'), mode=ctypes.RTLD_GLOBAL)

    # Quiet: llama.cpp logs every tensor to stderr; keep only errors (level 4 = GGML_LOG_LEVEL_ERROR).
    log_cb = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)

    def log(level, text, _user):
        if level == 4:
            sys.stderr.write(text.decode('utf8', 'replace'))

    keep = log_cb(log)
    lib.llama_log_set(keep, None)
    lib.llama_backend_init.restype = None
    lib.llama_backend_init()

    lib.llama_model_quantize_default_params.restype = QuantizeParams
    lib.llama_model_quantize_default_params.argtypes = []
    params = lib.llama_model_quantize_default_params()
    defaults = (params.nthread, params.ftype, params.allow_requantize, params.quantize_output_tensor,
                params.only_copy, params.pure, params.keep_split, params.dry_run)
    # llama.cpp's defaults: nthread 0, Q8_0, both type overrides GGML_TYPE_COUNT (unset), only
    # quantize_output_tensor true. Anything else means the layout above is not this library's.
    if (defaults != (0, 7, False, True, False, False, False, False)
            or params.output_tensor_type != params.token_embedding_type
            or not 30 < params.output_tensor_type < 100):
        sys.stderr.write('llama-quantize.py: unexpected default params %r, output/token types %d/%d\n'
                         % (defaults, params.output_tensor_type, params.token_embedding_type))
        sys.exit(3)
    params.nthread = nthread
    params.ftype = ftype

    lib.llama_model_quantize.restype = ctypes.c_uint32
    lib.llama_model_quantize.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(QuantizeParams)]
    rc = lib.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(params))
    lib.llama_backend_free()
    sys.exit(1 if rc != 0 else 0)


main()
